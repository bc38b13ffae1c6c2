/*
 * test_replay.c - segment replay (SPEC.md 12, verify/replay/): the trainer's
 * command split without a shell and its placeholders substituted, the child
 * run (exit status, signal, log, environment, stdin), the segment draw from
 * a nonce against the known answers of tests/segment_draw_reference.py, the
 * default choice and its escape probability (checked by counting draws), and
 * the relative error of tolerance mode.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "replay_int.h"

/* Splits cmd, expects exactly the n words given. */
static void expect_split(const char *cmd, size_t n, ...)
{
    char **argv = NULL;
    size_t argc = 0;
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_argv_split(cmd, &argv, &argc, err), SP_OK);
    assert_int_equal(argc, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(argv[i], va_arg(ap, const char *));
    va_end(ap);
    assert_null(argv[n]);
    sp_argv_free(argv);
}

static void test_split(void **state)
{
    (void)state;
    expect_split("tinytrain --out {out}", 3, "tinytrain", "--out", "{out}");
    expect_split("  a\tb\n c  ", 3, "a", "b", "c");
    expect_split("a 'b c' \"d e\"", 3, "a", "b c", "d e");
    expect_split("x'a b'\"c\"y", 1, "xa bcy");                  /* pieces join one word */
    expect_split("a '' \"\" b", 4, "a", "", "", "b");           /* empty words kept */
    expect_split("'it\"s' \"a'b\"", 2, "it\"s", "a'b");         /* the other quote is literal */
    expect_split("a\\ b $HOME `x` ;|&", 5, "a\\", "b", "$HOME", "`x`", ";|&");   /* no shell */
    expect_split("/usr/bin/python3 -c 'print(1)'", 3, "/usr/bin/python3", "-c", "print(1)");
}

static void test_split_refused(void **state)
{
    (void)state;
    static const char *bad[] = {"a 'b", "a \"b c", "'", "x\"y'z\"'", "", "   \t\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char **argv = (char **)1;
        size_t argc = 9;
        char err[SP_ERRMSG_MAX] = "";
        assert_int_equal(sp_argv_split(bad[i], &argv, &argc, err), SP_EINVAL);
        assert_null(argv);
        assert_int_equal(argc, 0);
        assert_non_null(strstr(err, "--replay"));
        assert_int_equal(sp_replay_check_command(bad[i], err), SP_EINVAL);
    }
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_replay_check_command("a 'b", err), SP_EINVAL);
    assert_non_null(strstr(err, "unbalanced single quote"));
    assert_int_equal(sp_replay_check_command("ok 'fine'", err), SP_OK);
}

static void test_substitute(void **state)
{
    (void)state;
    char **argv = NULL, **out = NULL;
    size_t argc;
    assert_int_equal(sp_argv_split("t --w {weights} --o {optimizer} --range={first}..{last} "
                                   "--seed {seed} {out}/x {unknown} {out {} '{seed}{seed}'",
                                   &argv, &argc, NULL), SP_OK);
    sp_placeholders p = {.weights = "/tmp/a b/w.safetensors", .optimizer = "", .first = "21",
                         .last = "40", .seed = "7", .out = "/s/{out}"};
    assert_int_equal(sp_argv_substitute(&out, argv, &p), SP_OK);
    const char *want[] = {"t", "--w", "/tmp/a b/w.safetensors", "--o", "", "--range=21..40",
                          "--seed", "7", "/s/{out}/x", "{unknown}", "{out", "{}", "77", NULL};
    for (size_t i = 0; want[i] != NULL; i++)
        assert_string_equal(out[i], want[i]);
    assert_null(out[sizeof want / sizeof want[0] - 1]);
    sp_argv_free(out);
    /* NULL values are empty strings */
    sp_placeholders none = {0};
    assert_int_equal(sp_argv_substitute(&out, argv, &none), SP_OK);
    assert_string_equal(out[2], "");
    assert_string_equal(out[8], "/x");
    sp_argv_free(out);
    sp_argv_free(argv);
}

static void test_segments_parse(void **state)
{
    (void)state;
    static const char *good[] = {"all", "first", "1", "3,1,7", "4294967295"};
    static const char *bad[] = {"", "0", "1,", ",1", "1,,2", "a", "1;2", "-1", "4294967296", "all,1",
                                "12345678901"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(sp_replay_segments_parse(good[i]), SP_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sp_replay_segments_parse(bad[i]), SP_EINVAL);
}

/* ---- the child ---- */

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sp-test-replay.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return sp_rmtree(tmpdir) == SP_OK ? 0 : -1;
}

static void run_sh(const char *script, unsigned threads, const char *log, int *code, int *sig)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    char err[SP_ERRMSG_MAX] = "";
    int timed_out = -1;
    unlink(log);
    assert_int_equal(sp_spawn(argv, log, threads, NULL, code, sig, &timed_out, err), SP_OK);
    assert_int_equal(timed_out, 0);
}

static void count_tick(void *ctx)
{
    ++*(int *)ctx;
}

static void test_spawn(void **state)
{
    (void)state;
    char log[128], tail[400];
    int code, sig;
    snprintf(log, sizeof log, "%s/trainer.log", tmpdir);
    run_sh("echo out; echo err >&2; exit 3", 1, log, &code, &sig);
    assert_int_equal(code, 3);
    assert_int_equal(sig, 0);
    sp_log_tail(tail, sizeof tail, log, 300);
    assert_string_equal(tail, "out | err");
    /* the thread count reaches the child; stdin is /dev/null (cat returns at once) */
    setenv("SP_REPLAY_THREADS", "9", 1);
    run_sh("cat; echo \"$SP_REPLAY_THREADS $OMP_NUM_THREADS\"", 2, log, &code, &sig);
    assert_int_equal(code, 0);
    sp_log_tail(tail, sizeof tail, log, 300);
    assert_string_equal(tail, "2 2");
    assert_string_equal(getenv("SP_REPLAY_THREADS"), "9");   /* the verifier's own is untouched */
    unsetenv("SP_REPLAY_THREADS");
    /* a signal is a status, not a crash */
    run_sh("kill -9 $$", 1, log, &code, &sig);
    assert_int_equal(sig, 9);
    assert_int_equal(code, 128 + 9);
    /* a program that does not exist: 127 and a line in the log */
    char *argv[] = {"/nonexistent/trainer", "x", NULL};
    int to = 0;
    assert_int_equal(sp_spawn(argv, log, 1, NULL, &code, &sig, &to, NULL), SP_OK);
    assert_int_equal(code, 127);
    sp_log_tail(tail, sizeof tail, log, 300);
    assert_non_null(strstr(tail, "cannot execute the trainer"));
    /* a log that cannot be created is an error of the verifier */
    char badlog[160];
    snprintf(badlog, sizeof badlog, "%s/no/such/dir/log", tmpdir);
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_spawn(argv, badlog, 1, NULL, &code, &sig, &to, err), SP_EIO);
    assert_non_null(strstr(err, badlog));
    /* a limit: a trainer that sleeps past it is stopped (SIGTERM), and says so */
    char *slow[] = {"/bin/sh", "-c", "sleep 30", NULL};
    int ticks = 0;
    sp_spawn_opts so = {.timeout_s = 0.2, .tick = count_tick, .tick_ctx = &ticks};
    assert_int_equal(sp_spawn(slow, log, 1, &so, &code, &sig, &to, err), SP_OK);
    assert_int_equal(to, 1);
    assert_int_equal(sig, SIGTERM);
    assert_true(ticks > 0);   /* the tick ran while it waited */
    /* one that ends in time is not marked */
    char *fast[] = {"/bin/sh", "-c", "exit 0", NULL};
    so.timeout_s = 60;
    assert_int_equal(sp_spawn(fast, log, 1, &so, &code, &sig, &to, err), SP_OK);
    assert_int_equal(to, 0);
    assert_int_equal(code, 0);
}

static void test_log_tail(void **state)
{
    (void)state;
    char log[128], tail[64];
    snprintf(log, sizeof log, "%s/t.log", tmpdir);
    FILE *f = fopen(log, "wb");
    assert_non_null(f);
    fputs("first line that is long enough to be cut off\nred \033[31m\\ \xff end\n\n", f);
    fclose(f);
    sp_log_tail(tail, sizeof tail, log, 18);   /* the last line and its two newlines */
    assert_string_equal(tail, "red \\x1b[31m\\x5c \\xff end");
    /* the output never overflows and never holds a control byte */
    char small[10];
    sp_log_tail(small, sizeof small, log, 300);
    assert_true(strlen(small) < sizeof small);
    for (const char *p = small; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    sp_log_tail(small, sizeof small, "/nonexistent", 300);
    assert_string_equal(small, "");
}

static void test_rmtree(void **state)
{
    (void)state;
    char d[128], path[200], outside[200];
    snprintf(d, sizeof d, "%s/tree", tmpdir);
    snprintf(outside, sizeof outside, "%s/keep", tmpdir);
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(mkdir(outside, 0700), 0);
    snprintf(path, sizeof path, "%s/a", d);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/a/f", d);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/link", d);
    assert_int_equal(symlink(outside, path), 0);   /* a link out is removed, not followed */
    assert_int_equal(sp_rmtree(d), SP_OK);
    struct stat st;
    assert_int_not_equal(stat(d, &st), 0);
    assert_int_equal(stat(outside, &st), 0);
}

/* ---- the draw (SPEC.md 12.4) ---- */

static void kat_draw(sp_draw *d)
{
    uint8_t nonce[16], last[32];
    for (int i = 0; i < 16; i++)
        nonce[i] = (uint8_t)i;
    for (int i = 0; i < 32; i++)
        last[i] = (uint8_t)(16 + i);
    sp_draw_init(d, nonce, last);
}

static void test_draw_known_answers(void **state)
{
    (void)state;
    sp_draw d;
    char hex[65];
    kat_draw(&d);
    sp_hex(hex, d.key, 32);
    assert_string_equal(hex, "ece8ea20092551dd3bc34ff8b7f29ebc4bc49beb510b9eeeba5d8da3687e5336");
    assert_true(sp_draw_u64(&d) == 0x7c54e91e88619793ull);
    assert_true(sp_draw_u64(&d) == 0x2f09814d7b622022ull);
    assert_true(sp_draw_u64(&d) == 0x3c95dfaa774cdff5ull);
    kat_draw(&d);
    static const uint64_t b19[] = {6, 2, 14, 10, 15};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(sp_draw_below(&d, 19), b19[i]);
    kat_draw(&d);
    static const uint64_t big[] = {8959041876093147027ull, 3389382364355502114ull, 4365641337044525045ull,
                                   8776130769721682072ull, 1319377897289148803ull, 5767837420155079162ull};
    for (size_t i = 0; i < 6; i++)
        assert_true(sp_draw_below(&d, (1ull << 63) + 1) == big[i]);
    assert_int_equal(d.block, 2);   /* words 4, 6, 7, 8 were rejected: 10 words read */
    assert_int_equal(d.used, 2);
    kat_draw(&d);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sp_draw_below(&d, 1), 0);
}

/* A 21-segment run: 20 of 20 steps, update of segment k = k % 7, segment 21 empty. */
static void make_run(sp_replay_seg *s)
{
    memset(s, 0, 21 * sizeof *s);
    for (size_t i = 0; i < 21; i++) {
        s[i].index = i + 1;
        s[i].first_step = 20 * i + 1;
        s[i].last_step = i < 20 ? 20 * (i + 1) : 400;
        s[i].update = (double)((i + 1) % 7);
    }
}

static void test_choose_known_answer(void **state)
{
    (void)state;
    sp_replay_seg s[21];
    sp_draw d;
    make_run(s);
    kat_draw(&d);
    double esc = sp_choose_default(s, 21, 1, 2, &d);
    assert_true(fabs(esc - 16.0 / 18.0) < 1e-12);
    unsigned want[21] = {0};
    want[0] = SP_WHY_FIRST;
    want[5] = SP_WHY_LARGEST;         /* segment 6: update 6, before segment 13 (tie) */
    want[8] = want[11] = SP_WHY_RANDOM;
    for (size_t i = 0; i < 21; i++) {
        assert_int_equal(s[i].why, want[i]);
        assert_int_equal(s[i].chosen, want[i] != 0);
    }
    /* at most a quarter of the steps: 4 of 20 non-empty segments */
    size_t chosen = 0;
    for (size_t i = 0; i < 21; i++)
        chosen += s[i].chosen;
    assert_true(chosen * 4 <= 20);
    /* unknown updates rank last; more draws than segments take them all (escape 0) */
    make_run(s);
    for (size_t i = 0; i < 21; i++)
        s[i].update = i == 17 ? 0.5 : -1;
    kat_draw(&d);
    assert_true(sp_choose_default(s, 21, 1, 100, &d) == 0.0);
    assert_int_equal(s[17].why, SP_WHY_LARGEST);
    for (size_t i = 1; i < 20; i++)
        assert_true(s[i].chosen);
    assert_false(s[20].chosen);       /* empty: never drawn */
    /* a single segment: only the first */
    make_run(s);
    kat_draw(&d);
    assert_true(sp_choose_default(s, 1, 1, 2, &d) == 0.0);
    assert_true(s[0].chosen);
}

/*
 * The escape probability is what the draw does: over many nonces, a forged
 * segment outside the first and the top Q is missed (m - R) / m of the time.
 * 4000 nonces: the standard error is 0.005, the bound 0.03 is six of them.
 */
static void test_escape_probability(void **state)
{
    (void)state;
    uint8_t last[32] = {1};
    size_t missed = 0, trials = 4000, per_seg[21] = {0};
    double esc = 0;
    for (size_t t = 0; t < trials; t++) {
        sp_replay_seg s[21];
        uint8_t nonce[16] = {0};
        memcpy(nonce, &t, sizeof t);
        make_run(s);
        sp_draw d;
        sp_draw_init(&d, nonce, last);
        esc = sp_choose_default(s, 21, 1, 2, &d);
        missed += !s[14].chosen;          /* segment 15: update 1, never among the largest */
        for (size_t i = 0; i < 21; i++)
            per_seg[i] += (s[i].why & SP_WHY_RANDOM) != 0;
    }
    double rate = (double)missed / (double)trials;
    assert_true(fabs(rate - esc) < 0.03);
    assert_true(fabs(esc - 16.0 / 18.0) < 1e-12);
    /* every candidate is drawn (none favoured): expected 4000 * 2 / 18 = 444 each */
    for (size_t i = 1; i < 20; i++)
        if (i != 5)
            assert_true(per_seg[i] > 330 && per_seg[i] < 560);
    assert_int_equal(per_seg[0] + per_seg[5] + per_seg[20], 0);
}

/* ---- tolerance mode's e ---- */

static void src_of(sp_src *s, sp_tensor *t, const char *name, float *v, size_t n)
{
    *t = (sp_tensor){.name = name, .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {n}, .data = v,
                     .nbytes = 4 * n};
    assert_int_equal(sp_src_tensor(s, t), SP_OK);
}

static void test_rel_error(void **state)
{
    (void)state;
    float start[4] = {0, 0, 0, 0}, end[4] = {3, 4, 0, 0}, rep[4] = {3, 4, 0.5f, 0}, same[4] = {3, 4, 0, 0};
    float five[5] = {0};
    sp_tensor ts, te, tr, tq, t5;
    sp_src s, e, r, q, f;
    src_of(&s, &ts, "w", start, 4);
    src_of(&e, &te, "w", end, 4);
    src_of(&r, &tr, "w", rep, 4);
    src_of(&q, &tq, "w", same, 4);
    src_of(&f, &t5, "w", five, 5);
    assert_true(fabs(sp_rel_error(&r, &e, &s) - 0.1) < 1e-12);   /* 0.5 / 5 */
    assert_true(sp_rel_error(&q, &e, &s) == 0.0);
    assert_true(sp_rel_error(&q, &e, &q) == 0.0);                /* 0 / 0 */
    assert_true(isinf(sp_rel_error(&r, &e, &q)));                /* x / 0 */
    assert_true(isinf(sp_rel_error(&f, &e, &s)));                /* shapes differ */
    sp_src z;
    sp_src_zeros(&z, &e);                                        /* the optimizer at the genesis */
    assert_true(fabs(sp_rel_error(&r, &e, &z) - 0.1) < 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_refused),
        cmocka_unit_test(test_substitute),
        cmocka_unit_test(test_segments_parse),
        cmocka_unit_test_setup_teardown(test_spawn, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_log_tail, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rmtree, setup_dir, teardown_dir),
        cmocka_unit_test(test_draw_known_answers),
        cmocka_unit_test(test_choose_known_answer),
        cmocka_unit_test(test_escape_probability),
        cmocka_unit_test(test_rel_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
