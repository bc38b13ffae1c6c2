/*
 * test_keys.c - key files (attest/keys.c, keyseal.c, passphrase.c): generation,
 * file modes, loading known-answer keys (RFC 8032 test 1), key ids checked
 * against values computed independently with Python's hashlib.blake2b, every
 * way a key file can be wrong, encrypted key files (the SPEC.md 4.6 vector,
 * recomputed by tests/keys_reference.py; round trips; every passphrase source
 * but the terminal, which tests/cli/keys.sh covers; every damaged byte),
 * symbolic links, and the keyid of record signatures (SPEC.md 4.4).
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
#include "passphrase.h"
#include "record.h"

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
    /* No passphrase source unless a test sets one: no variables, no terminal. */
    unsetenv(SP_PASSPHRASE_FD_ENV);
    unsetenv(SP_PASSPHRASE_FILE_ENV);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0)
        return -1;
    close(devnull);
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

/* ---- encrypted secret keys (SPEC.md 4.6) ---- */

/* The SPEC.md 4.6 vectors, printed by tests/keys_reference.py (Python, ctypes). */
static const char *VEC_PASS = "correct horse battery staple";
static const char *VEC_INTERACTIVE =
    "scratchproof-ed25519-secret-enc-v1 AQEBAAIAAAAAAAAEAAAAAAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZ"
    "GhscHR4fICEiIyQlJif6LTFw2erp99T599yk5dt9ry9A4YZQwdBD1192M2uPlkIVLlOvLTcINcA4aFE05T8=\n";
static const char *VEC_MIN =
    "scratchproof-ed25519-secret-enc-v1 AQEBAAEAAAAAIAAAAAAAAAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZ"
    "GhscHR4fICEiIyQlJiceSxp0l7ixFjviOWiEEF0lwli7KNnZ6R0hxOT2TJQu1WBRUdfizcjuzOhumA+vJu8=\n";
static const sp_kdf_cost COST_MIN = {1, 8192}; /* the cheapest cost a reader accepts */

static void vec_inputs(uint8_t seed[32], uint8_t salt[16], uint8_t nonce[24])
{
    size_t n = 0;
    assert_int_equal(sodium_base642bin(seed, 32, RFC_SEED_B64, strlen(RFC_SEED_B64), NULL, &n,
                                       NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(n, 32);
    for (int i = 0; i < 16; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t)(0x10 + i);
}

/* Loads path with pass and checks the key pair is RFC 8032 test 1's. */
static void expect_rfc_key(const char *path, const char *pass)
{
    uint8_t sk[SP_SK_BYTES], want_pk[32];
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sodium_hex2bin(want_pk, 32, RFC_PK_HEX, 64, NULL, NULL, NULL), 0);
    int rc = sp_key_load_secret_pass(sk, path, pass, pass ? strlen(pass) : 0, err);
    if (rc != SP_OK)
        fail_msg("%s: rc %d, err '%s'", path, rc, err);
    assert_memory_equal(sk + 32, want_pk, 32);
    sodium_memzero(sk, sizeof sk);
}

/* Loads path and expects SP_EKEY, sk zeroed, err naming path and holding needle. */
static void expect_load_fails(const char *path, const char *pass, const char *needle)
{
    uint8_t sk[SP_SK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    memset(sk, 0xAA, sizeof sk);
    int rc = sp_key_load_secret_pass(sk, path, pass, pass ? strlen(pass) : 0, err);
    if (rc != SP_EKEY)
        fail_msg("%s: rc %d, err '%s'", path, rc, err);
    assert_true(all_zero(sk, sizeof sk));
    assert_non_null(strstr(err, path));
    assert_null(strchr(err, '\n'));
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("%s: err '%s' lacks '%s'", path, err, needle);
}

static void test_enc_vector(void **state)
{
    (void)state;
    uint8_t seed[32], salt[16], nonce[24];
    char out[SP_KEY_ENC_FILE_BYTES], err[SP_ERRMSG_MAX] = "", p[256];
    vec_inputs(seed, salt, nonce);
    sp_kdf_cost interactive;
    assert_int_equal(sp_kdf_cost_named(&interactive, "interactive"), SP_OK);
    assert_int_equal(interactive.opslimit, 2);
    assert_int_equal(interactive.memlimit, 64u << 20);
    assert_int_equal(sp_key_seal_seed(out, seed, VEC_PASS, strlen(VEC_PASS), salt, nonce,
                                      &interactive, err), SP_OK);
    assert_int_equal(strlen(VEC_INTERACTIVE), SP_KEY_ENC_FILE_BYTES);
    assert_memory_equal(out, VEC_INTERACTIVE, SP_KEY_ENC_FILE_BYTES);
    assert_int_equal(sp_key_seal_seed(out, seed, VEC_PASS, strlen(VEC_PASS), salt, nonce,
                                      &COST_MIN, err), SP_OK);
    assert_memory_equal(out, VEC_MIN, SP_KEY_ENC_FILE_BYTES);

    /* The vectors load to the RFC key; a wrong passphrase is named as such. */
    write_str(tpath(p, "vec.key"), VEC_INTERACTIVE, 0600);
    expect_rfc_key(p, VEC_PASS);
    expect_load_fails(p, "correct horse battery stapl", "wrong passphrase or damaged key file");
    write_str(tpath(p, "vecmin.key"), VEC_MIN, 0600);
    expect_rfc_key(p, VEC_PASS);
    expect_load_fails(p, "Correct horse battery staple", "wrong passphrase or damaged key file");
    /* The public-key loader refuses it as a secret key. */
    uint8_t pk[SP_PK_BYTES];
    assert_int_equal(sp_key_load_public(pk, p, err), SP_EKEY);
    assert_non_null(strstr(err, "is a secret key, not a public key"));
    /* Without a passphrase (no source here), it is refused as encrypted. */
    expect_load_fails(p, NULL, "is encrypted");

    /* Named costs, and bounds on what a writer may ask for. */
    sp_kdf_cost c;
    assert_int_equal(sp_kdf_cost_named(&c, "moderate"), SP_OK);
    assert_int_equal(c.opslimit, 3);
    assert_int_equal(c.memlimit, 256u << 20);
    assert_int_equal(sp_kdf_cost_named(&c, "sensitive"), SP_OK);
    assert_int_equal(c.memlimit, SP_KDF_MEM_MAX);
    assert_int_equal(sp_kdf_cost_named(&c, "cheap"), SP_EINVAL);
    const sp_kdf_cost bad[] = {{0, 8192}, {17, 8192}, {1, 4096}, {1, 8192 + 512},
                               {1, SP_KDF_MEM_MAX + 1024}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sp_key_seal_seed(out, seed, VEC_PASS, strlen(VEC_PASS), salt, nonce,
                                          &bad[i], err), SP_EINVAL);
    assert_int_equal(sp_key_seal_seed(out, seed, "", 0, salt, nonce, &COST_MIN, err), SP_EINVAL);
    sodium_memzero(seed, sizeof seed);
}

static void test_enc_keygen_roundtrip(void **state)
{
    (void)state;
    char prefix[256], kp[300], pp[300], err[SP_ERRMSG_MAX] = "", buf[512];
    tpath(prefix, "enc");
    snprintf(kp, sizeof kp, "%s.key", prefix);
    snprintf(pp, sizeof pp, "%s.pub", prefix);
    static const char pass[] = "a passphrase with spaces \xc3\xa9";
    mode_t old = umask(0);
    int rc = sp_keygen_files_encrypted(prefix, pass, strlen(pass), &COST_MIN, err);
    umask(old);
    if (rc != SP_OK)
        fail_msg("keygen: %d %s", rc, err);
    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, SP_KEY_ENC_FILE_BYTES);
    assert_int_equal(read_all(kp, buf, sizeof buf), SP_KEY_ENC_FILE_BYTES);
    assert_memory_equal(buf, "scratchproof-ed25519-secret-enc-v1 ", 35);

    uint8_t sk[SP_SK_BYTES], pk[SP_PK_BYTES];
    assert_int_equal(sp_key_load_secret_pass(sk, kp, pass, strlen(pass), err), SP_OK);
    assert_int_equal(sp_key_load_public(pk, pp, err), SP_OK);
    assert_memory_equal(sk + 32, pk, 32);
    sodium_memzero(sk, sizeof sk);
    expect_load_fails(kp, "a passphrase with spaces", "wrong passphrase or damaged key file");
    expect_load_fails(kp, NULL, "is encrypted");

    /* Two files from one passphrase differ everywhere after the cost (salt, nonce, key). */
    char prefix2[256], kp2[300], buf2[512];
    tpath(prefix2, "enc2");
    snprintf(kp2, sizeof kp2, "%s.key", prefix2);
    assert_int_equal(sp_keygen_files_encrypted(prefix2, pass, strlen(pass), &COST_MIN, err), SP_OK);
    read_all(kp2, buf2, sizeof buf2);
    assert_memory_not_equal(buf + 35 + 24, buf2 + 35 + 24, 40);

    /* A too widely readable encrypted key is refused before any passphrase is asked. */
    assert_int_equal(chmod(kp, 0640), 0);
    expect_load_fails(kp, pass, "permissions too open");
    assert_int_equal(chmod(kp, 0600), 0);
    /* Writer-side refusals. */
    assert_int_equal(sp_keygen_files_encrypted(prefix, pass, strlen(pass), &COST_MIN, err), SP_EIO);
    assert_int_equal(sp_keygen_files_encrypted(tpath(prefix, "e3"), "", 0, &COST_MIN, err), SP_EINVAL);
    assert_int_equal(access(prefix, F_OK), -1);
}

/* Every single-byte change and truncation of an encrypted file: SP_EKEY, never a crash. */
static void test_enc_damaged(void **state)
{
    (void)state;
    char p[256], file[SP_KEY_ENC_FILE_BYTES + 1], err[SP_ERRMSG_MAX];
    uint8_t blob[104];
    tpath(p, "damaged.key");
    memcpy(file, VEC_MIN, SP_KEY_ENC_FILE_BYTES);
    const size_t hdr = 35, nb64 = 140;
    size_t n = 0;
    assert_int_equal(sodium_base642bin(blob, sizeof blob, file + hdr, nb64, NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(n, sizeof blob);

    /* Text bytes, three ways each (some flips stay valid base64 and reach the MAC). */
    static const uint8_t masks[] = {0x01, 0x20, 0x80};
    for (size_t i = 0; i < SP_KEY_ENC_FILE_BYTES; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(file, VEC_MIN, SP_KEY_ENC_FILE_BYTES);
            file[i] ^= (char)masks[m];
            write_file(p, file, SP_KEY_ENC_FILE_BYTES, 0600);
            expect_load_fails(p, VEC_PASS, NULL);
        }
    }
    /* Blob bytes, re-encoded canonically: every field is checked or authenticated. */
    size_t reached_mac = 0;
    for (size_t i = 0; i < sizeof blob; i++) {
        for (int m = 0; m < 2; m++) {
            uint8_t b[104];
            memcpy(b, blob, sizeof b);
            b[i] ^= m ? 0xff : 0x01;
            memcpy(file, VEC_MIN, hdr);
            sodium_bin2base64(file + hdr, nb64 + 1, b, sizeof b, sodium_base64_VARIANT_ORIGINAL);
            file[hdr + nb64] = '\n';
            write_file(p, file, SP_KEY_ENC_FILE_BYTES, 0600);
            uint8_t sk[SP_SK_BYTES];
            memset(sk, 0xAA, sizeof sk);
            err[0] = '\0';
            assert_int_equal(sp_key_load_secret_pass(sk, p, VEC_PASS, strlen(VEC_PASS), err), SP_EKEY);
            assert_true(all_zero(sk, sizeof sk));
            reached_mac += strstr(err, "wrong passphrase or damaged key file") != NULL;
        }
    }
    /* salt, nonce and ciphertext (88 bytes), and some cost flips, reach the tag check. */
    assert_true(reached_mac >= 2 * 88);
    /* Named header faults. */
    struct { size_t at; uint8_t v; const char *needle; } faults[] = {
        {0, 2, "version 2"}, {1, 2, "unknown key derivation"}, {2, 0, "unknown key derivation"},
        {3, 1, "unknown key derivation"}, {4, 17, "out of bounds"}, {4, 0, "out of bounds"},
        {9, 0x21, "out of bounds"} /* 8448 bytes: not a multiple of 1024 */,
        {11, 0x40, "out of bounds"} /* 1 GiB + 8 KiB */, {15, 1, "out of bounds"}};
    for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++) {
        uint8_t b[104];
        memcpy(b, blob, sizeof b);
        b[faults[k].at] = faults[k].v;
        memcpy(file, VEC_MIN, hdr);
        sodium_bin2base64(file + hdr, nb64 + 1, b, sizeof b, sodium_base64_VARIANT_ORIGINAL);
        file[hdr + nb64] = '\n';
        write_file(p, file, SP_KEY_ENC_FILE_BYTES, 0600);
        expect_load_fails(p, VEC_PASS, faults[k].needle);
    }
    /* Truncated at every length; without its final newline the file is still valid. */
    for (size_t len = 1; len < SP_KEY_ENC_FILE_BYTES - 1; len++) {
        write_file(p, VEC_MIN, len, 0600);
        expect_load_fails(p, VEC_PASS, NULL);
    }
    write_file(p, VEC_MIN, SP_KEY_ENC_FILE_BYTES - 1, 0600);
    expect_rfc_key(p, VEC_PASS);
    /* One byte more, a second newline, CRLF. */
    memcpy(file, VEC_MIN, SP_KEY_ENC_FILE_BYTES);
    char longer[SP_KEY_ENC_FILE_BYTES + 2];
    memcpy(longer, VEC_MIN, SP_KEY_ENC_FILE_BYTES);
    longer[SP_KEY_ENC_FILE_BYTES] = '\n';
    write_file(p, longer, SP_KEY_ENC_FILE_BYTES + 1, 0600);
    expect_load_fails(p, VEC_PASS, "malformed");
    memcpy(longer, VEC_MIN, SP_KEY_ENC_FILE_BYTES - 1);
    longer[SP_KEY_ENC_FILE_BYTES - 1] = '\r';
    longer[SP_KEY_ENC_FILE_BYTES] = '\n';
    write_file(p, longer, SP_KEY_ENC_FILE_BYTES + 1, 0600);
    expect_load_fails(p, VEC_PASS, "malformed");

    /* The buffer parser, as the fuzz target drives it. */
    uint8_t seed[32];
    int enc = -1;
    assert_int_equal(sp_key_parse_secret(seed, &enc, VEC_MIN, SP_KEY_ENC_FILE_BYTES, VEC_PASS,
                                         strlen(VEC_PASS), "buf", err), SP_OK);
    assert_int_equal(enc, 1);
    assert_int_equal(sp_key_parse_secret(seed, &enc, VEC_MIN, SP_KEY_ENC_FILE_BYTES, NULL, 0,
                                         "buf", err), SP_EKEY);
    assert_true(all_zero(seed, sizeof seed));
    sodium_memzero(seed, sizeof seed);
}

/* A passphrase file of the given content, mode 0600 unless told. */
static const char *pass_file(char *p, const char *name, const char *content, mode_t mode)
{
    tpath(p, name);
    write_str(p, content, mode);
    return p;
}

static void test_passphrase_sources(void **state)
{
    (void)state;
    char kp[256], pf[256], err[SP_ERRMSG_MAX];
    write_str(tpath(kp, "src.key"), VEC_MIN, 0600);
    assert_int_equal(sp_passphrase_source(), SP_PASS_NONE);

    /* SCRATCHPROOF_PASSPHRASE_FILE: the first line, or the whole file without a newline. */
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "p1", "correct horse battery staple\nnext line\n", 0600), 1);
    assert_int_equal(sp_passphrase_source(), SP_PASS_FILE);
    expect_rfc_key(kp, NULL);
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "p2", "correct horse battery staple", 0400), 1);
    expect_rfc_key(kp, NULL);
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "p3", "correct horse battery staple \n", 0600), 1);
    expect_load_fails(kp, NULL, "wrong passphrase or damaged key file");
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "p4", "correct horse battery staple\n", 0644), 1);
    expect_load_fails(kp, NULL, "permissions too open");
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "p5", "\nx\n", 0600), 1);
    expect_load_fails(kp, NULL, "empty passphrase from " SP_PASSPHRASE_FILE_ENV);
    setenv(SP_PASSPHRASE_FILE_ENV, tpath(pf, "nonexistent"), 1);
    expect_load_fails(kp, NULL, "cannot open");
    setenv(SP_PASSPHRASE_FILE_ENV, tmpdir, 1);
    expect_load_fails(kp, NULL, "not a regular file");
    char *longp = malloc(SP_PASSPHRASE_MAX + 2);
    assert_non_null(longp);
    memset(longp, 'x', SP_PASSPHRASE_MAX + 1);
    longp[SP_PASSPHRASE_MAX + 1] = '\0';
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "plong", longp, 0600), 1);
    expect_load_fails(kp, NULL, "longer than 1024 bytes");
    longp[SP_PASSPHRASE_MAX] = '\0'; /* exactly 1024 bytes: a passphrase, just the wrong one */
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "plong2", longp, 0600), 1);
    expect_load_fails(kp, NULL, "wrong passphrase");
    free(longp);

    /* SCRATCHPROOF_PASSPHRASE_FD wins over the file; reads stop at the newline. */
    setenv(SP_PASSPHRASE_FILE_ENV, pass_file(pf, "pwrong", "wrong\n", 0600), 1);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    static const char two[] = "correct horse battery staple\nsecond\n";
    assert_int_equal(write(fds[1], two, sizeof two - 1), (ssize_t)(sizeof two - 1));
    char num[16];
    snprintf(num, sizeof num, "%d", fds[0]);
    setenv(SP_PASSPHRASE_FD_ENV, num, 1);
    assert_int_equal(sp_passphrase_source(), SP_PASS_FD);
    expect_rfc_key(kp, NULL);
    char *buf = sodium_malloc(SP_PASSPHRASE_MAX + 1);
    size_t len = 99;
    assert_int_equal(sp_passphrase_read(buf, &len, SP_PASS_FD, "", err), SP_OK);
    assert_int_equal(len, 6);
    assert_string_equal(buf, "second");
    /* At end of input the passphrase is empty: refused. */
    close(fds[1]);
    expect_load_fails(kp, NULL, "empty passphrase from " SP_PASSPHRASE_FD_ENV);
    close(fds[0]);
    expect_load_fails(kp, NULL, "is not an open file descriptor");
    const char *bad_fds[] = {"abc", "-1", "3x", "99999999999", " 3"};
    for (size_t i = 0; i < sizeof bad_fds / sizeof bad_fds[0]; i++) {
        setenv(SP_PASSPHRASE_FD_ENV, bad_fds[i], 1);
        expect_load_fails(kp, NULL, "is not an open file descriptor");
    }
    assert_int_equal(sp_passphrase_read(buf, &len, SP_PASS_NONE, "", err), SP_EKEY);
    assert_int_equal(len, 0);
    sodium_free(buf);
    /* A plain key never asks for a passphrase, even with a broken source. */
    char line[128];
    snprintf(line, sizeof line, SEC_HDR "%s\n", RFC_SEED_B64);
    write_str(tpath(kp, "plain-src.key"), line, 0600);
    expect_rfc_key(kp, NULL);
    unsetenv(SP_PASSPHRASE_FD_ENV);
    unsetenv(SP_PASSPHRASE_FILE_ENV);
}

static void test_symlinks_refused(void **state)
{
    (void)state;
    char kp[256], pp[256], lk[256], lp[256], line[128], err[SP_ERRMSG_MAX];
    snprintf(line, sizeof line, SEC_HDR "%s\n", RFC_SEED_B64);
    write_str(tpath(kp, "real.key"), line, 0600);
    snprintf(line, sizeof line, PUB_HDR "%s\n", RFC_PK_B64);
    write_str(tpath(pp, "real.pub"), line, 0644);
    unlink(tpath(lk, "link.key"));
    unlink(tpath(lp, "link.pub"));
    assert_int_equal(symlink(kp, lk), 0);
    assert_int_equal(symlink("real.pub", lp), 0);
    expect_load_fails(lk, NULL, "is a symbolic link");
    uint8_t pk[SP_PK_BYTES];
    assert_int_equal(sp_key_load_public(pk, lp, err), SP_EKEY);
    assert_non_null(strstr(err, "is a symbolic link"));
    assert_true(all_zero(pk, sizeof pk));
    /* A dangling link, and an encrypted key behind a link. */
    char dl[256], ek[256], el[256];
    unlink(tpath(dl, "dangling.key"));
    assert_int_equal(symlink("nowhere.key", dl), 0);
    expect_load_fails(dl, NULL, "is a symbolic link");
    write_str(tpath(ek, "realenc.key"), VEC_MIN, 0600);
    unlink(tpath(el, "linkenc.key"));
    assert_int_equal(symlink(ek, el), 0);
    expect_load_fails(el, VEC_PASS, "is a symbolic link");
    /* keygen never writes through a link either (O_EXCL). */
    char prefix[256];
    tpath(prefix, "dangling");
    assert_int_equal(sp_keygen_files(prefix, err), SP_EIO);
    assert_non_null(strstr(err, "exists"));
    /* The real files still load. */
    expect_rfc_key(kp, NULL);
    assert_int_equal(sp_key_load_public(pk, pp, err), SP_OK);
}

/* ---- the keyid of a record signature must be the pinned key's (SPEC.md 4.4) ---- */

/* Re-packs env with signature i's keyid replaced by keyid; returns the decoded copy. */
static Sp__Envelope *with_keyid(const Sp__Envelope *env, size_t i, const char *keyid)
{
    Sp__Signature s = *env->signatures[i];
    s.keyid = (char *)keyid;
    Sp__Signature *sigs[16];
    for (size_t k = 0; k < env->n_signatures; k++)
        sigs[k] = k == i ? &s : env->signatures[k];
    Sp__Envelope e = *env;
    e.signatures = sigs;
    size_t n = sp__envelope__get_packed_size(&e);
    uint8_t *b = malloc(n);
    assert_non_null(b);
    sp__envelope__pack(&e, b);
    Sp__Envelope *out = NULL;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_envelope_decode(&out, b, n, err), SP_OK);
    free(b);
    return out;
}

static void test_signature_keyid(void **state)
{
    (void)state;
    uint8_t seed[32], pk[32], sk[64], pk2[32], sk2[64];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_keypair(pk2, sk2);
    static const uint8_t payload[] = "any payload: the envelope layer does not decode it";
    uint8_t *buf = NULL;
    size_t n = 0;
    assert_int_equal(sp_envelope_seal(&buf, &n, payload, sizeof payload, sk, pk), SP_OK);
    Sp__Envelope *env = NULL;
    char err[SP_ERRMSG_MAX] = "", id[SP_KEYID_CHARS + 1], id2[SP_KEYID_CHARS + 1];
    assert_int_equal(sp_envelope_decode(&env, buf, n, err), SP_OK);
    free(buf);
    sp_keyid(id, pk);
    sp_keyid(id2, pk2);
    assert_string_equal(id, "938e528d2c2c1cc9"); /* SPEC.md 3.5 */
    assert_int_equal(sp_envelope_verify_keyid(env, pk, err), SP_OK);
    assert_int_equal(sp_envelope_verify(env, pk), SP_OK);

    /* Same signature bytes, another keyid: the signature still verifies, the envelope does not. */
    uint8_t *pae = NULL;
    size_t paelen = 0;
    assert_int_equal(sp_pae(&pae, &paelen, SP_PAYLOAD_TYPE, payload, sizeof payload), SP_OK);
    const char *wrong[] = {"0000000000000000", "938e528d2c2c1cc8", "938E528D2C2C1CC9",
                           "938e528d2c2c1cc", "938e528d2c2c1cc90", "", "938e\x1b[2J2c2c1cc9"};
    for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++) {
        Sp__Envelope *bad = with_keyid(env, 0, wrong[k]);
        err[0] = '\0';
        assert_int_equal(crypto_sign_verify_detached(bad->signatures[0]->sig.data, pae, paelen, pk), 0);
        assert_int_equal(sp_envelope_verify_keyid(bad, pk, err), SP_EMISMATCH);
        assert_int_not_equal(sp_envelope_verify(bad, pk), SP_OK);
        char want[SP_ERRMSG_MAX];
        snprintf(want, sizeof want, "is not the pinned key's id %s", id);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "signature keyid "));
        assert_null(strchr(err, '\x1b')); /* an untrusted keyid never reaches a terminal raw */
        sp_envelope_free(bad);
    }
    Sp__Envelope *bad = with_keyid(env, 0, "0000000000000000");
    assert_int_equal(sp_envelope_verify_keyid(bad, pk, err), SP_EMISMATCH);
    assert_string_equal(err, "signature keyid 0000000000000000 is not the pinned key's id 938e528d2c2c1cc9");
    sp_envelope_free(bad);

    /* Under another key nothing verifies: that stays SP_ECRYPTO, whatever the keyid says. */
    bad = with_keyid(env, 0, id2);
    assert_int_equal(sp_envelope_verify_keyid(bad, pk2, err), SP_ECRYPTO);
    assert_non_null(strstr(err, "no signature verifies under the pinned key"));
    assert_non_null(strstr(err, id2));
    sp_envelope_free(bad);

    /* Two signatures: the right one plus a copy with a wrong keyid is still refused. */
    Sp__Signature copy = *env->signatures[0];
    copy.keyid = (char *)"ffffffffffffffff";
    Sp__Signature *sigs[2] = {env->signatures[0], &copy};
    Sp__Envelope e2 = *env;
    e2.n_signatures = 2;
    e2.signatures = sigs;
    assert_int_equal(sp_envelope_verify_keyid(&e2, pk, err), SP_EMISMATCH);
    assert_non_null(strstr(err, "ffffffffffffffff"));
    /* ... while a second signature from another key (and its own keyid) is ignored. */
    uint8_t pae_sig[64];
    crypto_sign_detached(pae_sig, NULL, pae, paelen, sk2);
    free(pae);
    Sp__Signature other = *env->signatures[0];
    other.sig.data = pae_sig;
    other.keyid = id2;
    sigs[1] = &other;
    assert_int_equal(sp_envelope_verify_keyid(&e2, pk, err), SP_OK);
    assert_int_equal(sp_envelope_verify_keyid(&e2, pk2, err), SP_OK);
    sp_envelope_free(env);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sk2, sizeof sk2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_roundtrip),
        cmocka_unit_test(test_load_known_answer),
        cmocka_unit_test(test_keyid_known_answer),
        cmocka_unit_test(test_refuse_overwrite),
        cmocka_unit_test(test_negative_loads),
        cmocka_unit_test(test_enc_vector),
        cmocka_unit_test(test_enc_keygen_roundtrip),
        cmocka_unit_test(test_enc_damaged),
        cmocka_unit_test(test_passphrase_sources),
        cmocka_unit_test(test_symlinks_refused),
        cmocka_unit_test(test_signature_keyid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
