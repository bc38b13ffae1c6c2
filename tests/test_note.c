/*
 * test_note.c - signed notes, checkpoints and cosignatures (attest/note.c,
 * SPEC.md 15.3-15.6): the golang.org/x/mod/sumdb/note known answer, the
 * head and cosignature vectors recomputed by tests/note_reference.py, and
 * every malformed note the parser must refuse.
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

#include "note.h"

#define EM "\xe2\x80\x94 "
static const char GO_TEXT[] = "If you think cryptography is the answer to your problem,\n"
                              "then you don't know what your problem is.\n";
static const char GO_LINE[] = EM "PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
static const char GO_SEED_B64[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";   /* 0x01 || seed */

static const char HEAD_BODY[] =
    "scratchproof/run/000102030405060708090a0b0c0d0e0f\n8\n"
    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    "scratchproof-head/1\n"
    "last-record 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n"
    "last-time 1700000000000\n";
static const char HEAD_LINE[] = EM "scratchproof/run/000102030405060708090a0b0c0d0e0f "
    "9g9/CCCtKJ1hURA8136E34AgY783xOe9vbYfLOwjkB/0Uf/Y2wugvkWxh/5UIol0p8uIhwprYiCJsvqudlH59Pb68Qs=\n";
static const char COSIG_LINE[] = EM "scratchproof/witness/test "
    "gMia0AAAAABlU/EAgnOFo4MHmHTin85qyxxP4ywdgmZ4RgwQa++XqJcb3nO7a3iUdUhp5sQ0EWU+UhpAFQfrPHbFihK3BhOlKnKmBA==\n";

static uint8_t go_pk[32], go_sk[64], rfc_pk[32], rfc_sk[64], w_pk[32], w_sk[64];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    uint8_t b[33], seed[32];
    size_t n;
    if (sodium_base642bin(b, sizeof b, GO_SEED_B64, strlen(GO_SEED_B64), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || n != 33)
        return -1;
    crypto_sign_seed_keypair(go_pk, go_sk, b + 1);
    sodium_hex2bin(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", 64,
                   NULL, NULL, NULL);
    crypto_sign_seed_keypair(rfc_pk, rfc_sk, seed);
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    crypto_sign_seed_keypair(w_pk, w_sk, seed);
    return 0;
}

static char *cat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

static int parse_str(sp_note *n, const char *s)
{
    char err[SP_ERRMSG_MAX] = "";
    return sp_note_parse(n, (const uint8_t *)s, strlen(s), err);
}

static void test_go_known_answer(void **state)
{
    (void)state;
    assert_int_equal(sp_note_keyid("PeterNeumann", SP_NOTE_TYPE_ED25519, go_pk), 0xc74f20a3u);
    char *line;
    assert_int_equal(sp_note_sign_line(&line, GO_TEXT, strlen(GO_TEXT), "PeterNeumann", go_sk), SP_OK);
    assert_string_equal(line, GO_LINE);
    free(line);
    char *msg = cat3(GO_TEXT, "\n", GO_LINE);
    sp_note n;
    assert_int_equal(parse_str(&n, msg), SP_OK);
    assert_string_equal(n.text, GO_TEXT);
    assert_int_equal(n.n_sigs, 1);
    assert_string_equal(n.sigs[0].name, "PeterNeumann");
    assert_int_equal(n.sigs[0].keyid, 0xc74f20a3u);
    size_t which = 9;
    assert_int_equal(sp_note_verify(&n, go_pk, &which), SP_OK);
    assert_int_equal(which, 0);
    assert_int_equal(sp_note_verify(&n, rfc_pk, NULL), SP_ENOTFOUND);
    n.text[0] ^= 1;   /* a changed text byte */
    assert_int_equal(sp_note_verify(&n, go_pk, NULL), SP_ECRYPTO);
    sp_note_free(&n);
    free(msg);
}

static void test_head_and_cosig_vectors(void **state)
{
    (void)state;
    char *line;
    assert_int_equal(sp_note_sign_line(&line, HEAD_BODY, strlen(HEAD_BODY),
                                       "scratchproof/run/000102030405060708090a0b0c0d0e0f", rfc_sk), SP_OK);
    assert_string_equal(line, HEAD_LINE);
    free(line);
    assert_int_equal(sp_note_cosign_line(&line, HEAD_BODY, strlen(HEAD_BODY), "scratchproof/witness/test",
                                         w_sk, 1700000000u), SP_OK);
    assert_string_equal(line, COSIG_LINE);
    free(line);
    assert_int_equal(sp_note_keyid("scratchproof/witness/test", SP_NOTE_TYPE_COSIG, w_pk), 0x80c89ad0u);

    char *head = cat3(HEAD_BODY, "\n", HEAD_LINE);
    char *both = cat3(head, COSIG_LINE, "");
    sp_note n;
    assert_int_equal(parse_str(&n, both), SP_OK);
    assert_int_equal(n.n_sigs, 2);
    uint64_t t = 0;
    size_t which = 9;
    assert_int_equal(sp_note_verify(&n, rfc_pk, &which), SP_OK);
    assert_int_equal(which, 0);
    assert_int_equal(sp_note_verify_cosig(&n, w_pk, &t, &which), SP_OK);
    assert_int_equal(which, 1);
    assert_int_equal(t, 1700000000u);
    /* the witness key is not a note signer and the trainer's key is not a cosigner */
    assert_int_equal(sp_note_verify(&n, w_pk, NULL), SP_ENOTFOUND);
    assert_int_equal(sp_note_verify_cosig(&n, rfc_pk, NULL, NULL), SP_ENOTFOUND);
    /* a changed timestamp breaks the cosignature */
    n.sigs[1].sig[7] ^= 1;
    assert_int_equal(sp_note_verify_cosig(&n, w_pk, NULL, NULL), SP_ECRYPTO);
    sp_note_free(&n);

    sp_checkpoint cp;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_checkpoint_parse(&cp, HEAD_BODY, strlen(HEAD_BODY), err), SP_OK);
    assert_int_equal(cp.size, 8);
    assert_int_equal(cp.origin_len, strlen("scratchproof/run/000102030405060708090a0b0c0d0e0f"));
    assert_int_equal(cp.root[0], 0x5d);
    assert_int_equal(cp.ext_len, strlen(HEAD_BODY) - (size_t)(cp.ext - HEAD_BODY));
    assert_memory_equal(cp.ext, "scratchproof-head/1\n", 20);
    free(head);
    free(both);
}

static void test_malformed_notes(void **state)
{
    (void)state;
    const char *sig = GO_LINE;
    char *bad[32];
    int k = 0;
    bad[k++] = cat3(GO_TEXT, "", "");                            /* no signatures */
    bad[k++] = cat3(GO_TEXT, "\n", "");                          /* empty signature block */
    bad[k++] = cat3(GO_TEXT, "\n", sig);
    bad[k - 1][strlen(bad[k - 1]) - 1] = '\0';                   /* no final newline */
    bad[k++] = cat3("\x01", GO_TEXT, "\n");                      /* control byte */
    bad[k++] = cat3("\xff", GO_TEXT, "\n");                      /* not UTF-8 */
    bad[k++] = cat3("\xc0\xaf", GO_TEXT, "\n");                  /* overlong */
    bad[k++] = cat3("\xed\xa0\x80", GO_TEXT, "\n");              /* surrogate */
    bad[k++] = cat3("a\r", GO_TEXT, "\n");                       /* CR */
    bad[k++] = cat3(GO_TEXT, "\n" EM "Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");
    bad[k++] = cat3(GO_TEXT, "\n" EM "a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");
    bad[k++] = cat3(GO_TEXT, "\n" EM "a\xc2\xa0z x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");
    char *tail = cat3("\n", sig, "Unexpected line.\n");          /* a line that is no signature */
    bad[k++] = cat3(GO_TEXT, tail, "");
    free(tail);
    bad[k++] = cat3(GO_TEXT, "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");
    bad[k++] = cat3(GO_TEXT, "\n" EM "PeterNeumann\n", "");      /* no signature */
    bad[k++] = cat3(GO_TEXT, "\n" EM " x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");
    bad[k++] = cat3(GO_TEXT, "\n" EM "PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n", "");   /* unpadded */
    bad[k++] = cat3(GO_TEXT, "\n" EM "PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n", "");  /* non-canonical */
    bad[k++] = cat3(GO_TEXT, "\n" EM "PeterNeumann x08go_ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", "");  /* URL alphabet */
    bad[k++] = cat3(GO_TEXT, "\n" EM "PeterNeumann AAAA\n", "");  /* 3 bytes: no room for a key id and a signature */
    bad[k++] = cat3(GO_TEXT, "\n" EM "PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM= \n", "");   /* trailing space */
    for (int i = 0; i < k; i++) {
        sp_note n;
        int rc = parse_str(&n, bad[i]);
        if (rc != SP_EFORMAT)
            fail_msg("malformed note %d accepted", i);
        assert_null(n.text);
        assert_int_equal(n.n_sigs, 0);
        sp_note_free(&n);
        free(bad[i]);
    }
    /* more than SP_NOTE_MAX_SIGS signature lines, and an empty input */
    size_t cap = strlen(GO_TEXT) + 2 + (SP_NOTE_MAX_SIGS + 1) * strlen(sig);
    char *many = malloc(cap + 1);
    assert_non_null(many);
    strcpy(many, GO_TEXT);
    strcat(many, "\n");
    for (unsigned i = 0; i <= SP_NOTE_MAX_SIGS; i++)
        strcat(many, sig);
    sp_note n;
    assert_int_equal(parse_str(&n, many), SP_EFORMAT);
    free(many);
    assert_int_equal(sp_note_parse(&n, (const uint8_t *)"", 0, NULL), SP_EFORMAT);
    /* a signature with an unknown key is not an error: it is ignored */
    char *two = cat3(GO_TEXT, "\n", COSIG_LINE);
    char *three = cat3(two, sig, "");
    assert_int_equal(parse_str(&n, three), SP_OK);
    assert_int_equal(sp_note_verify(&n, go_pk, NULL), SP_OK);
    sp_note_free(&n);
    free(two);
    free(three);
}

static void test_malformed_checkpoints(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",                                                    /* no lines */
        "origin\n8\n",                                         /* no root */
        "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",  /* empty origin */
        "o\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",  /* leading zero */
        "o\n-1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "o\n+8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "o\n\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "o\n9223372036854775808\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",   /* 2^63 */
        "o\n99999999999999999999\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",  /* overflows */
        "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQy=\n",    /* 43 chars */
        "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n",   /* non-canonical */
        "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n",  /* empty extension line */
        "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next\n\nmore\n",
        "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next",  /* no final newline */
        "o\n8\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",  /* 36 bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sp_checkpoint cp;
        if (sp_checkpoint_parse(&cp, bad[i], strlen(bad[i]), NULL) != SP_EFORMAT)
            fail_msg("malformed checkpoint %zu accepted", i);
    }
    sp_checkpoint cp;
    const char *ok = "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    assert_int_equal(sp_checkpoint_parse(&cp, ok, strlen(ok), NULL), SP_OK);
    assert_int_equal(cp.size, 0);
    assert_int_equal(cp.ext_len, 0);
    const char *max = "o\n9223372036854775807\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    assert_int_equal(sp_checkpoint_parse(&cp, max, strlen(max), NULL), SP_OK);
    assert_int_equal(cp.size, 9223372036854775807ull);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(sp_note_name_ok("example.com/log42"));
    assert_true(sp_note_name_ok("\xc3\xa9t\xc3\xa9"));
    assert_false(sp_note_name_ok(""));
    assert_false(sp_note_name_ok("a b"));
    assert_false(sp_note_name_ok("a+b"));
    assert_false(sp_note_name_ok("a\xe3\x80\x80" "b"));   /* ideographic space */
    assert_false(sp_note_name_ok("a\xff"));
    char *line = (char *)1;
    assert_int_equal(sp_note_sign_line(&line, "x\n", 2, "a b", go_sk), SP_EINVAL);
    assert_null(line);
    assert_int_equal(sp_note_cosign_line(&line, "x\n", 2, "w", go_sk, (uint64_t)1 << 63), SP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_known_answer),
        cmocka_unit_test(test_head_and_cosig_vectors),
        cmocka_unit_test(test_malformed_notes),
        cmocka_unit_test(test_malformed_checkpoints),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
