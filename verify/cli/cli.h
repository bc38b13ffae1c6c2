/*
 * cli.h - the scratchproof subcommands. Each takes the argv that starts at
 * its own name and returns the process exit code: 0 success / verified,
 * 1 not verified (or derived, or a record that does not decode),
 * 2 usage error or unreadable input (one line on stderr).
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

int sp_cmd_keygen(int argc, char **argv);
int sp_cmd_log(int argc, char **argv);
int sp_cmd_record(int argc, char **argv);
int sp_cmd_verify(int argc, char **argv);
int sp_cmd_audit(int argc, char **argv);     /* cmd_audit.c */
int sp_cmd_head(int argc, char **argv);      /* cmd_head.c */
int sp_cmd_cosign(int argc, char **argv);    /* cmd_head.c */
int sp_cmd_export(int argc, char **argv);    /* cmd_export.c */
int sp_export_intoto(const char *ledger, const char *out, const char *keypath, const char **models,
                     size_t nmodels, const char *ckdir);   /* cmd_export_intoto.c */
int sp_cmd_init(int argc, char **argv);      /* cmd_init.c */

/*
 * Shared helpers for the subcommands. sp_cli_usage_error prints
 * "scratchproof CMD: MESSAGE" as one line on stderr, the formatted message
 * escaped as a whole (SPEC.md 1.1: it quotes paths, names and library
 * detail lines), and returns 2.
 */
__attribute__((format(printf, 2, 3)))
int sp_cli_usage_error(const char *cmd, const char *fmt, ...);
__attribute__((format(printf, 2, 0)))
int sp_cli_vusage_error(const char *cmd, const char *fmt, va_list ap);
int sp_cli_parse_u64(const char *s, uint64_t *out);              /* 0 ok, -1 bad */
int sp_cli_parse_double(const char *s, double *out);             /* 0 ok, -1 bad */
/* data to path atomically (a temporary file renamed, fsync'd) or to stdout when path is NULL;
   0, or 2 after a message naming the file and flag. */
int sp_cli_write_out(const char *cmd, const char *flag, const char *path, const char *data, size_t len);
void sp_cli_progress(void *ctx, const char *what, uint64_t done, uint64_t total);
/* --passphrase-fd N (cmd_keygen.c): checks N is open, sets SCRATCHPROOF_PASSPHRASE_FD; 0 or 2. */
int sp_cli_passphrase_fd(const char *cmd, const char *arg);

#endif
