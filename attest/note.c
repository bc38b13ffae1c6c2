/*
 * note.c - C2SP signed notes, checkpoints and cosignatures (note.h,
 * SPEC.md 15.3-15.5). The parser follows c2sp.org/signed-note and the
 * reference implementation's checks (golang.org/x/mod/sumdb/note): the
 * signatures are separated from the text by the last blank line, and a note
 * with any malformed signature line is rejected whole.
 */
#include "note.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char EMDASH_SP[] = "\xe2\x80\x94 ";   /* U+2014 then a space */
#define EMDASH_SP_LEN 4u

/*
 * Decodes one UTF-8 sequence at s (n bytes available) into *cp; returns its
 * length, or 0 when it is not well-formed (overlong, surrogate, > U+10FFFF,
 * truncated).
 */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2; v = c & 0x1F; min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3; v = c & 0x0F; min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4; v = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Unicode White_Space (what Go's unicode.IsSpace accepts). */
static int is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int name_ok_n(const char *name, size_t n)
{
    if (n == 0)
        return 0;
    const uint8_t *s = (const uint8_t *)name;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_next(s + i, n - i, &cp);
        if (k == 0 || cp == '+' || is_space(cp) || cp < 0x20)
            return 0;
        i += k;
    }
    return 1;
}

int sp_note_name_ok(const char *name)
{
    return name_ok_n(name, strlen(name));
}

uint32_t sp_note_keyid(const char *name, uint8_t type, const uint8_t *pk)
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];
    const uint8_t nl = 0x0A;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, &nl, 1);
    crypto_hash_sha256_update(&st, &type, 1);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/*
 * Decodes canonical standard base64 (with padding) of exactly n characters
 * into out (cap bytes). Returns the decoded length, or -1.
 */
static long b64_decode(uint8_t *out, size_t cap, const char *b64, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (n == 0 || n % 4 != 0)
        return -1;
    if (sodium_base642bin(out, cap, b64, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + n)
        return -1;
    /* Canonical: re-encoding gives the same characters (unused bits zero). */
    size_t elen = sodium_base64_encoded_len(got, sodium_base64_VARIANT_ORIGINAL);
    char *again = malloc(elen);
    if (again == NULL)
        return -1;
    sodium_bin2base64(again, elen, out, got, sodium_base64_VARIANT_ORIGINAL);
    int same = strlen(again) == n && memcmp(again, b64, n) == 0;
    free(again);
    return same ? (long)got : -1;
}

void sp_note_free(sp_note *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n_sigs; i++) {
        free(n->sigs[i].name);
        free(n->sigs[i].sig);
    }
    free(n->sigs);
    free(n->text);
    memset(n, 0, sizeof *n);
}

/* One signature line (without its newline) into sig. */
static int parse_sigline(sp_note_sig *sig, const char *line, size_t n, uint8_t *tmp, char *err,
                         size_t lineno)
{
    if (n < EMDASH_SP_LEN || memcmp(line, EMDASH_SP, EMDASH_SP_LEN) != 0) {
        sp_errf(err, "signature line %zu does not start with an em dash and a space", lineno);
        return SP_EFORMAT;
    }
    line += EMDASH_SP_LEN;
    n -= EMDASH_SP_LEN;
    const char *sp = memchr(line, ' ', n);
    if (sp == NULL) {
        sp_errf(err, "signature line %zu has no space between key name and signature", lineno);
        return SP_EFORMAT;
    }
    size_t nlen = (size_t)(sp - line);
    if (!name_ok_n(line, nlen)) {
        sp_errf(err, "signature line %zu: bad key name (empty, a space or a '+')", lineno);
        return SP_EFORMAT;
    }
    const char *b64 = sp + 1;
    size_t blen = n - nlen - 1;
    long got = blen > 4 * ((SP_NOTE_SIG_MAX + 4 + 2) / 3) ? -1
                                                           : b64_decode(tmp, SP_NOTE_SIG_MAX + 4, b64, blen);
    if (got < 5) {
        sp_errf(err, "signature line %zu: signature is not canonical base64 of 5 to %u bytes",
                lineno, SP_NOTE_SIG_MAX + 4);
        return SP_EFORMAT;
    }
    sig->name = malloc(nlen + 1);
    sig->sig = malloc((size_t)got - 4);
    if (sig->name == NULL || sig->sig == NULL)
        return SP_ENOMEM;
    memcpy(sig->name, line, nlen);
    sig->name[nlen] = '\0';
    sig->keyid = (uint32_t)tmp[0] << 24 | (uint32_t)tmp[1] << 16 | (uint32_t)tmp[2] << 8 | tmp[3];
    sig->sig_len = (size_t)got - 4;
    memcpy(sig->sig, tmp + 4, sig->sig_len);
    return SP_OK;
}

int sp_note_parse(sp_note *out, const uint8_t *buf, size_t len, char *err)
{
    memset(out, 0, sizeof *out);
    if (buf == NULL || len == 0) {
        sp_errf(err, "empty: not a signed note");
        return SP_EFORMAT;
    }
    if (len > SP_NOTE_MAX_BYTES) {
        sp_errf(err, "%zu bytes: larger than the %u a signed note may be here", len, SP_NOTE_MAX_BYTES);
        return SP_EFORMAT;
    }
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_next(buf + i, len - i, &cp);
        if (k == 0) {
            sp_errf(err, "byte %zu: not UTF-8", i);
            return SP_EFORMAT;
        }
        if (cp < 0x20 && cp != '\n') {
            sp_errf(err, "byte %zu: control character 0x%02x", i, (unsigned)cp);
            return SP_EFORMAT;
        }
        i += k;
    }
    /* The signatures follow the last blank line. */
    size_t split = len;
    for (size_t i = len - 1; i > 0; i--)
        if (buf[i] == '\n' && buf[i - 1] == '\n') {
            split = i - 1;
            break;
        }
    if (split == len) {
        sp_errf(err, "no blank line before the signatures: not a signed note");
        return SP_EFORMAT;
    }
    const char *sigs = (const char *)buf + split + 2;
    size_t slen = len - split - 2;
    if (slen == 0 || sigs[slen - 1] != '\n') {
        sp_errf(err, "the signature block is empty or does not end in a newline");
        return SP_EFORMAT;
    }
    size_t nlines = 0;
    for (size_t i = 0; i < slen; i++)
        nlines += sigs[i] == '\n';
    if (nlines > SP_NOTE_MAX_SIGS) {
        sp_errf(err, "%zu signature lines: more than %u", nlines, SP_NOTE_MAX_SIGS);
        return SP_EFORMAT;
    }
    uint8_t *tmp = malloc(SP_NOTE_SIG_MAX + 4);
    out->text = malloc(split + 2);
    out->sigs = calloc(nlines, sizeof *out->sigs);
    int rc = SP_OK;
    if (tmp == NULL || out->text == NULL || out->sigs == NULL) {
        rc = SP_ENOMEM;
        goto fail;
    }
    memcpy(out->text, buf, split + 1);
    out->text[split + 1] = '\0';
    out->text_len = split + 1;
    for (size_t off = 0; off < slen;) {
        const char *nl = memchr(sigs + off, '\n', slen - off);   /* found: block ends in '\n' */
        size_t n = (size_t)(nl - (sigs + off));
        rc = parse_sigline(&out->sigs[out->n_sigs], sigs + off, n, tmp, err, out->n_sigs + 1);
        out->n_sigs++;   /* counted even when half-filled, so free sees it */
        if (rc != SP_OK)
            goto fail;
        off += n + 1;
    }
    free(tmp);
    return SP_OK;
fail:
    free(tmp);
    sp_note_free(out);
    if (rc == SP_ENOMEM)
        sp_errf(err, "out of memory");
    return rc;
}

/* "\u2014 name base64(bytes)\n", malloc'd. */
static int make_line(char **line, const char *name, const uint8_t *bytes, size_t n)
{
    size_t nlen = strlen(name);
    size_t blen = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(EMDASH_SP_LEN + nlen + 1 + blen + 1);
    if (s == NULL)
        return SP_ENOMEM;
    memcpy(s, EMDASH_SP, EMDASH_SP_LEN);
    memcpy(s + EMDASH_SP_LEN, name, nlen);
    s[EMDASH_SP_LEN + nlen] = ' ';
    sodium_bin2base64(s + EMDASH_SP_LEN + nlen + 1, blen, bytes, n, sodium_base64_VARIANT_ORIGINAL);
    strcat(s, "\n");
    *line = s;
    return SP_OK;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

int sp_note_sign_line(char **line, const char *text, size_t len, const char *name, const uint8_t *sk)
{
    *line = NULL;
    if (!sp_note_name_ok(name))
        return SP_EINVAL;
    uint8_t b[4 + crypto_sign_BYTES];
    put_be32(b, sp_note_keyid(name, SP_NOTE_TYPE_ED25519, sk + 32));
    if (crypto_sign_detached(b + 4, NULL, (const uint8_t *)text, len, sk) != 0)
        return SP_ECRYPTO;
    return make_line(line, name, b, sizeof b);
}

/* "cosignature/v1\ntime T\n" || text, malloc'd. */
static int cosig_message(uint8_t **msg, size_t *mlen, const char *text, size_t len, uint64_t t)
{
    char hdr[64];
    int h = snprintf(hdr, sizeof hdr, "cosignature/v1\ntime %llu\n", (unsigned long long)t);
    *msg = malloc((size_t)h + len);
    if (*msg == NULL)
        return SP_ENOMEM;
    memcpy(*msg, hdr, (size_t)h);
    memcpy(*msg + h, text, len);
    *mlen = (size_t)h + len;
    return SP_OK;
}

int sp_note_cosign_line(char **line, const char *text, size_t len, const char *name, const uint8_t *sk,
                        uint64_t timestamp)
{
    *line = NULL;
    if (!sp_note_name_ok(name) || timestamp > (uint64_t)INT64_MAX)
        return SP_EINVAL;
    uint8_t b[4 + SP_COSIG_BYTES], *msg;
    size_t mlen;
    if (cosig_message(&msg, &mlen, text, len, timestamp) != SP_OK)
        return SP_ENOMEM;
    put_be32(b, sp_note_keyid(name, SP_NOTE_TYPE_COSIG, sk + 32));
    for (int i = 0; i < 8; i++)
        b[4 + i] = (uint8_t)(timestamp >> (56 - 8 * i));
    int rc = crypto_sign_detached(b + 12, NULL, msg, mlen, sk) == 0 ? SP_OK : SP_ECRYPTO;
    free(msg);
    return rc == SP_OK ? make_line(line, name, b, sizeof b) : rc;
}

int sp_note_verify(const sp_note *n, const uint8_t *pk, size_t *which)
{
    int named = 0;
    for (size_t i = 0; i < n->n_sigs; i++) {
        const sp_note_sig *s = &n->sigs[i];
        if (s->keyid != sp_note_keyid(s->name, SP_NOTE_TYPE_ED25519, pk))
            continue;
        named = 1;
        if (s->sig_len == crypto_sign_BYTES &&
            crypto_sign_verify_detached(s->sig, (const uint8_t *)n->text, n->text_len, pk) == 0) {
            if (which)
                *which = i;
            return SP_OK;
        }
    }
    return named ? SP_ECRYPTO : SP_ENOTFOUND;
}

int sp_note_verify_cosig(const sp_note *n, const uint8_t *pk, uint64_t *timestamp, size_t *which)
{
    int named = 0;
    for (size_t i = 0; i < n->n_sigs; i++) {
        const sp_note_sig *s = &n->sigs[i];
        if (s->keyid != sp_note_keyid(s->name, SP_NOTE_TYPE_COSIG, pk))
            continue;
        named = 1;
        if (s->sig_len != SP_COSIG_BYTES)
            continue;
        uint64_t t = 0;
        for (int k = 0; k < 8; k++)
            t = t << 8 | s->sig[k];
        if (t > (uint64_t)INT64_MAX)
            continue;
        uint8_t *msg;
        size_t mlen;
        if (cosig_message(&msg, &mlen, n->text, n->text_len, t) != SP_OK)
            return SP_ENOMEM;
        int ok = crypto_sign_verify_detached(s->sig + 8, msg, mlen, pk) == 0;
        free(msg);
        if (ok) {
            if (timestamp)
                *timestamp = t;
            if (which)
                *which = i;
            return SP_OK;
        }
    }
    return named ? SP_ECRYPTO : SP_ENOTFOUND;
}

int sp_checkpoint_parse(sp_checkpoint *cp, const char *text, size_t len, char *err)
{
    memset(cp, 0, sizeof *cp);
    const char *line[3];
    size_t llen[3], off = 0;
    for (int i = 0; i < 3; i++) {
        const char *nl = off < len ? memchr(text + off, '\n', len - off) : NULL;
        if (nl == NULL) {
            sp_errf(err, "checkpoint has %d lines, needs origin, size and root hash", i);
            return SP_EFORMAT;
        }
        line[i] = text + off;
        llen[i] = (size_t)(nl - line[i]);
        off += llen[i] + 1;
    }
    if (llen[0] == 0) {
        sp_errf(err, "checkpoint origin line is empty");
        return SP_EFORMAT;
    }
    uint64_t size = 0;
    int ok = llen[1] > 0 && llen[1] <= 19 && (line[1][0] != '0' || llen[1] == 1);
    for (size_t i = 0; ok && i < llen[1]; i++) {
        if (line[1][i] < '0' || line[1][i] > '9')
            ok = 0;
        else
            size = size * 10 + (uint64_t)(line[1][i] - '0');
    }
    if (!ok || size > (uint64_t)INT64_MAX) {
        sp_errf(err, "checkpoint tree size is not a decimal number without leading zeros");
        return SP_EFORMAT;
    }
    uint8_t root[34];
    if (llen[2] != 44 || b64_decode(root, sizeof root, line[2], llen[2]) != 32) {
        sp_errf(err, "checkpoint root hash is not canonical base64 of 32 bytes");
        return SP_EFORMAT;
    }
    for (size_t i = off; i < len; i++)
        if (text[i] == '\n' && (i == off || text[i - 1] == '\n')) {
            sp_errf(err, "checkpoint has an empty extension line");
            return SP_EFORMAT;
        }
    if (off < len && text[len - 1] != '\n') {
        sp_errf(err, "checkpoint text does not end in a newline");
        return SP_EFORMAT;
    }
    cp->origin = line[0];
    cp->origin_len = llen[0];
    cp->size = size;
    memcpy(cp->root, root, 32);
    cp->ext = off < len ? text + off : NULL;
    cp->ext_len = len - off;
    return SP_OK;
}
