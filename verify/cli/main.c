/*
 * main.c - the scratchproof command: dispatches to the subcommands (cli.h).
 * The only place besides the examples that calls exit().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: scratchproof COMMAND [ARGS]\n"
    "\n"
    "Prove that a model was trained from scratch.\n"
    "\n"
    "commands:\n"
    "  keygen -o PREFIX        write an Ed25519 key pair: PREFIX.key (0600), PREFIX.pub\n"
    "  log LEDGER [--json]     list the records of a ledger (or of a bundle)\n"
    "  init --seed N ... -o F  write initial weights from a seed and schemes (file-only trainers)\n"
    "  record KIND ...         append a record for a trainer that only writes files\n"
    "                          (KIND: genesis, checkpoint, final; see record --help)\n"
    "  export LEDGER -o BUNDLE [--head FILE]\n"
    "                          write the flat bundle an evaluator receives\n"
    "  export LEDGER --intoto FILE --key KEY [--model FILE]...\n"
    "                          a signed in-toto Statement (DSSE JSON) of the run\n"
    "  verify LEDGER --pubkey PUB [--checkpoints DIR] [--model FILE]... [--json]\n"
    "                          replay a ledger: signatures, chain, initialisation,\n"
    "                          checkpoint and model binding\n"
    "  head LEDGER --key KEY [-o FILE]\n"
    "                          write the ledger's signed head (C2SP signed note)\n"
    "  cosign HEAD --key WITNESS_KEY [-o FILE]\n"
    "                          add a witness's timestamped cosignature to a head\n"
    "  audit MODEL --ref REF [--ref REF]... [--json] [--html FILE]\n"
    "                          is MODEL derived from a reference model?\n"
    "\n"
    "exit status: 0 verified (audit: no evidence of derivation), 1 not verified\n"
    "(audit: derived), 2 usage error or unreadable input, 3 (audit only)\n"
    "inconclusive: too little of the model could be compared.\n"
    "Run 'scratchproof COMMAND --help' for a command's options, 'scratchproof -V' (or\n"
    "COMMAND --version) for the version. Formats: SPEC.md.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("scratchproof: missing command (try 'scratchproof --help')\n", stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0)
        return sp_cli_version();
    /*
     * --json anywhere among the command's options (before "--"): a usage error
     * also prints the JSON error object (SPEC.md 8.5). audit parses its own
     * arguments (cmd_audit.c), so its -V / --version is answered here.
     */
    int json = 0;
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        json |= strcmp(argv[i], "--json") == 0 || strncmp(argv[i], "--json=", 7) == 0;
        if (strcmp(cmd, "audit") == 0 && (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0))
            return sp_cli_version();
    }
    sp_cli_json_errors(cmd, json);
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"keygen", sp_cmd_keygen}, {"log", sp_cmd_log}, {"record", sp_cmd_record},
        {"init", sp_cmd_init},
        {"verify", sp_cmd_verify}, {"audit", sp_cmd_audit},
        {"head", sp_cmd_head}, {"cosign", sp_cmd_cosign}, {"export", sp_cmd_export},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i].name) == 0)
            exit(cmds[i].fn(argc - 1, argv + 1));
    return sp_cli_usage_error(NULL, "unknown command '%s' (try 'scratchproof --help')", cmd);
}
