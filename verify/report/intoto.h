/*
 * intoto.h - the run as an in-toto attestation (SPEC.md 16): a DSSE JSON
 * envelope (github.com/secure-systems-lab/dsse, Ed25519 over the PAE) whose
 * payload is an in-toto Statement v1. Subjects are the published model
 * files (digest set: sha256 and blake2b, the latter BLAKE2b-512 as in-toto's
 * digest-set names it); the predicate summarises the run and what
 * `scratchproof verify` checked. Read by in-toto, sigstore and OpenSSF
 * model-signing tooling with no scratchproof code.
 */
#ifndef SP_INTOTO_H
#define SP_INTOTO_H

#include <jansson.h>

#include "head.h"
#include "report.h"
#include "sp_base.h"

#define SP_INTOTO_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define SP_INTOTO_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define SP_INTOTO_PREDICATE_TYPE "https://scratchproof.dev/attestation/run/v1"

/* SHA-256 and BLAKE2b-512 of a whole file. SP_EIO with err naming the path. */
int sp_file_digests(const char *path, uint8_t sha256[32], uint8_t blake2b[64], char *err)
    SP_WUR SP_NONNULL(1, 2, 3);

/* What the predicate says about a run, read from its ledger. */
typedef struct sp_run_facts {
    sp_head head;                      /* head.h: run id, records, tree root, last record */
    char model_name[256];
    uint64_t seed;
    uint8_t genesis_root[SP_DIGEST_BYTES];
    int have_genesis;
    int have_weights;                  /* a final or checkpoint record exists */
    uint8_t last_root[SP_DIGEST_BYTES];/* the final record's root, else the last checkpoint's */
    uint64_t last_step, last_seq;
    int last_is_final;
} sp_run_facts;

/*
 * Reads the facts of the ledger at path, every record signed by pk.
 * Errors as sp_head_from_ledger, and SP_EMISMATCH when record 0 is no genesis.
 */
int sp_run_facts_load(sp_run_facts *f, const char *path, const uint8_t *pk, char *err)
    SP_WUR SP_NONNULL(1, 2, 3);

typedef struct sp_intoto_subject {
    const char *path;                  /* the file; its base name is the subject name */
    uint8_t sha256[32];
    uint8_t blake2b[64];
} sp_intoto_subject;

/*
 * The Statement (new reference, NULL on OOM): subjects, predicateType, and
 * the predicate built from f, the signer's public key, the verification
 * report `checks` (every check passed) and the tool string.
 */
json_t *sp_intoto_statement(const sp_run_facts *f, const sp_intoto_subject *s, size_t n,
                            const uint8_t *pk, const sp_report *checks, const char *tool)
    SP_NONNULL(1, 4, 5, 6);

/*
 * The DSSE JSON envelope {"payload","payloadType","signatures":[{"keyid","sig"}]}
 * of payload, signed with sk (64 bytes; keyid = sp_keyid of its public
 * half), as malloc'd text into *out. SP_ENOMEM, SP_ECRYPTO.
 */
int sp_dsse_json(char **out, const char *payload_type, const uint8_t *payload, size_t len,
                 const uint8_t *sk) SP_WUR SP_NONNULL(1, 2, 3, 5);

#endif
