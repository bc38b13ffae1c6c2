/*
 * test_run.c - the public hook API (scratchproof.h) as a training job uses it:
 * the record lifecycle, misuse refused with the right code, a failed append
 * leaving the run unusable and the ledger intact, resuming, the batch-chain
 * known-answer vector (SPEC.md 2.5), and the verifier accepting the result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keys.h"
#include "ledger.h"
#include "record.h"
#include "scratchproof.h"
#include "verify.h"

/* H(H(H(0, batch(1,"a")), batch(2,"bc")), batch(2,"")), from tests/record_reference.py's hashlib recipe */
#define BATCH_CHAIN_HEX "cd43b1ad1038665720fbcac106f4c287c0f27fc2cc1e69369a529ddaa0ad3548"

typedef struct fixture {
    char dir[64];
    char ledger[128];
    char key[128];
    char pub[128];
    float w[2][12];
    sp_record_tensor rt[2];
    sp_tensor t[2];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/sp-run.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->ledger, sizeof f->ledger, "%s/run.ledger", f->dir);
    snprintf(f->key, sizeof f->key, "%s/k.key", f->dir);
    snprintf(f->pub, sizeof f->pub, "%s/k.pub", f->dir);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/k", f->dir);
    if (sp_keygen_files(prefix, NULL) != SP_OK)
        return -1;
    static const char *names[2] = {"b.weight", "a.bias"};   /* unsorted on purpose */
    sp_init_scheme s[2] = {{SP_INIT_UNIFORM, {-0.5, 0.5, 0, 0}}, {SP_INIT_ZEROS, {0, 0, 0, 0}}};
    for (int i = 0; i < 2; i++) {
        if (sp_init_fill(f->w[i], SP_DTYPE_F32, names[i], 7, &s[i], 0, 12) != SP_OK)
            return -1;
        f->t[i] = (sp_tensor){.name = names[i], .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {3, 4},
                              .data = f->w[i], .nbytes = sizeof f->w[i]};
        f->rt[i] = (sp_record_tensor){.t = f->t[i], .init = s[i]};
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static sp_run *open_run(fixture *f, unsigned flags, int want)
{
    sp_run *run = NULL;
    char err[SP_ERRMSG_MAX] = "";
    sp_run_options o = {.ledger_path = f->ledger, .key_path = f->key, .seed = 7,
                        .model_name = "test", .threads = 2, .flags = flags, .err = err};
    assert_int_equal(sp_run_open(&run, &o), want);
    if (want != SP_OK) {
        assert_null(run);
        assert_true(err[0] != '\0');
    }
    return run;
}

/*
 * The chain a hook call sequence leaves verifies. These tests drive the API
 * with arbitrary step and batch patterns and stop runs early on purpose, so
 * a prefix is allowed and the run-level `batches` count (SPEC.md 7 item 9,
 * one commitment per training step) is not asked of them.
 */
static int verify_ok(fixture *f)
{
    uint8_t pk[SP_PK_BYTES];
    assert_int_equal(sp_key_load_public(pk, f->pub, NULL), SP_OK);
    sp_verify_opts o = {.ledger_path = f->ledger, .pk = pk, .threads = 2, .allow_incomplete = 1};
    sp_report rep;
    sp_verify_summary sum;
    char err[SP_ERRMSG_MAX];
    sp_report_init(&rep);
    assert_int_equal(sp_verify_ledger(&o, &rep, &sum, err), SP_OK);
    size_t other = 0;
    for (size_t i = 0; i < rep.n; i++)
        other += !rep.v[i].ok && strcmp(rep.v[i].name, "batches") != 0;
    int ok = other == 0 && !rep.oom && rep.n > 0;
    if (!ok)
        sp_report_print(&rep, stderr, 0);
    sp_report_free(&rep);
    return ok;
}

static void test_lifecycle_verifies(void **state)
{
    fixture *f = *state;
    sp_run *run = open_run(f, 0, SP_OK);
    assert_int_equal(sp_run_genesis(run, f->rt, 2), SP_OK);
    assert_int_equal(sp_run_commit_batch(run, 1, "a", 1), SP_OK);
    assert_int_equal(sp_run_commit_batch(run, 2, "bc", 2), SP_OK);
    assert_int_equal(sp_run_commit_batch(run, 2, NULL, 0), SP_OK);
    f->w[0][0] += 0.25f;
    sp_tensor opt = f->t[1];
    opt.name = "opt.b.weight.momentum";
    sp_checkpoint_info info = {.step = 2, .tokens = 3, .loss = 1.5, .lr = 0.1,
                               .optimizer = &opt, .n_optimizer = 1};
    assert_int_equal(sp_run_checkpoint(run, &info, f->t, 2), SP_OK);
    assert_int_equal(sp_run_final(run, 2, f->t, 2), SP_OK);
    assert_true(sp_run_hook_seconds(run) > 0);
    sp_run_close(run);
    assert_true(verify_ok(f));

    /* the checkpoint record carries the batch chain of SPEC.md 2.5 */
    sp_ledger *l;
    assert_int_equal(sp_ledger_open(&l, f->ledger, SP_LEDGER_RDONLY, NULL), SP_OK);
    uint64_t n;
    assert_int_equal(sp_ledger_count(l, &n), SP_OK);
    assert_int_equal(n, 3);
    sp_ledger_close(l);
}

static int grab_checkpoint(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    (void)keylen;
    if (key[7] != 1)
        return 0;
    Sp__Envelope *e;
    Sp__Record *r;
    if (sp_envelope_decode(&e, val, len, NULL) != SP_OK)
        return -1;
    if (sp_record_decode(&r, e->payload.data, e->payload.len, NULL) != SP_OK)
        return -1;
    sodium_bin2hex(ctx, 65, r->checkpoint->batches_digest.data, 32);
    ((char *)ctx)[65] = (char)r->checkpoint->batches;
    sp_record_free(r);
    sp_envelope_free(e);
    return 0;
}

static void test_batch_chain_vector(void **state)
{
    fixture *f = *state;
    test_lifecycle_verifies(state);
    sp_ledger *l;
    char hex[66] = "";
    assert_int_equal(sp_ledger_open(&l, f->ledger, SP_LEDGER_RDONLY, NULL), SP_OK);
    assert_int_equal(sp_ledger_foreach(l, grab_checkpoint, hex), 0);
    sp_ledger_close(l);
    hex[64] = '\0';
    assert_string_equal(hex, BATCH_CHAIN_HEX);
    assert_int_equal(hex[65], 3);
}

static void test_misuse(void **state)
{
    fixture *f = *state;
    sp_run *run = open_run(f, 0, SP_OK);
    sp_checkpoint_info info = {.step = 5};
    /* nothing before the genesis */
    assert_int_equal(sp_run_checkpoint(run, &info, f->t, 2), SP_EBADSTATE);
    assert_int_equal(sp_run_commit_batch(run, 1, "x", 1), SP_EBADSTATE);
    assert_int_equal(sp_run_final(run, 1, f->t, 2), SP_EBADSTATE);
    /* bad tensors: duplicate names, wrong byte size, bad scheme */
    sp_record_tensor dup[2] = {f->rt[0], f->rt[0]};
    assert_int_equal(sp_run_genesis(run, dup, 2), SP_EINVAL);
    sp_record_tensor bad = f->rt[0];
    bad.t.nbytes -= 4;
    assert_int_equal(sp_run_genesis(run, &bad, 1), SP_EINVAL);
    bad = f->rt[0];
    bad.init.p[1] = bad.init.p[0];
    assert_int_equal(sp_run_genesis(run, &bad, 1), SP_EINVAL);
    assert_true(strlen(sp_run_errmsg(run)) > 0);
    assert_int_equal(sp_run_genesis(run, f->rt, 2), SP_OK);
    assert_int_equal(sp_run_genesis(run, f->rt, 2), SP_EBADSTATE);
    assert_int_equal(sp_run_commit_batch(run, 4, "x", 1), SP_OK);
    assert_int_equal(sp_run_commit_batch(run, 3, "x", 1), SP_EINVAL);   /* steps never decrease */
    assert_int_equal(sp_run_checkpoint(run, &info, f->t, 2), SP_OK);
    /* the same step again, same digests, no batch since: a resumed trainer re-saving the
       step it resumed from; nothing is appended (SPEC.md 3.6) */
    assert_int_equal(sp_run_checkpoint(run, &info, f->t, 2), SP_OK);
    assert_int_equal(sp_run_commit_batch(run, 5, "x", 1), SP_OK);
    assert_int_equal(sp_run_checkpoint(run, &info, f->t, 2), SP_EINVAL);   /* same step after a batch */
    assert_int_equal(sp_run_final(run, 4, f->t, 2), SP_EINVAL);            /* before step 5 */
    assert_int_equal(sp_run_final(run, 5, f->t, 2), SP_OK);
    assert_int_equal(sp_run_final(run, 6, f->t, 2), SP_EBADSTATE);
    sp_run_close(run);
    sp_run_close(NULL);
    assert_true(verify_ok(f));
    /* a used ledger is not a new run */
    open_run(f, 0, SP_EBADSTATE);
}

static void test_second_writer_busy(void **state)
{
    fixture *f = *state;
    sp_run *run = open_run(f, 0, SP_OK);
    pid_t pid = fork();
    if (pid == 0) {
        sp_run *r2 = NULL;
        sp_run_options o = {.ledger_path = f->ledger, .key_path = f->key, .seed = 7};
        _exit(sp_run_open(&r2, &o) == SP_EBUSY && r2 == NULL ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    sp_run_close(run);
}

static void test_bad_key(void **state)
{
    fixture *f = *state;
    sp_run *run = NULL;
    char err[SP_ERRMSG_MAX];
    sp_run_options o = {.ledger_path = f->ledger, .key_path = f->pub, .err = err};
    assert_int_equal(sp_run_open(&run, &o), SP_EKEY);
    assert_non_null(strstr(err, "public key"));
    o.key_path = "/nonexistent/k.key";
    assert_int_equal(sp_run_open(&run, &o), SP_EKEY);
    o.key_path = f->key;
    o.flags = 0x80;
    assert_int_equal(sp_run_open(&run, &o), SP_EINVAL);
}

/* A failed append leaves the run unusable and the ledger holding only what succeeded. */
static void test_failed_append(void **state)
{
    fixture *f = *state;
    for (int n = 0; n < 4; n++) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-lock'", f->ledger, f->ledger);
        assert_int_equal(system(cmd), 0);
        sp_run *run = open_run(f, 0, SP_OK);
        sp_ledger_fail_after(n);
        int rc = sp_run_genesis(run, f->rt, 2);
        int appended = rc == SP_OK;
        for (uint64_t step = 1; rc == SP_OK && step <= 5; step++) {
            sp_checkpoint_info info = {.step = step};
            rc = sp_run_checkpoint(run, &info, f->t, 2);
            appended += rc == SP_OK;
        }
        sp_ledger_fail_after(-1);
        assert_int_equal(appended, n);
        assert_int_equal(rc, SP_EIO);
        sp_checkpoint_info info = {.step = 100};
        assert_int_equal(sp_run_checkpoint(run, &info, f->t, 2), SP_EBADSTATE);
        sp_run_close(run);
        if (n > 0) {
            assert_true(verify_ok(f));     /* a clean prefix */
            run = open_run(f, SP_RUN_RESUME, SP_OK);
            info.step = 50;
            assert_int_equal(sp_run_checkpoint(run, &info, f->t, 2), SP_OK);
            sp_run_close(run);
            assert_true(verify_ok(f));
        }
    }
}

static void test_resume_wrong_key(void **state)
{
    fixture *f = *state;
    sp_run *run = open_run(f, 0, SP_OK);
    assert_int_equal(sp_run_genesis(run, f->rt, 2), SP_OK);
    sp_run_close(run);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/other", f->dir);
    assert_int_equal(sp_keygen_files(prefix, NULL), SP_OK);
    strcat(prefix, ".key");
    sp_run_options o = {.ledger_path = f->ledger, .key_path = prefix, .flags = SP_RUN_RESUME};
    assert_int_equal(sp_run_open(&run, &o), SP_ECRYPTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_chain_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_writer_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_wrong_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
