/*
 * test_digest.c - known-answer and property tests for attest/digest.c.
 *
 * Every expected hex below was computed independently by
 * tests/digest_reference.py (Python hashlib.blake2b, digest_size=32) from the
 * byte layouts of SPEC.md 2; rerun it to regenerate them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>

#include "digest.h"

#define MiB (1u << 20)

static void assert_hex(const uint8_t d[SP_DIGEST_BYTES], const char *want)
{
    char hex[2 * SP_DIGEST_BYTES + 1];
    sp_hex(hex, d, SP_DIGEST_BYTES);
    assert_string_equal(hex, want);
}

/* byte i = (i*31 + 7) & 0xff, as tests/digest_reference.py */
static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 31 + 7) & 0xff);
    return p;
}

/* Deterministic pseudo-random bytes (xorshift64). */
static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 32);
    }
    return p;
}

static const unsigned thread_counts[] = {0, 1, 2, 7, 1000};
#define N_THREAD_COUNTS (sizeof thread_counts / sizeof thread_counts[0])

static sp_tensor make_tensor(const char *name, sp_dtype dt, uint32_t ndim,
                             const uint64_t *shape, const void *data, uint64_t nbytes)
{
    sp_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = dt;
    t.ndim = ndim;
    for (uint32_t i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    t.data = data;
    t.nbytes = nbytes;
    return t;
}

static void test_hash_tagged(void **state)
{
    (void)state;
    uint8_t d[SP_DIGEST_BYTES], e[SP_DIGEST_BYTES];
    assert_int_equal(sp_hash_tagged(d, "scratchproof/batch", "abc", 3), SP_OK);
    assert_hex(d, "0892a67d7cd9c059ede53fc03eb3a600627f4227809f4e81f7abc4e9cb0320d3");
    assert_int_equal(sp_hash_tagged(d, "scratchproof/batch", NULL, 0), SP_OK);
    assert_hex(d, "775aaef6558ae248a0f36b6d9b80ed1f89222d6526b87e5082c24d5c91d166c7");
    assert_int_equal(sp_hash_tagged(d, "scratchproof/batch", NULL, 1), SP_EINVAL);
    /* the 0x00 after the tag keeps tag and data apart */
    assert_int_equal(sp_hash_tagged(d, "scratchproof/batch", "abc", 3), SP_OK);
    assert_int_equal(sp_hash_tagged(e, "scratchproof/batc", "habc", 4), SP_OK);
    assert_memory_not_equal(d, e, SP_DIGEST_BYTES);
}

/* sp_data_root of pattern(n) at every thread count equals want. */
static void check_root(size_t n, const char *want)
{
    uint8_t *p = pattern(n);
    for (size_t i = 0; i < N_THREAD_COUNTS; i++) {
        uint8_t d[SP_DIGEST_BYTES];
        memset(d, 0xAA, sizeof d);
        assert_int_equal(sp_data_root(d, p, n, thread_counts[i]), SP_OK);
        assert_hex(d, want);
    }
    free(p);
}

static void test_data_root_vectors(void **state)
{
    (void)state;
    uint8_t d[SP_DIGEST_BYTES];
    assert_int_equal(sp_data_root(d, NULL, 0, 1), SP_OK);
    assert_hex(d, "86f57c5f5778645ea37313bcfbeed5f73020519b7248f22ed9219ed5be8fcd84");
    assert_int_equal(sp_data_root(d, NULL, 0, 4), SP_OK);
    assert_hex(d, "86f57c5f5778645ea37313bcfbeed5f73020519b7248f22ed9219ed5be8fcd84");
    assert_int_equal(sp_data_root(d, "abc", 3, 1), SP_OK);
    assert_hex(d, "248bb316569e65ed80a6111daea7edffde92cc27c22e5edfa673cb499d590899");
    check_root(MiB, "bdfc9828a3d54128a6efec33ed9f7056846e09203ffd6c56fcd81839b85c8da2");
    check_root(MiB + 1, "757d1ea3361ab93594dceaa6ee9fb27c95c19b742a9d5bd6deee1a8fec8d766e");
    check_root(5 * MiB / 2 + 123,
               "4243ada54b83ff5374bd234e1ea7d8fc3cfa4e6c659ddb887a40ee1e89e5870b");
    assert_int_equal(sp_data_root(d, NULL, 1, 1), SP_EINVAL);
}

static const uint64_t shape_2x3[] = {2, 3};

static void test_tensor_vectors(void **state)
{
    (void)state;
    uint8_t d[SP_DIGEST_BYTES];
    float w[6] = {0, 1, 2, 3, 4, 5};
    sp_tensor t = make_tensor("layer.0.weight", SP_DTYPE_F32, 2, shape_2x3, w, sizeof w);
    for (size_t i = 0; i < N_THREAD_COUNTS; i++) {
        assert_int_equal(sp_tensor_digest(d, &t, thread_counts[i]), SP_OK);
        assert_hex(d, "4afa8efa65a26e3e1a161f625b26a8d2b2157e5501fcfe55d6f8b0d642d7ba6e");
    }
    int32_t b[3] = {-1, 0, 1};
    uint64_t s3 = 3;
    t = make_tensor("layer.0.bias", SP_DTYPE_I32, 1, &s3, b, sizeof b);
    assert_int_equal(sp_tensor_digest(d, &t, 1), SP_OK);
    assert_hex(d, "1a006ddc8ac743371d78f7c9003d03f2e93a8b0b7e95984ea1b494c5284ae591");
    float one_half = 1.5f;
    t = make_tensor("s", SP_DTYPE_F32, 0, NULL, &one_half, 4);
    assert_int_equal(sp_tensor_digest(d, &t, 2), SP_OK);
    assert_hex(d, "a921ec87eb667ae184621c106d2d9ab278752f0693ad42cd105f4a81da56c907");
    uint64_t s04[] = {0, 4};
    t = make_tensor("e", SP_DTYPE_F32, 2, s04, NULL, 0);
    assert_int_equal(sp_tensor_digest(d, &t, 2), SP_OK);
    assert_hex(d, "36d510c8813637557691aeb56352e093bb80e374c57d85b1bce3801b61c1c5a5");
}

static void test_tensor_invalid(void **state)
{
    (void)state;
    uint8_t d[SP_DIGEST_BYTES];
    float w[6] = {0};
    sp_tensor t = make_tensor("w", SP_DTYPE_F32, 2, shape_2x3, w, sizeof w);
    assert_int_equal(sp_tensor_digest(d, &t, 1), SP_OK);
    sp_tensor bad = t;
    bad.nbytes = 20;
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_EINVAL);
    bad = t;
    bad.dtype = SP_DTYPE_INVALID;
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_EINVAL);
    bad = t;
    bad.name = "";
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_EINVAL);
    bad = t;
    bad.name = NULL;
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_EINVAL);
    bad = t;
    bad.data = NULL;
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_EINVAL);
    bad = t;
    bad.ndim = SP_MAX_DIMS + 1;
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_EINVAL);
    char longname[SP_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    bad = t;
    bad.name = longname;    /* SP_NAME_MAX + 1 bytes */
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_EINVAL);
    longname[SP_NAME_MAX] = '\0';
    assert_int_equal(sp_tensor_digest(d, &bad, 1), SP_OK);
    /* sp_tensors_digest checks every tensor */
    sp_tensor two[2] = {t, t};
    two[1].nbytes = 4;
    uint8_t out[2][SP_DIGEST_BYTES];
    assert_int_equal(sp_tensors_digest(out, two, 2, 2), SP_EINVAL);
    assert_int_equal(sp_tensors_digest(NULL, two, 2, 2), SP_EINVAL);
    assert_int_equal(sp_tensors_digest(NULL, NULL, 0, 2), SP_OK);
}

/* Large inputs: thread counts, changes, pooled equals per tensor. */
static void test_threads_identical(void **state)
{
    (void)state;
    size_t n = 9 * MiB + MiB / 2 + 17;
    uint8_t *p = random_bytes(n, 42);
    uint8_t ref[SP_DIGEST_BYTES], d[SP_DIGEST_BYTES];
    assert_int_equal(sp_data_root(ref, p, n, 1), SP_OK);
    const unsigned more[] = {2, 3, 7, 10, 11, SP_MAX_THREADS, SP_MAX_THREADS + 5};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        assert_int_equal(sp_data_root(d, p, n, more[i]), SP_OK);
        assert_memory_equal(d, ref, SP_DIGEST_BYTES);
    }
    /* a prefix and the one-byte-longer string differ */
    assert_int_equal(sp_data_root(d, p, n - 1, 2), SP_OK);
    assert_memory_not_equal(d, ref, SP_DIGEST_BYTES);
    free(p);
}

static void test_changes_change_digest(void **state)
{
    (void)state;
    size_t n = 3 * MiB + 12;     /* F32, shape [786435] */
    uint8_t *p = random_bytes(n, 7);
    uint64_t shape = n / 4;
    sp_tensor t = make_tensor("blocks.3.attn.qkv", SP_DTYPE_F32, 1, &shape, p, n);
    uint8_t ref[SP_DIGEST_BYTES], d[SP_DIGEST_BYTES];
    assert_int_equal(sp_tensor_digest(ref, &t, 2), SP_OK);

    const size_t at[] = {0, MiB - 1, MiB, 2 * MiB + 5, n - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        p[at[i]] ^= 0x01;
        for (size_t k = 0; k < N_THREAD_COUNTS; k++) {
            assert_int_equal(sp_tensor_digest(d, &t, thread_counts[k]), SP_OK);
            assert_memory_not_equal(d, ref, SP_DIGEST_BYTES);
        }
        p[at[i]] ^= 0x01;
    }
    assert_int_equal(sp_tensor_digest(d, &t, 7), SP_OK);
    assert_memory_equal(d, ref, SP_DIGEST_BYTES);

    sp_tensor c = t;
    c.name = "blocks.3.attn.qkw";
    assert_int_equal(sp_tensor_digest(d, &c, 1), SP_OK);
    assert_memory_not_equal(d, ref, SP_DIGEST_BYTES);
    c = t;
    c.dtype = SP_DTYPE_I32;
    assert_int_equal(sp_tensor_digest(d, &c, 1), SP_OK);
    assert_memory_not_equal(d, ref, SP_DIGEST_BYTES);
    c = t;  /* same bytes, shape [3, 262145] */
    c.ndim = 2;
    c.shape[0] = 3;
    c.shape[1] = shape / 3;
    assert_int_equal(sp_tensor_digest(d, &c, 1), SP_OK);
    assert_memory_not_equal(d, ref, SP_DIGEST_BYTES);
    c = t;  /* same bytes as U8 [n] */
    c.dtype = SP_DTYPE_U8;
    c.shape[0] = n;
    assert_int_equal(sp_tensor_digest(d, &c, 1), SP_OK);
    assert_memory_not_equal(d, ref, SP_DIGEST_BYTES);
    free(p);
}

static void test_tensors_digest_pooled(void **state)
{
    (void)state;
    enum { NT = 40 };
    sp_tensor t[NT];
    uint8_t *bufs[NT];
    char names[NT][16];
    for (int i = 0; i < NT; i++) {
        /* mostly small tensors, some spanning several chunks, some empty */
        uint64_t elems = (i % 10 == 3) ? (uint64_t)(MiB / 2 * (i % 7 + 1) + i)
                       : (i % 10 == 5) ? 0 : (uint64_t)(i * 37 + 1);
        bufs[i] = random_bytes(elems * 2, (uint64_t)i + 100);
        snprintf(names[i], sizeof names[i], "t.%02d", NT - i);
        t[i] = make_tensor(names[i], SP_DTYPE_BF16, 1, &elems, elems ? bufs[i] : NULL,
                           elems * 2);
    }
    uint8_t single[NT][SP_DIGEST_BYTES], pooled[NT][SP_DIGEST_BYTES];
    for (int i = 0; i < NT; i++)
        assert_int_equal(sp_tensor_digest(single[i], &t[i], 1), SP_OK);
    for (size_t k = 0; k < N_THREAD_COUNTS; k++) {
        memset(pooled, 0, sizeof pooled);
        assert_int_equal(sp_tensors_digest(pooled, t, NT, thread_counts[k]), SP_OK);
        assert_memory_equal(pooled, single, sizeof single);
    }
    for (int i = 0; i < NT; i++)
        free(bufs[i]);
}

static void test_checkpoint_root(void **state)
{
    (void)state;
    float w[6] = {0, 1, 2, 3, 4, 5};
    int32_t b[3] = {-1, 0, 1};
    uint64_t s3 = 3;
    sp_tensor t[2] = {
        make_tensor("layer.0.weight", SP_DTYPE_F32, 2, shape_2x3, w, sizeof w),
        make_tensor("layer.0.bias", SP_DTYPE_I32, 1, &s3, b, sizeof b),
    };
    uint8_t dg[2][SP_DIGEST_BYTES];
    assert_int_equal(sp_tensors_digest(dg, t, 2, 2), SP_OK);
    sp_named_digest nd[2];
    for (int i = 0; i < 2; i++) {
        nd[i].name = t[i].name;
        memcpy(nd[i].digest, dg[i], SP_DIGEST_BYTES);
    }
    uint8_t root[SP_DIGEST_BYTES];
    /* given weight, bias: unsorted */
    assert_int_equal(sp_checkpoint_root(root, nd, 2), SP_EINVAL);
    sp_named_digest_sort(nd, 2);
    assert_string_equal(nd[0].name, "layer.0.bias");
    assert_int_equal(sp_checkpoint_root(root, nd, 2), SP_OK);
    assert_hex(root, "7b618a51dc582f089e5478e9d2a62050d3f6852534d93ded03e3958f95db11e1");
    assert_int_equal(sp_checkpoint_root(root, NULL, 0), SP_OK);
    assert_hex(root, "2e5c2472d5a54abfc9fd96e95f2b2b5fdd12c5c85e614abae610fe338ef82d20");

    sp_named_digest dup[2] = {nd[0], nd[0]};
    assert_int_equal(sp_checkpoint_root(root, dup, 2), SP_EINVAL);
    sp_named_digest noname[1] = {nd[0]};
    noname[0].name = NULL;
    assert_int_equal(sp_checkpoint_root(root, noname, 1), SP_EINVAL);
    assert_int_equal(sp_checkpoint_root(root, NULL, 1), SP_EINVAL);

    /* a changed tensor digest changes the root */
    nd[1].digest[31] ^= 0x80;
    uint8_t r2[SP_DIGEST_BYTES];
    assert_int_equal(sp_checkpoint_root(r2, nd, 2), SP_OK);
    assert_memory_not_equal(r2, root, SP_DIGEST_BYTES);
}

/* sp_fd_root reads a file and gives the same root as sp_data_root. */
static void test_fd_root(void **state)
{
    (void)state;
    char path[] = "/tmp/test_digest_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    size_t n = 5 * MiB / 2 + 123;
    uint8_t *p = pattern(n);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    uint8_t d[SP_DIGEST_BYTES], ref[SP_DIGEST_BYTES];
    for (size_t i = 0; i < N_THREAD_COUNTS; i++) {
        assert_int_equal(sp_fd_root(d, fd, n, thread_counts[i]), SP_OK);
        assert_hex(d, "4243ada54b83ff5374bd234e1ea7d8fc3cfa4e6c659ddb887a40ee1e89e5870b");
    }
    const uint64_t prefixes[] = {0, 3, MiB, MiB + 1};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        assert_int_equal(sp_fd_root(d, fd, prefixes[i], 2), SP_OK);
        assert_int_equal(sp_data_root(ref, p, prefixes[i], 1), SP_OK);
        assert_memory_equal(d, ref, SP_DIGEST_BYTES);
    }
    /* the file is shorter than asked: error, output wiped */
    static const uint8_t zero[SP_DIGEST_BYTES];
    for (size_t i = 0; i < N_THREAD_COUNTS; i++) {
        assert_int_equal(sp_fd_root(d, fd, n + 1, thread_counts[i]), SP_EIO);
        assert_memory_equal(d, zero, SP_DIGEST_BYTES);
    }
    assert_int_equal(sp_fd_root(d, -1, 0, 1), SP_EINVAL);
    close(fd);
    assert_int_equal(sp_fd_root(d, fd, 10, 1), SP_EIO);   /* closed descriptor */
    free(p);
}

static void test_sort_bytewise(void **state)
{
    (void)state;
    sp_named_digest d[4] = {{.name = "b"}, {.name = "a.1"}, {.name = "B"}, {.name = "a"}};
    sp_named_digest_sort(d, 4);
    assert_string_equal(d[0].name, "B");
    assert_string_equal(d[1].name, "a");
    assert_string_equal(d[2].name, "a.1");
    assert_string_equal(d[3].name, "b");
    sp_named_digest_sort(NULL, 0);
}

static void test_hex(void **state)
{
    (void)state;
    const uint8_t in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    sp_hex(out, in, sizeof in);
    assert_string_equal(out, "000fa5ff");
    sp_hex(out, NULL, 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_tagged),
        cmocka_unit_test(test_data_root_vectors),
        cmocka_unit_test(test_tensor_vectors),
        cmocka_unit_test(test_tensor_invalid),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_changes_change_digest),
        cmocka_unit_test(test_tensors_digest_pooled),
        cmocka_unit_test(test_checkpoint_root),
        cmocka_unit_test(test_fd_root),
        cmocka_unit_test(test_sort_bytewise),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
