/*
 * keys.c - Ed25519 key files (keys.h, SPEC.md 4): generation with O_EXCL,
 * strict loading (no symbolic links, exact header, canonical base64, nothing
 * trailing), the passphrase of encrypted secret keys taken from its sources
 * (passphrase.h), and key ids. The encrypted layout itself is keyseal.c.
 * Secret bytes only ever sit in sodium_malloc'd buffers, which are wiped
 * before they are freed on every path.
 */
#include "keys.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyseal.h"
#include "passphrase.h"

#define SECRET_HDR "scratchproof-ed25519-secret-v1 "
#define PUBLIC_HDR "scratchproof-ed25519-public-v1 "
#define HDR_LEN (sizeof(SECRET_HDR) - 1)
#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
/* Encoded length of 32 bytes without the terminating NUL: 44. */
#define B64_CHARS (sodium_base64_ENCODED_LEN(32, B64_VARIANT) - 1)
#define KEYFILE_MAX 4096u
_Static_assert(SP_KEY_ENC_FILE_BYTES < KEYFILE_MAX, "key file bound");
#define LINE_MAX_BYTES (HDR_LEN + B64_CHARS + 1)

/* "PREFIX" + suffix in a fresh heap string, NULL when out of memory. */
static char *path_with(const char *prefix, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *p = malloc(a + b + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, prefix, a);
    memcpy(p + a, suffix, b + 1);
    return p;
}

/*
 * Writes a new file holding buf (len bytes) with the given mode, refusing to
 * replace an existing file (O_EXCL) and setting the mode with fchmod whatever
 * the umask. The data is fsync'd. On any failure the file, if this call
 * created it, is removed. Returns SP_OK or SP_EIO.
 */
static int write_new_file(const char *path, const uint8_t *buf, size_t len,
                          mode_t mode, int force_mode, char *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST)
            sp_errf(err, "%s exists; refusing to overwrite it", path);
        else
            sp_errf(err, "%s: cannot create: %s", path, strerror(e));
        return e == EEXIST ? SP_EIO : sp_write_errno(e);
    }
    const char *what = NULL;
    int saved = 0;
    if (force_mode && fchmod(fd, mode) != 0) {
        what = "fchmod";
        saved = errno;
    }
    size_t off = 0;
    while (what == NULL && off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            what = "write";
            saved = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    if (what == NULL && fsync(fd) != 0) {
        what = "fsync";
        saved = errno;
    }
    if (close(fd) != 0 && what == NULL) {
        what = "close";
        saved = errno;
    }
    if (what != NULL) {
        unlink(path);
        sp_errf(err, "%s: %s failed: %s", path, what, strerror(saved));
        return sp_write_errno(saved);
    }
    return SP_OK;
}

/*
 * Formats HDR base64(key32) "\n" into line (LINE_MAX_BYTES + 1 bytes) and
 * returns the length without the NUL.
 */
static size_t format_line(char *line, const char *hdr, const uint8_t *key32)
{
    memcpy(line, hdr, HDR_LEN);
    sodium_bin2base64(line + HDR_LEN, B64_CHARS + 1, key32, 32, B64_VARIANT);
    line[HDR_LEN + B64_CHARS] = '\n';
    line[HDR_LEN + B64_CHARS + 1] = '\0';
    return LINE_MAX_BYTES;
}

/*
 * Both keygen entry points: a fresh key pair, PREFIX.key (plain when pass is
 * NULL, else sealed under pass at cost) then PREFIX.pub.
 */
static int keygen(const char *prefix, const char *pass, size_t passlen, const sp_kdf_cost *cost,
                  char *err)
{
    if (prefix[0] == '\0') {
        sp_errf(err, "keygen: empty output prefix");
        return SP_EINVAL;
    }
    if (sodium_init() < 0) {
        sp_errf(err, "%s: libsodium failed to initialise", prefix);
        return SP_ECRYPTO;
    }
    int rc = SP_ENOMEM;
    char *key_path = path_with(prefix, ".key");
    char *pub_path = path_with(prefix, ".pub");
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    uint8_t *seed = sodium_malloc(crypto_sign_SEEDBYTES);
    char *line = sodium_malloc(SP_KEY_ENC_FILE_BYTES + 1);
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (key_path == NULL || pub_path == NULL || sk == NULL || seed == NULL || line == NULL) {
        sp_errf(err, "%s: out of memory", prefix);
        goto out;
    }
    if (crypto_sign_keypair(pk, sk) != 0 || crypto_sign_ed25519_sk_to_seed(seed, sk) != 0) {
        sp_errf(err, "%s: key generation failed", prefix);
        rc = SP_ECRYPTO;
        goto out;
    }
    size_t n;
    if (pass == NULL) {
        n = format_line(line, SECRET_HDR, seed);
    } else {
        uint8_t salt[SP_KEY_SALT_BYTES], nonce[SP_KEY_NONCE_BYTES];
        randombytes_buf(salt, sizeof salt);
        randombytes_buf(nonce, sizeof nonce);
        char why[SP_ERRMSG_MAX] = "";
        rc = sp_key_seal_seed(line, seed, pass, passlen, salt, nonce, cost, why);
        if (rc != SP_OK) {
            sp_errf(err, "%s.key: %s", prefix, why);
            goto out;
        }
        n = SP_KEY_ENC_FILE_BYTES;
    }
    rc = write_new_file(key_path, (const uint8_t *)line, n, 0600, 1, err);
    if (rc != SP_OK)
        goto out;
    n = format_line(line, PUBLIC_HDR, pk);
    rc = write_new_file(pub_path, (const uint8_t *)line, n, 0644, 0, err);
    if (rc != SP_OK) {
        unlink(key_path); /* a secret key without its public half is useless */
        goto out;
    }
out:
    /* sodium_free also wipes; the explicit wipe keeps the habit visible. */
    if (sk != NULL)
        sodium_memzero(sk, crypto_sign_SECRETKEYBYTES);
    if (seed != NULL)
        sodium_memzero(seed, crypto_sign_SEEDBYTES);
    if (line != NULL)
        sodium_memzero(line, SP_KEY_ENC_FILE_BYTES + 1);
    sodium_free(sk);
    sodium_free(seed);
    sodium_free(line);
    free(key_path);
    free(pub_path);
    return rc;
}

int sp_keygen_files(const char *prefix, char *err)
{
    return keygen(prefix, NULL, 0, NULL, err);
}

int sp_keygen_files_encrypted(const char *prefix, const char *pass, size_t passlen,
                              const sp_kdf_cost *cost, char *err)
{
    sp_kdf_cost moderate;
    if (cost == NULL) {
        if (sp_kdf_cost_named(&moderate, "moderate") != SP_OK)
            return SP_EINVAL;
        cost = &moderate;
    }
    return keygen(prefix, pass, passlen, cost, err);
}

/*
 * Reads a key file into buf (KEYFILE_MAX + 1 bytes, caller owns and wipes
 * it), *len bytes: a regular file, not a symbolic link, of 1..KEYFILE_MAX
 * bytes. *mode gets its permission bits. SP_OK or SP_EKEY.
 */
static int read_key_file(char *buf, size_t *len, mode_t *mode, const char *path, char *err)
{
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0) {
        struct stat lst;
        if (errno == ELOOP && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            sp_errf(err, "%s is a symbolic link; refusing it as a key file (give the file itself)",
                    path);
        else
            sp_errf(err, "%s: cannot open key file: %s", path, strerror(errno));
        return SP_EKEY;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sp_errf(err, "%s: cannot stat key file: %s", path, strerror(errno));
        close(fd);
        return SP_EKEY;
    }
    if (!S_ISREG(st.st_mode)) {
        sp_errf(err, "%s: not a regular file (%s)", path, sp_file_kind(st.st_mode));
        close(fd);
        return SP_EKEY;
    }
    if (st.st_size > (off_t)KEYFILE_MAX) {
        sp_errf(err, "%s: too large for a key file (%lld bytes)", path, (long long)st.st_size);
        close(fd);
        return SP_EKEY;
    }
    size_t n = 0;
    while (n < KEYFILE_MAX + 1) { /* one byte more than allowed detects growth */
        ssize_t r = read(fd, buf + n, KEYFILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            sp_errf(err, "%s: cannot read key file: %s", path, strerror(errno));
            close(fd);
            return SP_EKEY;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > KEYFILE_MAX) {
        sp_errf(err, "%s: too large for a key file", path);
        return SP_EKEY;
    }
    if (n == 0) {
        sp_errf(err, "%s: empty key file", path);
        return SP_EKEY;
    }
    *len = n;
    *mode = st.st_mode;
    return SP_OK;
}

static int starts_with(const char *buf, size_t len, const char *hdr)
{
    size_t h = strlen(hdr);
    return len >= h && memcmp(buf, hdr, h) == 0;
}

/* The text after a header of hdr_len bytes, without one optional final "\n". */
static const char *body_of(const char *buf, size_t len, size_t hdr_len, size_t *body_len)
{
    size_t n = len - hdr_len;
    if (n > 0 && buf[len - 1] == '\n')
        n--;
    *body_len = n;
    return buf + hdr_len;
}

/* Exactly 44 canonical base64 characters decoding to 32 bytes, into key32. */
static int decode_plain(uint8_t *key32, const char *buf, size_t len, const char *name, char *err)
{
    size_t b64_len, bin_len = 0;
    const char *b64 = body_of(buf, len, HDR_LEN, &b64_len), *end = NULL;
    if (b64_len != B64_CHARS ||
        sodium_base642bin(key32, 32, b64, b64_len, NULL, &bin_len, &end, B64_VARIANT) != 0 ||
        end != b64 + b64_len || bin_len != 32) {
        sodium_memzero(key32, 32);
        sp_errf(err, "%s: malformed key: expected exactly 32 bytes of base64 after the header "
               "and at most one newline", name);
        return SP_EKEY;
    }
    return SP_OK;
}

int sp_key_parse_secret(uint8_t seed[32], int *encrypted, const char *buf, size_t len,
                        const char *pass, size_t passlen, const char *name, char *err)
{
    sodium_memzero(seed, 32);
    int enc = starts_with(buf, len, SP_KEY_ENC_HDR);
    if (encrypted != NULL)
        *encrypted = enc;
    if (starts_with(buf, len, PUBLIC_HDR)) {
        sp_errf(err, "%s is a public key, not a secret key", name);
        return SP_EKEY;
    }
    if (!enc && !starts_with(buf, len, SECRET_HDR)) {
        sp_errf(err, "%s: not a scratchproof secret key file (bad header)", name);
        return SP_EKEY;
    }
    if (!enc)
        return decode_plain(seed, buf, len, name, err);
    if (pass == NULL) {
        sp_errf(err, "%s is encrypted and no passphrase was given", name);
        return SP_EKEY;
    }
    size_t b64_len;
    const char *b64 = body_of(buf, len, SP_KEY_ENC_HDR_LEN, &b64_len);
    return sp_key_unseal(seed, b64, b64_len, pass, passlen, name, err);
}

/* The prompt for an encrypted key's passphrase, the path shortened to fit. */
static void prompt_for(char *out, size_t cap, const char *path)
{
    size_t n = strlen(path);
    if (n > 160)
        snprintf(out, cap, "Passphrase for ...%s: ", path + n - 157);
    else
        snprintf(out, cap, "Passphrase for %s: ", path);
}

int sp_key_load_secret_pass(uint8_t *sk, const char *path, const char *pass, size_t passlen,
                            char *err)
{
    sodium_memzero(sk, SP_SK_BYTES);
    if (sodium_init() < 0) {
        sp_errf(err, "%s: libsodium failed to initialise", path);
        return SP_ECRYPTO;
    }
    char *buf = sodium_malloc(KEYFILE_MAX + 1);
    uint8_t *seed = sodium_malloc(crypto_sign_SEEDBYTES);
    char *own = NULL; /* a passphrase read here, from a source */
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    int rc = SP_ENOMEM;
    size_t len = 0;
    mode_t mode = 0;
    if (buf == NULL || seed == NULL) {
        sp_errf(err, "%s: out of memory", path);
        goto out;
    }
    rc = read_key_file(buf, &len, &mode, path, err);
    if (rc != SP_OK)
        goto out;
    rc = SP_EKEY;
    int enc = starts_with(buf, len, SP_KEY_ENC_HDR);
    if ((enc || starts_with(buf, len, SECRET_HDR)) && (mode & 0077) != 0) {
        sp_errf(err, "%s: permissions too open (%03o); chmod 600 %s", path,
                (unsigned)(mode & 0777), path);
        goto out;
    }
    if (enc && pass == NULL) {
        sp_pass_source src = sp_passphrase_source();
        if (src == SP_PASS_NONE) {
            sp_errf(err, "%s is encrypted: give its passphrase on a terminal, or in the file "
                    "named by " SP_PASSPHRASE_FILE_ENV ", or on the descriptor named by "
                    SP_PASSPHRASE_FD_ENV, path);
            goto out;
        }
        own = sodium_malloc(SP_PASSPHRASE_MAX + 1);
        if (own == NULL) {
            sp_errf(err, "%s: out of memory", path);
            rc = SP_ENOMEM;
            goto out;
        }
        char prompt[200], why[SP_ERRMSG_MAX] = "";
        prompt_for(prompt, sizeof prompt, path);
        if (sp_passphrase_read(own, &passlen, src, prompt, why) != SP_OK) {
            sp_errf(err, "%s: %s", path, why);
            goto out;
        }
        if (passlen == 0) {
            sp_errf(err, "%s: empty passphrase from %s", path, sp_passphrase_source_name(src));
            goto out;
        }
        pass = own;
    }
    rc = sp_key_parse_secret(seed, NULL, buf, len, pass, passlen, path, err);
    if (rc != SP_OK)
        goto out;
    if (crypto_sign_seed_keypair(pk, sk, seed) != 0) {
        sp_errf(err, "%s: cannot derive the key pair", path);
        rc = SP_ECRYPTO;
        goto out;
    }
out:
    if (rc != SP_OK)
        sodium_memzero(sk, SP_SK_BYTES);
    if (buf != NULL)
        sodium_memzero(buf, KEYFILE_MAX + 1);
    if (seed != NULL)
        sodium_memzero(seed, crypto_sign_SEEDBYTES);
    if (own != NULL)
        sodium_memzero(own, SP_PASSPHRASE_MAX + 1);
    sodium_free(buf);
    sodium_free(seed);
    sodium_free(own);
    return rc;
}

int sp_key_load_secret(uint8_t *sk, const char *path, char *err)
{
    return sp_key_load_secret_pass(sk, path, NULL, 0, err);
}

int sp_key_load_public(uint8_t *pk, const char *path, char *err)
{
    sodium_memzero(pk, SP_PK_BYTES);
    if (sodium_init() < 0) {
        sp_errf(err, "%s: libsodium failed to initialise", path);
        return SP_ECRYPTO;
    }
    /* A secret key file may be handed in by mistake: its bytes are wiped too. */
    char *buf = sodium_malloc(KEYFILE_MAX + 1);
    if (buf == NULL) {
        sp_errf(err, "%s: out of memory", path);
        return SP_ENOMEM;
    }
    size_t len = 0;
    mode_t mode = 0;
    int rc = read_key_file(buf, &len, &mode, path, err);
    if (rc == SP_OK) {
        rc = SP_EKEY;
        if (starts_with(buf, len, SECRET_HDR) || starts_with(buf, len, SP_KEY_ENC_HDR))
            sp_errf(err, "%s is a secret key, not a public key", path);
        else if (!starts_with(buf, len, PUBLIC_HDR))
            sp_errf(err, "%s: not a scratchproof public key file (bad header)", path);
        else
            rc = decode_plain(pk, buf, len, path, err);
    }
    if (rc != SP_OK)
        sodium_memzero(pk, SP_PK_BYTES);
    sodium_memzero(buf, KEYFILE_MAX + 1);
    sodium_free(buf);
    return rc;
}

void sp_keyid(char out[SP_KEYID_CHARS + 1], const uint8_t *pk)
{
    static const char domain[] = "scratchproof/keyid"; /* hashed with its NUL */
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)domain, sizeof domain);
    crypto_generichash_update(&st, pk, SP_PK_BYTES);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, SP_KEYID_CHARS + 1, h, SP_KEYID_CHARS / 2);
}
