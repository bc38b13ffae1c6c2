/*
 * cmd_head.c - `scratchproof head LEDGER --key KEY [-o FILE]` (a signed head
 * of the ledger, SPEC.md 15.1) and `scratchproof cosign HEAD --key
 * WITNESS_KEY [-o FILE]` (a witness's timestamped cosignature, SPEC.md
 * 15.5, with an optional memory of the heads it cosigned, 15.8).
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "head.h"
#include "keys.h"
#include "note.h"
#include "witness_state.h"

static const char head_usage[] =
    "usage: scratchproof head LEDGER --key KEY [-o FILE] [--name NAME]\n"
    "Writes the signed head of LEDGER (SPEC.md 15): a C2SP signed note whose body\n"
    "is a tlog checkpoint: origin scratchproof/run/RUNID, the number of records,\n"
    "the RFC 9162 root over the record digests, then the last record's digest and\n"
    "time. Signed with KEY (the trainer's key; every record must be signed by it).\n"
    "Publish it, have witnesses cosign it; `verify --head` then catches a ledger\n"
    "that was cut short, rolled back or forked.\n"
    "  -o FILE      write to FILE (default: standard output)\n"
    "  --name NAME  the signature's key name (default: the origin)\n"
    "exit: 0 written, 1 the ledger holds a record that does not decode or is not\n"
    "signed by KEY, 2 usage error or unreadable input.\n";

static const char cosign_usage[] =
    "usage: scratchproof cosign HEAD --key WITNESS_KEY [-o FILE] [--name NAME]\n"
    "                          [--pubkey LOG_PUB] [--state FILE [--ledger LEDGER]]\n"
    "Adds a witness cosignature (C2SP tlog-cosignature, cosignature/v1) with the\n"
    "witness's own clock to the signed head HEAD: a statement that, at that time,\n"
    "the witness saw this head. A cosignature by the same key is replaced.\n"
    "  -o FILE          write to FILE (default: standard output)\n"
    "  --name NAME      the witness's key name (default scratchproof/witness/KEYID)\n"
    "  --pubkey PUB     first check that HEAD is signed by the log's key PUB\n"
    "  --state FILE     the witness's memory (SPEC.md 15.8): refuse a head of a known\n"
    "                   run under another key, a smaller or forked head; a larger\n"
    "                   one needs --ledger to check it is consistent. Needs --pubkey.\n"
    "  --ledger LEDGER  the ledger HEAD is a head of (for consistency with --state)\n"
    "exit: 0 cosigned, 1 refused (signature, fork, rollback, another key),\n"
    "2 usage error or unreadable input.\n";

int sp_cmd_head(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *keypath = NULL, *out = NULL, *name = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:o:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keypath = optarg; break;
        case 'o': out = optarg; break;
        case 'n': name = optarg; break;
        case 'h': fputs(head_usage, stdout); return 0;
        default: return sp_cli_usage_error("head", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return sp_cli_usage_error("head", optind >= argc ? "missing LEDGER" : "one LEDGER expected");
    if (keypath == NULL)
        return sp_cli_usage_error("head", "missing --key KEY (the trainer's signing key)");
    if (name != NULL && !sp_note_name_ok(name))
        return sp_cli_usage_error("head", "--name: a key name has no spaces and no '+'");
    if (sodium_init() < 0)
        return sp_cli_usage_error("head", "libsodium failed to initialise");
    const char *ledger = argv[optind];
    uint8_t sk[SP_SK_BYTES];
    char err[SP_ERRMSG_MAX] = "";
    if (sp_key_load_secret(sk, keypath, err) != SP_OK)
        return sp_cli_usage_error("head", "--key: %s", err);
    sp_head h;
    int rc = sp_head_from_ledger(&h, NULL, ledger, sk + 32, err);
    if (rc != SP_OK) {
        sodium_memzero(sk, sizeof sk);
        if (rc == SP_EMISMATCH) {
            fprintf(stderr, "scratchproof head: %s: %s; no head signed\n", ledger, err);
            return 1;
        }
        return sp_cli_usage_error("head", "%s", err);
    }
    char origin[SP_HEAD_ORIGIN_MAX], *body = NULL, *line = NULL, *note = NULL;
    size_t blen = 0;
    sp_head_origin(origin, h.run_id);
    rc = sp_head_format_body(&body, &blen, &h);
    if (rc == SP_OK)
        rc = sp_note_sign_line(&line, body, blen, name ? name : origin, sk);
    sodium_memzero(sk, sizeof sk);
    int ret;
    if (rc != SP_OK) {
        ret = sp_cli_usage_error("head", "cannot sign: %s", sp_strerror(rc));
    } else if ((note = malloc(blen + 1 + strlen(line) + 1)) == NULL) {
        ret = sp_cli_usage_error("head", "out of memory");
    } else {
        int n = sprintf(note, "%s\n%s", body, line);
        ret = sp_cli_write_out("head", "-o", out, note, (size_t)n);
    }
    free(note);
    free(line);
    free(body);
    return ret;
}

/* The note again: its text, a blank line, the kept signature lines and one new line. */
static char *assemble(const sp_note *n, const uint8_t *drop_pk, const char *add, size_t *len)
{
    size_t cap = n->text_len + 2 + strlen(add) + 1;
    for (size_t i = 0; i < n->n_sigs; i++)
        cap += strlen(n->sigs[i].name) + 8 + sodium_base64_encoded_len(n->sigs[i].sig_len + 4,
                                                                       sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    size_t off = (size_t)sprintf(s, "%s\n", n->text);
    for (size_t i = 0; i < n->n_sigs; i++) {
        const sp_note_sig *g = &n->sigs[i];
        if (g->keyid == sp_note_keyid(g->name, SP_NOTE_TYPE_COSIG, drop_pk))
            continue;   /* an earlier cosignature by this witness is replaced */
        uint8_t *b = malloc(g->sig_len + 4);
        if (b == NULL) {
            free(s);
            return NULL;
        }
        for (int k = 0; k < 4; k++)
            b[k] = (uint8_t)(g->keyid >> (24 - 8 * k));
        memcpy(b + 4, g->sig, g->sig_len);
        off += (size_t)sprintf(s + off, "\xe2\x80\x94 %s ", g->name);
        sodium_bin2base64(s + off, cap - off, b, g->sig_len + 4, sodium_base64_VARIANT_ORIGINAL);
        off += strlen(s + off);
        s[off++] = '\n';
        free(b);
    }
    strcpy(s + off, add);
    *len = off + strlen(add);
    return s;
}

int sp_cmd_cosign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},    {"output", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'n'},   {"pubkey", required_argument, NULL, 'p'},
        {"state", required_argument, NULL, 's'},  {"ledger", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *keypath = NULL, *out = NULL, *name = NULL, *pubpath = NULL, *state = NULL, *ledger = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:o:n:p:s:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keypath = optarg; break;
        case 'o': out = optarg; break;
        case 'n': name = optarg; break;
        case 'p': pubpath = optarg; break;
        case 's': state = optarg; break;
        case 'l': ledger = optarg; break;
        case 'h': fputs(cosign_usage, stdout); return 0;
        default: return sp_cli_usage_error("cosign", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return sp_cli_usage_error("cosign", optind >= argc ? "missing HEAD" : "one HEAD expected");
    if (keypath == NULL)
        return sp_cli_usage_error("cosign", "missing --key WITNESS_KEY (the witness's own key)");
    if (state != NULL && pubpath == NULL)
        return sp_cli_usage_error("cosign", "--state needs --pubkey LOG_PUB (the key the run is bound to)");
    if (name != NULL && !sp_note_name_ok(name))
        return sp_cli_usage_error("cosign", "--name: a key name has no spaces and no '+'");
    if (sodium_init() < 0)
        return sp_cli_usage_error("cosign", "libsodium failed to initialise");
    const char *headpath = argv[optind];
    char err[SP_ERRMSG_MAX] = "";
    uint8_t logpk[SP_PK_BYTES];
    if (pubpath != NULL && sp_key_load_public(logpk, pubpath, err) != SP_OK)
        return sp_cli_usage_error("cosign", "--pubkey: %s", err);
    sp_head_file *hf = NULL;
    int rc = sp_head_file_load(&hf, headpath, err);
    if (rc != SP_OK)
        return sp_cli_usage_error("cosign", "%s", err);
    sp_checkpoint cp;
    char why[SP_ERRMSG_MAX] = "";
    int ret = 1, lockfd = -1;
    if (sp_checkpoint_parse(&cp, hf->note.text, hf->note.text_len, why) != SP_OK) {
        fprintf(stderr, "scratchproof cosign: %s: refused: the note is not a checkpoint: %s\n", headpath, why);
        goto out_head;
    }
    if (pubpath != NULL && sp_note_verify(&hf->note, logpk, NULL) != SP_OK) {
        fprintf(stderr, "scratchproof cosign: %s: refused: not signed by the log key %s\n", headpath, pubpath);
        goto out_head;
    }
    if (state != NULL && sp_witness_state_lock(state, &lockfd, why) != SP_OK) {
        ret = sp_cli_usage_error("cosign", "%s", why);
        goto out_head;
    }
    if (state != NULL) {
        int src = sp_witness_state_admit(state, &cp, logpk, ledger, why);
        if (src == SP_EMISMATCH) {
            fprintf(stderr, "scratchproof cosign: %s: refused: %s\n", headpath, why);
            goto out_head;
        }
        if (src != SP_OK) {
            ret = sp_cli_usage_error("cosign", "%s", why);
            goto out_head;
        }
    }
    uint8_t sk[SP_SK_BYTES];
    if (sp_key_load_secret(sk, keypath, err) != SP_OK) {
        ret = sp_cli_usage_error("cosign", "--key: %s", err);
        goto out_head;
    }
    char defname[64], kid[SP_KEYID_CHARS + 1], *line = NULL, *note = NULL;
    sp_keyid(kid, sk + 32);
    snprintf(defname, sizeof defname, "scratchproof/witness/%s", kid);
    time_t now = time(NULL);
    rc = sp_note_cosign_line(&line, hf->note.text, hf->note.text_len, name ? name : defname, sk,
                             now < 0 ? 0 : (uint64_t)now);
    uint8_t wpk[SP_PK_BYTES];
    memcpy(wpk, sk + 32, sizeof wpk);
    sodium_memzero(sk, sizeof sk);
    size_t len = 0;
    if (rc != SP_OK)
        ret = sp_cli_usage_error("cosign", "cannot cosign: %s", sp_strerror(rc));
    else if ((note = assemble(&hf->note, wpk, line, &len)) == NULL)
        ret = sp_cli_usage_error("cosign", "out of memory");
    else if (state != NULL && sp_witness_state_commit(state, &cp, logpk, why) != SP_OK)
        ret = sp_cli_usage_error("cosign", "%s", why);   /* remembered before it is published */
    else
        ret = sp_cli_write_out("cosign", "-o", out, note, len);
    free(note);
    free(line);
out_head:
    sp_witness_state_unlock(lockfd);
    sp_head_file_free(hf);
    return ret;
}
