/*
 * fuzz_layout.c - fuzz target for the `scratchproof init --layout` parser
 * (verify/cli/layout.c, SPEC.md 8.2), the `record --batches` list parser
 * (8.4) and the --scheme rules (cli_schemes.c, SPEC.md 8.1). For any bytes:
 * the batch list parser fails with a message or gives steps >= 1, never
 * decreasing, with non-empty file names; the layout parser either fails with a message or
 * returns tensors whose names are non-empty, unique, free of whitespace and
 * at most SP_NAME_MAX bytes, whose dtype is valid and whose nbytes matches
 * the shape. The first line is also read as a "GLOB=SCHEME" rule and a
 * glob: a glob matches itself read as a name when it has no '?'/'*', it is
 * always within itself and within '*', a parsed rule matches its own
 * glob text, and matching never crashes or hangs.
 * Replayed over tests/corpus/layout by make test.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli_schemes.h"
#include "layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_layout(const uint8_t *data, size_t size)
{
    char err[SP_ERRMSG_MAX] = "";
    sp_layout *l = NULL;
    int rc = sp_layout_parse(&l, (const char *)data, size, SP_DTYPE_F32, err);
    if (rc != SP_OK) {
        assert(l == NULL);
        assert(rc == SP_ENOMEM || err[0] != '\0');
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        const sp_tensor *t = &l->t[i];
        size_t len = strlen(t->name);
        assert(len > 0 && len <= SP_NAME_MAX);
        assert(strpbrk(t->name, " \t\r\n") == NULL && t->name[0] != '#');
        assert(sp_dtype_size(t->dtype) > 0 && t->ndim <= SP_MAX_DIMS);
        uint64_t numel;
        assert(sp_shape_numel(&numel, t->shape, t->ndim) == SP_OK);
        assert(t->nbytes == numel * sp_dtype_size(t->dtype));
        for (size_t j = 0; j < i; j++)
            assert(strcmp(l->t[j].name, t->name) != 0);
    }
    sp_layout_free(l);
}

static void check_batches(const uint8_t *data, size_t size)
{
    char err[SP_ERRMSG_MAX] = "";
    sp_batch_list *l = NULL;
    int rc = sp_batch_list_parse(&l, (const char *)data, size, err);
    if (rc != SP_OK) {
        assert(l == NULL && (rc == SP_ENOMEM || err[0] != '\0'));
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        assert(l->e[i].step >= 1 && l->e[i].file[0] != '\0' && l->e[i].line >= 1);
        assert(i == 0 || (l->e[i].step >= l->e[i - 1].step && l->e[i].line > l->e[i - 1].line));
    }
    sp_batch_list_free(l);
}

static void check_glob(const uint8_t *data, size_t size)
{
    size_t n = 0;
    while (n < size && n < 256 && data[n] != '\n' && data[n] != '\0')
        n++;
    char *line = malloc(n + 1), *copy = malloc(n + 1);
    assert(line != NULL && copy != NULL);
    memcpy(line, data, n);
    line[n] = '\0';
    memcpy(copy, line, n + 1);
    assert(sp_cli_glob_within(line, line));
    assert(sp_cli_glob_within(line, "*"));
    if (strpbrk(line, "*?") == NULL)
        assert(sp_cli_glob_match(line, line));
    sp_cli_rule r;
    if (sp_cli_parse_rule(copy, &r) == 0) {
        size_t pick = 9, a = 0, b = 0;
        int rc = sp_cli_pick_rule(&r, 1, r.glob, &pick, &a, &b);
        assert(rc == SP_OK && pick == 0);   /* a glob matches its own text */
        char text[160];
        sp_cli_scheme_text(text, sizeof text, &r.s);
        assert(memchr(text, '\0', sizeof text) != NULL);
    }
    free(line);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_layout(data, size);
    check_batches(data, size);
    check_glob(data, size);
    return 0;
}
