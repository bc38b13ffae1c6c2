/*
 * test_head.c - heads (verify/chain/head.c, head_check.c; SPEC.md 15.1,
 * 15.3, 15.7): the body format and its strict parser, and sp_head_check
 * against synthetic ledgers given as record digests: the honest ledger and
 * a longer one pass; a truncated one, a fork at the same size, a longer
 * fork, another run, another signer, a changed head, a missing or broken
 * witness cosignature each fail check "head".
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
#include <time.h>

#include "head.h"
#include "merkle.h"

#define NREC 12
static uint8_t digests[NREC][SP_DIGEST_BYTES], run[SP_RUN_ID_BYTES];
static uint8_t pk[32], sk[64], opk[32], osk[64], wpk[32], wsk[64];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < NREC; i++)
        for (unsigned k = 0; k < SP_DIGEST_BYTES; k++)
            digests[i][k] = (uint8_t)((unsigned)i * 31 + k);
    for (unsigned k = 0; k < SP_RUN_ID_BYTES; k++)
        run[k] = (uint8_t)k;
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(opk, osk);
    crypto_sign_keypair(wpk, wsk);
    return 0;
}

/* The head of the first n digests, signed with key, optionally cosigned by the witness. */
static uint64_t cosign_time = 1700000001u;

static sp_head_file *make_head(uint64_t n, const uint8_t *key, int cosign, const uint8_t *run_id)
{
    uint8_t leaves[NREC][32];
    for (uint64_t i = 0; i < n; i++)
        sp_merkle_leaf(leaves[i], digests[i], SP_DIGEST_BYTES);
    sp_head h = {.size = n, .last_time_ms = 1700000000123};
    memcpy(h.run_id, run_id, SP_RUN_ID_BYTES);
    sp_merkle_root(h.root, &leaves[0][0], n);
    memcpy(h.last_record, digests[n - 1], SP_DIGEST_BYTES);
    char *body, *line, *cline = NULL, origin[SP_HEAD_ORIGIN_MAX];
    size_t len;
    assert_int_equal(sp_head_format_body(&body, &len, &h), SP_OK);
    sp_head_origin(origin, run_id);
    assert_int_equal(sp_note_sign_line(&line, body, len, origin, key), SP_OK);
    if (cosign)
        assert_int_equal(sp_note_cosign_line(&cline, body, len, "w.example/w", wsk, cosign_time), SP_OK);
    char *note = malloc(len + strlen(line) + (cline ? strlen(cline) : 0) + 2);
    assert_non_null(note);
    sprintf(note, "%s\n%s%s", body, line, cline ? cline : "");
    sp_head_file *hf = calloc(1, sizeof *hf);
    assert_non_null(hf);
    assert_int_equal(sp_note_parse(&hf->note, (const uint8_t *)note, strlen(note), NULL), SP_OK);
    hf->body_ok = sp_head_parse_body(&hf->head, hf->note.text, hf->note.text_len, hf->body_err) == SP_OK;
    assert_true(hf->body_ok);
    assert_memory_equal(&hf->head, &h, sizeof h);   /* the body round-trips */
    strcpy(hf->path, "test.head");
    free(note);
    free(body);
    free(line);
    free(cline);
    return hf;
}

/* Runs the check over ds[0..n); returns 1 when every check passed, and the detail of a failure. */
static int check(const sp_head_file *hf, const uint8_t *ds, size_t n, const uint8_t *run_id, int witness,
                 char *why)
{
    sp_report rep;
    sp_report_init(&rep);
    const uint8_t(*w)[32] = (const uint8_t(*)[32])wpk;
    const char *names[] = {"w.pub"};
    sp_head_check(hf, pk, witness ? w : NULL, names, witness ? 1 : 0, ds, SP_DIGEST_BYTES, n, run_id, &rep);
    int ok = sp_report_ok(&rep) && rep.n > 0;
    why[0] = '\0';
    for (size_t i = 0; i < rep.n; i++)
        if (!rep.v[i].ok) {
            assert_string_equal(rep.v[i].name, "head");
            snprintf(why, 512, "%s", rep.v[i].detail);
            break;
        }
    sp_report_free(&rep);
    return ok;
}

static void test_check(void **state)
{
    (void)state;
    char why[512];
    sp_head_file *h8 = make_head(8, sk, 1, run);
    assert_true(check(h8, &digests[0][0], 8, run, 1, why));
    assert_true(check(h8, &digests[0][0], 12, run, 1, why));   /* extended */
    for (size_t n = 1; n < 8; n++) {
        assert_false(check(h8, &digests[0][0], n, run, 0, why));
        assert_non_null(strstr(why, "dropped"));
    }
    uint8_t fork[NREC][SP_DIGEST_BYTES];
    memcpy(fork, digests, sizeof fork);
    fork[5][0] ^= 1;
    assert_false(check(h8, &fork[0][0], 8, run, 0, why));
    assert_non_null(strstr(why, "another root"));
    assert_false(check(h8, &fork[0][0], 12, run, 0, why));
    assert_non_null(strstr(why, "not an extension"));
    memcpy(fork, digests, sizeof fork);
    fork[8][0] ^= 1;   /* a change after the head's records is an extension */
    assert_true(check(h8, &fork[0][0], 12, run, 0, why));
    uint8_t other[SP_RUN_ID_BYTES] = {9};
    assert_false(check(h8, &digests[0][0], 8, other, 0, why));
    assert_non_null(strstr(why, "run"));
    assert_false(check(h8, &digests[0][0], 8, NULL, 0, why));

    sp_head_file *nw = make_head(8, sk, 0, run);
    assert_true(check(nw, &digests[0][0], 8, run, 0, why));
    assert_false(check(nw, &digests[0][0], 8, run, 1, why));
    assert_non_null(strstr(why, "not cosigned"));
    /* a broken cosignature: the witness's line names the key but does not verify */
    h8->note.sigs[1].sig[20] ^= 1;
    assert_false(check(h8, &digests[0][0], 8, run, 1, why));
    assert_non_null(strstr(why, "does not verify"));
    h8->note.sigs[1].sig[20] ^= 1;
    /* a changed head text */
    h8->note.text[strlen(SP_HEAD_ORIGIN_PREFIX) + 33] ^= 1;
    assert_false(check(h8, &digests[0][0], 8, run, 0, why));
    assert_non_null(strstr(why, "does not verify"));
    sp_head_file *oh = make_head(8, osk, 1, run);
    assert_false(check(oh, &digests[0][0], 8, run, 1, why));
    assert_non_null(strstr(why, "not signed by the pinned key"));
    cosign_time = (uint64_t)time(NULL) + 3600;   /* a witness whose clock is an hour ahead */
    sp_head_file *fut = make_head(8, sk, 1, run);
    cosign_time = 1700000001u;
    assert_false(check(fut, &digests[0][0], 8, run, 1, why));
    assert_non_null(strstr(why, "in the future"));
    sp_head_file_free(fut);
    sp_head_file_free(h8);
    sp_head_file_free(nw);
    sp_head_file_free(oh);
}

static void test_body_negative(void **state)
{
    (void)state;
    static const char *good =
        "scratchproof/run/000102030405060708090a0b0c0d0e0f\n8\n"
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
        "scratchproof-head/1\n"
        "last-record 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n"
        "last-time 1700000000000\n";
    sp_head h;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_head_parse_body(&h, good, strlen(good), err), SP_OK);
    assert_int_equal(h.size, 8);
    assert_int_equal(h.last_time_ms, 1700000000000);
    assert_int_equal(h.last_record[0], 0x20);
    struct { const char *from, *to; } edits[] = {
        {"scratchproof/run/", "scratchproof/runs/"},
        {"0e0f\n", "0E0F\n"},                              /* uppercase hex */
        {"0e0f\n", "0e\n"},                                /* short run id */
        {"\n8\n", "\n0\n"},                                /* size 0 */
        {"scratchproof-head/1", "scratchproof-head/2"},
        {"last-record 20", "last-record  20"},
        {"3e3f\n", "3e3F\n"},
        {"3e3f\n", "3e\n"},
        {"last-time 1700000000000", "last-time 01700000000000"},
        {"last-time 1700000000000", "last-time -0"},
        {"last-time 1700000000000", "last-time 1700000000000000000000"},
        {"last-time 1700000000000", "last-time 17e11"},
        {"last-time 1700000000000\n", "last-time 1700000000000\nextra\n"},
        {"last-time 1700000000000\n", ""},
        {"last-record", "first-record"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char buf[1024];
        const char *at = strstr(good, edits[i].from);
        assert_non_null(at);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, edits[i].to, at + strlen(edits[i].from));
        if (sp_head_parse_body(&h, buf, strlen(buf), err) != SP_EFORMAT)
            fail_msg("edit %zu accepted: %s", i, buf);
    }
    const char *neg = "scratchproof/run/000102030405060708090a0b0c0d0e0f\n1\n"
                      "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\nscratchproof-head/1\n"
                      "last-record 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n"
                      "last-time -5\n";
    assert_int_equal(sp_head_parse_body(&h, neg, strlen(neg), err), SP_OK);
    assert_int_equal(h.last_time_ms, -5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_body_negative),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
