/* cmd_export.c - placeholder, replaced below */
#include "cli.h"
int sp_cmd_export(int argc, char **argv)
{
    (void)argc; (void)argv;
    return sp_cli_usage_error("export", "not yet");
}
