/*
 * fuzz_audit_index.c - libFuzzer target for the sharded-model index parser
 * of `scratchproof audit` (sp_audit_index_parse, verify/audit/audit_load.c): any
 * input must either be rejected with an error line, or yield entries whose
 * shard names are bare file names (no '/', '\\', "." or ".."), listed once
 * in files[], and tensor names of 1..SP_NAME_MAX bytes. Replayed over
 * tests/corpus/audit_index/ by build/tests/replay_fuzz_audit_index.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SP_ERRMSG_MAX];
    err[0] = '\0';
    sp_audit_index ix;
    int rc = sp_audit_index_parse(&ix, data, size, err);
    if (rc != SP_OK) {
        if (rc != SP_EFORMAT && rc != SP_ENOMEM)
            abort();
        if (rc == SP_EFORMAT && (err[0] == '\0' || memchr(err, '\0', SP_ERRMSG_MAX) == NULL))
            abort();
        if (ix.n != 0 || ix.tensor != NULL || ix.files != NULL)
            abort();
        return 0;
    }
    if (ix.n == 0 || ix.nfiles == 0 || ix.nfiles > ix.n)
        abort();
    for (size_t i = 0; i < ix.n; i++) {
        size_t tl = strlen(ix.tensor[i]), fl = strlen(ix.file[i]);
        if (tl == 0 || tl > SP_NAME_MAX || fl == 0 || fl > 255)
            abort();
        if (strchr(ix.file[i], '/') || strchr(ix.file[i], '\\') || strcmp(ix.file[i], ".") == 0 ||
            strcmp(ix.file[i], "..") == 0)
            abort();
        size_t found = 0;
        for (size_t f = 0; f < ix.nfiles; f++)
            found += strcmp(ix.files[f], ix.file[i]) == 0;
        if (found != 1)
            abort();
    }
    sp_audit_index_free(&ix);
    return 0;
}
