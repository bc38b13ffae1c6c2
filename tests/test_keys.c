/*
 * test_keys.c - key files (attest/keys.c): generation, file modes, loading
 * known-answer keys (RFC 8032 test 1), key ids checked against values
 * computed independently with Python's hashlib.blake2b, and every way a key
 * file can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keys.h"

/* RFC 8032 section 7.1, TEST 1. */
static const char *RFC_SEED_B64 = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
static const char *RFC_PK_B64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char *RFC_PK_HEX =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char *RFC_SIG_EMPTY_HEX =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

#define SEC_HDR "scratchproof-ed25519-secret-v1 "
#define PUB_HDR "scratchproof-ed25519-public-v1 "

static char tmpdir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/sp_test_keys_XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return sodium_init() < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/name into buf (PATH_MAX-ish). */
static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", tmpdir, name);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static void write_str(const char *path, const char *s, mode_t mode)
{
    write_file(path, s, strlen(s), mode);
}

static size_t read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static int all_zero(const uint8_t *p, size_t n)
{
    return sodium_is_zero(p, n);
}

static void test_keygen_roundtrip(void **state)
{
    (void)state;
    char prefix[256], kp[300], pp[300], err[SP_ERRMSG_MAX] = "";
    tpath(prefix, "gen");
    snprintf(kp, sizeof kp, "%s.key", prefix);
    snprintf(pp, sizeof pp, "%s.pub", prefix);

    mode_t old = umask(0277); /* the secret key must be 0600 whatever the umask */
    int rc = sp_keygen_files(prefix, err);
    umask(old);
    assert_int_equal(rc, SP_OK);

    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 31 + 44 + 1);
    assert_int_equal(stat(pp, &st), 0);
    assert_int_equal(st.st_size, 31 + 44 + 1);

    char buf[128];
    size_t n = read_all(kp, buf, sizeof buf);
    assert_int_equal(n, 76);
    assert_memory_equal(buf, SEC_HDR, 31);
    assert_int_equal(buf[75], '\n');
    n = read_all(pp, buf, sizeof buf);
    assert_memory_equal(buf, PUB_HDR, 31);

    uint8_t sk[SP_SK_BYTES], pk[SP_PK_BYTES], sig[SP_SIG_BYTES];
    assert_int_equal(sp_key_load_secret(sk, kp, err), SP_OK);
    assert_int_equal(sp_key_load_public(pk, pp, err), SP_OK);
    assert_memory_equal(sk + 32, pk, 32); /* libsodium's sk is seed || pk */

    static const uint8_t msg[] = "scratchproof test message";
    assert_int_equal(crypto_sign_detached(sig, NULL, msg, sizeof msg, sk), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
    sig[5] ^= 1;
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);

    /* Two key generations give different keys. */
    char prefix2[256], pp2[300];
    tpath(prefix2, "gen2");
    snprintf(pp2, sizeof pp2, "%s.pub", prefix2);
    assert_int_equal(sp_keygen_files(prefix2, err), SP_OK);
    uint8_t pk2[SP_PK_BYTES];
    assert_int_equal(sp_key_load_public(pk2, pp2, err), SP_OK);
    assert_memory_not_equal(pk, pk2, 32);
    sodium_memzero(sk, sizeof sk);
}

/* Loading the RFC 8032 test 1 seed gives its public key and signature. */
static void test_load_known_answer(void **state)
{
    (void)state;
    char kp[256], pp[256], line[128], err[SP_ERRMSG_MAX];
    tpath(kp, "rfc.key");
    tpath(pp, "rfc.pub");
    snprintf(line, sizeof line, SEC_HDR "%s\n", RFC_SEED_B64);
    write_str(kp, line, 0600);
    snprintf(line, sizeof line, PUB_HDR "%s", RFC_PK_B64); /* no trailing newline: fine */
    write_str(pp, line, 0644);

    uint8_t sk[SP_SK_BYTES], pk[SP_PK_BYTES], want_pk[32], sig[64], want_sig[64];
    assert_int_equal(sodium_hex2bin(want_pk, 32, RFC_PK_HEX, 64, NULL, NULL, NULL), 0);
    assert_int_equal(sodium_hex2bin(want_sig, 64, RFC_SIG_EMPTY_HEX, 128, NULL, NULL, NULL), 0);
    assert_int_equal(sp_key_load_secret(sk, kp, err), SP_OK);
    assert_memory_equal(sk + 32, want_pk, 32);
    assert_int_equal(sp_key_load_public(pk, pp, err), SP_OK);
    assert_memory_equal(pk, want_pk, 32);
    assert_int_equal(crypto_sign_detached(sig, NULL, (const uint8_t *)"", 0, sk), 0);
    assert_memory_equal(sig, want_sig, 64);
    sodium_memzero(sk, sizeof sk);
}

/* Expected values from: hashlib.blake2b(b"scratchproof/keyid\0" + pk, digest_size=32). */
static void test_keyid_known_answer(void **state)
{
    (void)state;
    uint8_t pk[32];
    char id[SP_KEYID_CHARS + 1];
    assert_int_equal(sodium_hex2bin(pk, 32, RFC_PK_HEX, 64, NULL, NULL, NULL), 0);
    memset(id, 'x', sizeof id);
    sp_keyid(id, pk);
    assert_string_equal(id, "18ade6751d1f14df");
    memset(pk, 0, sizeof pk);
    sp_keyid(id, pk);
    assert_string_equal(id, "92a21d6a1a8d7223");
}

static void test_refuse_overwrite(void **state)
{
    (void)state;
    char prefix[256], kp[300], pp[300], err[SP_ERRMSG_MAX] = "";
    char before_k[128], before_p[128], after[128];
    tpath(prefix, "dup");
    snprintf(kp, sizeof kp, "%s.key", prefix);
    snprintf(pp, sizeof pp, "%s.pub", prefix);
    assert_int_equal(sp_keygen_files(prefix, err), SP_OK);
    size_t nk = read_all(kp, before_k, sizeof before_k);
    size_t np = read_all(pp, before_p, sizeof before_p);

    assert_int_equal(sp_keygen_files(prefix, err), SP_EIO);
    assert_non_null(strstr(err, kp));
    assert_non_null(strstr(err, "exists"));
    assert_int_equal(read_all(kp, after, sizeof after), nk);
    assert_memory_equal(after, before_k, nk);
    assert_int_equal(read_all(pp, after, sizeof after), np);
    assert_memory_equal(after, before_p, np);

    /* Only the .pub exists: refused, no .key left behind, .pub untouched. */
    assert_int_equal(unlink(kp), 0);
    assert_int_equal(sp_keygen_files(prefix, err), SP_EIO);
    assert_non_null(strstr(err, pp));
    assert_int_equal(access(kp, F_OK), -1);
    assert_int_equal(read_all(pp, after, sizeof after), np);
    assert_memory_equal(after, before_p, np);

    /* err may be NULL; an unwritable place fails cleanly. */
    assert_int_equal(sp_keygen_files("/nonexistent-dir/x", NULL), SP_EIO);
    assert_int_equal(sp_keygen_files("", err), SP_EINVAL);
}

/* Writes content to name (mode) and checks both loaders refuse it with SP_EKEY. */
static void expect_bad(const char *name, const void *content, size_t len, mode_t mode,
                       int as_secret, const char *needle)
{
    char p[256], err[SP_ERRMSG_MAX] = "";
    tpath(p, name);
    write_file(p, content, len, mode);
    uint8_t out[SP_SK_BYTES];
    memset(out, 0xAA, sizeof out);
    int rc = as_secret ? sp_key_load_secret(out, p, err) : sp_key_load_public(out, p, err);
    if (rc != SP_EKEY)
        fail_msg("%s: rc %d, err '%s'", name, rc, err);
    assert_true(all_zero(out, as_secret ? SP_SK_BYTES : SP_PK_BYTES));
    assert_non_null(strstr(err, p));
    assert_null(strchr(err, '\n'));
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("%s: err '%s' lacks '%s'", name, err, needle);
}

static void expect_bad_str(const char *name, const char *s, mode_t mode, int as_secret,
                           const char *needle)
{
    expect_bad(name, s, strlen(s), mode, as_secret, needle);
}

static void test_negative_loads(void **state)
{
    (void)state;
    char p[256], err[SP_ERRMSG_MAX], line[256];
    uint8_t out[SP_SK_BYTES];

    /* Missing file. */
    tpath(p, "missing.key");
    memset(out, 0xAA, sizeof out);
    assert_int_equal(sp_key_load_secret(out, p, err), SP_EKEY);
    assert_true(all_zero(out, SP_SK_BYTES));
    assert_non_null(strstr(err, p));
    assert_int_equal(sp_key_load_public(out, p, NULL), SP_EKEY);

    /* A directory. */
    memset(out, 0xAA, sizeof out);
    assert_int_equal(sp_key_load_secret(out, tmpdir, err), SP_EKEY);
    assert_true(all_zero(out, SP_SK_BYTES));
    assert_int_equal(sp_key_load_public(out, tmpdir, err), SP_EKEY);

    expect_bad_str("empty.key", "", 0600, 1, "empty");
    expect_bad_str("empty.pub", "", 0644, 0, "empty");
    expect_bad_str("hdr.key", "scratchproof-ed25519-secret-v2 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n",
                   0600, 1, "header");
    expect_bad_str("hdr2.key", "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n", 0600, 1, "header");
    expect_bad_str("hdr3.pub", "scratchproof-ed25519-public-v1\t11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n",
                   0644, 0, "header");
    expect_bad_str("short.key", SEC_HDR, 0600, 1, "malformed");
    /* Bad base64 character, missing padding, non-canonical last character. */
    expect_bad_str("b64.key", SEC_HDR "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDus!xyuf2A=\n", 0600, 1, "malformed");
    expect_bad_str("pad.key", SEC_HDR "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n", 0600, 1, "malformed");
    expect_bad_str("canon.key", SEC_HDR "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2B=\n", 0600, 1, "malformed");
    expect_bad_str("urlsafe.pub", PUB_HDR "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n", 0644, 0, "malformed");
    /* Wrong lengths: 31 and 33 bytes. */
    expect_bad_str("len31.key", SEC_HDR "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyufw==\n", 0600, 1, "malformed");
    expect_bad_str("len33.key", SEC_HDR "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2AB\n", 0600, 1, "malformed");
    /* Trailing garbage, a second newline, CRLF, a space before the newline. */
    expect_bad_str("trail.key", SEC_HDR "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\nxyz", 0600, 1, "malformed");
    expect_bad_str("nl2.pub", PUB_HDR "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\n", 0644, 0, "malformed");
    expect_bad_str("crlf.pub", PUB_HDR "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\r\n", 0644, 0, "malformed");
    expect_bad_str("space.pub", PUB_HDR "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= \n", 0644, 0, "malformed");
    expect_bad("nul.pub", PUB_HDR "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\0\n", 31 + 44 + 2,
               0644, 0, "malformed");

    /* The wrong kind of key. */
    snprintf(line, sizeof line, PUB_HDR "%s\n", RFC_PK_B64);
    expect_bad_str("kind.pub", line, 0600, 1, "is a public key, not a secret key");
    expect_bad_str("kind644.pub", line, 0644, 1, "is a public key, not a secret key");
    snprintf(line, sizeof line, SEC_HDR "%s\n", RFC_SEED_B64);
    expect_bad_str("kind.key", line, 0600, 0, "is a secret key, not a public key");

    /* A well-formed secret key readable (or writable) by others is refused. */
    expect_bad_str("open644.key", line, 0644, 1, "chmod 600");
    expect_bad_str("open640.key", line, 0640, 1, "permissions too open");
    expect_bad_str("open604.key", line, 0604, 1, "permissions too open");
    expect_bad_str("open620.key", line, 0620, 1, "permissions too open");
    /* ... while 0400 is fine. */
    tpath(p, "ro.key");
    write_str(p, line, 0400);
    assert_int_equal(sp_key_load_secret(out, p, err), SP_OK);
    sodium_memzero(out, sizeof out);

    /* A 10 MB file (key-looking start) is refused without being read whole. */
    size_t big = 10u << 20;
    char *b = malloc(big);
    assert_non_null(b);
    memset(b, 'A', big);
    memcpy(b, SEC_HDR, 31);
    expect_bad("big.key", b, big, 0600, 1, "too large");
    memcpy(b, PUB_HDR, 31);
    expect_bad("big.pub", b, big, 0644, 0, "too large");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_roundtrip),
        cmocka_unit_test(test_load_known_answer),
        cmocka_unit_test(test_keyid_known_answer),
        cmocka_unit_test(test_refuse_overwrite),
        cmocka_unit_test(test_negative_loads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
