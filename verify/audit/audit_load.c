/*
 * audit_load.c - models for `scratchproof audit` (audit.h): one safetensors
 * file, a directory, or a sharded model with its index JSON; and the
 * conversion of F32/F16/BF16/F64 tensor data to float, a slice at a time so
 * nothing larger than a row is ever copied (tensor data stays in the mmap).
 */
#include "audit.h"
#include "safetensors.h"
#include "fileio.h"
#include "audit_quant.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_MAX_BYTES (256u << 20)
#define INDEX_MAX_ENTRIES 1000000u
#define SHARD_NAME_MAX 255u
#define PATH_MAX_LEN 4096u

struct sp_audit_model {
    size_t nfiles;
    sp_st_file **files;
    char **paths;           /* the shards' paths, as opened */
    size_t rawcount;
    sp_tensor *raw;         /* copies of the descriptors, sorted by name */
    sp_audit_view view;     /* as the audit reads them (audit_quant.c) */
    size_t count;
    sp_tensor *tensors;     /* = view.tensors */
};

/* ------------------------------------------------------------ conversion */

float sp_audit_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);            /* inf, nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);    /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign;                                        /* signed zero */
    } else {                                                /* subnormal: normalise */
        exp = 113;
        while ((man & 0x400) == 0) {
            man <<= 1;
            exp--;
        }
        bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float sp_audit_bf16(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int sp_audit_dtype_ok(sp_dtype dt)
{
    return dt == SP_DTYPE_F32 || dt == SP_DTYPE_F16 || dt == SP_DTYPE_BF16 || dt == SP_DTYPE_F64 ||
           dt == SP_DTYPE_F8_E4M3 || dt == SP_DTYPE_F8_E5M2;
}

void sp_audit_to_float(float *dst, const sp_tensor *t, uint64_t first, uint64_t n)
{
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case SP_DTYPE_F32:
        memcpy(dst, p + first * 4, (size_t)n * 4);   /* little-endian host (x86-64, arm64) */
        break;
    case SP_DTYPE_F16:
        p += first * 2;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = sp_audit_f16((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        break;
    case SP_DTYPE_BF16:
        p += first * 2;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = sp_audit_bf16((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        break;
    case SP_DTYPE_F64:
        p += first * 8;
        for (uint64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, sizeof d);
            dst[i] = (float)d;
        }
        break;
    case SP_DTYPE_F8_E4M3:
        p += first;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = sp_audit_f8e4m3(p[i]);
        break;
    case SP_DTYPE_F8_E5M2:
        p += first;
        for (uint64_t i = 0; i < n; i++)
            dst[i] = sp_audit_f8e5m2(p[i]);
        break;
    default:
        memset(dst, 0, (size_t)n * sizeof *dst);    /* callers check sp_audit_dtype_ok */
        break;
    }
}

/* ------------------------------------------------------------ index */

void sp_audit_index_free(sp_audit_index *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; i < ix->n; i++) {
        free(ix->tensor[i]);
        free(ix->file[i]);
    }
    free(ix->tensor);
    free(ix->file);
    free(ix->files);    /* borrowed pointers into file[] */
    memset(ix, 0, sizeof *ix);
}

/* A shard name must be a bare file name: it may not climb out of the model's directory. */
static int shard_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SHARD_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

int sp_audit_index_parse(sp_audit_index *out, const void *buf, size_t len, char *err)
{
    memset(out, 0, sizeof *out);
    if (buf == NULL || len == 0 || len > INDEX_MAX_BYTES) {
        sp_errf(err, "index is empty or larger than %u bytes", INDEX_MAX_BYTES);
        return SP_EFORMAT;
    }
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        sp_errf(err, "index is not JSON (line %d: %.80s)", je.line, je.text);
        return SP_EFORMAT;
    }
    int rc = SP_EFORMAT;
    json_t *wm = json_object_get(root, "weight_map");
    json_t *meta = json_object_get(root, "metadata");
    if (!json_is_object(root) || !json_is_object(wm)) {
        sp_errf(err, "index has no \"weight_map\" object");
        goto done;
    }
    if (meta != NULL && !json_is_object(meta) && !json_is_null(meta)) {
        sp_errf(err, "index \"metadata\" is not an object");
        goto done;
    }
    size_t n = json_object_size(wm);
    if (n == 0 || n > INDEX_MAX_ENTRIES) {
        sp_errf(err, "index weight_map has %zu entries (1..%u allowed)", n, INDEX_MAX_ENTRIES);
        goto done;
    }
    out->tensor = calloc(n, sizeof *out->tensor);
    out->file = calloc(n, sizeof *out->file);
    out->files = calloc(n, sizeof *out->files);
    if (out->tensor == NULL || out->file == NULL || out->files == NULL) {
        rc = SP_ENOMEM;
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        size_t kl = strlen(key);
        if (kl == 0 || kl > SP_NAME_MAX) {
            sp_errf(err, "index names a tensor of %zu bytes", kl);
            goto done;
        }
        if (!json_is_string(val) || !shard_name_ok(json_string_value(val))) {
            sp_errf(err, "index maps tensor %.64s to a bad shard name (a bare file name is required)",
                    key);
            goto done;
        }
        const char *fv = json_string_value(val);
        size_t i = out->n;
        out->tensor[i] = strdup(key);
        out->file[i] = strdup(fv);
        if (out->tensor[i] == NULL || out->file[i] == NULL) {
            free(out->tensor[i]);
            free(out->file[i]);
            rc = SP_ENOMEM;
            goto done;
        }
        out->n++;
        size_t f = 0;
        while (f < out->nfiles && strcmp(out->files[f], fv) != 0)
            f++;
        if (f == out->nfiles)
            out->files[out->nfiles++] = out->file[i];
    }
    rc = SP_OK;
done:
    json_decref(root);
    if (rc != SP_OK)
        sp_audit_index_free(out);
    return rc;
}

/* ------------------------------------------------------------ models */

void sp_audit_model_close(sp_audit_model *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nfiles; i++) {
        sp_st_close(m->files[i]);
        free(m->paths ? m->paths[i] : NULL);
    }
    free(m->files);
    free(m->paths);
    sp_audit_view_free(&m->view);
    free(m->raw);
    free(m);
}

size_t sp_audit_model_count(const sp_audit_model *m) { return m->count; }
size_t sp_audit_model_files(const sp_audit_model *m) { return m->nfiles; }
size_t sp_audit_model_raw_count(const sp_audit_model *m) { return m->rawcount; }

const sp_tensor *sp_audit_model_raw_tensor(const sp_audit_model *m, size_t i)
{
    return i < m->rawcount ? &m->raw[i] : NULL;
}

const sp_tensor *sp_audit_model_tensor(const sp_audit_model *m, size_t i)
{
    return i < m->count ? &m->tensors[i] : NULL;
}

const sp_audit_tinfo *sp_audit_model_info(const sp_audit_model *m, size_t i)
{
    return i < m->count ? &m->view.info[i] : NULL;
}

const sp_tensor *sp_audit_model_find(const sp_audit_model *m, const char *name)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->tensors[mid].name, name);
        if (c == 0)
            return &m->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int tensor_cmp(const void *x, const void *y)
{
    return strcmp(((const sp_tensor *)x)->name, ((const sp_tensor *)y)->name);
}

/* Opens one more shard into m. */
static int add_file(sp_audit_model *m, const char *path, char *err)
{
    sp_st_file *f = NULL;
    char e[SP_ERRMSG_MAX] = "";
    int rc = sp_st_open(&f, path, e);
    if (rc != SP_OK) {
        sp_errf(err, "%s: %s", path, e[0] ? e : sp_strerror(rc));
        return rc;
    }
    char *p = strdup(path);
    char **paths = p ? realloc(m->paths, (m->nfiles + 1) * sizeof *paths) : NULL;
    if (paths == NULL) {
        free(p);
        sp_st_close(f);
        return SP_ENOMEM;
    }
    m->paths = paths;
    m->paths[m->nfiles] = p;
    m->files[m->nfiles++] = f;
    return SP_OK;
}

const char *sp_audit_model_file_of(const sp_audit_model *m, const char *name)
{
    for (size_t i = 0; i < m->nfiles; i++)
        if (sp_st_find(m->files[i], name) != NULL)
            return m->paths[i];
    return NULL;
}

const char *sp_audit_model_file(const sp_audit_model *m, size_t i)
{
    return i < m->nfiles ? m->paths[i] : NULL;
}

/* Gathers the tensors of all shards into one sorted list; rejects duplicates. */
static int collect(sp_audit_model *m, char *err)
{
    size_t total = 0;
    for (size_t i = 0; i < m->nfiles; i++)
        total += sp_st_count(m->files[i]);
    m->raw = calloc(total ? total : 1, sizeof *m->raw);
    if (m->raw == NULL)
        return SP_ENOMEM;
    for (size_t i = 0; i < m->nfiles; i++)
        for (size_t j = 0; j < sp_st_count(m->files[i]); j++)
            m->raw[m->rawcount++] = *sp_st_tensor(m->files[i], j);
    qsort(m->raw, m->rawcount, sizeof *m->raw, tensor_cmp);
    for (size_t i = 1; i < m->rawcount; i++)
        if (strcmp(m->raw[i - 1].name, m->raw[i].name) == 0) {
            sp_errf(err, "tensor %.64s appears in two shards", m->raw[i].name);
            return SP_EFORMAT;
        }
    int rc = sp_audit_interpret(&m->view, m->raw, m->rawcount, err);
    if (rc != SP_OK)
        return rc;
    m->count = m->view.count;
    m->tensors = m->view.tensors;
    return SP_OK;
}

static int read_small_file(char **buf, size_t *len, const char *path, char *err)
{
    struct stat sb;
    char e[SP_ERRMSG_MAX] = "";
    int fd = sp_open_input(path, &sb, e);    /* a FIFO or device is refused, never waited on */
    if (fd < 0) {
        sp_errf(err, "%s: %s", path, e);
        return SP_EIO;
    }
    FILE *f = fdopen(fd, "rb");
    if (f == NULL) {
        sp_errf(err, "%s: %s", path, strerror(errno));
        close(fd);
        return SP_EIO;
    }
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    int rc = SP_OK;
    while (b != NULL) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap >= INDEX_MAX_BYTES) {
            sp_errf(err, "%s: index larger than %u bytes", path, INDEX_MAX_BYTES);
            rc = SP_EFORMAT;
            break;
        }
        char *nb = realloc(b, cap * 2);
        if (nb == NULL)
            free(b);
        b = nb;
        cap *= 2;
    }
    if (b == NULL)
        rc = SP_ENOMEM;
    else if (rc == SP_OK && ferror(f)) {
        sp_errf(err, "%s: read error", path);
        rc = SP_EIO;
    }
    fclose(f);
    if (rc != SP_OK) {
        free(b);
        return rc;
    }
    *buf = b;
    *len = n;
    return SP_OK;
}

/* qsort has no context argument: the index being sorted (one open at a time per thread). */
static _Thread_local const sp_audit_index *sort_ix;

static int ix_cmp(const void *x, const void *y)
{
    return strcmp(sort_ix->tensor[*(const size_t *)x], sort_ix->tensor[*(const size_t *)y]);
}

/* Opens a sharded model from its index file; checks the index against the shards. */
static int open_index(sp_audit_model *m, const char *path, char *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = read_small_file(&buf, &len, path, err);
    if (rc != SP_OK)
        return rc;
    sp_audit_index ix;
    char e[SP_ERRMSG_MAX] = "";
    rc = sp_audit_index_parse(&ix, buf, len, e);
    free(buf);
    if (rc != SP_OK) {
        sp_errf(err, "%s: %s", path, e[0] ? e : sp_strerror(rc));
        return rc;
    }
    char dir[PATH_MAX_LEN];
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    if (dl >= sizeof dir) {
        sp_audit_index_free(&ix);
        sp_errf(err, "%s: path too long", path);
        return SP_EINVAL;
    }
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    m->files = calloc(ix.nfiles, sizeof *m->files);
    if (m->files == NULL) {
        sp_audit_index_free(&ix);
        return SP_ENOMEM;
    }
    for (size_t f = 0; f < ix.nfiles && rc == SP_OK; f++) {
        char p[PATH_MAX_LEN];
        if ((size_t)snprintf(p, sizeof p, "%s%s", dir, ix.files[f]) >= sizeof p) {
            sp_errf(err, "%s: shard path too long", path);
            rc = SP_EINVAL;
        } else {
            rc = add_file(m, p, err);
        }
    }
    /* every index entry is in the shard it names ... */
    for (size_t i = 0; i < ix.n && rc == SP_OK; i++) {
        size_t f = 0;
        while (strcmp(ix.files[f], ix.file[i]) != 0)
            f++;
        if (sp_st_find(m->files[f], ix.tensor[i]) == NULL) {
            sp_errf(err, "%s: index puts tensor %.64s in %.64s, which does not hold it", path,
                    ix.tensor[i], ix.file[i]);
            rc = SP_EFORMAT;
        }
    }
    /* ... and every tensor of a shard is in the index, for that shard (binary search
     * over the index entries sorted by name: near-linear at a million tensors) */
    size_t *order = rc == SP_OK ? malloc((ix.n ? ix.n : 1) * sizeof *order) : NULL;
    if (rc == SP_OK && order == NULL)
        rc = SP_ENOMEM;
    for (size_t i = 0; order != NULL && i < ix.n; i++)
        order[i] = i;
    if (order != NULL) {
        sort_ix = &ix;
        qsort(order, ix.n, sizeof *order, ix_cmp);
        sort_ix = NULL;
    }
    for (size_t f = 0; f < m->nfiles && rc == SP_OK; f++)
        for (size_t j = 0; j < sp_st_count(m->files[f]) && rc == SP_OK; j++) {
            const char *name = sp_st_tensor(m->files[f], j)->name;
            size_t lo = 0, hi = ix.n, i = ix.n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(ix.tensor[order[mid]], name);
                if (c == 0) {
                    i = order[mid];
                    break;
                }
                if (c < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (i == ix.n || strcmp(ix.file[i], ix.files[f]) != 0) {
                sp_errf(err, "%s: shard %.64s holds tensor %.64s that the index %s", path,
                        ix.files[f], name, i == ix.n ? "does not list" : "puts elsewhere");
                rc = SP_EFORMAT;
            }
        }
    free(order);
    sp_audit_index_free(&ix);
    if (rc == SP_OK)
        rc = collect(m, err);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Picks the model file in a directory: one index, else exactly one .safetensors. */
static int pick_in_dir(char *out, size_t outlen, const char *dir, char *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        sp_errf(err, "%s: %s", dir, strerror(errno));
        return SP_EIO;
    }
    char idx[PATH_MAX_LEN] = "", st[PATH_MAX_LEN] = "";
    int nidx = 0, nst = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (ends_with(e->d_name, ".safetensors.index.json")) {
            nidx++;
            snprintf(idx, sizeof idx, "%s", e->d_name);
        } else if (ends_with(e->d_name, ".safetensors")) {
            nst++;
            snprintf(st, sizeof st, "%s", e->d_name);
        }
    }
    closedir(d);
    const char *pick = nidx == 1 ? idx : (nidx == 0 && nst == 1) ? st : NULL;
    if (pick == NULL) {
        sp_errf(err, "%s: %s", dir,
                nidx > 1 ? "several index files; name one"
                : nst == 0 ? "no .safetensors file"
                           : "several .safetensors files and no index; name one");
        return SP_ENOTFOUND;
    }
    if ((size_t)snprintf(out, outlen, "%s/%s", dir, pick) >= outlen) {
        sp_errf(err, "%s: path too long", dir);
        return SP_EINVAL;
    }
    return SP_OK;
}

int sp_audit_model_open(sp_audit_model **out, const char *path, char *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        /* The path verbatim: the command line escapes the line it prints (SPEC.md 1.1). */
        if (err != NULL)
            snprintf(err, SP_ERRMSG_MAX, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? SP_ENOTFOUND : SP_EIO;
    }
    char picked[PATH_MAX_LEN];
    if (S_ISDIR(sb.st_mode)) {
        int rc = pick_in_dir(picked, sizeof picked, path, err);
        if (rc != SP_OK)
            return rc;
        path = picked;
    }
    sp_audit_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return SP_ENOMEM;
    int rc;
    if (ends_with(path, ".json")) {
        rc = open_index(m, path, err);
    } else {
        m->files = calloc(1, sizeof *m->files);
        rc = m->files == NULL ? SP_ENOMEM : add_file(m, path, err);
        if (rc == SP_OK)
            rc = collect(m, err);
    }
    if (rc != SP_OK) {
        sp_audit_model_close(m);
        return rc;
    }
    *out = m;
    return SP_OK;
}
