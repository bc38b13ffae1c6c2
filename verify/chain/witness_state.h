/*
 * witness_state.h - a witness's memory of the heads it cosigned (SPEC.md
 * 15.8), so `scratchproof cosign --state FILE` behaves as a C2SP witness: it
 * never cosigns, for one origin, a head under another log key (a run
 * re-signed by another team), a smaller head (a rollback), another root at
 * the same size (a fork), or a larger head it cannot check is consistent.
 *
 * File: "scratchproof-witness-state/1\n" then one line per origin,
 * "ORIGIN SP base64(log public key) SP SIZE SP base64(root)\n".
 */
#ifndef SP_WITNESS_STATE_H
#define SP_WITNESS_STATE_H

#include "note.h"

/*
 * Whether the witness may cosign cp, a checkpoint signed by logpk. A larger
 * head than the remembered one is admitted only with ledger_path, a ledger
 * whose head is cp and whose tree is consistent with the remembered one.
 * SP_OK admit; SP_EMISMATCH refuse (why says why); SP_EFORMAT / SP_EIO
 * the state file or the ledger cannot be read (why names it); SP_ENOMEM.
 */
int sp_witness_state_admit(const char *state_path, const sp_checkpoint *cp, const uint8_t *logpk,
                           const char *ledger_path, char *why) SP_WUR SP_NONNULL(1, 2, 3);

/* Records cp as the latest head of its origin, atomically. SP_EIO, SP_EFORMAT, SP_ENOMEM. */
int sp_witness_state_commit(const char *state_path, const sp_checkpoint *cp, const uint8_t *logpk,
                            char *why) SP_WUR SP_NONNULL(1, 2, 3);

/*
 * Takes the state's lock (flock on STATE.lock, without waiting) so that two
 * cosign runs never interleave admit and commit. *fd is -1 on failure.
 * SP_EBUSY when another process holds it, SP_EIO. Release with
 * sp_witness_state_unlock (fd -1 is a no-op).
 */
int sp_witness_state_lock(const char *state_path, int *fd, char *why) SP_WUR SP_NONNULL(1, 2);
void sp_witness_state_unlock(int fd);

#endif
