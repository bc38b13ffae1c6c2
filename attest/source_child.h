/*
 * source_child.h - internal to source.c: the child process that reads an
 * LMDB ledger (SPEC.md 14.2). The child opens the ledger read-only with
 * LMDB, under resource limits, and writes its records to a pipe in the
 * bundle's framing; the parent reads that pipe with a timeout and learns
 * afterwards how the child ended.
 */
#ifndef SP_SOURCE_CHILD_H
#define SP_SOURCE_CHILD_H

#include <sys/types.h>

#include "lmdb_meta.h"
#include "source.h"

typedef struct sp_child {
    pid_t pid;           /* -1 when not running */
    int data_fd;         /* read end of the record stream */
    int msg_fd;          /* read end of the child's one status message */
    int release_fd;      /* write end of the pipe whose end of file lets the child go */
    int file_fd;         /* the file the child reads, for the values it refers to */
    unsigned timeout_ms; /* longest silence allowed from the child */
    int timed_out;
    size_t rpos, rlen;   /* unread bytes rbuf[rpos..rlen) */
    char dir[4096];      /* the private copy's directory, "" when none (SPEC.md 14.3) */
    char copy[4200];
    uint8_t rbuf[65536];
} sp_child;

/*
 * The stream starts with one mode byte. SP_CHILD_MODE_REF: every entry's
 * value is SP_CHILD_REF_BYTES, u64le offset then u64le length of the stored
 * value in the file (read from file_fd); SP_CHILD_MODE_VALUE: the values
 * themselves (SPEC.md 14.2).
 */
#define SP_CHILD_MODE_REF 'R'
#define SP_CHILD_MODE_VALUE 'V'
#define SP_CHILD_REF_BYTES 16

/* Outcomes of sp_child_finish. */
enum { SP_CHILD_OK = 0, SP_CHILD_UNREADABLE = 1, SP_CHILD_DAMAGED = 2, SP_CHILD_STOPPED = 3 };

/*
 * Starts the child on path, whose meta pages info describes (info->patch:
 * the child reads a private copy with the damaged meta page replaced).
 * SP_EIO with err when pipe or fork fails.
 */
int sp_child_start(sp_child *c, const char *path, const sp_lmdb_info *info, char *err)
    SP_WUR SP_NONNULL(1, 2, 3);

/* An sp_bundle_read_fn over the child's stream, waiting at most timeout_ms for each byte. */
int sp_child_read(void *ctx, uint8_t *buf, size_t len, size_t *got, char *err);

/*
 * Ends the child (killing it when kill is set, when it timed out, or when it
 * does not exit within the timeout once its stream is over), reaps it and
 * says how it ended: SP_CHILD_OK (exit 0, no message); SP_CHILD_UNREADABLE
 * (it reported the input unreadable, not damaged: *code and why); or
 * SP_CHILD_DAMAGED (it died of a signal, was killed, failed in LMDB, or
 * exited otherwise: why says which); SP_CHILD_STOPPED (it died of the
 * SIGPIPE or SIGKILL the parent caused by stopping early: the parent's own
 * reason is the one to report). The stream is closed first. why: SP_ERRMSG_MAX.
 */
int sp_child_finish(sp_child *c, int kill, int *code, char *why) SP_NONNULL(1, 3, 4);

/* The fault injection of source.h, applied by later children. */
extern sp_source_fault sp_child_fault;
extern unsigned sp_child_fault_after;
extern int sp_child_by_value;   /* sp_source_test_by_value */

#endif
