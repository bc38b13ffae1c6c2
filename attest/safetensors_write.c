/*
 * safetensors_write.c - the atomic safetensors writer (sp_st_write in
 * safetensors.h; the reader is safetensors.c).
 *
 * Layout written: u64le header length N, N bytes of compact JSON with keys
 * sorted and spaces appended so that N is a multiple of 8 (tensor data then
 * starts 8-aligned), then each tensor's bytes in ascending name order. The
 * file appears under its name only complete and synced: it is written to
 * PATH.tmp, fsync'd, renamed over PATH, and the directory is fsync'd.
 * sp_st_write_err says in err which file, tensor and system call failed.
 */
#include "safetensors.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_KEY "__metadata__"
#define WRITE_MAX (1u << 30)    /* bytes per write(2) call */

static int tensor_ptr_cmp(const void *a, const void *b)
{
    const sp_tensor *x = *(const sp_tensor *const *)a;
    const sp_tensor *y = *(const sp_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Writes all len bytes, retrying short writes and EINTR; errno kept for the message. */
static int write_all(int fd, const void *buf, uint64_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        size_t want = len > WRITE_MAX ? WRITE_MAX : (size_t)len;
        ssize_t got = write(fd, p, want);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return sp_write_errno(errno);   /* SP_ENOSPC on a full disk */
        }
        if (got == 0) {
            errno = EIO;
            return SP_EIO;
        }
        p += got;
        len -= (uint64_t)got;
    }
    return SP_OK;
}

/* fsyncs the directory holding path, so a rename in it is durable. */
static int fsync_parent(const char *path, char *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (slash == NULL)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (dir == NULL) {
        sp_errf(err, "%s: out of memory", path);
        return SP_ENOMEM;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = SP_OK;
    if (fd < 0) {
        sp_errf(err, "%s: cannot open its directory %s to sync it: %s", path, dir, strerror(errno));
        rc = SP_EIO;
    } else if (fsync(fd) != 0) {
        sp_errf(err, "%s: cannot sync its directory %s: %s", path, dir, strerror(errno));
        rc = sp_write_errno(errno);
    }
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/*
 * The header object for tensors ord[0..n) (sorted) and the metadata pairs.
 * Returns NULL with *rc set on a bad name (not UTF-8), a duplicate metadata
 * key or allocation failure.
 */
static json_t *build_header(const sp_tensor *const *ord, size_t n,
                            const char *const *meta, size_t nmeta, int *rc,
                            const char *path, char *err)
{
    json_t *root = json_object();
    if (root == NULL) {
        *rc = SP_ENOMEM;
        sp_errf(err, "%s: out of memory building the header", path);
        return NULL;
    }
    *rc = SP_EINVAL;
    const char *what = "out of memory building the header";
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const sp_tensor *t = ord[i];
        json_t *shape = json_array();
        if (shape == NULL)
            goto fail;
        for (uint32_t d = 0; d < t->ndim; d++)
            if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0) {
                json_decref(shape);
                goto fail;
            }
        /* nbytes < 2^62 each (sp_tensor_check); stop before 2^63. */
        if (t->nbytes > (UINT64_C(1) << 63) - 1 - off) {
            json_decref(shape);
            sp_errf(err, "%s: the tensors' total size passes 2^63 bytes at '%s'", path, t->name);
            goto fail_quiet;
        }
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", sp_dtype_name(t->dtype),
                              "shape", shape, "data_offsets", (json_int_t)off,
                              (json_int_t)(off + t->nbytes));
        if (e == NULL || json_object_set_new(root, t->name, e) != 0) {
            /* json_pack and set_new consume their references; set_new refuses non-UTF-8 */
            what = "a tensor name is not valid UTF-8, or out of memory";
            goto fail;
        }
        off += t->nbytes;
    }
    /* Always a __metadata__ object, with "format": "pt" unless the caller names a format:
       Hugging Face loaders expect it (SPEC.md 2.7). */
    json_t *m = json_object();
    if (m == NULL || json_object_set_new(root, META_KEY, m) != 0)
        goto fail;
    for (size_t i = 0; i < nmeta; i++) {
        const char *k = meta[2 * i], *v = meta[2 * i + 1];
        if (k == NULL || v == NULL || json_object_get(m, k) != NULL) {
            what = "a metadata key or value is NULL, or a key repeats";
            goto fail;
        }
        if (json_object_set_new(m, k, json_string(v)) != 0) {
            what = "a metadata key or value is not valid UTF-8, or out of memory";
            goto fail;
        }
    }
    if (json_object_get(m, "format") == NULL && json_object_set_new(m, "format", json_string("pt")) != 0)
        goto fail;
    *rc = SP_OK;
    return root;
fail:
    sp_errf(err, "%s: %s", path, what);
fail_quiet:
    json_decref(root);
    return NULL;
}

/*
 * The complete header block: u64le N then the JSON padded with spaces to N,
 * a multiple of 8. Returns a malloc'd buffer of *len bytes, or NULL.
 */
static uint8_t *encode_header(json_t *root, size_t *len, int *rc, const char *path, char *err)
{
    char *js = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (js == NULL) {
        *rc = SP_ENOMEM;
        sp_errf(err, "%s: out of memory encoding the header", path);
        return NULL;
    }
    size_t jl = strlen(js);
    size_t hl = (jl + 7) & ~(size_t)7;
    if (hl > SP_ST_HEADER_MAX) {
        free(js);
        *rc = SP_EINVAL;
        sp_errf(err, "%s: the header would be %zu bytes, more than the %u a reader accepts",
                path, hl, SP_ST_HEADER_MAX);
        return NULL;
    }
    uint8_t *blk = malloc(8 + hl);
    if (blk == NULL) {
        free(js);
        *rc = SP_ENOMEM;
        sp_errf(err, "%s: out of memory encoding the header", path);
        return NULL;
    }
    for (int i = 0; i < 8; i++)
        blk[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(blk + 8, js, jl);
    memset(blk + 8 + jl, ' ', hl - jl);
    free(js);
    *len = 8 + hl;
    *rc = SP_OK;
    return blk;
}

/* Writes blk then the tensors to tmp, syncs, renames to path. */
static int write_file(const char *path, const char *tmp, const uint8_t *blk,
                      size_t blen, const sp_tensor *const *ord, size_t n, char *err)
{
    /* O_NONBLOCK: a FIFO left at PATH.tmp fails (ENXIO) instead of waiting for a reader. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == ENXIO)   /* a FIFO without a reader */
            sp_errf(err, "%s: not a regular file (a FIFO), left in place", tmp);
        else
            sp_errf(err, "%s: cannot create: %s", tmp, strerror(e));
        return sp_write_errno(e);
    }
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sp_errf(err, "%s: not a regular file, left in place", tmp);
        close(fd);
        return SP_EIO;
    }
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        sp_errf(err, "%s: cannot clear O_NONBLOCK: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return SP_EIO;
    }
    const char *what = "cannot write";
    int rc = write_all(fd, blk, blen);
    for (size_t i = 0; rc == SP_OK && i < n; i++)
        rc = write_all(fd, ord[i]->data, ord[i]->nbytes);
    int saved = errno;
    if (rc == SP_OK && fsync(fd) != 0) {
        saved = errno;
        what = "cannot sync";
        rc = sp_write_errno(errno);
    }
    if (close(fd) != 0 && rc == SP_OK) {
        saved = errno;
        what = "cannot close";
        rc = sp_write_errno(errno);
    }
    const char *failed = tmp;
    if (rc == SP_OK && rename(tmp, path) != 0) {
        saved = errno;
        what = "cannot rename the finished .tmp file to it";
        failed = path;
        rc = sp_write_errno(errno);
    }
    if (rc != SP_OK) {
        sp_errf(err, "%s: %s: %s%s", failed, what, strerror(saved),
                failed == tmp ? " (removed)" : "");
        unlink(tmp);
        return rc;
    }
    return fsync_parent(path, err);
}

int sp_st_write(const char *path, const sp_tensor *t, size_t n,
                const char *const *meta, size_t nmeta)
{
    return sp_st_write_err(path, t, n, meta, nmeta, NULL);
}

int sp_st_write_err(const char *path, const sp_tensor *t, size_t n,
                    const char *const *meta, size_t nmeta, char *err)
{
    if (err != NULL)
        err[0] = '\0';
    if (path[0] == '\0' || (n > 0 && t == NULL) ||
        (nmeta > 0 && meta == NULL) || n > SIZE_MAX / sizeof(sp_tensor *) ||
        nmeta > SIZE_MAX / 2) {
        sp_errf(err, "%s: invalid arguments (empty path, or NULL tensors or metadata with a count)",
                path[0] ? path : "(empty path)");
        return SP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int c = sp_tensor_check(&t[i]);
        if (c != SP_OK) {
            sp_errf(err, "%s: tensor %zu '%s' is invalid: %s (name, dtype, shape and nbytes "
                    "must agree)", path, i, t[i].name ? t[i].name : "(NULL name)", sp_strerror(c));
            return SP_EINVAL;
        }
        if (strcmp(t[i].name, META_KEY) == 0) {
            sp_errf(err, "%s: a tensor may not be called " META_KEY, path);
            return SP_EINVAL;
        }
    }

    const sp_tensor **ord = malloc((n > 0 ? n : 1) * sizeof *ord);
    if (ord == NULL) {
        sp_errf(err, "%s: out of memory", path);
        return SP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = &t[i];
    if (n > 1)
        qsort(ord, n, sizeof *ord, tensor_ptr_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ord[i - 1]->name, ord[i]->name) == 0) {
            sp_errf(err, "%s: tensor name '%s' given twice", path, ord[i]->name);
            free(ord);
            return SP_EINVAL;
        }

    int rc;
    size_t blen = 0;
    uint8_t *blk = NULL;
    char *tmp = NULL;
    json_t *root = build_header(ord, n, meta, nmeta, &rc, path, err);
    if (root != NULL) {
        blk = encode_header(root, &blen, &rc, path, err);
        json_decref(root);
    }
    if (blk != NULL) {
        size_t pl = strlen(path);
        tmp = malloc(pl + 5);
        if (tmp == NULL) {
            rc = SP_ENOMEM;
            sp_errf(err, "%s: out of memory", path);
        } else {
            memcpy(tmp, path, pl);
            memcpy(tmp + pl, ".tmp", 5);
            rc = write_file(path, tmp, blk, blen, ord, n, err);
        }
    }
    free(tmp);
    free(blk);
    free(ord);
    return rc;
}
