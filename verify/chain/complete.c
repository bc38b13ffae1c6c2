/*
 * complete.c - completeness, batch counts and the config digest (complete.h,
 * SPEC.md 7 items 8-10). A ledger cut short after a checkpoint still links
 * and verifies record by record; only its missing final record shows that
 * the run did not end there.
 */
#include "complete.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scratchproof.h"

static unsigned long long ull(uint64_t x) { return (unsigned long long)x; }

void sp_check_complete(const sp_run_table *tab, int allow, sp_report *rep)
{
    if (tab->n == 0)
        return;
    const sp_point *last = &tab->pts[tab->n - 1];
    if (last->kind == SP_POINT_FINAL) {
        sp_report_add(rep, "complete", 1, "record %llu is the final record (step %llu)", ull(last->seq),
                      ull(last->step));
        return;
    }
    char where[80];
    if (last->kind == SP_POINT_GENESIS)
        snprintf(where, sizeof where, "the genesis");
    else
        snprintf(where, sizeof where, "checkpoint step %llu", ull(last->step));
    if (allow)
        sp_report_add(rep, "complete", 1, "incomplete run allowed: ends at %s", where);
    else
        sp_report_add(rep, "complete", 0, "incomplete: ends at %s, no final record", where);
}

void sp_check_batches(const sp_run_table *tab, sp_report *rep)
{
    size_t bad = 0, segs = 0;
    for (size_t i = 1; i < tab->n; i++) {
        const sp_point *a = &tab->pts[i - 1], *b = &tab->pts[i];
        if (b->step < a->step)
            continue;     /* a `steps` finding already */
        segs++;
        uint64_t have = b->kind == SP_POINT_FINAL ? b->rec->final->batches : b->rec->checkpoint->batches;
        uint64_t steps = b->step - a->step;
        /* steps x batches_per_step, with overflow read as a mismatch */
        int match = steps == 0 ? have == 0
                               : (have % tab->batches_per_step == 0 && have / tab->batches_per_step == steps);
        if (match)
            continue;
        bad++;
        if (steps == 0)
            sp_report_add(rep, "batches", 0, "record %llu (no steps after step %llu): %llu batch commitments "
                          "for 0 steps", ull(b->seq), ull(a->step), ull(have));
        else
            sp_report_add(rep, "batches", 0, "record %llu (steps %llu..%llu): %llu batch commitments for "
                          "%llu steps x %u", ull(b->seq), ull(a->step + 1), ull(b->step), ull(have),
                          ull(steps), tab->batches_per_step);
    }
    if (bad == 0 && tab->n > 0)
        sp_report_add(rep, "batches", 1, "all %zu segments hold one batch commitment per step x %u",
                      segs, tab->batches_per_step);
}

int sp_config_file_digest(uint8_t out[SP_DIGEST_BYTES], const char *path, char *err)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        sp_errf(err, "--config %s: cannot read: %s", path, f ? "not a regular file" : strerror(errno));
        if (f)
            fclose(f);
        return SP_EIO;
    }
    if (st.st_size > (off_t)256 << 20) {
        fclose(f);
        sp_errf(err, "--config %s: larger than 256 MiB", path);
        return SP_ERANGE;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        fclose(f);
        return SP_ENOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int rd_err = ferror(f) || fgetc(f) != EOF;
    fclose(f);
    if (got != n || rd_err) {
        free(buf);
        sp_errf(err, "--config %s: the file changed while being read", path);
        return SP_EIO;
    }
    int rc = sp_config_digest(out, buf, n);
    free(buf);
    return rc;
}

void sp_check_config(const Sp__Record *g, const uint8_t d[SP_DIGEST_BYTES], const char *path, sp_report *rep)
{
    static const uint8_t zero[SP_DIGEST_BYTES];
    const ProtobufCBinaryData *c = &g->genesis->config_digest;
    char want[17], got[17];
    sp_hex(got, d, 8);
    if (c->len != SP_DIGEST_BYTES || sodium_memcmp(c->data, zero, SP_DIGEST_BYTES) == 0) {
        sp_report_add(rep, "config", 0, "record 0: the genesis records no config digest, so %s cannot be "
                      "bound to this run", path);
        return;
    }
    sp_hex(want, c->data, 8);
    if (sodium_memcmp(c->data, d, SP_DIGEST_BYTES) != 0)
        sp_report_add(rep, "config", 0, "record 0: config digest %s... is not the digest of %s (%s...)",
                      want, path, got);
    else
        sp_report_add(rep, "config", 1, "record 0: config digest %s... is the digest of %s", want, path);
}
