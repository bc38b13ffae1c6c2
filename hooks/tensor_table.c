/*
 * tensor_table.c - sp_tensor_table (scratchproof.h): describes a flat
 * parameter buffer, llm.c style (every parameter in one array, tensor after
 * tensor), as sp_tensor entries from names and shapes, so a job that keeps
 * its weights that way records them without copying. The tensors must use
 * the buffer exactly: a size table that does not add up is refused.
 */
#include "scratchproof.h"

#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* SP_EINVAL with err naming tensor i when two names are equal (sorted copy). */
static int unique_names(const sp_tensor *t, size_t n, char *err)
{
    if (n < 2)
        return SP_OK;
    const char **names = malloc(n * sizeof *names);
    if (names == NULL) {
        sp_errf(err, "out of memory");
        return SP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = t[i].name;
    qsort(names, n, sizeof *names, by_name);
    int rc = SP_OK;
    for (size_t i = 1; i < n && rc == SP_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            sp_errf(err, "tensor name '%s' given twice", names[i]);
            rc = SP_EINVAL;
        }
    free(names);
    return rc;
}

int sp_tensor_table(sp_tensor *t, const sp_tensor_spec *spec, size_t n, sp_dtype dtype,
                    const void *buf, uint64_t nbytes, char *err)
{
    if (err != NULL)
        err[0] = '\0';
    if (t == NULL || (n > 0 && spec == NULL) || (nbytes > 0 && buf == NULL)) {
        sp_errf(err, "sp_tensor_table: NULL tensors, spec or buffer");
        return SP_EINVAL;
    }
    size_t esize = sp_dtype_size(dtype);
    if (esize == 0) {
        sp_errf(err, "sp_tensor_table: invalid dtype %d", (int)dtype);
        return SP_EINVAL;
    }
    const uint8_t *p = buf;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const sp_tensor_spec *s = &spec[i];
        if (s->name == NULL || s->name[0] == '\0' || strlen(s->name) > SP_NAME_MAX) {
            sp_errf(err, "tensor %zu: name empty, NULL or longer than %u bytes", i, SP_NAME_MAX);
            return SP_EINVAL;
        }
        uint64_t numel;
        int rc = sp_shape_numel(&numel, s->shape, s->ndim);
        if (rc != SP_OK) {
            sp_errf(err, "tensor '%s': %s", s->name,
                    rc == SP_EINVAL ? "more than 8 dimensions" : "its size overflows");
            return rc;
        }
        if (numel > (UINT64_C(1) << 62) / esize) {
            sp_errf(err, "tensor '%s': its size overflows", s->name);
            return SP_ERANGE;
        }
        uint64_t len = numel * esize;
        if (len > nbytes - off) {
            sp_errf(err, "tensor '%s' (%llu bytes at offset %llu) runs past the end of the "
                    "%llu-byte buffer", s->name, (unsigned long long)len,
                    (unsigned long long)off, (unsigned long long)nbytes);
            return SP_EINVAL;
        }
        memset(&t[i], 0, sizeof t[i]);
        t[i].name = s->name;
        t[i].dtype = dtype;
        t[i].ndim = s->ndim;
        memcpy(t[i].shape, s->shape, s->ndim * sizeof s->shape[0]);
        t[i].data = len > 0 ? p + off : (const void *)p;
        t[i].nbytes = len;
        off += len;
    }
    if (off != nbytes) {
        sp_errf(err, "the %zu tensors use %llu bytes of the %llu-byte buffer", n,
                (unsigned long long)off, (unsigned long long)nbytes);
        return SP_EINVAL;
    }
    return unique_names(t, n, err);
}
