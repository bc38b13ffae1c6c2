/*
 * head_check.c - `verify --head FILE [--witness PUB]...` (head.h, SPEC.md
 * 15.7): a signed head against the ledger being verified. Every failure is
 * a finding named "head": a head signed by another key, a head of another
 * run, a ledger shorter than its head (the tail dropped, or an older meta
 * page: a rolled-back commit), a fork (another root at the same size, or a
 * longer ledger whose tree is not consistent with the head), a required
 * witness that did not cosign.
 */
#include "head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "digest.h"
#include "keys.h"
#include "merkle.h"

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

int sp_head_file_load(sp_head_file **out, const char *path, char *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        sp_errf(err, "%s: cannot read the head file (--head)", path);
        if (f)
            fclose(f);
        return SP_EIO;
    }
    if (st.st_size > (off_t)SP_NOTE_MAX_BYTES) {
        fclose(f);
        sp_errf(err, "%s: not a signed head (--head): larger than %u bytes", path, SP_NOTE_MAX_BYTES);
        return SP_EFORMAT;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    sp_head_file *hf = calloc(1, sizeof *hf);
    if (buf == NULL || hf == NULL) {
        free(buf);
        free(hf);
        fclose(f);
        return SP_ENOMEM;
    }
    size_t len = fread(buf, 1, (size_t)st.st_size + 1, f);
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err || len > (size_t)st.st_size) {
        free(buf);
        free(hf);
        sp_errf(err, "%s: cannot read the head file (--head)", path);
        return SP_EIO;
    }
    char why[SP_ERRMSG_MAX] = "";
    int rc = sp_note_parse(&hf->note, buf, len, why);
    free(buf);
    if (rc != SP_OK) {
        free(hf);
        sp_errf(err, "%s: not a signed head (--head): %s", path, why);
        return rc;
    }
    snprintf(hf->path, sizeof hf->path, "%s", path);
    hf->body_ok = sp_head_parse_body(&hf->head, hf->note.text, hf->note.text_len, hf->body_err) == SP_OK;
    *out = hf;
    return SP_OK;
}

void sp_head_file_free(sp_head_file *hf)
{
    if (hf == NULL)
        return;
    sp_note_free(&hf->note);
    free(hf);
}

static void utc(char out[32], uint64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t > (uint64_t)INT32_MAX * 64 || gmtime_r(&tt, &tm) == NULL)
        snprintf(out, 32, "%llu", ull(t));
    else
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The witnesses' cosignatures: each required one must verify. */
static void check_witnesses(const sp_head_file *hf, const uint8_t (*wpk)[32], const char *const *names,
                            size_t nw, sp_report *rep)
{
    for (size_t i = 0; i < nw; i++) {
        char kid[SP_KEYID_CHARS + 1], when[32];
        const char *who = names ? names[i] : "";
        uint64_t t = 0;
        size_t which = 0;
        sp_keyid(kid, wpk[i]);
        int rc = sp_note_verify_cosig(&hf->note, wpk[i], &t, &which);
        time_t now = time(NULL);
        if (rc == SP_OK && now >= 0 && t > (uint64_t)now + SP_HEAD_FUTURE_SLACK) {
            utc(when, t);
            sp_report_add(rep, "head", 0, "%s: the cosignature of witness %s (key %s) is dated %s, in the "
                          "future", hf->path, who, kid, when);
        } else if (rc == SP_OK) {
            utc(when, t);
            sp_report_add(rep, "witness", 1, "%s: cosigned by witness %s (%s, key %s) at %s", hf->path,
                          hf->note.sigs[which].name, who, kid, when);
        } else if (rc == SP_ECRYPTO) {
            sp_report_add(rep, "head", 0, "%s: the cosignature of witness %s (key %s) does not verify: "
                          "the head was changed after it was cosigned", hf->path, who, kid);
        } else {
            sp_report_add(rep, "head", 0, "%s: not cosigned by the required witness %s (key %s)", hf->path,
                          who, kid);
        }
    }
}

void sp_head_check(const sp_head_file *hf, const uint8_t *pk, const uint8_t (*wpk)[32],
                   const char *const *witness_names, size_t nw, const uint8_t *digests, size_t stride,
                   size_t n, const uint8_t *run_id, sp_report *rep)
{
    char kid[SP_KEYID_CHARS + 1];
    sp_keyid(kid, pk);
    size_t before = rep->failed;
    int rc = sp_note_verify(&hf->note, pk, NULL);
    if (rc != SP_OK) {
        sp_report_add(rep, "head", 0, "%s: %s", hf->path,
                      rc == SP_ECRYPTO ? "its signature by the pinned key does not verify (the head was changed)"
                                       : "not signed by the pinned key (a head of another signer)");
        check_witnesses(hf, wpk, witness_names, nw, rep);
        return;
    }
    if (!hf->body_ok) {
        sp_report_add(rep, "head", 0, "%s: signed, but not a scratchproof head: %s", hf->path, hf->body_err);
        return;
    }
    const sp_head *h = &hf->head;
    check_witnesses(hf, wpk, witness_names, nw, rep);
    if (run_id == NULL || sodium_memcmp(run_id, h->run_id, SP_RUN_ID_BYTES) != 0) {
        char a[33], b[33] = "unknown";
        sp_hex(a, h->run_id, SP_RUN_ID_BYTES);
        if (run_id)
            sp_hex(b, run_id, SP_RUN_ID_BYTES);
        sp_report_add(rep, "head", 0, "%s: a head of run %s, the ledger is run %s", hf->path, a, b);
        return;
    }
    if (n < h->size) {
        sp_report_add(rep, "head", 0, "%s: the ledger holds %zu records, its head %llu: records %zu..%llu "
                      "were dropped (the tail truncated, or the last commits rolled back)",
                      hf->path, n, ull(h->size), n, ull(h->size - 1));
        return;
    }
    uint8_t *leaves = malloc(n * 32);
    if (leaves == NULL) {
        sp_report_add(rep, "head", 0, "%s: out of memory for %zu leaf hashes", hf->path, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        sp_merkle_leaf(leaves + i * 32, digests + i * stride, SP_DIGEST_BYTES);
    uint8_t root_n[32], proof[SP_MERKLE_PROOF_MAX][32];
    size_t plen = 0;
    sp_merkle_root(root_n, leaves, n);
    rc = sp_merkle_consistency_proof(proof, &plen, leaves, n, h->size);
    free(leaves);
    int consistent = rc == SP_OK &&
                     sp_merkle_verify_consistency(h->size, n, h->root, root_n, proof, plen) == SP_OK;
    if (!consistent) {
        if (n == h->size)
            sp_report_add(rep, "head", 0, "%s: a fork: the ledger has the head's %llu records but another "
                          "root (a second ledger of this run)", hf->path, ull(h->size));
        else
            sp_report_add(rep, "head", 0, "%s: a fork: the ledger's first %llu records are not the head's "
                          "(its %zu records are not an extension of the head)", hf->path, ull(h->size), n);
        return;
    }
    const uint8_t *last = digests + (h->size - 1) * stride;
    if (sodium_memcmp(last, h->last_record, SP_DIGEST_BYTES) != 0) {
        sp_report_add(rep, "head", 0, "%s: signed last-record is not the digest of record %llu",
                      hf->path, ull(h->size - 1));
        return;
    }
    if (rep->failed == before)
        sp_report_add(rep, "head", 1, "%s: signed by the pinned key %s; the ledger's %zu records %s its "
                      "%llu (consistent, root %02x%02x%02x%02x...)", hf->path, kid, n,
                      n == h->size ? "are" : "extend", ull(h->size), h->root[0], h->root[1], h->root[2],
                      h->root[3]);
}
