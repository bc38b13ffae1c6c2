/*
 * fuzz_ledger.c - fuzz target for whole-ledger verification through the
 * child reader (attest/source.c, SPEC.md 14.2-14.3): the input is written to
 * a file and verified as a ledger (or a bundle, if it says so) under a fixed
 * key. The child may crash on it; the verifier must not, and must answer
 * with a report or an unreadable-input error. Replayed over
 * tests/corpus/ledger by make test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64], lock[80];

static void cleanup(void)
{
    (void)unlink(path);
    (void)unlink(lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (path[0] == '\0') {
        snprintf(path, sizeof path, "/tmp/sp_fuzz_ledger_%ld.ledger", (long)getpid());
        snprintf(lock, sizeof lock, "%s-lock", path);
        atexit(cleanup);
    }
    /* a new file each time: rewriting one a dead child had mapped costs ~4 ms */
    (void)unlink(path);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    int ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !ok)
        return 0;
    static const uint8_t pk[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    sp_verify_opts o = {.ledger_path = path, .pk = pk, .threads = 1};
    sp_report rep;
    sp_verify_summary sum;
    char err[SP_ERRMSG_MAX] = "";
    sp_report_init(&rep);
    int rc = sp_verify_ledger(&o, &rep, &sum, err);
    if (rc == SP_OK && rep.n == 0)
        abort(); /* a verification that ran reports something */
    if (rc != SP_OK && err[0] == '\0')
        abort(); /* an unreadable input says why */
    sp_report_free(&rep);
    return 0;
}
