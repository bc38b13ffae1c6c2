/*
 * cmd_export.c - `scratchproof export LEDGER -o BUNDLE [--head FILE]`: what an
 * evaluator receives. -o writes the flat bundle (export_bundle.c, SPEC.md 14.1).
 * (Branch `heads` adds --intoto FILE here, SPEC.md 16.)
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char export_usage[] =
    "usage: scratchproof export LEDGER -o BUNDLE [--head FILE]\n"
    "Writes the ledger's records, exactly as stored, into one flat bundle file\n"
    "(SPEC.md 14.1); --head adds a signed head (from 'scratchproof head').\n"
    "LEDGER may itself be a bundle. BUNDLE must not exist.\n"
    "exit: 0 written, 1 the ledger is damaged (nothing written),\n"
    "2 usage error or unreadable input.\n";

int sp_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"head", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *outpath = NULL, *headpath = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outpath = optarg; break;
        case 'H': headpath = optarg; break;
        case 'h': fputs(export_usage, stdout); return 0;
        default:
            return sp_cli_usage_error("export", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return sp_cli_usage_error("export", optind >= argc ? "missing LEDGER" : "one LEDGER expected");
    if (outpath == NULL)
        return sp_cli_usage_error("export", "missing -o BUNDLE");
    return sp_cli_export_bundle(argv[optind], outpath, headpath);
}
