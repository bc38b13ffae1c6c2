/*
 * tinytrain_io.c - tinytrain's files (SPEC.md 11.4): loading weights and
 * momentum from safetensors files (or sharded models) with the model's exact
 * names, dtype and shapes, writing checkpoint files (one file, or --shards N
 * Hugging Face shards with their index), and escaping paths for error lines.
 * Shared by tinytrain and the attack generators of tests/attacks/.
 */
#include "tinytrain_model.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tt_progname = "tinytrain";

const char *tt_esc(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch >= 0x7f)
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    buf[n] = '\0';
    return buf;
}

int tt_matches(const char *name, const char *prefix)
{
    return !prefix || strncmp(name, prefix, strlen(prefix)) == 0;
}

/*
 * Loads the parameters (opt = 0: names as the model's) or the momentum
 * buffers (opt = 1: opt.<param>.momentum) from a safetensors file into
 * block. Without a prefix the file must hold exactly the 9 tensors; with one,
 * only the matching tensors are read and must be present. Dtype F32 and the
 * model's shapes, always. 0 or -1 after one error line naming flag and file.
 */
/* The shards of a weight set: one file, or every *.safetensors of a sharded model's directory. */
typedef struct shard_set {
    sp_st_file *f[TT_MAX_SHARDS];
    size_t n, count;               /* files, tensors in all of them */
} shard_set;

static void shards_close(shard_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        sp_st_close(s->f[i]);
    s->n = 0;
}

static const sp_tensor *shards_find(const shard_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        const sp_tensor *t = sp_st_find(s->f[i], name);
        if (t)
            return t;
    }
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Opens one shard into s. 0, or -1 after an error line. */
static int shards_add(shard_set *s, const char *file, const char *path, const char *flag)
{
    char err[SP_ERRMSG_MAX] = "", e[512], e2[SP_ERRMSG_MAX + 32], e3[512];
    if (s->n == TT_MAX_SHARDS) {
        fprintf(stderr, "%s: %s %s: more than %d shards\n", tt_progname, flag,
                tt_esc(e, sizeof e, path), TT_MAX_SHARDS);
        return -1;
    }
    int rc = sp_st_open(&s->f[s->n], file, err);
    if (rc != SP_OK) {
        fprintf(stderr, "%s: %s %s: cannot load%s%s: %s\n", tt_progname, flag,
                tt_esc(e, sizeof e, path), strcmp(file, path) ? " shard " : "",
                strcmp(file, path) ? tt_esc(e3, sizeof e3, file) : "",
                tt_esc(e2, sizeof e2, err[0] ? err : sp_strerror(rc)));
        return -1;
    }
    s->count += sp_st_count(s->f[s->n++]);
    return 0;
}

/*
 * A .safetensors file, or a sharded model given as its directory or its
 * *.safetensors.index.json: then every *.safetensors file of that
 * directory is a shard (the verifier has checked the index against them
 * when it bound the weights; the tensor count below catches a stray file).
 */
static int shards_open(shard_set *s, const char *path, const char *flag)
{
    char dir[4096], file[4400], e[512];
    struct stat st;
    memset(s, 0, sizeof *s);
    int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (!is_dir && !ends_with(path, ".safetensors.index.json"))
        return shards_add(s, path, path, flag);
    snprintf(dir, sizeof dir, "%s", path);
    if (!is_dir) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "%s: %s %s: cannot load: %s\n", tt_progname, flag, tt_esc(e, sizeof e, path),
                strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".safetensors"))
            continue;
        snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
        rc = shards_add(s, file, path, flag);
    }
    closedir(d);
    if (rc == 0 && s->n == 0) {
        fprintf(stderr, "%s: %s %s: no .safetensors shard in %s\n", tt_progname, flag,
                tt_esc(e, sizeof e, path), is_dir ? "it" : "its directory");
        rc = -1;
    }
    if (rc != 0)
        shards_close(s);
    return rc;
}

int tt_load_tensors(tt_model *md, float *const *block, int opt, const char *path,
                    const char *prefix, const char *flag)
{
    char e[512];
    shard_set sh;
    if (shards_open(&sh, path, flag) != 0)
        return -1;
    shard_set *f = &sh;
    if (!prefix && f->count != TT_NPARAMS) {
        fprintf(stderr, "%s: %s %s: holds %zu tensors, the model has %d\n", tt_progname, flag,
                tt_esc(e, sizeof e, path), f->count, TT_NPARAMS);
        shards_close(f);
        return -1;
    }
    for (int i = 0; i < TT_NPARAMS; i++) {
        if (!tt_matches(TT_PARAMS[i].name, prefix))
            continue;
        const char *name = opt ? TT_PARAMS[i].opt_name : TT_PARAMS[i].name;
        const sp_tensor *t = shards_find(f, name);
        sp_tensor want = tt_describe(md, block, i, name);
        if (!t || t->dtype != SP_DTYPE_F32 || t->ndim != want.ndim
            || t->shape[0] != want.shape[0] || (want.ndim == 2 && t->shape[1] != want.shape[1])
            || t->nbytes != want.nbytes) {
            char shape[48];
            if (want.ndim == 2)
                snprintf(shape, sizeof shape, "[%" PRIu64 ", %" PRIu64 "]",
                         want.shape[0], want.shape[1]);
            else
                snprintf(shape, sizeof shape, "[%" PRIu64 "]", want.shape[0]);
            fprintf(stderr, "%s: %s %s: tensor %s is %s; the model wants F32 %s\n",
                    tt_progname, flag, tt_esc(e, sizeof e, path), name,
                    t ? "of another dtype or shape" : "missing", shape);
            shards_close(f);
            return -1;
        }
        memcpy(block[i], t->data, t->nbytes);
    }
    shards_close(f);
    return 0;
}

/*
 * Writes DIR/NAME.safetensors (weights, and the momentum to
 * DIR/NAME.opt.safetensors when opt is set). 0 or -1 after an error line.
 */
int tt_write_files(const char *out, const char *name, uint64_t step,
                   const sp_tensor *w, const sp_tensor *opt)
{
    return tt_write_files_sharded(out, name, step, w, opt, 1);
}

/*
 * Writes the weights as a Hugging Face sharded model: OUT/NAME/ holding
 * model-0000K-of-0000N.safetensors (tensor i, in name order, in shard
 * floor(i * N / 9) + 1; metadata "format": "pt" too) and, last, so that an
 * index names only complete shards, model.safetensors.index.json.
 */
static int write_sharded(const char *out, const char *name, const char *const *meta,
                         const sp_tensor *w, unsigned n)
{
    char dir[4096], path[4400], tmp[4500], shard[64], e[512];
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", out, name) >= sizeof dir) {
        fprintf(stderr, "%s: output path too long\n", tt_progname);
        return -1;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", tt_progname, tt_esc(e, sizeof e, dir),
                strerror(errno));
        return -1;
    }
    const char *smeta[] = { meta[0], meta[1], meta[2], meta[3], "format", "pt" };
    uint64_t total = 0;
    for (unsigned k = 0; k < n; k++) {
        sp_tensor part[TT_NPARAMS];
        size_t np = 0;
        for (int i = 0; i < TT_NPARAMS; i++)
            if ((unsigned)((uint64_t)i * n / TT_NPARAMS) == k)
                part[np++] = w[i];
        snprintf(shard, sizeof shard, "model-%05u-of-%05u.safetensors", k + 1, n);
        snprintf(path, sizeof path, "%s/%s", dir, shard);
        int rc = sp_st_write(path, part, np, smeta, 3);
        if (rc != SP_OK) {
            fprintf(stderr, "%s: cannot write %s: %s\n", tt_progname, tt_esc(e, sizeof e, path),
                    sp_strerror(rc));
            return -1;
        }
    }
    for (int i = 0; i < TT_NPARAMS; i++)
        total += w[i].nbytes;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    if (ok) {
        /* the names are the model's fixed ASCII identifiers: no JSON escaping is needed */
        fprintf(f, "{\n  \"metadata\": {\"total_size\": %" PRIu64 "},\n  \"weight_map\": {\n", total);
        for (int i = 0; i < TT_NPARAMS; i++) {
            unsigned k = (unsigned)((uint64_t)i * n / TT_NPARAMS);
            fprintf(f, "    \"%s\": \"model-%05u-of-%05u.safetensors\"%s\n", w[i].name, k + 1, n,
                    i + 1 < TT_NPARAMS ? "," : "");
        }
        fputs("  }\n}\n", f);
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        ok = fclose(f) == 0 && ok;
    }
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", tt_progname, tt_esc(e, sizeof e, path),
                strerror(errno));
        (void)unlink(tmp);
        return -1;
    }
    return 0;
}

int tt_write_files_sharded(const char *out, const char *name, uint64_t step,
                           const sp_tensor *w, const sp_tensor *opt, unsigned shards)
{
    char path[4096], stepstr[32], e[512];
    snprintf(stepstr, sizeof stepstr, "%" PRIu64, step);
    const char *meta[] = { "scratchproof.step", stepstr, "scratchproof.model", "tinytrain" };
    if (shards > 1 && write_sharded(out, name, meta, w, shards) != 0)
        return -1;
    for (int k = shards > 1 ? 1 : 0; k < (opt ? 2 : 1); k++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s%s.safetensors", out, name,
                             k ? ".opt" : "") >= sizeof path) {
            fprintf(stderr, "%s: output path too long\n", tt_progname);
            return -1;
        }
        int rc = sp_st_write(path, k ? opt : w, TT_NPARAMS, meta, 2);
        if (rc != SP_OK) {
            fprintf(stderr, "%s: cannot write %s: %s\n", tt_progname,
                    tt_esc(e, sizeof e, path), sp_strerror(rc));
            return -1;
        }
    }
    return 0;
}

