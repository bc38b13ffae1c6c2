/*
 * fuzz_record.c - fuzz target for stored ledger values: envelope decode,
 * signature check and record decode/validation, and the input taken as a
 * bare record payload. Replayed over tests/corpus/record by make test.
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[32];
    static int ready;
    if (!ready) {
        uint8_t sk[64], seed[32];
        for (int i = 0; i < 32; i++)
            seed[i] = (uint8_t)(i + 1);
        if (sodium_init() < 0)
            return 0;
        crypto_sign_seed_keypair(pk, sk, seed);
        sodium_memzero(sk, sizeof sk);
        ready = 1;
    }
    Sp__Envelope *env = NULL;
    Sp__Record *r = NULL;
    char err[SP_ERRMSG_MAX];
    if (sp_envelope_decode(&env, data, size, err) == SP_OK) {
        int vrc = sp_envelope_verify(env, pk);   /* any answer; it must not crash */
        (void)vrc;
        if (sp_record_decode(&r, env->payload.data, env->payload.len, err) == SP_OK) {
            Sp__TensorDigest **t;
            size_t n;
            sp_record_tensors(r, &t, &n);
            for (size_t i = 0; i < n; i++)
                (void)strlen(t[i]->name);
            sp_record_free(r);
        }
        sp_envelope_free(env);
    }
    if (sp_record_decode(&r, data, size, err) == SP_OK)
        sp_record_free(r);
    return 0;
}
