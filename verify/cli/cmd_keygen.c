/* cmd_keygen.c - `scratchproof keygen -o PREFIX`. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "escape.h"
#include "keys.h"

int sp_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *prefix = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': prefix = optarg; break;
        case 'h':
            printf("usage: scratchproof keygen -o PREFIX\n"
                   "Writes PREFIX.key (Ed25519 secret key, mode 0600) and PREFIX.pub.\n"
                   "Existing files are never overwritten. Give PREFIX.pub to evaluators.\n");
            return 0;
        default: return sp_cli_usage_error("keygen", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (prefix == NULL || prefix[0] == '\0')
        return sp_cli_usage_error("keygen", "missing -o PREFIX");
    if (optind < argc)
        return sp_cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
    char err[SP_ERRMSG_MAX] = "";
    int rc = sp_keygen_files(prefix, err);
    if (rc != SP_OK)
        return sp_cli_usage_error("keygen", "%s", err[0] ? err : sp_strerror(rc));
    char *e = sp_escape_dup(prefix);
    printf("wrote %s.key (secret, mode 0600) and %s.pub\n", e ? e : "PREFIX", e ? e : "PREFIX");
    free(e);
    return 0;
}
