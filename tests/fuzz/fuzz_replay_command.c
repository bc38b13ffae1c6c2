/*
 * fuzz_replay_command.c - libFuzzer target for the --replay command splitter
 * and placeholder substitution (verify/replay/spawn.c, SPEC.md 12.2) and the
 * --segments parser: any input either splits into words (none NULL, no word
 * longer than the input) whose substituted copies hold no known placeholder
 * any more, or is refused with a one-line error naming --replay. Replayed
 * over tests/corpus/replay_command/ by build/tests/replay_fuzz_replay_command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replay_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *cmd = malloc(size + 1);
    if (cmd == NULL)
        return 0;
    memcpy(cmd, data, size);
    cmd[size] = '\0';            /* a command line is a C string: stop at the first NUL */
    size_t len = strlen(cmd);
    if (sp_replay_segments_parse(cmd) != SP_OK && sp_replay_segments_parse(cmd) != SP_EINVAL)
        abort();
    char err[SP_ERRMSG_MAX] = "";
    char **argv = NULL;
    size_t argc = 0;
    int rc = sp_argv_split(cmd, &argv, &argc, err);
    if (rc != SP_OK) {
        if (rc != SP_EINVAL && rc != SP_ENOMEM)
            abort();
        if (argv != NULL || argc != 0 || (rc == SP_EINVAL && strstr(err, "--replay") == NULL) ||
            strchr(err, '\n') != NULL)
            abort();
        free(cmd);
        return 0;
    }
    if (argc == 0 || argv[argc] != NULL)
        abort();
    for (size_t i = 0; i < argc; i++)
        if (argv[i] == NULL || strlen(argv[i]) > len)
            abort();
    /* non-empty values of characters no placeholder name holds: a substitution can never
       form a placeholder by joining its neighbours (an empty one can: "{op{optimizer}timizer}") */
    sp_placeholders p = {.weights = "W", .optimizer = "O", .first = "1", .last = "20", .seed = "7",
                         .out = "/o"};
    char **sub = NULL;
    if (sp_argv_substitute(&sub, argv, &p) == SP_OK) {
        static const char *names[] = {"{weights}", "{optimizer}", "{first}", "{last}", "{seed}", "{out}"};
        for (size_t i = 0; i < argc; i++)
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
                if (sub[i] == NULL || strstr(sub[i], names[k]) != NULL)
                    abort();
        if (sub[argc] != NULL)
            abort();
        sp_argv_free(sub);
    }
    sp_argv_free(argv);
    free(cmd);
    return 0;
}
