/*
 * cli.h - the scratchproof subcommands. Each takes the argv that starts at
 * its own name and returns the process exit code: 0 success / verified,
 * 1 not verified (or derived, or a record that does not decode),
 * 2 usage error or unreadable input (one line on stderr).
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <stdint.h>
#include <stdio.h>

int sp_cmd_keygen(int argc, char **argv);
int sp_cmd_log(int argc, char **argv);
int sp_cmd_record(int argc, char **argv);
int sp_cmd_verify(int argc, char **argv);
int sp_cmd_audit(int argc, char **argv);     /* cmd_audit.c */
int sp_cmd_export(int argc, char **argv);    /* cmd_export.c */

/* Shared helpers for the subcommands. */
__attribute__((format(printf, 2, 3)))
int sp_cli_usage_error(const char *cmd, const char *fmt, ...);   /* prints, returns 2 */
int sp_cli_parse_u64(const char *s, uint64_t *out);              /* 0 ok, -1 bad */
int sp_cli_parse_double(const char *s, double *out);             /* 0 ok, -1 bad */
void sp_cli_progress(void *ctx, const char *what, uint64_t done, uint64_t total);

/* export -o BUNDLE [--head FILE] (export_bundle.c, SPEC.md 14.1): returns the exit code. */
int sp_cli_export_bundle(const char *ledger, const char *out, const char *head);

#endif
