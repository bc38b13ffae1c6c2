/*
 * escape.c - printable forms of untrusted strings (escape.h, SPEC.md 1.1).
 *
 * The input is cut into units: one valid UTF-8 character, or one byte that
 * does not start a valid character. Each unit is written as it is or, when
 * it is unsafe on a terminal, as \xNN per byte. Working unit by unit is what
 * lets a truncated output end between characters, never inside an escape.
 */
#include "escape.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*
 * Length of the valid UTF-8 character at s (n bytes available, n >= 1),
 * with its code point in *cp; 0 when s[0] does not start one. The ranges
 * are RFC 3629's table: they exclude overlong forms, surrogates and code
 * points above U+10FFFF.
 */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;  /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;              /* below: overlong */
        else if (c == 0xED)
            hi = 0x9F;              /* above: surrogates */
        c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;              /* below: overlong */
        else if (c == 0xF4)
            hi = 0x8F;              /* above: beyond U+10FFFF */
        c &= 0x07;
    } else {
        return 0;                   /* a continuation byte, C0, C1 or F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    for (size_t i = 1; i < len; i++)
        c = (c << 6) | (s[i] & 0x3Fu);
    *cp = c;
    return len;
}

/* Code points that are valid UTF-8 but must not reach a terminal as they are. */
static int dangerous(unsigned cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C ||
           cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * The escaped form of the unit at s (n >= 1 bytes available) into out
 * (SP_ESCAPE_UNIT_MAX bytes, not NUL-terminated). Returns the unit's input
 * length; *outlen gets the output length. *unsafe is set when the unit is
 * written as \xNN escapes (not for a backslash).
 */
static size_t unit(char *out, size_t *outlen, int *unsafe, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned cp = 0;
    size_t len = utf8_char(s, n, &cp);
    *unsafe = 0;
    if (len > 0 && !dangerous(cp)) {
        if (cp == '\\') {
            out[0] = out[1] = '\\';
            *outlen = 2;
        } else {
            memcpy(out, s, len);
            *outlen = len;
        }
        return len;
    }
    if (len == 0)
        len = 1;                    /* an invalid byte is a unit of its own */
    assert(4 * len <= SP_ESCAPE_UNIT_MAX);  /* dangerous code points are at most 3 bytes */
    for (size_t i = 0; i < len; i++) {
        out[4 * i] = '\\';
        out[4 * i + 1] = 'x';
        out[4 * i + 2] = hex[s[i] >> 4];
        out[4 * i + 3] = hex[s[i] & 0xF];
    }
    *outlen = 4 * len;
    *unsafe = 1;
    return len;
}

size_t sp_escape_n(char *out, size_t cap, const void *src, size_t len)
{
    const unsigned char *s = src;
    size_t total = 0, used = 0;  /* used: bytes written to out, below cap */
    int full = cap == 0;
    for (size_t i = 0; i < len;) {
        char u[SP_ESCAPE_UNIT_MAX];
        size_t ulen;
        int unsafe;
        i += unit(u, &ulen, &unsafe, s + i, len - i);
        total += ulen;
        if (!full && used + ulen < cap) {
            memcpy(out + used, u, ulen);
            used += ulen;
        } else {
            full = 1;               /* a later, shorter unit must not fill the gap */
        }
    }
    if (cap > 0)
        out[used] = '\0';
    return total;
}

size_t sp_escape(char *out, size_t cap, const char *s)
{
    return sp_escape_n(out, cap, s, strlen(s));
}

char *sp_escape_dupn(const void *s, size_t len)
{
    size_t need = sp_escape_n(NULL, 0, s, len);
    char *out = malloc(need + 1);
    if (out != NULL)
        sp_escape_n(out, need + 1, s, len);
    return out;
}

char *sp_escape_dup(const char *s)
{
    return sp_escape_dupn(s, strlen(s));
}

/* One unit's escaped bytes to f, with the HTML metacharacters as entities when html. */
static int put_unit(const char *u, size_t ulen, int html, FILE *f)
{
    if (!html)
        return fwrite(u, 1, ulen, f) == ulen ? 0 : -1;
    for (size_t k = 0; k < ulen; k++) {
        const char *ent = NULL;
        switch (u[k]) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: break;
        }
        if (ent != NULL ? fputs(ent, f) == EOF : fputc(u[k], f) == EOF)
            return -1;
    }
    return 0;
}

static int escape_to(const char *str, int html, FILE *f)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);
    for (size_t i = 0; i < len;) {
        char u[SP_ESCAPE_UNIT_MAX];
        size_t ulen;
        int unsafe;
        i += unit(u, &ulen, &unsafe, s + i, len - i);
        if (put_unit(u, ulen, html, f) != 0)
            return -1;
    }
    return 0;
}

int sp_escape_fputs(const char *str, FILE *f)
{
    return escape_to(str, 0, f);
}

int sp_escape_html_fputs(const char *str, FILE *f)
{
    return escape_to(str, 1, f);
}

int sp_utf8_valid(const void *src, size_t len)
{
    const unsigned char *s = src;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_char(s + i, len - i, &cp);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

void sp_escape_scrub(char *str)
{
    unsigned char *s = (unsigned char *)str;
    size_t len = strlen(str);
    for (size_t i = 0; i < len;) {
        char u[SP_ESCAPE_UNIT_MAX];
        size_t ulen;
        int unsafe;
        size_t n = unit(u, &ulen, &unsafe, s + i, len - i);
        if (unsafe)
            memset(s + i, '?', n);
        i += n;
    }
}
