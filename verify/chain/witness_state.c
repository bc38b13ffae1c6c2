/*
 * witness_state.c - a witness's memory of cosigned heads (witness_state.h,
 * SPEC.md 15.8). The file is small (one line per run) and read whole; it is
 * the witness's own file, but still parsed strictly.
 */
#include "witness_state.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "head.h"
#include "keys.h"
#include "merkle.h"

#define STATE_MAGIC "scratchproof-witness-state/1\n"
#define STATE_MAX (16u << 20)

typedef struct entry {
    char *origin;
    uint8_t pk[32];
    uint64_t size;
    uint8_t root[32];
} entry;

typedef struct state {
    entry *v;
    size_t n;
} state;

static void state_free(state *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].origin);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int parse_u64(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t v = 0;
    if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static int b64_32(uint8_t out[32], const char *s, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (n != 44 || sodium_base642bin(out, 32, s, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != 32 || end != s + n)
        return -1;
    return 0;
}

/* Reads the state file; an absent file is an empty state. */
static int state_load(state *s, const char *path, char *why)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return SP_OK;
        sp_errf(why, "%s: cannot read the witness state (--state)", path);
        return SP_EIO;
    }
    char *buf = malloc(STATE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return SP_ENOMEM;
    }
    size_t len = fread(buf, 1, STATE_MAX + 1, f);
    int bad = ferror(f) != 0;
    fclose(f);
    int rc = SP_OK;
    if (bad || len > STATE_MAX) {
        sp_errf(why, "%s: cannot read the witness state (--state)", path);
        rc = SP_EIO;
        goto out;
    }
    buf[len] = '\0';
    size_t ml = strlen(STATE_MAGIC);
    if (len < ml || memcmp(buf, STATE_MAGIC, ml) != 0 || memchr(buf, '\0', len) != NULL ||
        buf[len - 1] != '\n') {
        sp_errf(why, "%s: not a witness state file (--state)", path);
        rc = SP_EFORMAT;
        goto out;
    }
    size_t lines = 0;
    for (size_t i = ml; i < len; i++)
        lines += buf[i] == '\n';
    s->v = calloc(lines ? lines : 1, sizeof *s->v);
    if (s->v == NULL) {
        rc = SP_ENOMEM;
        goto out;
    }
    for (char *p = buf + ml, *save = NULL, *line; (line = strtok_r(p, "\n", &save)) != NULL; p = NULL) {
        char *sv = NULL, *f1 = strtok_r(line, " ", &sv), *f2 = strtok_r(NULL, " ", &sv),
             *f3 = strtok_r(NULL, " ", &sv), *f4 = strtok_r(NULL, " ", &sv), *f5 = strtok_r(NULL, " ", &sv);
        entry *e = &s->v[s->n];
        uint64_t size = 0;
        if (f1 == NULL || f4 == NULL || f5 != NULL || b64_32(e->pk, f2, strlen(f2)) != 0 ||
            parse_u64(f3, &size) != 0 || b64_32(e->root, f4, strlen(f4)) != 0) {
            sp_errf(why, "%s: line %zu is not 'ORIGIN KEY SIZE ROOT' (--state)", path, s->n + 2);
            rc = SP_EFORMAT;
            goto out;
        }
        e->size = size;
        if ((e->origin = strdup(f1)) == NULL) {
            rc = SP_ENOMEM;
            goto out;
        }
        s->n++;
    }
out:
    free(buf);
    if (rc != SP_OK)
        state_free(s);
    return rc;
}

static entry *find(state *s, const sp_checkpoint *cp)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i].origin) == cp->origin_len && memcmp(s->v[i].origin, cp->origin, cp->origin_len) == 0)
            return &s->v[i];
    return NULL;
}

static int origin_storable(const sp_checkpoint *cp)
{
    return memchr(cp->origin, ' ', cp->origin_len) == NULL;
}

int sp_witness_state_admit(const char *state_path, const sp_checkpoint *cp, const uint8_t *logpk,
                           const char *ledger_path, char *why)
{
    if (!origin_storable(cp)) {
        sp_errf(why, "an origin with a space cannot be remembered");
        return SP_EMISMATCH;
    }
    state s;
    int rc = state_load(&s, state_path, why);
    if (rc != SP_OK)
        return rc;
    entry *e = find(&s, cp);
    if (e == NULL)
        goto out;
    char kid[SP_KEYID_CHARS + 1];
    sp_keyid(kid, e->pk);
    if (sodium_memcmp(e->pk, logpk, 32) != 0) {
        sp_errf(why, "this run was witnessed signed by another key (%s): a second signer of one run "
                "(a re-signed copy?)", kid);
        rc = SP_EMISMATCH;
    } else if (cp->size < e->size) {
        sp_errf(why, "a rollback: the witness cosigned %llu records of this run, the head has %llu",
                (unsigned long long)e->size, (unsigned long long)cp->size);
        rc = SP_EMISMATCH;
    } else if (cp->size == e->size) {
        if (sodium_memcmp(cp->root, e->root, 32) != 0) {
            sp_errf(why, "a fork: the witness cosigned another root for %llu records of this run",
                    (unsigned long long)e->size);
            rc = SP_EMISMATCH;
        }
    } else if (ledger_path == NULL) {
        sp_errf(why, "the head grew from %llu to %llu records: give --ledger to check it is consistent",
                (unsigned long long)e->size, (unsigned long long)cp->size);
        rc = SP_EMISMATCH;
    } else {
        sp_head h;
        uint8_t *leaves = NULL, proof[SP_MERKLE_PROOF_MAX][32];
        size_t plen = 0;
        char e2[SP_ERRMSG_MAX] = "";
        rc = sp_head_from_ledger(&h, &leaves, ledger_path, logpk, e2);
        if (rc == SP_EMISMATCH) {
            sp_errf(why, "--ledger: %s", e2);
        } else if (rc != SP_OK) {
            sp_errf(why, "--ledger: %s", e2);
        } else if (h.size != cp->size || sodium_memcmp(h.root, cp->root, 32) != 0) {
            sp_errf(why, "--ledger %s is not the ledger of this head", ledger_path);
            rc = SP_EMISMATCH;
        } else if (sp_merkle_consistency_proof(proof, &plen, leaves, h.size, e->size) != SP_OK ||
                   sp_merkle_verify_consistency(e->size, h.size, e->root, h.root, proof, plen) != SP_OK) {
            sp_errf(why, "a fork: the ledger's first %llu records are not the ones the witness cosigned",
                    (unsigned long long)e->size);
            rc = SP_EMISMATCH;
        }
        free(leaves);
    }
out:
    state_free(&s);
    return rc;
}

int sp_witness_state_commit(const char *state_path, const sp_checkpoint *cp, const uint8_t *logpk,
                            char *why)
{
    state s;
    int rc = state_load(&s, state_path, why);
    if (rc != SP_OK)
        return rc;
    size_t plen = strlen(state_path);
    char *tmp = malloc(plen + 24);
    FILE *f = NULL;
    if (tmp == NULL) {
        rc = SP_ENOMEM;
        goto out;
    }
    snprintf(tmp, plen + 24, "%s.tmp%ld", state_path, (long)getpid());
    if ((f = fopen(tmp, "wb")) == NULL) {
        sp_errf(why, "%s: cannot write the witness state (--state)", state_path);
        rc = SP_EIO;
        goto out;
    }
    char pk64[48], root64[48];
    int ok = fputs(STATE_MAGIC, f) >= 0;
    entry *e = find(&s, cp);
    for (size_t i = 0; i < s.n; i++) {
        if (&s.v[i] == e)
            continue;
        sodium_bin2base64(pk64, sizeof pk64, s.v[i].pk, 32, sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(root64, sizeof root64, s.v[i].root, 32, sodium_base64_VARIANT_ORIGINAL);
        ok = ok && fprintf(f, "%s %s %llu %s\n", s.v[i].origin, pk64, (unsigned long long)s.v[i].size, root64) > 0;
    }
    sodium_bin2base64(pk64, sizeof pk64, logpk, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(root64, sizeof root64, cp->root, 32, sodium_base64_VARIANT_ORIGINAL);
    ok = ok && fprintf(f, "%.*s %s %llu %s\n", (int)cp->origin_len, cp->origin, pk64,
                       (unsigned long long)cp->size, root64) > 0;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, state_path) != 0) {
        unlink(tmp);
        sp_errf(why, "%s: cannot write the witness state (--state)", state_path);
        rc = SP_EIO;
    }
out:
    free(tmp);
    state_free(&s);
    return rc;
}

int sp_witness_state_lock(const char *state_path, int *fd, char *why)
{
    *fd = -1;
    size_t n = strlen(state_path);
    char *lp = malloc(n + 6);
    if (lp == NULL)
        return SP_ENOMEM;
    memcpy(lp, state_path, n);
    memcpy(lp + n, ".lock", 6);
    int f = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lp);
    if (f < 0) {
        sp_errf(why, "%s.lock: cannot open the witness state's lock (--state)", state_path);
        return SP_EIO;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close(f);
        sp_errf(why, "%s: %s (--state)", state_path,
                busy ? "in use by another cosign" : "cannot lock the witness state");
        return busy ? SP_EBUSY : SP_EIO;
    }
    *fd = f;
    return SP_OK;
}

void sp_witness_state_unlock(int fd)
{
    if (fd >= 0)
        close(fd);   /* releases the flock */
}
