/*
 * fuzz_note.c - fuzz target for signed heads (SPEC.md 15): the signed-note
 * parser, signature and cosignature checks, the checkpoint parser and the
 * scratchproof head body parser over its text. Replayed over
 * tests/corpus/note by make test.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"
#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[32], wpk[32];
    static int ready;
    if (!ready) {
        uint8_t sk[64], seed[32];
        if (sodium_init() < 0)
            return 0;
        for (int i = 0; i < 32; i++)
            seed[i] = (uint8_t)(i + 1);
        crypto_sign_seed_keypair(wpk, sk, seed);
        seed[0] = 0x9d;
        crypto_sign_seed_keypair(pk, sk, seed);
        sodium_memzero(sk, sizeof sk);
        ready = 1;
    }
    sp_note n;
    char err[SP_ERRMSG_MAX];
    if (sp_note_parse(&n, data, size, err) == SP_OK) {
        uint64_t t;
        int rc = sp_note_verify(&n, pk, NULL) | sp_note_verify_cosig(&n, wpk, &t, NULL);
        for (size_t i = 0; i < n.n_sigs; i++)
            if (!sp_note_name_ok(n.sigs[i].name))
                abort();    /* the parser let a bad name through */
        sp_head h;
        char *again = NULL;
        size_t len = 0;
        /* A body that parses is in canonical form: formatting it gives the same text. */
        if (sp_head_parse_body(&h, n.text, n.text_len, err) == SP_OK &&
            sp_head_format_body(&again, &len, &h) == SP_OK &&
            (len != n.text_len || memcmp(again, n.text, len) != 0))
            abort();
        free(again);
        sp_note_free(&n);
        (void)rc;
    }
    sp_checkpoint cp;
    if (sp_checkpoint_parse(&cp, (const char *)data, size, err) == SP_OK && cp.size > (uint64_t)INT64_MAX)
        abort();
    return 0;
}
