/*
 * digest.c - BLAKE2b-256 chunk trees, tensor digests and checkpoint roots
 * (digest.h, SPEC.md 2).
 *
 * Every byte string is cut into SP_CHUNK_BYTES leaves. The leaves of one
 * call (one byte string, one tensor or many tensors) form a single pool of
 * work: a shared atomic counter hands out leaf numbers to the threads, so a
 * model of many small tensors and one of a few huge ones keep every thread
 * busy. The thread that hashes the last leaf of an item also finishes that
 * item (its tree root and tensor digest), so no thread waits on another.
 * Data is hashed in place through the streaming BLAKE2b API, never copied.
 */
#include "digest.h"
#include "le.h"
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_LEAF "scratchproof/leaf"
#define TAG_TREE "scratchproof/tree"
#define TAG_TENSOR "scratchproof/tensor"
#define TAG_CHECKPOINT "scratchproof/checkpoint"

/*
 * libsodium picks its fastest BLAKE2b code (SSSE3/AVX2) in sodium_init();
 * without it the portable code runs. Hashes are identical either way, so a
 * failing sodium_init() only costs speed and is not an error here.
 */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void sodium_init_once(void)
{
    if (sodium_init() < 0)
        return;     /* portable BLAKE2b code stays in use */
}

static void ensure_sodium(void)
{
    (void)pthread_once(&sodium_once, sodium_init_once);
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Starts H(tag || 0x00 || ...). */
static void tagged_init(crypto_generichash_state *st, const char *tag)
{
    crypto_generichash_init(st, NULL, 0, SP_DIGEST_BYTES);
    crypto_generichash_update(st, (const unsigned char *)tag, strlen(tag) + 1);
}

int sp_hash_tagged(uint8_t out[SP_DIGEST_BYTES], const char *tag,
                   const void *data, size_t len)
{
    if (data == NULL && len > 0)
        return SP_EINVAL;
    ensure_sodium();
    crypto_generichash_state st;
    tagged_init(&st, tag);
    if (len > 0)
        crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, out, SP_DIGEST_BYTES);
    return SP_OK;
}

/* leaf = H("scratchproof/leaf" 0x00 || u64le(index) || chunk) */
static void hash_leaf(uint8_t out[SP_DIGEST_BYTES], uint64_t index,
                      const uint8_t *chunk, size_t len)
{
    crypto_generichash_state st;
    uint8_t idx[8];
    sp_put_le64(idx, index);
    tagged_init(&st, TAG_LEAF);
    crypto_generichash_update(&st, idx, sizeof idx);
    crypto_generichash_update(&st, chunk, len);
    crypto_generichash_final(&st, out, SP_DIGEST_BYTES);
}

/* root = H("scratchproof/tree" 0x00 || u64le(n) || leaf_0 .. leaf_{k-1}) */
static void hash_tree(uint8_t out[SP_DIGEST_BYTES], uint64_t n,
                      const uint8_t (*leaves)[SP_DIGEST_BYTES], uint64_t k)
{
    crypto_generichash_state st;
    uint8_t len[8];
    sp_put_le64(len, n);
    tagged_init(&st, TAG_TREE);
    crypto_generichash_update(&st, len, sizeof len);
    if (k > 0)
        crypto_generichash_update(&st, (const unsigned char *)leaves,
                                  k * SP_DIGEST_BYTES);
    crypto_generichash_final(&st, out, SP_DIGEST_BYTES);
}

/* The tensor digest from its (checked) description and its data root. */
static void hash_tensor(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t,
                        const uint8_t root[SP_DIGEST_BYTES])
{
    crypto_generichash_state st;
    uint8_t buf[8];
    size_t namelen = strlen(t->name);   /* <= SP_NAME_MAX, checked */

    tagged_init(&st, TAG_TENSOR);
    put_u32le(buf, (uint32_t)namelen);
    crypto_generichash_update(&st, buf, 4);
    crypto_generichash_update(&st, (const unsigned char *)t->name, namelen);
    put_u32le(buf, (uint32_t)t->dtype);
    crypto_generichash_update(&st, buf, 4);
    put_u32le(buf, t->ndim);
    crypto_generichash_update(&st, buf, 4);
    for (uint32_t i = 0; i < t->ndim; i++) {
        sp_put_le64(buf, t->shape[i]);
        crypto_generichash_update(&st, buf, 8);
    }
    crypto_generichash_update(&st, root, SP_DIGEST_BYTES);
    crypto_generichash_final(&st, out, SP_DIGEST_BYTES);
}

static uint64_t leaf_count(uint64_t n)
{
    return n / SP_CHUNK_BYTES + (n % SP_CHUNK_BYTES != 0);
}

/*
 * One byte string of the pool: a raw buffer (t NULL) or a tensor's bytes.
 * data NULL with nbytes > 0 means the bytes are read from the pool's file.
 */
typedef struct work_item {
    const uint8_t *data;
    uint64_t nbytes;
    uint64_t first_leaf;        /* index of its first leaf in the pool */
    uint64_t nleaves;
    atomic_uint_least64_t pending;  /* leaves not yet hashed */
    const sp_tensor *t;
    uint8_t *out;               /* SP_DIGEST_BYTES */
} work_item;

typedef struct work_pool {
    work_item *items;
    size_t nitems;
    uint64_t total_leaves;
    uint8_t (*leaves)[SP_DIGEST_BYTES];
    int fd;                         /* file to pread from, or -1 */
    sp_chunk_source gen;            /* or a generator of the bytes (sp_tensor_digest_gen) */
    void *gen_ctx;
    atomic_uint_least64_t next;     /* next leaf number to hand out */
    atomic_int err;                 /* first failure (SP_E*), 0 if none */
    const sp_progress *pg;          /* or NULL */
    atomic_uint_least64_t done;     /* bytes hashed, for pg */
} work_pool;

/* Tree root, then tensor digest when the item is a tensor. */
static void finish_item(const work_pool *p, const work_item *it)
{
    uint8_t root[SP_DIGEST_BYTES];
    hash_tree(root, it->nbytes,
              (const uint8_t (*)[SP_DIGEST_BYTES])(p->leaves + it->first_leaf),
              it->nleaves);
    if (it->t != NULL)
        hash_tensor(it->out, it->t, root);
    else
        memcpy(it->out, root, SP_DIGEST_BYTES);
}

static void pool_fail(work_pool *p, int rc)
{
    int zero = 0;
    atomic_compare_exchange_strong(&p->err, &zero, rc);
}

/* Reads exactly len bytes at off; SP_EIO on error or end of file. */
static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t got = pread(fd, buf, len, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return SP_EIO;
        buf += got;
        len -= (size_t)got;
        off += (uint64_t)got;
    }
    return SP_OK;
}

/*
 * Takes leaf numbers from the shared counter until none are left or a
 * thread failed. Leaf numbers a thread receives only grow, so the owning
 * item is found by moving a cursor forward. The thread whose fetch_sub
 * takes an item's pending count to zero finishes it; acq_rel makes the
 * other threads' leaf writes visible to it. In file mode each thread reads
 * its chunks into its own buffer.
 */
static void pool_worker(void *arg, unsigned thread_index)
{
    work_pool *p = arg;
    const sp_progress *pg = p->pg != NULL && p->pg->fn != NULL ? p->pg : NULL;
    size_t cur = 0;
    uint8_t *buf = NULL;
    if ((p->fd >= 0 || p->gen != NULL) && (buf = malloc(SP_CHUNK_BYTES)) == NULL) {
        pool_fail(p, SP_ENOMEM);
        return;
    }
    for (;;) {
        if (atomic_load_explicit(&p->err, memory_order_relaxed) != 0)
            break;
        uint64_t g = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (g >= p->total_leaves)
            break;
        while (g >= p->items[cur].first_leaf + p->items[cur].nleaves)
            cur++;
        work_item *it = &p->items[cur];
        uint64_t local = g - it->first_leaf;
        uint64_t off = local * SP_CHUNK_BYTES;
        uint64_t len = it->nbytes - off;
        if (len > SP_CHUNK_BYTES)
            len = SP_CHUNK_BYTES;
        const uint8_t *chunk = it->data + off;
        if (it->data == NULL) {
            int rc = p->gen != NULL ? p->gen(p->gen_ctx, buf, off, (size_t)len)
                                    : pread_full(p->fd, buf, (size_t)len, off);
            if (rc != SP_OK) {
                pool_fail(p, rc);
                break;
            }
            chunk = buf;
        }
        hash_leaf(p->leaves[g], local, chunk, (size_t)len);
        if (atomic_fetch_sub_explicit(&it->pending, 1, memory_order_acq_rel) == 1)
            finish_item(p, it);
        if (pg != NULL) {
            uint64_t d = atomic_fetch_add_explicit(&p->done, len, memory_order_relaxed) + len;
            if (thread_index == 0)   /* the calling thread: fn needs no lock */
                pg->fn(pg->ctx, pg->what, pg->base + d, pg->total);
        }
    }
    free(buf);
}

/*
 * Runs the pool on up to nthreads threads (the caller is one of them),
 * never more than there are leaves. Items without leaves are finished here.
 * A thread that fails to start leaves its share to the others. On failure
 * the items' outputs are unspecified (callers wipe them).
 */
static int pool_run(work_pool *p, unsigned nthreads)
{
    if (p->total_leaves > SIZE_MAX / SP_DIGEST_BYTES)
        return SP_ENOMEM;
    if (p->total_leaves > 0) {
        p->leaves = malloc((size_t)p->total_leaves * SP_DIGEST_BYTES);
        if (p->leaves == NULL)
            return SP_ENOMEM;
    }
    for (size_t i = 0; i < p->nitems; i++)
        if (p->items[i].nleaves == 0)
            finish_item(p, &p->items[i]);
    atomic_init(&p->next, 0);
    atomic_init(&p->err, 0);
    atomic_init(&p->done, 0);

    if (nthreads > SP_MAX_THREADS)
        nthreads = SP_MAX_THREADS;
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > p->total_leaves)
        nthreads = p->total_leaves > 0 ? (unsigned)p->total_leaves : 1;

    sp_pool_run(nthreads, pool_worker, p);

    if (p->leaves != NULL) {
        free(p->leaves);
        p->leaves = NULL;
    }
    return atomic_load(&p->err);
}

/* Fills one pool item; *next_leaf advances past its leaves. */
static void item_set(work_item *it, const void *data, uint64_t nbytes,
                     const sp_tensor *t, uint8_t *out, uint64_t *next_leaf)
{
    it->data = data;
    it->nbytes = nbytes;
    it->first_leaf = *next_leaf;
    it->nleaves = leaf_count(nbytes);
    atomic_init(&it->pending, it->nleaves);
    it->t = t;
    it->out = out;
    *next_leaf += it->nleaves;
}

int sp_data_root(uint8_t out[SP_DIGEST_BYTES], const void *data, uint64_t n,
                 unsigned nthreads)
{
    if (data == NULL && n > 0)
        return SP_EINVAL;
    ensure_sodium();
    work_item it;
    work_pool p = {.items = &it, .nitems = 1, .fd = -1};
    item_set(&it, data, n, NULL, out, &p.total_leaves);
    return pool_run(&p, nthreads);
}

int sp_fd_root(uint8_t out[SP_DIGEST_BYTES], int fd, uint64_t n, unsigned nthreads)
{
    if (fd < 0 || n > (uint64_t)INT64_MAX)
        return SP_EINVAL;
    ensure_sodium();
    if (n > 0)
        (void)posix_fadvise(fd, 0, (off_t)n, POSIX_FADV_SEQUENTIAL);   /* a hint only */
    work_item it;
    work_pool p = {.items = &it, .nitems = 1, .fd = fd};
    item_set(&it, NULL, n, NULL, out, &p.total_leaves);
    int rc = pool_run(&p, nthreads);
    if (rc != SP_OK)
        sodium_memzero(out, SP_DIGEST_BYTES);
    return rc;
}

int sp_tensor_digest(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t,
                     unsigned nthreads)
{
    int rc = sp_tensor_check(t);
    if (rc != SP_OK)
        return rc;
    ensure_sodium();
    work_item it;
    work_pool p = {.items = &it, .nitems = 1, .fd = -1};
    item_set(&it, t->data, t->nbytes, t, out, &p.total_leaves);
    return pool_run(&p, nthreads);
}

void sp_leaf_digest(uint8_t out[SP_DIGEST_BYTES], uint64_t index, const void *chunk, size_t len)
{
    ensure_sodium();
    hash_leaf(out, index, chunk, len);
}

int sp_tensor_digest_leaves(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t,
                            const uint8_t (*leaves)[SP_DIGEST_BYTES], uint64_t nleaves)
{
    sp_tensor desc = *t;
    desc.data = desc.nbytes > 0 ? (const void *)&desc : NULL;  /* only to pass the check */
    int rc = sp_tensor_check(&desc);
    if (rc != SP_OK)
        return rc;
    if (nleaves != leaf_count(t->nbytes) || (nleaves > 0 && leaves == NULL))
        return SP_EINVAL;
    ensure_sodium();
    uint8_t root[SP_DIGEST_BYTES];
    hash_tree(root, t->nbytes, leaves, nleaves);
    hash_tensor(out, t, root);
    return SP_OK;
}

int sp_tensor_digest_gen(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t,
                         sp_chunk_source gen, void *ctx, unsigned nthreads)
{
    return sp_tensor_digest_gen_progress(out, t, gen, ctx, nthreads, NULL);
}

int sp_tensor_digest_gen_progress(uint8_t out[SP_DIGEST_BYTES], const sp_tensor *t, sp_chunk_source gen,
                                  void *ctx, unsigned nthreads, const sp_progress *pg)
{
    sp_tensor desc = *t;
    desc.data = desc.nbytes > 0 ? (const void *)&desc : NULL;  /* only to pass the check */
    int rc = sp_tensor_check(&desc);
    if (rc != SP_OK)
        return rc;
    ensure_sodium();
    work_item it;
    work_pool p = {.items = &it, .nitems = 1, .fd = -1, .gen = gen, .gen_ctx = ctx, .pg = pg};
    item_set(&it, NULL, t->nbytes, t, out, &p.total_leaves);
    rc = pool_run(&p, nthreads);
    if (rc != SP_OK)
        sodium_memzero(out, SP_DIGEST_BYTES);
    return rc;
}

int sp_tensors_digest(uint8_t (*out)[SP_DIGEST_BYTES], const sp_tensor *t,
                      size_t n, unsigned nthreads)
{
    return sp_tensors_digest_progress(out, t, n, nthreads, NULL);
}

int sp_tensors_digest_progress(uint8_t (*out)[SP_DIGEST_BYTES], const sp_tensor *t, size_t n,
                               unsigned nthreads, const sp_progress *pg)
{
    if (n == 0)
        return SP_OK;
    if (out == NULL || t == NULL || n > SIZE_MAX / sizeof(work_item))
        return SP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = sp_tensor_check(&t[i]);
        if (rc != SP_OK)
            return rc;
    }
    ensure_sodium();
    work_pool p = {.nitems = n, .fd = -1, .pg = pg};
    p.items = malloc(n * sizeof(work_item));
    if (p.items == NULL)
        return SP_ENOMEM;
    /* Each nbytes is < 2^62, so the running leaf count cannot overflow
     * before n reaches 2^42 tensors, far beyond any allocation. */
    for (size_t i = 0; i < n; i++)
        item_set(&p.items[i], t[i].data, t[i].nbytes, &t[i], out[i], &p.total_leaves);
    int rc = pool_run(&p, nthreads);
    free(p.items);
    return rc;
}

static int named_digest_cmp(const void *a, const void *b)
{
    const sp_named_digest *x = a, *y = b;
    if (x->name == NULL || y->name == NULL)
        return (x->name != NULL) - (y->name != NULL);
    return strcmp(x->name, y->name);
}

void sp_named_digest_sort(sp_named_digest *d, size_t n)
{
    if (d != NULL && n > 1)
        qsort(d, n, sizeof *d, named_digest_cmp);
}

static const uint8_t *named_at(const void *ctx, size_t i);

int sp_checkpoint_root(uint8_t out[SP_DIGEST_BYTES], const sp_named_digest *d,
                       size_t n)
{
    if (d == NULL && n > 0)
        return SP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (d[i].name == NULL || d[i].name[0] == '\0')
            return SP_EINVAL;
        if (i > 0 && strcmp(d[i - 1].name, d[i].name) >= 0)
            return SP_EINVAL;
    }
    return sp_checkpoint_root_at(out, n, named_at, d);
}

static const uint8_t *named_at(const void *ctx, size_t i)
{
    return ((const sp_named_digest *)ctx)[i].digest;
}

int sp_checkpoint_root_at(uint8_t out[SP_DIGEST_BYTES], size_t n,
                          const uint8_t *(*at)(const void *ctx, size_t i), const void *ctx)
{
    ensure_sodium();
    crypto_generichash_state st;
    /* the digests are gathered 64 at a time: one hash update per 2 KiB, not per 32 bytes */
    uint8_t buf[64 * SP_DIGEST_BYTES];
    sp_put_le64(buf, (uint64_t)n);
    tagged_init(&st, TAG_CHECKPOINT);
    crypto_generichash_update(&st, buf, 8);
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < 64 && i < n; k++, i++)
            memcpy(buf + k * SP_DIGEST_BYTES, at(ctx, i), SP_DIGEST_BYTES);
        crypto_generichash_update(&st, buf, k * SP_DIGEST_BYTES);
    }
    crypto_generichash_final(&st, out, SP_DIGEST_BYTES);
    return SP_OK;
}

void sp_hex(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}
