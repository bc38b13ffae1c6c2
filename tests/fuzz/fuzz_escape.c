/*
 * fuzz_escape.c - fuzz target for the escaping rule (attest/escape.c,
 * SPEC.md 1.1). For any input bytes it checks the promises the printers rely
 * on: the output is valid UTF-8 with no control byte and no dangerous code
 * point (escaping it again only doubles its backslashes), it decodes back to
 * the input exactly, its length is what sp_escape_n returns, and a cut output
 * at any cap is a prefix that ends between units and decodes to a prefix of
 * the input. Replayed over tests/corpus/escape by make test.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;   /* escapes are lowercase only */
}

/* Decodes escaped text into out; returns its length, or (size_t)-1 when malformed. */
static size_t unescape(uint8_t *out, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[k++] = (uint8_t)s[i];
            continue;
        }
        if (i + 1 < n && s[i + 1] == '\\') {
            out[k++] = '\\';
            i++;
        } else if (i + 3 < n && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
            out[k++] = (uint8_t)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
            i += 3;
        } else {
            return (size_t)-1;
        }
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    size_t n = sp_escape_n(NULL, 0, data, size);
    assert(n <= 4 * size);
    char *out = malloc(n + 1), *again = malloc(2 * n + 1);
    uint8_t *back = malloc(size + 1);
    assert(out != NULL && again != NULL && back != NULL);
    assert(sp_escape_n(out, n + 1, data, size) == n);
    assert(strlen(out) == n);
    assert(sp_utf8_valid(out, n));
    for (size_t i = 0; i < n; i++)
        assert((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] != 0x7f);
    assert(unescape(back, out, n) == size && memcmp(back, data, size) == 0);

    /* nothing unsafe survives: a second pass only doubles backslashes */
    size_t bs = 0;
    for (size_t i = 0; i < n; i++)
        bs += out[i] == '\\';
    assert(sp_escape(again, 2 * n + 1, out) == n + bs);
    for (size_t i = 0, j = 0; i < n; i++, j++) {
        assert(again[j] == out[i]);
        if (out[i] == '\\')
            assert(again[++j] == '\\');
    }

    /* every cap: a NUL-terminated prefix that decodes to a prefix of the input */
    char *cut = malloc(n + 2);
    assert(cut != NULL);
    size_t prev = 0;
    for (size_t cap = 1; cap <= n + 1; cap++) {
        assert(sp_escape_n(cut, cap, data, size) == n);
        size_t c = strlen(cut);
        assert(c < cap && memcmp(cut, out, c) == 0 && c >= prev);
        size_t k = unescape(back, cut, c);
        assert(k != (size_t)-1 && k <= size && memcmp(back, data, k) == 0);
        prev = c;
    }
    assert(prev == n);
    free(cut);
    free(out);
    free(again);
    free(back);
    return 0;
}
