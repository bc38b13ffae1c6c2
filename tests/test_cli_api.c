/*
 * test_cli_api.c - the trainer-side additions of issue 11: sp_tensor_table
 * (a flat llm.c-style buffer described as tensors, scratchproof.h),
 * sp_st_write_err's messages (safetensors.h, SPEC.md 2.7), the --scheme rule
 * (most specific glob, ambiguity refused; SPEC.md 8.1) and the layout parser
 * of `scratchproof init` (SPEC.md 8.2), with its negative cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_schemes.h"
#include "layout.h"
#include "scratchproof.h"

/* ---- sp_tensor_table ---- */

static void table_describes_buffer(void **state)
{
    (void)state;
    float buf[2 * 3 + 3 + 1] = {0};
    sp_tensor_spec spec[] = {{"wte", 2, {2, 3}}, {"ln.w", 1, {3}}, {"scale", 0, {0}}};
    sp_tensor t[3];
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_tensor_table(t, spec, 3, SP_DTYPE_F32, buf, sizeof buf, err), SP_OK);
    assert_string_equal(err, "");
    assert_ptr_equal(t[0].data, buf);
    assert_int_equal(t[0].nbytes, 24);
    assert_int_equal(t[0].ndim, 2);
    assert_int_equal(t[0].shape[1], 3);
    assert_ptr_equal(t[1].data, buf + 6);
    assert_ptr_equal(t[2].data, buf + 9);
    assert_int_equal(t[2].nbytes, 4);   /* a scalar is one element */
    assert_ptr_equal(t[1].name, spec[1].name);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sp_tensor_check(&t[i]), SP_OK);
    /* the described tensors are what sp_tensor_digest hashes, in place */
    uint8_t d[SP_DIGEST_BYTES];
    assert_int_equal(sp_tensor_digest(d, &t[0], 1), SP_OK);
}

static void table_refuses_bad_tables(void **state)
{
    (void)state;
    uint16_t buf[8] = {0};
    sp_tensor t[2];
    char err[SP_ERRMSG_MAX];
    sp_tensor_spec short_spec[] = {{"a", 1, {3}}};
    assert_int_equal(sp_tensor_table(t, short_spec, 1, SP_DTYPE_BF16, buf, sizeof buf, err), SP_EINVAL);
    assert_non_null(strstr(err, "use 6 bytes of the 16-byte buffer"));
    sp_tensor_spec long_spec[] = {{"a", 1, {4}}, {"b", 2, {2, 3}}};
    assert_int_equal(sp_tensor_table(t, long_spec, 2, SP_DTYPE_BF16, buf, sizeof buf, err), SP_EINVAL);
    assert_non_null(strstr(err, "tensor 'b'"));
    assert_non_null(strstr(err, "runs past the end"));
    sp_tensor_spec dup[] = {{"a", 1, {4}}, {"a", 1, {4}}};
    assert_int_equal(sp_tensor_table(t, dup, 2, SP_DTYPE_BF16, buf, sizeof buf, err), SP_EINVAL);
    assert_non_null(strstr(err, "'a' given twice"));
    sp_tensor_spec noname[] = {{"", 1, {8}}};
    assert_int_equal(sp_tensor_table(t, noname, 1, SP_DTYPE_BF16, buf, sizeof buf, err), SP_EINVAL);
    sp_tensor_spec dims[] = {{"a", 9, {1, 1, 1, 1, 1, 1, 1, 1}}};
    assert_int_equal(sp_tensor_table(t, dims, 1, SP_DTYPE_BF16, buf, sizeof buf, err), SP_EINVAL);
    assert_non_null(strstr(err, "dimensions"));
    sp_tensor_spec huge[] = {{"a", 2, {UINT64_C(1) << 40, UINT64_C(1) << 40}}};
    assert_int_equal(sp_tensor_table(t, huge, 1, SP_DTYPE_BF16, buf, sizeof buf, err), SP_ERANGE);
    assert_int_equal(sp_tensor_table(t, long_spec, 1, SP_DTYPE_INVALID, buf, sizeof buf, err), SP_EINVAL);
    assert_int_equal(sp_tensor_table(t, long_spec, 1, SP_DTYPE_BF16, NULL, 8, NULL), SP_EINVAL);
}

/* ---- sp_st_write_err ---- */

static void write_err_names_file_and_tensor(void **state)
{
    (void)state;
    char dir[] = "/tmp/sp-wr.XXXXXX", path[256], err[SP_ERRMSG_MAX];
    assert_non_null(mkdtemp(dir));
    float v[2] = {1, 2};
    sp_tensor t[2] = {{"w", SP_DTYPE_F32, 1, {2}, v, 8}, {"w", SP_DTYPE_F32, 1, {2}, v, 8}};
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    assert_int_equal(sp_st_write_err(path, t, 2, NULL, 0, err), SP_EINVAL);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "'w' given twice"));
    t[1].nbytes = 4;
    t[1].name = "v";
    assert_int_equal(sp_st_write_err(path, t, 2, NULL, 0, err), SP_EINVAL);
    assert_non_null(strstr(err, "tensor 1 'v' is invalid"));
    snprintf(path, sizeof path, "%s/no/such/dir/a.safetensors", dir);
    assert_int_equal(sp_st_write_err(path, t, 1, NULL, 0, err), SP_EIO);
    assert_non_null(strstr(err, "a.safetensors.tmp: cannot create: No such file or directory"));
    snprintf(path, sizeof path, "%s/ok.safetensors", dir);
    const char *meta[] = {"k", "v", "k", "w"};
    assert_int_equal(sp_st_write_err(path, t, 1, meta, 2, err), SP_EINVAL);
    assert_non_null(strstr(err, "metadata"));
    assert_int_equal(sp_st_write_err(path, t, 1, meta, 1, err), SP_OK);
    assert_string_equal(err, "");
    /* a FIFO at PATH.tmp: refused at once, named, left in place */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkfifo(tmp, 0600), 0);
    assert_int_equal(sp_st_write_err(path, t, 1, NULL, 0, err), SP_EIO);
    assert_non_null(strstr(err, ".tmp: not a regular file"));
    struct stat st;
    assert_int_equal(stat(tmp, &st), 0);
    unlink(tmp);
    unlink(path);
    rmdir(dir);
}

/* ---- --scheme rules ---- */

static void glob_match_and_specificity(void **state)
{
    (void)state;
    assert_true(sp_cli_glob_match("*.weight", "norm.weight"));
    assert_true(sp_cli_glob_match("*norm*", "blocks.0.norm1.bias"));
    assert_true(sp_cli_glob_match("h.?.w", "h.3.w"));
    assert_false(sp_cli_glob_match("h.?.w", "h.13.w"));
    assert_false(sp_cli_glob_match("[ab]", "a"));       /* no classes: '[' is itself */
    assert_true(sp_cli_glob_match("[ab]", "[ab]"));
    assert_true(sp_cli_glob_match("a*b*c", "aXXbYYbc"));
    assert_false(sp_cli_glob_match("a*b*c", "aXXbYYb"));
    /* within(p, q): every name p matches, q matches */
    assert_true(sp_cli_glob_within("*norm*.weight", "*.weight"));
    assert_true(sp_cli_glob_within("norm.weight", "*norm*.weight"));
    assert_true(sp_cli_glob_within("*.weight", "*"));
    assert_false(sp_cli_glob_within("*.weight", "*norm*"));
    assert_false(sp_cli_glob_within("*norm*", "*.weight"));
    assert_false(sp_cli_glob_within("*", "*.weight"));
    assert_true(sp_cli_glob_within("h.?.w", "h.*.w"));
    assert_false(sp_cli_glob_within("a*", "a?"));        /* '?' never stands for a '*' */
    assert_true(sp_cli_glob_within("a?", "a*"));
}

static void pick_most_specific_or_refuse(void **state)
{
    (void)state;
    char a1[] = "*.weight=normal:0:0.02", a2[] = "*norm*=constant:1", a3[] = "*=zeros";
    char a4[] = "*norm*.weight=constant:1", a5[] = "*=zeros";
    sp_cli_rule r[5];
    assert_int_equal(sp_cli_parse_rule(a1, &r[0]), 0);
    assert_int_equal(sp_cli_parse_rule(a2, &r[1]), 0);
    assert_int_equal(sp_cli_parse_rule(a3, &r[2]), 0);
    assert_int_equal(sp_cli_parse_rule(a4, &r[3]), 0);
    assert_int_equal(sp_cli_parse_rule(a5, &r[4]), 0);
    assert_int_equal(r[0].s.kind, SP_INIT_NORMAL);
    assert_true(r[0].s.p[1] == 0.02);
    size_t pick = 99, a = 0, b = 0;
    /* the README's old example: norm.weight is ambiguous, whatever the order */
    assert_int_equal(sp_cli_pick_rule(r, 3, "norm.weight", &pick, &a, &b), SP_EINVAL);
    assert_true((a == 0 && b == 1) || (a == 1 && b == 0));
    sp_cli_rule rev[3] = {r[1], r[0], r[2]};
    assert_int_equal(sp_cli_pick_rule(rev, 3, "norm.weight", &pick, &a, &b), SP_EINVAL);
    /* norm.bias: *norm* beats * */
    assert_int_equal(sp_cli_pick_rule(r, 3, "norm.bias", &pick, &a, &b), SP_OK);
    assert_int_equal(pick, 1);
    /* fixed example: *norm*.weight beats *.weight, and the order does not matter */
    sp_cli_rule fixed[3] = {r[0], r[3], r[2]}, fixed_rev[3] = {r[2], r[3], r[0]};
    assert_int_equal(sp_cli_pick_rule(fixed, 3, "norm.weight", &pick, &a, &b), SP_OK);
    assert_int_equal(pick, 1);
    assert_int_equal(sp_cli_pick_rule(fixed_rev, 3, "norm.weight", &pick, &a, &b), SP_OK);
    assert_int_equal(pick, 1);
    assert_int_equal(sp_cli_pick_rule(fixed, 3, "head.weight", &pick, &a, &b), SP_OK);
    assert_int_equal(pick, 0);
    assert_int_equal(sp_cli_pick_rule(fixed, 3, "norm.bias", &pick, &a, &b), SP_OK);
    assert_int_equal(pick, 2);
    assert_int_equal(sp_cli_pick_rule(fixed, 2, "norm.bias", &pick, &a, &b), SP_ENOTFOUND);
    /* incomparable globs that agree are not ambiguous; the same glob twice must agree */
    sp_cli_rule agree[2] = {r[3], r[1]};
    agree[1].s = agree[0].s;
    assert_int_equal(sp_cli_pick_rule(agree, 2, "norm.weight", &pick, &a, &b), SP_OK);
    sp_cli_rule twice[2] = {r[2], r[4]};
    assert_int_equal(sp_cli_pick_rule(twice, 2, "x", &pick, &a, &b), SP_OK);
    twice[1].s.kind = SP_INIT_CONSTANT;
    assert_int_equal(sp_cli_pick_rule(twice, 2, "x", &pick, &a, &b), SP_EINVAL);
    /* bad rules */
    char b1[] = "=zeros", b2[] = "x=normal:0", b3[] = "x=zeros:1", b4[] = "x=gauss", b5[] = "x";
    char b6[] = "x=constant:1:", b7[] = "x=uniform:0:nan";
    assert_int_equal(sp_cli_parse_rule(b1, &r[0]), -1);
    assert_int_equal(sp_cli_parse_rule(b2, &r[0]), -1);
    assert_int_equal(sp_cli_parse_rule(b3, &r[0]), -1);
    assert_int_equal(sp_cli_parse_rule(b4, &r[0]), -1);
    assert_int_equal(sp_cli_parse_rule(b5, &r[0]), -1);
    assert_int_equal(sp_cli_parse_rule(b6, &r[0]), -1);
    assert_int_equal(sp_cli_parse_rule(b7, &r[0]), -1);
    char g[] = "a=b=trunc_normal:0:1:-2:2";   /* the last '=' splits */
    assert_int_equal(sp_cli_parse_rule(g, &r[0]), 0);
    assert_string_equal(r[0].glob, "a=b");
    char text[128];
    sp_cli_scheme_text(text, sizeof text, &r[0].s);
    assert_string_equal(text, "trunc_normal:0:1:-2:2");
    /* the version-2 kinds (SPEC.md 6.8) */
    char v2a[] = "*.weight=normal32:0:0.02", v2b[] = "*=uniform32:-0.5:0.5", v2c[] = "x=normal32:0";
    assert_int_equal(sp_cli_parse_rule(v2a, &r[0]), 0);
    assert_int_equal(r[0].s.kind, SP_INIT_NORMAL32);
    assert_true(r[0].s.p[1] == 0.02);
    sp_cli_scheme_text(text, sizeof text, &r[0].s);
    assert_string_equal(text, "normal32:0:0.02");
    assert_int_equal(sp_cli_parse_rule(v2b, &r[0]), 0);
    assert_int_equal(r[0].s.kind, SP_INIT_UNIFORM32);
    sp_cli_scheme_text(text, sizeof text, &r[0].s);
    assert_string_equal(text, "uniform32:-0.5:0.5");
    assert_int_equal(sp_cli_parse_rule(v2c, &r[0]), -1);
}

/* ---- layout text ---- */

static void layout_parses_and_refuses(void **state)
{
    (void)state;
    const char ok[] = "# comment\n\nembed.weight 64x32\n  norm.bias\t32  BF16\r\nscale scalar F16";
    sp_layout *l = NULL;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_layout_parse(&l, ok, sizeof ok - 1, SP_DTYPE_F32, err), SP_OK);
    assert_int_equal(l->n, 3);
    assert_string_equal(l->t[0].name, "embed.weight");
    assert_int_equal(l->t[0].nbytes, 64 * 32 * 4);
    assert_int_equal(l->t[1].dtype, SP_DTYPE_BF16);
    assert_int_equal(l->t[1].nbytes, 64);
    assert_int_equal(l->t[2].ndim, 0);
    assert_int_equal(l->t[2].nbytes, 2);
    sp_layout_free(l);
    static const struct {
        const char *text;
        int rc;
        const char *msg;
    } bad[] = {
        {"a\n", SP_EFORMAT, "line 1: 'a' has no shape"},
        {"a 2\nb 2x\n", SP_EFORMAT, "line 2: bad shape '2x'"},
        {"a x2\n", SP_EFORMAT, "bad shape"},
        {"a 1x2x3x4x5x6x7x8x9\n", SP_EFORMAT, "at most 8 dimensions"},
        {"a 2 F33\n", SP_EFORMAT, "unknown dtype 'F33'"},
        {"a 2 F32 more\n", SP_EFORMAT, "more than NAME SHAPE"},
        {"a 2\n# a 3\nb 1\na 3\n", SP_EFORMAT, "'a' listed twice"},
        {"a 99999999999999999999\n", SP_ERANGE, "bad shape"},
        {"a 4611686018427387904x4\n", SP_ERANGE, "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l = (sp_layout *)1;
        err[0] = '\0';
        assert_int_equal(sp_layout_parse(&l, bad[i].text, strlen(bad[i].text), SP_DTYPE_F32, err),
                         bad[i].rc);
        assert_null(l);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
    }
    const char nul[] = "a 2\0b 3\n";
    assert_int_equal(sp_layout_parse(&l, nul, sizeof nul - 1, SP_DTYPE_F32, err), SP_EFORMAT);
    assert_non_null(strstr(err, "NUL"));
    assert_int_equal(sp_layout_parse(&l, "", 0, SP_DTYPE_F32, err), SP_OK);
    assert_int_equal(l->n, 0);
    sp_layout_free(l);
}

static void batch_list_parses_and_refuses(void **state)
{
    (void)state;
    const char ok[] = "# step file\n1 data/a b.bin  \r\n\n2\t/abs/x\n2 y\n";
    sp_batch_list *l = NULL;
    char err[SP_ERRMSG_MAX];
    assert_int_equal(sp_batch_list_parse(&l, ok, sizeof ok - 1, err), SP_OK);
    assert_int_equal(l->n, 3);
    assert_string_equal(l->e[0].file, "data/a b.bin");   /* the rest of the line, trimmed */
    assert_int_equal(l->e[1].step, 2);
    assert_string_equal(l->e[1].file, "/abs/x");
    assert_int_equal(l->e[2].line, 5);
    sp_batch_list_free(l);
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"0 a\n", "'0' is not a step"},
        {"-1 a\n", "is not a step"},
        {"12345678901234567890 a\n", "is not a step"},
        {"3\n", "line 1: step 3 has no FILE"},
        {"3 a\n2 b\n", "line 2: step 2 comes after step 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l = (sp_batch_list *)1;
        assert_int_equal(sp_batch_list_parse(&l, bad[i].text, strlen(bad[i].text), err), SP_EFORMAT);
        assert_null(l);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
    }
    assert_int_equal(sp_batch_list_parse(&l, "1 a\0", 4, err), SP_EFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_describes_buffer),
        cmocka_unit_test(table_refuses_bad_tables),
        cmocka_unit_test(write_err_names_file_and_tensor),
        cmocka_unit_test(glob_match_and_specificity),
        cmocka_unit_test(pick_most_specific_or_refuse),
        cmocka_unit_test(layout_parses_and_refuses),
        cmocka_unit_test(batch_list_parses_and_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
