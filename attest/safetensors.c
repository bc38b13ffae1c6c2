/*
 * safetensors.c - validating reader of the safetensors format
 * (safetensors.h, SPEC.md "safetensors files").
 *
 * A file is untrusted from its first byte: the header length is checked
 * against the limit and the file size, the JSON header is parsed by jansson
 * (duplicate keys rejected), and every tensor entry is checked field by
 * field before anything is handed out. The tensors must tile the data region
 * exactly, as the reference implementation requires. Reading costs time in
 * the number of tensors, never in their bytes: tensor data points into the
 * read-only mapping (or the caller's buffer). The writer is in
 * safetensors_write.c.
 */
#include "safetensors.h"
#include "fileio.h"
#include "le.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_KEY "__metadata__"
/* Largest element count or byte size accepted, as sp_shape_numel. */
#define SIZE_LIMIT (UINT64_C(1) << 62)
/* Bytes of a tensor or field name quoted in an error line. */
#define QUOTE_MAX 64u

struct sp_st_file {
    const uint8_t *buf;     /* the whole file */
    size_t len;
    void *map;              /* non-NULL when sp_st_open mapped the file */
    size_t maplen;
    json_t *root;           /* the header; owns the names and metadata */
    json_t *meta;           /* borrowed from root, or NULL */
    size_t count;
    sp_tensor *tensors;     /* sorted by name */
};

/* Where a tensor's bytes lie in the data region, for the tiling check. */
typedef struct span {
    uint64_t begin, end;
    const char *name;
} span;

/*
 * An excerpt of an untrusted string for an error line: cut at QUOTE_MAX
 * bytes on a UTF-8 boundary with "..." appended. out holds QUOTE_MAX + 4
 * bytes. Unsafe bytes are left to sp_errf, which scrubs the whole line.
 */
static const char *quote(char *out, const char *s)
{
    size_t n = strnlen(s, QUOTE_MAX + 1);
    int cut = n > QUOTE_MAX;
    if (cut) {
        n = QUOTE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;    /* do not split a multi-byte character */
    }
    memcpy(out, s, n);
    if (cut) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}


/* A JSON integer >= 0 into *out; 0 when it is anything else. */
static int get_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* "__metadata__": an object whose values are all strings. */
static int check_metadata(const json_t *meta, char *err)
{
    char q[QUOTE_MAX + 4];
    if (!json_is_object(meta)) {
        sp_errf(err, "__metadata__ is not an object");
        return SP_EFORMAT;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)meta, k, v) {
        if (!json_is_string(v)) {
            sp_errf(err, "__metadata__ value of \"%s\" is not a string", quote(q, k));
            return SP_EFORMAT;
        }
    }
    return SP_OK;
}

/* The shape array of tensor `name` into t->ndim, t->shape. */
static int parse_shape(sp_tensor *t, const json_t *shape, const char *qn, char *err)
{
    if (!json_is_array(shape)) {
        sp_errf(err, "tensor \"%s\": shape is not an array", qn);
        return SP_EFORMAT;
    }
    size_t nd = json_array_size(shape);
    if (nd > SP_MAX_DIMS) {
        sp_errf(err, "tensor \"%s\": %zu dimensions, at most %u allowed", qn, nd,
                SP_MAX_DIMS);
        return SP_EFORMAT;
    }
    t->ndim = (uint32_t)nd;
    for (size_t i = 0; i < nd; i++) {
        if (!get_uint(json_array_get(shape, i), &t->shape[i])) {
            sp_errf(err, "tensor \"%s\": shape[%zu] is not a non-negative integer", qn, i);
            return SP_EFORMAT;
        }
    }
    return SP_OK;
}

/*
 * Checks one tensor entry and fills *t and *s (data still relative: the
 * caller adds the data region's address). data_len is the size of the data
 * region. Returns SP_OK, SP_EFORMAT or SP_EUNSUPPORTED with err set.
 */
static int parse_tensor(sp_tensor *t, span *s, const char *name, size_t keylen,
                        const json_t *val, uint64_t data_len, char *err)
{
    char qn[QUOTE_MAX + 4], qf[QUOTE_MAX + 4];
    quote(qn, name);
    if (keylen == 0 || keylen != strlen(name)) {
        sp_errf(err, "tensor name \"%s\" is empty or holds a NUL byte", qn);
        return SP_EFORMAT;
    }
    if (keylen > SP_NAME_MAX) {
        sp_errf(err, "tensor \"%s\": name longer than %u bytes", qn, SP_NAME_MAX);
        return SP_EFORMAT;
    }
    if (!json_is_object(val)) {
        sp_errf(err, "tensor \"%s\": entry is not an object", qn);
        return SP_EFORMAT;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)val, k, v) {
        if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 &&
            strcmp(k, "data_offsets") != 0) {
            sp_errf(err, "tensor \"%s\": unknown field \"%s\"", qn, quote(qf, k));
            return SP_EFORMAT;
        }
    }
    const json_t *dt = json_object_get(val, "dtype");
    const json_t *shape = json_object_get(val, "shape");
    const json_t *offs = json_object_get(val, "data_offsets");
    if (dt == NULL || shape == NULL || offs == NULL) {
        sp_errf(err, "tensor \"%s\": missing field \"%s\"", qn,
                dt == NULL ? "dtype" : shape == NULL ? "shape" : "data_offsets");
        return SP_EFORMAT;
    }
    if (!json_is_string(dt)) {
        sp_errf(err, "tensor \"%s\": dtype is not a string", qn);
        return SP_EFORMAT;
    }
    t->name = name;
    t->dtype = sp_dtype_from_name(json_string_value(dt));
    if (t->dtype == SP_DTYPE_INVALID) {
        sp_errf(err, "tensor \"%s\": unsupported dtype \"%s\"", qn,
                quote(qf, json_string_value(dt)));
        return SP_EUNSUPPORTED;
    }
    int rc = parse_shape(t, shape, qn, err);
    if (rc != SP_OK)
        return rc;
    uint64_t numel;
    size_t es = sp_dtype_size(t->dtype);
    if (sp_shape_numel(&numel, t->shape, t->ndim) != SP_OK || numel > SIZE_LIMIT / es) {
        sp_errf(err, "tensor \"%s\": shape too large", qn);
        return SP_EFORMAT;
    }
    t->nbytes = numel * es;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !get_uint(json_array_get(offs, 0), &s->begin) ||
        !get_uint(json_array_get(offs, 1), &s->end)) {
        sp_errf(err, "tensor \"%s\": data_offsets is not two non-negative integers", qn);
        return SP_EFORMAT;
    }
    if (s->begin > s->end) {
        sp_errf(err, "tensor \"%s\": data_offsets begin %llu > end %llu", qn,
                (unsigned long long)s->begin, (unsigned long long)s->end);
        return SP_EFORMAT;
    }
    if (s->end > data_len) {
        sp_errf(err, "tensor \"%s\": data_offsets end %llu past the data region (%llu bytes)",
                qn, (unsigned long long)s->end, (unsigned long long)data_len);
        return SP_EFORMAT;
    }
    if (s->end - s->begin != t->nbytes) {
        sp_errf(err, "tensor \"%s\": %llu bytes but dtype and shape need %llu", qn,
                (unsigned long long)(s->end - s->begin), (unsigned long long)t->nbytes);
        return SP_EFORMAT;
    }
    s->name = name;
    return SP_OK;
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int tensor_cmp(const void *a, const void *b)
{
    return strcmp(((const sp_tensor *)a)->name, ((const sp_tensor *)b)->name);
}

/*
 * The tensors, sorted by offset, must tile [0, data_len) exactly: no
 * overlap, no hole, nothing after the last one (zero-byte tensors may sit
 * anywhere on the tiling).
 */
static int check_tiling(span *s, size_t n, uint64_t data_len, char *err)
{
    char q1[QUOTE_MAX + 4], q2[QUOTE_MAX + 4];
    if (n > 1)
        qsort(s, n, sizeof *s, span_cmp);
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].begin < at) {
            sp_errf(err, "tensor \"%s\" overlaps tensor \"%s\"", quote(q1, s[i].name),
                    quote(q2, s[i - 1].name));
            return SP_EFORMAT;
        }
        if (s[i].begin > at) {
            sp_errf(err, "hole of %llu bytes before tensor \"%s\"",
                    (unsigned long long)(s[i].begin - at), quote(q1, s[i].name));
            return SP_EFORMAT;
        }
        at = s[i].end;
    }
    if (at != data_len) {
        sp_errf(err, "%llu bytes after the last tensor", (unsigned long long)(data_len - at));
        return SP_EFORMAT;
    }
    return SP_OK;
}

/* Everything after the 8-byte length: the header object and the tensors. */
static int parse_header(sp_st_file *f, const uint8_t *hdr, size_t hlen,
                        uint64_t data_len, char *err)
{
    json_error_t jerr;
    f->root = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (f->root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            sp_errf(err, "out of memory parsing the header");
            return SP_ENOMEM;
        }
        sp_errf(err, "header is not valid JSON: %s (byte %d)", jerr.text, jerr.position);
        return SP_EFORMAT;
    }
    if (!json_is_object(f->root)) {
        sp_errf(err, "header is not a JSON object");
        return SP_EFORMAT;
    }
    f->meta = json_object_get(f->root, META_KEY);
    if (f->meta != NULL) {
        int rc = check_metadata(f->meta, err);
        if (rc != SP_OK)
            return rc;
    }
    size_t n = json_object_size(f->root) - (f->meta != NULL);
    span *spans = NULL;
    if (n > 0) {
        f->tensors = calloc(n, sizeof *f->tensors);
        spans = calloc(n, sizeof *spans);
        if (f->tensors == NULL || spans == NULL) {
            free(spans);
            sp_errf(err, "out of memory for %zu tensors", n);
            return SP_ENOMEM;
        }
    }
    const uint8_t *data = hdr + hlen;
    const char *k;
    size_t klen;
    json_t *v;
    int rc = SP_OK;
    json_object_keylen_foreach(f->root, k, klen, v) {
        if (strcmp(k, META_KEY) == 0)
            continue;
        assert(f->count < n);
        if (f->count >= n) {    /* n counted these same keys; never taken */
            rc = SP_EFORMAT;
            sp_errf(err, "internal error: tensor count");
            break;
        }
        sp_tensor *t = &f->tensors[f->count];
        rc = parse_tensor(t, &spans[f->count], k, klen, v, data_len, err);
        if (rc != SP_OK)
            break;
        t->data = data + spans[f->count].begin;
        f->count++;
    }
    if (rc == SP_OK)
        rc = check_tiling(spans, f->count, data_len, err);
    free(spans);
    if (rc != SP_OK)
        return rc;
    if (f->count > 1)
        qsort(f->tensors, f->count, sizeof *f->tensors, tensor_cmp);
    for (size_t i = 1; i < f->count; i++) {
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
            char q[QUOTE_MAX + 4];
            sp_errf(err, "duplicate tensor \"%s\"", quote(q, f->tensors[i].name));
            return SP_EFORMAT;
        }
    }
    return SP_OK;
}

int sp_st_parse(sp_st_file **out, const void *buf, size_t len, char *err)
{
    *out = NULL;
    if (err != NULL)
        err[0] = '\0';
    if (buf == NULL && len > 0) {
        sp_errf(err, "no buffer");
        return SP_EINVAL;
    }
    if (len < 8) {
        sp_errf(err, "file too short (%zu bytes) for a safetensors header", len);
        return SP_EFORMAT;
    }
    const uint8_t *b = buf;
    uint64_t hlen = sp_get_le64(b);
    if (hlen > SP_ST_HEADER_MAX) {
        sp_errf(err, "header length %llu exceeds the %u-byte limit",
                (unsigned long long)hlen, SP_ST_HEADER_MAX);
        return SP_EFORMAT;
    }
    if (hlen > len - 8) {
        sp_errf(err, "header length %llu runs past the end of the file (%zu bytes)",
                (unsigned long long)hlen, len);
        return SP_EFORMAT;
    }
    sp_st_file *f = calloc(1, sizeof *f);
    if (f == NULL) {
        sp_errf(err, "out of memory");
        return SP_ENOMEM;
    }
    f->buf = b;
    f->len = len;
    int rc = parse_header(f, b + 8, (size_t)hlen, len - 8 - hlen, err);
    if (rc != SP_OK) {
        sp_st_close(f);
        return rc;
    }
    *out = f;
    return SP_OK;
}

int sp_st_open(sp_st_file **out, const char *path, char *err)
{
    *out = NULL;
    if (err != NULL)
        err[0] = '\0';
    struct stat st;
    int fd = sp_open_input(path, &st, err);  /* a FIFO or device is refused, never waited on */
    if (fd < 0)
        return SP_EIO;
    if (st.st_size < 8) {
        sp_errf(err, "file too short (%lld bytes) for a safetensors header",
                (long long)st.st_size);
        close(fd);
        return SP_EFORMAT;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        sp_errf(err, "file too large to map");
        close(fd);
        return SP_EIO;
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);  /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        sp_errf(err, "cannot map: %s", strerror(map_errno));
        return SP_EIO;
    }
    sp_st_file *f = NULL;
    int rc = sp_st_parse(&f, map, len, err);
    if (rc != SP_OK) {
        munmap(map, len);
        return rc;
    }
    f->map = map;
    f->maplen = len;
    *out = f;
    return SP_OK;
}

void sp_st_close(sp_st_file *f)
{
    if (f == NULL)
        return;
    if (f->root != NULL)
        json_decref(f->root);
    free(f->tensors);
    if (f->map != NULL)
        munmap(f->map, f->maplen);
    free(f);
}

size_t sp_st_count(const sp_st_file *f)
{
    return f->count;
}

const sp_tensor *sp_st_tensor(const sp_st_file *f, size_t i)
{
    return i < f->count ? &f->tensors[i] : NULL;
}

const sp_tensor *sp_st_find(const sp_st_file *f, const char *name)
{
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[mid].name);
        if (c == 0)
            return &f->tensors[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *sp_st_metadata(const sp_st_file *f, const char *key)
{
    if (f->meta == NULL)
        return NULL;
    return json_string_value(json_object_get(f->meta, key));
}
