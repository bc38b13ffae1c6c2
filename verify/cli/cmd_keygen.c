/*
 * cmd_keygen.c - `scratchproof keygen -o PREFIX` (SPEC.md 4.2, 4.6, 4.7), and
 * the --passphrase-fd option shared by the commands that load secret keys.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "escape.h"
#include "keys.h"
#include "passphrase.h"

static const char keygen_usage[] =
    "usage: scratchproof keygen -o PREFIX [--passphrase | --no-passphrase]\n"
    "                           [--passphrase-fd N] [--kdf-cost interactive|moderate|sensitive]\n"
    "Writes PREFIX.key (Ed25519 secret key, mode 0600) and PREFIX.pub.\n"
    "Existing files are never overwritten. Give PREFIX.pub to evaluators.\n"
    "\n"
    "PREFIX.key is encrypted (Argon2id, XChaCha20-Poly1305) when a passphrase\n"
    "source is present, and plain when none is (so scripts and CI keep working):\n"
    "  --passphrase-fd N or SCRATCHPROOF_PASSPHRASE_FD=N   the first line read from N\n"
    "  SCRATCHPROOF_PASSPHRASE_FILE=PATH                   the first line of PATH (mode 0600)\n"
    "  a terminal on standard input                        asked twice, not echoed;\n"
    "                                                      an empty answer means no passphrase\n"
    "--passphrase fails when there is no source; --no-passphrase always writes a\n"
    "plain key. The passphrase is never taken from the command line. Commands that\n"
    "load the key (record, tinytrain, the hook library) read it from the same sources.\n"
    "--kdf-cost sets Argon2id's cost (default moderate: 3 passes over 256 MiB;\n"
    "interactive: 2 over 64 MiB; sensitive: 4 over 1 GiB); the environment variable\n"
    "SCRATCHPROOF_KDF_COST gives the default (tests use interactive).\n";

int sp_cli_passphrase_fd(const char *cmd, const char *arg)
{
    uint64_t fd = 0;
    if (sp_cli_parse_u64(arg, &fd) != 0 || fd > INT_MAX)
        return sp_cli_usage_error(cmd, "--passphrase-fd: '%s' is not a file descriptor number", arg);
    if (fcntl((int)fd, F_GETFD) == -1)
        return sp_cli_usage_error(cmd, "--passphrase-fd %s: not an open file descriptor", arg);
    if (setenv(SP_PASSPHRASE_FD_ENV, arg, 1) != 0)
        return sp_cli_usage_error(cmd, "--passphrase-fd: cannot set " SP_PASSPHRASE_FD_ENV);
    return 0;
}

/*
 * Asks for the new passphrase on the source: twice on a terminal (an empty
 * first answer means "no passphrase", *len 0), once elsewhere (empty is an
 * error). Returns 0 or the exit code 2, with the message printed.
 */
static int new_passphrase(char *pass, size_t *len, sp_pass_source src, const char *prefix)
{
    char err[SP_ERRMSG_MAX] = "", prompt[256];
    snprintf(prompt, sizeof prompt, "New passphrase for %.200s.key (empty for none): ", prefix);
    if (sp_passphrase_read(pass, len, src, prompt, err) != SP_OK)
        return sp_cli_usage_error("keygen", "%s", err);
    if (*len == 0) {
        if (src == SP_PASS_TTY)
            return 0;
        return sp_cli_usage_error("keygen", "empty passphrase from %s", sp_passphrase_source_name(src));
    }
    if (src != SP_PASS_TTY)
        return 0;
    char *again = sodium_malloc(SP_PASSPHRASE_MAX + 1);
    if (again == NULL)
        return sp_cli_usage_error("keygen", "out of memory");
    size_t len2 = 0;
    int code = 0;
    if (sp_passphrase_read(again, &len2, src, "Same passphrase again: ", err) != SP_OK)
        code = sp_cli_usage_error("keygen", "%s", err);
    else if (len2 != *len || sodium_memcmp(again, pass, *len) != 0)
        code = sp_cli_usage_error("keygen", "the two passphrases differ; nothing written");
    sodium_memzero(again, SP_PASSPHRASE_MAX + 1);
    sodium_free(again);
    return code;
}

int sp_cmd_keygen(int argc, char **argv)
{
    enum { OPT_PASS = 256, OPT_NOPASS, OPT_PASSFD, OPT_COST };
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},       {"passphrase", no_argument, NULL, OPT_PASS},
        {"no-passphrase", no_argument, NULL, OPT_NOPASS}, {"passphrase-fd", required_argument, NULL, OPT_PASSFD},
        {"kdf-cost", required_argument, NULL, OPT_COST}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *prefix = NULL, *cost_name = getenv("SCRATCHPROOF_KDF_COST");
    const char *cost_from = "SCRATCHPROOF_KDF_COST";
    int want_pass = 0, no_pass = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': prefix = optarg; break;
        case OPT_PASS: want_pass = 1; break;
        case OPT_NOPASS: no_pass = 1; break;
        case OPT_PASSFD:
            if (sp_cli_passphrase_fd("keygen", optarg) != 0)
                return 2;
            break;
        case OPT_COST: cost_name = optarg; cost_from = "--kdf-cost"; break;
        case 'h': fputs(keygen_usage, stdout); return 0;
        default: return sp_cli_usage_error("keygen", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (prefix == NULL || prefix[0] == '\0')
        return sp_cli_usage_error("keygen", "missing -o PREFIX");
    if (optind < argc)
        return sp_cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
    if (want_pass && no_pass)
        return sp_cli_usage_error("keygen", "--passphrase and --no-passphrase exclude each other");
    sp_kdf_cost cost;
    if (cost_name == NULL || cost_name[0] == '\0')
        cost_name = "moderate";
    if (sp_kdf_cost_named(&cost, cost_name) != SP_OK)
        return sp_cli_usage_error("keygen", "%s: unknown cost '%s' (interactive, moderate, sensitive)",
                                  cost_from, cost_name);

    if (sodium_init() < 0)
        return sp_cli_usage_error("keygen", "libsodium failed to initialise");
    sp_pass_source src = no_pass ? SP_PASS_NONE : sp_passphrase_source();
    if (want_pass && src == SP_PASS_NONE)
        return sp_cli_usage_error("keygen", "--passphrase: no passphrase source (a terminal, "
                                  SP_PASSPHRASE_FILE_ENV ", " SP_PASSPHRASE_FD_ENV " or --passphrase-fd)");
    char *pass = NULL;
    size_t passlen = 0;
    if (src != SP_PASS_NONE) {
        pass = sodium_malloc(SP_PASSPHRASE_MAX + 1);
        if (pass == NULL)
            return sp_cli_usage_error("keygen", "out of memory");
        int code = new_passphrase(pass, &passlen, src, prefix);
        if (code != 0) {
            sodium_memzero(pass, SP_PASSPHRASE_MAX + 1);
            sodium_free(pass);
            return code;
        }
    }
    char err[SP_ERRMSG_MAX] = "";
    int rc = passlen > 0 ? sp_keygen_files_encrypted(prefix, pass, passlen, &cost, err)
                         : sp_keygen_files(prefix, err);
    if (pass != NULL) {
        sodium_memzero(pass, SP_PASSPHRASE_MAX + 1);
        sodium_free(pass);
    }
    if (rc != SP_OK)
        return sp_cli_usage_error("keygen", "%s", err[0] ? err : sp_strerror(rc));
    char *e = sp_escape_dup(prefix);
    const char *p = e ? e : "PREFIX";
    if (passlen > 0)
        printf("wrote %s.key (secret, mode 0600, encrypted: Argon2id %s, %llu passes over %llu MiB) "
               "and %s.pub\n", p, cost_name, (unsigned long long)cost.opslimit,
               (unsigned long long)(cost.memlimit >> 20), p);
    else
        printf("wrote %s.key (secret, mode 0600, not encrypted) and %s.pub\n", p, p);
    free(e);
    return 0;
}
