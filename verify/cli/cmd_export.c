/*
 * cmd_export.c - `scratchproof export LEDGER -o BUNDLE [--head FILE]`: the
 * flat bundle an evaluator receives (SPEC.md 14.1); and the option parsing of
 * `export LEDGER --intoto FILE ...` (cmd_export_intoto.c, SPEC.md 16). The records are read
 * through source.h (a ledger in the child reader), written to a temporary
 * file beside BUNDLE, synced, and linked into place only when complete; an
 * existing BUNDLE is never replaced. A damaged ledger is not exported (exit 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "cli.h"
#include "source.h"

typedef struct export_ctx {
    FILE *f;
    uint64_t n;
    int rc;
} export_ctx;

static int file_write(void *ctx, const uint8_t *buf, size_t len)
{
    export_ctx *x = ctx;
    return fwrite(buf, 1, len, x->f) == len ? SP_OK : SP_EIO;
}

static int export_visit(void *ctx, const uint8_t *key, size_t keylen, const uint8_t *val, size_t len)
{
    export_ctx *x = ctx;
    x->rc = sp_bundle_write_entry(file_write, x, key, keylen, val, len);
    if (x->rc == SP_OK)
        x->n++;
    return x->rc;
}

/* Reads the head file: 1..SP_BUNDLE_HEAD_MAX bytes. *buf malloc'd. */
static int read_head(const char *path, uint8_t **buf, size_t *len, char *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        sp_errf(err, "--head %s: cannot read: %s", path, strerror(errno));
        return SP_EIO;
    }
    uint8_t *b = malloc(SP_BUNDLE_HEAD_MAX + 1);
    size_t n = b != NULL ? fread(b, 1, SP_BUNDLE_HEAD_MAX + 1, f) : 0;
    int bad = b == NULL || ferror(f);
    fclose(f);
    if (bad || n == 0 || n > SP_BUNDLE_HEAD_MAX) {
        sp_errf(err, "--head %s: %s", path, b == NULL ? "out of memory" : bad ? "read error"
                : n == 0 ? "empty file" : "larger than a bundle's head section allows (64 KiB)");
        free(b);
        return bad ? SP_EIO : SP_EFORMAT;
    }
    *buf = b;
    *len = n;
    return SP_OK;
}

/* Syncs the directory holding path, so the new name survives a crash. */
static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

static int export_bundle(const char *in, const char *outpath, const char *headpath);

static const char export_usage[] =
    "usage: scratchproof export LEDGER -o BUNDLE [--head FILE]\n"
    "       scratchproof export LEDGER --intoto FILE --key KEY [--model FILE]... [--checkpoints DIR]\n"
    "-o BUNDLE writes the ledger's records, exactly as stored, into one flat bundle\n"
    "file (SPEC.md 14.1); --head adds a signed head (from 'scratchproof head').\n"
    "LEDGER may itself be a bundle. BUNDLE must not exist.\n"
    "--intoto FILE writes a DSSE JSON envelope (payloadType application/vnd.in-toto+json)\n"
    "around an in-toto Statement v1 (SPEC.md 16): its subjects are the --model files\n"
    "(sha256 and blake2b digests; the ledger file itself without --model), its predicate\n"
    "the run (run id, seed, model, genesis and final roots, records, the head root) and\n"
    "the checks scratchproof verify passed. Signed with KEY, the trainer's key; LEDGER is\n"
    "verified under KEY's public key first (with --model and --checkpoints as verify\n"
    "takes them). Checkable with in-toto, sigstore or securesystemslib.\n"
    "exit: 0 written, 1 the ledger is damaged or does not verify (nothing written),\n"
    "2 usage error or unreadable input.\n";

int sp_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"head", required_argument, NULL, 'H'},
        {"intoto", required_argument, NULL, 'i'}, {"key", required_argument, NULL, 'k'},
        {"model", required_argument, NULL, 'm'},  {"checkpoints", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *outpath = NULL, *headpath = NULL, *intoto = NULL, *keypath = NULL, *ckdir = NULL;
    const char **models = calloc((size_t)argc + 1, sizeof *models);
    size_t nmodels = 0;
    int c;
    if (models == NULL)
        return sp_cli_usage_error("export", "out of memory");
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outpath = optarg; break;
        case 'H': headpath = optarg; break;
        case 'i': intoto = optarg; break;
        case 'k': keypath = optarg; break;
        case 'm': models[nmodels++] = optarg; break;
        case 'c': ckdir = optarg; break;
        case 'h':
            fputs(export_usage, stdout);
            free(models);
            return 0;
        default:
            free(models);
            return sp_cli_usage_error("export", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    int code = 2;
    if (optind != argc - 1)
        code = sp_cli_usage_error("export", optind >= argc ? "missing LEDGER" : "one LEDGER expected");
    else if ((outpath == NULL) == (intoto == NULL))
        code = sp_cli_usage_error("export", "give one of -o BUNDLE or --intoto FILE");
    else if (intoto != NULL && headpath != NULL)
        code = sp_cli_usage_error("export", "--head goes with -o BUNDLE, not --intoto");
    else if (intoto != NULL)
        code = sp_export_intoto(argv[optind], intoto, keypath, models, nmodels, ckdir);
    else if (keypath != NULL || nmodels > 0 || ckdir != NULL)
        code = sp_cli_usage_error("export", "--key, --model and --checkpoints go with --intoto, not -o");
    else
        code = export_bundle(argv[optind], outpath, headpath);
    free(models);
    return code;
}

/* -o BUNDLE [--head FILE] (SPEC.md 14.1). */
static int export_bundle(const char *in, const char *outpath, const char *headpath)
{
    char err[SP_ERRMSG_MAX] = "";
    uint8_t *head = NULL;
    size_t headlen = 0;
    if (headpath != NULL && read_head(headpath, &head, &headlen, err) != SP_OK)
        return sp_cli_usage_error("export", "%s", err);
    struct stat st;
    if (lstat(outpath, &st) == 0) {
        free(head);
        return sp_cli_usage_error("export", "-o %s: exists; not replaced", outpath);
    }
    sp_source *src = NULL;
    int rc = sp_source_open(&src, in, err);
    if (rc != SP_OK) {
        free(head);
        return sp_cli_usage_error("export", "%s", err[0] ? err : sp_strerror(rc));
    }
    size_t tl = strlen(outpath) + 16;
    char *tmp = malloc(tl);
    int fd = -1;
    if (tmp != NULL) {
        snprintf(tmp, tl, "%s.tmp.XXXXXX", outpath);
        fd = mkstemp(tmp);
    }
    export_ctx x = {.f = fd >= 0 ? fdopen(fd, "wb") : NULL};
    int code = 2;   /* of export_bundle */
    if (x.f == NULL) {
        sp_cli_usage_error("export", "-o %s: cannot create: %s", outpath, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    rc = sp_bundle_write_header(file_write, &x, 0, head != NULL ? SP_BUNDLE_F_HEAD : 0);
    if (rc == SP_OK) {
        rc = sp_source_foreach(src, export_visit, &x);
        if (rc != SP_OK && x.rc == SP_OK)
            snprintf(err, sizeof err, "%s", sp_source_errmsg(src));
    }
    if (rc == SP_OK && sp_source_damage(src) != NULL) {
        fprintf(stderr, "scratchproof export: %s: %s; no bundle written\n", in, sp_source_damage(src));
        code = 1;
        goto out_unlink;
    }
    if (rc == SP_OK && head != NULL)
        rc = sp_bundle_write_head(file_write, &x, head, headlen);
    uint8_t cnt[8];
    for (int i = 0; i < 8; i++)
        cnt[i] = (uint8_t)(x.n >> (8 * i));
    if (rc == SP_OK && (fflush(x.f) != 0 || pwrite(fileno(x.f), cnt, 8, 16) != 8 ||
                        fchmod(fileno(x.f), 0644) != 0 || fsync(fileno(x.f)) != 0))
        rc = SP_EIO;
    if (rc != SP_OK) {
        sp_cli_usage_error("export", "%s", err[0] ? err : x.rc != SP_OK || rc == SP_EIO
                           ? "writing the bundle failed" : sp_strerror(rc));
        goto out_unlink;
    }
    if (fclose(x.f) != 0) {
        x.f = NULL;
        sp_cli_usage_error("export", "-o %s: writing the bundle failed", outpath);
        goto out_unlink;
    }
    x.f = NULL;
    if (link(tmp, outpath) != 0) { /* link, not rename: an existing BUNDLE is never replaced */
        sp_cli_usage_error("export", "-o %s: %s", outpath, strerror(errno));
        goto out_unlink;
    }
    sync_dir(outpath);
    code = 0;
    printf("exported %llu records from %s into %s%s\n", (unsigned long long)x.n, in, outpath,
           head != NULL ? " with a head" : "");
out_unlink:
    if (x.f != NULL)
        fclose(x.f);
    (void)unlink(tmp);
out:
    free(tmp);
    free(head);
    sp_source_close(src);
    return code;
}
