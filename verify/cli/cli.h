/*
 * cli.h - the scratchproof subcommands. Each takes the argv that starts at
 * its own name and returns the process exit code: 0 success / verified,
 * 1 not verified (or derived, or a record that does not decode),
 * 2 usage error or unreadable input (one line on stderr).
 */
#ifndef SP_CLI_H
#define SP_CLI_H

#include <getopt.h>
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
/*
 * Progress on stderr (SPEC.md 8.6): one line rewritten with \r, "WHAT: 412/1024 MiB 40%
 * 310 MiB/s ETA 0:02", cleared when the work ends. done and total count bytes, or
 * training steps when WHAT ends in "steps". Shown only when stderr is a terminal and
 * sp_cli_progress_enable(1) was called (commands skip it with --quiet); redrawn at most
 * ten times a second. ctx is unused (pass NULL). sp_cli_progress_end clears the line.
 */
void sp_cli_progress(void *ctx, const char *what, uint64_t done, uint64_t total);
/*
 * The same line for a phase whose text changes while it runs ("replay:
 * 2/5 segments, steps"): the rate and ETA are timed from the first call
 * with this phase name, whatever what says; what is shown (escaped).
 */
void sp_cli_progress_phase(const char *phase, const char *what, uint64_t done, uint64_t total);
void sp_cli_progress_enable(int on);
void sp_cli_progress_end(void);

/*
 * Machine output (SPEC.md 8.5): with --json, a usage error (exit 2) also prints
 * {"schema": "scratchproof/error/v1", "command", "error", "exit": 2} on stdout,
 * unless the command already printed its object (sp_cli_json_printed).
 */
void sp_cli_json_errors(const char *cmd, int on);
void sp_cli_json_printed(void);

/*
 * The message for getopt_long's ':' (missing value) or '?' (unknown option, or a
 * value given to a flag that takes none), naming the flag: "-o needs a value
 * (PREFIX)". metas maps long names to value names, "output=PREFIX key=KEY".
 * Needs an optstring starting with ':'. Returns 2.
 */
int sp_cli_opt_error(const char *cmd, int c, char **argv, const struct option *opts, const char *metas);
/* "--step wants an integer, not 'abc'" (kind: "an integer", "a number"...). Returns 2. */
int sp_cli_bad_value(const char *cmd, const char *flag, const char *kind, const char *value);
/* -V / --version: prints "scratchproof VERSION", returns 0. */
int sp_cli_version(void);
/* --passphrase-fd N (cmd_keygen.c): checks N is open, sets SCRATCHPROOF_PASSPHRASE_FD; 0 or 2. */
int sp_cli_passphrase_fd(const char *cmd, const char *arg);

#endif
