/*
 * audit_prov.c - the provenance a reader of an audit report cites (SPEC.md
 * 10.6): tool version, date, and the SHA-256 and BLAKE2b-256 of every input
 * file (every shard of MODEL and of each reference), each file read once
 * with both digests updated from the same buffer.
 */
#include "audit.h"
#include "fileio.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF (1u << 20)

static int digest_file(sp_audit_prov_file *pf, unsigned char *buf, char *err, const sp_progress *pg)
{
    struct stat sb;
    char e[SP_ERRMSG_MAX] = "";
    int fd = sp_open_input(pf->path, &sb, e);
    if (fd < 0) {
        sp_errf(err, "%s: %s", pf->path, e);
        return SP_EIO;
    }
    crypto_hash_sha256_state sh;
    crypto_generichash_state bl;
    crypto_hash_sha256_init(&sh);
    crypto_generichash_init(&bl, NULL, 0, 32);
    int rc = SP_OK;
    char what[SP_ERRMSG_MAX];
    uint64_t done = 0, size = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    if (pg != NULL && pg->fn != NULL)
        snprintf(what, sizeof what, "hashing %s", pf->path);   /* the callback escapes it */
    for (;;) {
        ssize_t k = read(fd, buf, BUF);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            sp_errf(err, "%s: %s", pf->path, strerror(errno));
            rc = SP_EIO;
            break;
        }
        if (k == 0)
            break;
        crypto_hash_sha256_update(&sh, buf, (unsigned long long)k);
        crypto_generichash_update(&bl, buf, (unsigned long long)k);
        done += (uint64_t)k;
        if (pg != NULL && pg->fn != NULL)
            pg->fn(pg->ctx, what, done, size > done ? size : done);
    }
    close(fd);
    unsigned char d1[32], d2[32];
    crypto_hash_sha256_final(&sh, d1);
    crypto_generichash_final(&bl, d2, sizeof d2);
    sodium_bin2hex(pf->sha256, sizeof pf->sha256, d1, sizeof d1);
    sodium_bin2hex(pf->blake2b, sizeof pf->blake2b, d2, sizeof d2);
    return rc;
}

int sp_audit_prov_make(sp_audit_prov *pv, const char *tool, const sp_audit_model *model,
                       sp_audit_model *const *refs, size_t n, char *err, const sp_progress *pg)
{
    memset(pv, 0, sizeof *pv);
    if (n > 64 || (n > 0 && refs == NULL))
        return SP_EINVAL;
    pv->tool = tool;
    time_t now = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");   /* reproducible reports */
    if (sde != NULL && *sde >= '0' && *sde <= '9') {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (*end == '\0' && v >= 0)
            now = (time_t)v;
    }
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(pv->date, sizeof pv->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t total = sp_audit_model_files(model);
    for (size_t r = 0; r < n; r++)
        total += sp_audit_model_files(refs[r]);
    pv->files = calloc(total ? total : 1, sizeof *pv->files);
    unsigned char *buf = malloc(BUF);
    if (pv->files == NULL || buf == NULL) {
        free(buf);
        sp_audit_prov_free(pv);
        return SP_ENOMEM;
    }
    snprintf(pv->roles[0], sizeof pv->roles[0], "model");
    int rc = SP_OK;
    for (size_t r = 0; r <= n && rc == SP_OK; r++) {
        const sp_audit_model *m = r == 0 ? model : refs[r - 1];
        if (r > 0)
            snprintf(pv->roles[r], sizeof pv->roles[r], "reference %zu", r);
        for (size_t i = 0; i < sp_audit_model_files(m) && rc == SP_OK; i++) {
            sp_audit_prov_file *pf = &pv->files[pv->nfiles++];
            pf->path = sp_audit_model_file(m, i);
            pf->role = pv->roles[r];
            rc = digest_file(pf, buf, err, pg);
        }
    }
    free(buf);
    if (rc != SP_OK)
        sp_audit_prov_free(pv);
    return rc;
}

void sp_audit_prov_free(sp_audit_prov *pv)
{
    if (pv == NULL)
        return;
    free(pv->files);
    memset(pv, 0, sizeof *pv);
}
