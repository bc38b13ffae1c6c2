/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader: any
 * input must either be rejected with an error line or yield tensors whose
 * every byte lies inside the input. Replayed over tests/corpus/safetensors/
 * by build/tests/replay_fuzz_safetensors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SP_ERRMSG_MAX];
    sp_st_file *f = NULL;
    int rc = sp_st_parse(&f, data, size, err);
    if (rc != SP_OK) {
        if (f != NULL || err[0] == '\0' || memchr(err, '\0', SP_ERRMSG_MAX) == NULL)
            abort();
        return 0;
    }
    volatile uint8_t sink = 0;
    size_t n = sp_st_count(f);
    const char *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const sp_tensor *t = sp_st_tensor(f, i);
        if (t == NULL || sp_tensor_check(t) != SP_OK || sp_st_find(f, t->name) != t)
            abort();
        if (prev != NULL && strcmp(prev, t->name) >= 0)
            abort();
        prev = t->name;
        if (t->nbytes > 0) {
            const uint8_t *p = t->data;
            uintptr_t at = (uintptr_t)p, lo = (uintptr_t)data;
            if (at < lo || t->nbytes > size || at - lo > size - t->nbytes)
                abort();
            sink ^= p[0];
            sink ^= p[t->nbytes - 1];
        }
    }
    if (sp_st_tensor(f, n) != NULL)
        abort();
    (void)sp_st_metadata(f, "format");
    (void)sink;
    sp_st_close(f);
    return 0;
}
