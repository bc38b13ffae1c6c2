/*
 * spawn.c - running the trainer for a segment replay (SPEC.md 12.2): the
 * --replay command split into words without a shell (quotes only), the
 * placeholders substituted inside each word, fork + execvp with stdin from
 * /dev/null and the output to a log file, and the scratch tree removed
 * afterwards. A trainer that fails is a finding (its status and log tail),
 * never a crash of the verifier.
 */
#include "replay_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sp_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (size_t i = 0; argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int sp_argv_split(const char *cmd, char ***argv_out, size_t *argc_out, char *err)
{
    *argv_out = NULL;
    *argc_out = 0;
    size_t len = strlen(cmd);
    /* At most len/2 + 1 words; each word at most len bytes. */
    char **argv = calloc(len / 2 + 2, sizeof *argv);
    char *word = malloc(len + 1);
    if (argv == NULL || word == NULL) {
        free(argv);
        free(word);
        return SP_ENOMEM;
    }
    size_t argc = 0, i = 0;
    int rc = SP_OK;
    while (rc == SP_OK) {
        while (i < len && is_space(cmd[i]))
            i++;
        if (i == len)
            break;
        size_t w = 0;
        while (i < len && !is_space(cmd[i])) {
            char c = cmd[i];
            if (c == '\'' || c == '"') {
                const char *close = memchr(cmd + i + 1, c, len - i - 1);
                if (close == NULL) {
                    sp_errf(err, "--replay: unbalanced %s quote at byte %zu of the command",
                            c == '\'' ? "single" : "double", i + 1);
                    rc = SP_EINVAL;
                    break;
                }
                size_t n = (size_t)(close - (cmd + i + 1));
                memcpy(word + w, cmd + i + 1, n);
                w += n;
                i += n + 2;
            } else {
                word[w++] = c;
                i++;
            }
        }
        if (rc != SP_OK)
            break;
        word[w] = '\0';
        if ((argv[argc] = strdup(word)) == NULL) {
            rc = SP_ENOMEM;
            break;
        }
        argc++;
    }
    free(word);
    if (rc == SP_OK && argc == 0) {
        sp_errf(err, "--replay: the command has no words");
        rc = SP_EINVAL;
    }
    if (rc != SP_OK) {
        sp_argv_free(argv);
        return rc;
    }
    *argv_out = argv;
    *argc_out = argc;
    return SP_OK;
}

/* The value of placeholder name[0..n) ("weights" ...), or NULL. */
static const char *lookup(const sp_placeholders *p, const char *name, size_t n)
{
    static const struct { const char *name; size_t off; } tab[] = {
        {"weights", offsetof(sp_placeholders, weights)},
        {"optimizer", offsetof(sp_placeholders, optimizer)},
        {"first", offsetof(sp_placeholders, first)},
        {"last", offsetof(sp_placeholders, last)},
        {"seed", offsetof(sp_placeholders, seed)},
        {"out", offsetof(sp_placeholders, out)},
    };
    for (size_t k = 0; k < sizeof tab / sizeof tab[0]; k++)
        if (strlen(tab[k].name) == n && memcmp(tab[k].name, name, n) == 0) {
            const char *v = *(const char *const *)((const char *)p + tab[k].off);
            return v != NULL ? v : "";
        }
    return NULL;
}

/* One word with its placeholders replaced, malloc'd, or NULL (ENOMEM). */
static char *substitute_word(const char *w, const sp_placeholders *p)
{
    size_t cap = strlen(w) + 1, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; w[i] != '\0';) {
        const char *val = NULL;
        size_t skip = 1;
        if (w[i] == '{') {
            const char *close = strchr(w + i + 1, '}');
            if (close != NULL) {
                val = lookup(p, w + i + 1, (size_t)(close - (w + i + 1)));
                skip = (size_t)(close - (w + i)) + 1;
            }
        }
        size_t add = val != NULL ? strlen(val) : 1;
        if (n + add + 1 > cap) {
            size_t nc = 2 * cap + add;
            char *o2 = realloc(out, nc);
            if (o2 == NULL) {
                free(out);
                return NULL;
            }
            out = o2;
            cap = nc;
        }
        if (val != NULL) {
            memcpy(out + n, val, add);
            n += add;
            i += skip;
        } else {
            out[n++] = w[i++];
        }
    }
    out[n] = '\0';
    return out;
}

int sp_argv_substitute(char ***out, char *const *argv, const sp_placeholders *p)
{
    size_t argc = 0;
    while (argv[argc] != NULL)
        argc++;
    char **v = calloc(argc + 1, sizeof *v);
    if (v == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < argc; i++)
        if ((v[i] = substitute_word(argv[i], p)) == NULL) {
            sp_argv_free(v);
            *out = NULL;
            return SP_ENOMEM;
        }
    *out = v;
    return SP_OK;
}

/* In the child: never returns. Only async-signal-safe calls after fork. */
static void child(char *const *argv, int logfd)
{
    (void)setpgid(0, 0);   /* its own group: a timeout stops the trainer and what it started */
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
        _exit(127);
    if (in > 2)
        close(in);
    if (logfd > 2)
        close(logfd);
    execvp(argv[0], argv);
    static const char msg[] = "scratchproof verify --replay: cannot execute the trainer: ";
    const char *why = strerror(errno);
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, why, strlen(why));
    (void)!write(2, "\n", 1);
    _exit(127);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Waits for pid. With neither a limit nor a tick, a plain waitpid; otherwise
 * polls every 20 ms, calling tick while it runs and stopping the group past
 * the limit (SIGTERM, then SIGKILL 5 s later).
 */
static int wait_child(pid_t pid, const sp_spawn_opts *o, int *st, int *timed_out)
{
    *timed_out = 0;
    double timeout_s = o != NULL ? o->timeout_s : 0;
    void (*tick)(void *) = o != NULL ? o->tick : NULL;
    if (timeout_s <= 0 && tick == NULL) {
        while (waitpid(pid, st, 0) < 0)
            if (errno != EINTR)
                return -1;
        return 0;
    }
    double deadline = mono_s() + timeout_s, kill_at = 0;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        double t = mono_s();
        if (timeout_s > 0 && !*timed_out && t >= deadline) {
            *timed_out = 1;
            kill_at = t + 5.0;
            (void)kill(-pid, SIGTERM);
            (void)kill(pid, SIGTERM);   /* if setpgid had not happened yet */
        } else if (*timed_out && kill_at > 0 && t >= kill_at) {
            (void)kill(-pid, SIGKILL);
            (void)kill(pid, SIGKILL);
            kill_at = 0;
        }
        if (r == 0 && tick != NULL)   /* still running: a redraw */
            tick(o->tick_ctx);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int sp_spawn(char *const *argv, const char *logpath, unsigned threads, const sp_spawn_opts *o, int *code,
             int *sig, int *timed_out, char *err)
{
    *code = -1;
    *sig = 0;
    *timed_out = 0;
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) {
        sp_errf(err, "%s: cannot create the replay log: %s", logpath, strerror(errno));
        return SP_EIO;
    }
    /* The environment is set in the parent before fork: setenv is not async-signal-safe. */
    char t[16];
    snprintf(t, sizeof t, "%u", threads ? threads : 1);
    char *old_sp = getenv("SP_REPLAY_THREADS"), *old_omp = getenv("OMP_NUM_THREADS");
    old_sp = old_sp ? strdup(old_sp) : NULL;
    old_omp = old_omp ? strdup(old_omp) : NULL;
    setenv("SP_REPLAY_THREADS", t, 1);
    setenv("OMP_NUM_THREADS", t, 1);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child(argv, logfd);
    int fork_errno = errno;
    if (old_sp) setenv("SP_REPLAY_THREADS", old_sp, 1); else unsetenv("SP_REPLAY_THREADS");
    if (old_omp) setenv("OMP_NUM_THREADS", old_omp, 1); else unsetenv("OMP_NUM_THREADS");
    free(old_sp);
    free(old_omp);
    close(logfd);
    if (pid < 0) {
        sp_errf(err, "cannot start the trainer: fork: %s", strerror(fork_errno));
        return SP_EIO;
    }
    int st = 0;
    if (wait_child(pid, o, &st, timed_out) != 0) {
        sp_errf(err, "waiting for the trainer: %s", strerror(errno));
        return SP_EIO;
    }
    if (*timed_out)   /* what it left running in its group goes too */
        (void)kill(-pid, SIGKILL);
    if (WIFEXITED(st)) {
        *code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        *sig = WTERMSIG(st);
        *code = 128 + *sig;
    }
    return SP_OK;
}

void sp_log_tail(char *out, size_t cap, const char *path, size_t max)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    unsigned char buf[1024];
    if (max > sizeof buf)
        max = sizeof buf;
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0)
        (void)fseek(f, size > (long)max ? size - (long)max : 0, SEEK_SET);
    size_t n = size > 0 ? fread(buf, 1, max, f) : 0;
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = buf[i];
        if (c == '\n') {
            if (o + 4 >= cap)
                break;
            memcpy(out + o, " | ", 3);
            o += 3;
        } else if (c < 0x20 || c >= 0x7f || c == '\\') {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int sp_rmtree(const char *path)
{
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? SP_OK : SP_EIO;
}
