/*
 * fuzz_bundle.c - fuzz target for the bundle parser (attest/bundle.c,
 * SPEC.md 14.1). Every input is parsed; one that parses must re-encode to
 * exactly the same bytes (the encoding is canonical), so a parser that
 * accepts something the writer would not produce is a crash here.
 * Replayed over tests/corpus/bundle by make test.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct reencode {
    uint8_t *out;
    size_t n, cap;
    int oom;
} reencode;

static int out_write(void *ctx, const uint8_t *p, size_t len)
{
    reencode *r = ctx;
    if (len > r->cap - r->n) {
        r->oom = 1;
        return SP_EIO;
    }
    memcpy(r->out + r->n, p, len);
    r->n += len;
    return SP_OK;
}

static int visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t vallen)
{
    return sp_bundle_write_entry(out_write, ctx, key, keylen, val, vallen) == SP_OK ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SP_ERRMSG_MAX];
    uint64_t count;
    const uint8_t *head;
    size_t headlen;
    reencode r = {.out = malloc(size + 1), .cap = size};
    if (r.out == NULL)
        return 0;
    /* the header first, so the entries land after it */
    if (size >= SP_BUNDLE_HEADER_BYTES)
        memcpy(r.out, data, SP_BUNDLE_HEADER_BYTES), r.n = SP_BUNDLE_HEADER_BYTES;
    int rc = sp_bundle_parse(data, size, visit, &r, &count, &head, &headlen, err);
    if (rc == 0) {
        if (head != NULL && sp_bundle_write_head(out_write, &r, head, headlen) != SP_OK)
            abort();
        if (r.oom || r.n != size || memcmp(r.out, data, size) != 0)
            abort(); /* accepted bytes the writer would not have written */
    } else if (rc > 0 || err[0] == '\0') {
        abort(); /* a failure must be a negative code with a reason */
    }
    free(r.out);
    return 0;
}
