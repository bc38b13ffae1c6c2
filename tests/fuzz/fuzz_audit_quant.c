/*
 * fuzz_audit_quant.c - libFuzzer target for the audit's reading of a
 * safetensors file's tensors (verify/audit/audit_quant.c, SPEC.md 10.1):
 * the input is parsed as safetensors; when it parses, the quantised, scale,
 * zero-point and bit-cast interpretation must either refuse with an error
 * line or yield tensors of a valid shape whose data can be read whole.
 * Replayed over tests/corpus/audit_quant/ by build/tests/replay_fuzz_audit_quant.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_quant.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SP_ERRMSG_MAX] = "";
    sp_st_file *f = NULL;
    if (sp_st_parse(&f, data, size, err) != SP_OK)
        return 0;
    size_t n = sp_st_count(f);
    sp_tensor *all = calloc(n ? n : 1, sizeof *all);
    if (all == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        all[i] = *sp_st_tensor(f, i);
    sp_audit_view v;
    err[0] = '\0';
    int rc = sp_audit_interpret(&v, all, n, err);
    if (rc != SP_OK) {
        if (rc != SP_ENOMEM)
            abort();
    } else {
        if (v.count > n)
            abort();
        volatile float sink = 0;
        float buf[64];
        for (size_t i = 0; i < v.count; i++) {
            const sp_tensor *t = &v.tensors[i];
            uint64_t k = 0;
            if (sp_shape_numel(&k, t->shape, t->ndim) != SP_OK || k * sp_dtype_size(t->dtype) != t->nbytes)
                abort();
            if (!sp_audit_dtype_ok(t->dtype))
                continue;
            for (uint64_t e = 0; e < k; e += 64) {
                uint64_t m = k - e < 64 ? k - e : 64;
                sp_audit_to_float(buf, t, e, m);
                sink += buf[0];
            }
        }
        (void)sink;
        sp_audit_view_free(&v);
    }
    free(all);
    sp_st_close(f);
    return 0;
}
