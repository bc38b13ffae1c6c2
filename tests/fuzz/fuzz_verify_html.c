/*
 * fuzz_verify_html.c - fuzz target for the HTML page of `verify --html`
 * (verify/report/verify_html.c, SPEC.md 13.5): the input, split at NUL bytes,
 * gives the ledger path, the model name and (name, detail) pairs of checks,
 * every byte untrusted. The page must be valid UTF-8 without control bytes
 * (but newlines), and hold exactly as many '<' and '>' as the same page with
 * every input string emptied: markup comes from the writer only. Replayed
 * over tests/corpus/verify_html by make test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify_html.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n || (c < 0x20 && c != '\n') || c == 0x7f)
            return 0;
        uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1f : k == 3 ? c & 0x0f : c & 0x07;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += k;
    }
    return 1;
}

/* Writes the page for strings str[0..n) (emptied when blank) into a buffer. */
static char *page(char **str, size_t n, int blank, size_t *len)
{
    sp_report rep;
    sp_report_init(&rep);
    for (size_t i = 2; i + 1 < n; i += 2)
        sp_report_add(&rep, blank ? "x" : str[i], (int)(i / 2) % 2, "%s", blank ? "" : str[i + 1]);
    sp_verify_summary sum;
    memset(&sum, 0, sizeof sum);
    sum.have_genesis = 1;
    snprintf(sum.model_name, sizeof sum.model_name, "%s", n > 1 && !blank ? str[1] : "");
    sp_verify_page pg = {.ledger = n > 0 && !blank ? str[0] : "", .sum = &sum, .rep = &rep};
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL || sp_verify_html(f, &pg) != 0)
        abort();
    fclose(f);
    sp_report_free(&rep);
    return buf;
}

static size_t count(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *copy = malloc(size + 1);
    char **str = calloc(size + 2, sizeof *str);
    if (copy == NULL || str == NULL)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    size_t n = 0;
    for (size_t i = 0; i <= size; i++)
        if (i == 0 || copy[i - 1] == '\0')
            str[n++] = copy + i;
    size_t la, lb;
    char *a = page(str, n, 0, &la), *b = page(str, n, 1, &lb);
    if (!utf8_ok((const unsigned char *)a, la) || count(a, la, '<') != count(b, lb, '<') ||
        count(a, la, '>') != count(b, lb, '>'))
        abort();
    free(a);
    free(b);
    free(copy);
    free(str);
    return 0;
}
