/*
 * test_safetensors.c - the safetensors reader and writer
 * (attest/safetensors.c, attest/safetensors_write.c): round trips, the exact
 * bytes the writer produces, and one negative case per validation rule, each
 * checking the error code and that the error line is filled in.
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

#include "safetensors.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/test_st_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* u64le(strlen(hdr)) || hdr || datalen bytes (value i & 0xff); malloc'd. */
static uint8_t *make_buf(const char *hdr, size_t datalen, size_t *len)
{
    size_t hl = strlen(hdr);
    *len = 8 + hl + datalen;
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    for (size_t i = 0; i < datalen; i++)
        b[8 + hl + i] = (uint8_t)i;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/*
 * Parses hdr + datalen bytes from memory and from a file; both give want,
 * and on failure an error line containing why.
 */
static void expect_parse(const char *hdr, size_t datalen, int want, const char *why)
{
    size_t len;
    uint8_t *b = make_buf(hdr, datalen, &len);
    char err[SP_ERRMSG_MAX];
    sp_st_file *f = (sp_st_file *)1;
    int rc = sp_st_parse(&f, b, len, err);
    if (rc != want)
        fail_msg("header %s: got %d (%s), want %d", hdr, rc, err, want);
    if (want == SP_OK) {
        assert_non_null(f);
        sp_st_close(f);
    } else {
        assert_null(f);
        assert_non_null(memchr(err, '\0', SP_ERRMSG_MAX));
        assert_true(strlen(err) > 0);
        assert_null(strchr(err, '\n'));
        if (strstr(err, why) == NULL)
            fail_msg("header %s: error \"%s\" does not say \"%s\"", hdr, err, why);
    }
    char path[128];
    path_in(path, sizeof path, "case.safetensors");
    write_bytes(path, b, len);
    f = (sp_st_file *)1;
    err[0] = '\0';
    assert_int_equal(sp_st_open(&f, path, err), want);
    if (want == SP_OK)
        sp_st_close(f);
    else
        assert_true(strstr(err, why) != NULL && f == NULL);
    free(b);
}

/* A buffer of len bytes whose first 8 claim header length hl: rejected. */
static void expect_bad_length(uint64_t hl, size_t len, const char *why)
{
    uint8_t b[64] = {0};
    assert_true(len <= sizeof b);
    for (int i = 0; i < 8 && len >= 8; i++)
        b[i] = (uint8_t)(hl >> (8 * i));
    if (len > 8)
        memcpy(b + 8, "{}", len - 8 < 2 ? len - 8 : 2);
    char err[SP_ERRMSG_MAX] = "";
    sp_st_file *f = (sp_st_file *)1;
    assert_int_equal(sp_st_parse(&f, b, len, err), SP_EFORMAT);
    assert_null(f);
    if (strstr(err, why) == NULL)
        fail_msg("length %llu: error \"%s\" does not say \"%s\"", (unsigned long long)hl,
                 err, why);
}

#define T(name, dt, shape, off) \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

static void test_round_trip(void **state)
{
    (void)state;
    float w[6] = {0.5f, -1, 2, 3, 4, 5};
    int64_t bias[3] = {-1, 0, INT64_MAX};
    double sc = 3.25;
    uint8_t u[7] = {1, 2, 3, 4, 5, 6, 7};
    uint8_t flag = 1;
    sp_tensor t[] = {
        {.name = "b.weight", .dtype = SP_DTYPE_F32, .ndim = 2, .shape = {2, 3},
         .data = w, .nbytes = sizeof w},
        {.name = "a.bias", .dtype = SP_DTYPE_I64, .ndim = 1, .shape = {3},
         .data = bias, .nbytes = sizeof bias},
        {.name = "scalar", .dtype = SP_DTYPE_F64, .ndim = 0, .data = &sc, .nbytes = 8},
        {.name = "empty", .dtype = SP_DTYPE_BF16, .ndim = 2, .shape = {0, 5}},
        {.name = "u", .dtype = SP_DTYPE_U8, .ndim = 1, .shape = {7}, .data = u,
         .nbytes = 7},
        {.name = "z\xc3\xa9", .dtype = SP_DTYPE_BOOL, .ndim = 1, .shape = {1},
         .data = &flag, .nbytes = 1},
    };
    const size_t n = sizeof t / sizeof t[0];
    const char *meta[] = {"format", "pt", "step", "100"};
    char path[128], tmp[140];
    path_in(path, sizeof path, "model.safetensors");
    assert_int_equal(sp_st_write(path, t, n, meta, 2), SP_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);

    char err[SP_ERRMSG_MAX];
    sp_st_file *f = NULL;
    assert_int_equal(sp_st_open(&f, path, err), SP_OK);
    assert_int_equal(sp_st_count(f), n);
    const char *order[] = {"a.bias", "b.weight", "empty", "scalar", "u", "z\xc3\xa9"};
    for (size_t i = 0; i < n; i++) {
        const sp_tensor *g = sp_st_tensor(f, i);
        assert_string_equal(g->name, order[i]);
        const sp_tensor *orig = NULL;
        for (size_t k = 0; k < n; k++)
            if (strcmp(t[k].name, order[i]) == 0)
                orig = &t[k];
        assert_non_null(orig);
        assert_int_equal(g->dtype, orig->dtype);
        assert_int_equal(g->ndim, orig->ndim);
        for (uint32_t d = 0; d < g->ndim; d++)
            assert_int_equal(g->shape[d], orig->shape[d]);
        assert_int_equal(g->nbytes, orig->nbytes);
        if (g->nbytes > 0)
            assert_memory_equal(g->data, orig->data, g->nbytes);
        assert_ptr_equal(sp_st_find(f, order[i]), g);
    }
    /* data laid out in name order, starting 8-aligned */
    const uint8_t *base = sp_st_tensor(f, 0)->data;
    assert_int_equal(((const uint8_t *)sp_st_tensor(f, 1)->data - base), 24);
    assert_null(sp_st_tensor(f, n));
    assert_null(sp_st_find(f, "a"));
    assert_null(sp_st_find(f, "zz"));
    assert_null(sp_st_find(f, ""));
    assert_string_equal(sp_st_metadata(f, "format"), "pt");
    assert_string_equal(sp_st_metadata(f, "step"), "100");
    assert_null(sp_st_metadata(f, "other"));
    sp_st_close(f);

    /* replacing an existing file, now without metadata: only the default "format": "pt" */
    assert_int_equal(sp_st_write(path, t, 2, NULL, 0), SP_OK);
    assert_int_equal(sp_st_open(&f, path, err), SP_OK);
    assert_int_equal(sp_st_count(f), 2);
    assert_string_equal(sp_st_metadata(f, "format"), "pt");
    assert_null(sp_st_metadata(f, "step"));
    sp_st_close(f);
    sp_st_close(NULL);
}

/* The exact bytes of a one-tensor file (SPEC.md example). */
static void test_writer_bytes(void **state)
{
    (void)state;
    float one = 1.0f;
    sp_tensor t = {.name = "a", .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {1},
                   .data = &one, .nbytes = 4};
    char path[128];
    path_in(path, sizeof path, "one.safetensors");
    assert_int_equal(sp_st_write(path, &t, 1, NULL, 0), SP_OK);
    const char hdr[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"data_offsets\":[0,4],\"dtype\":\"F32\",\"shape\":[1]}}   ";
    uint8_t want[8 + sizeof hdr - 1 + 4] = {88, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want + 8, hdr, sizeof hdr - 1);
    memcpy(want + 8 + 88, "\x00\x00\x80\x3f", 4);
    uint8_t got[128];
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t len = fread(got, 1, sizeof got, fp);
    fclose(fp);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(got, want, sizeof want);

    /* no tensors at all: the metadata alone, padded to 8 */
    assert_int_equal(sp_st_write(path, NULL, 0, NULL, 0), SP_OK);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    len = fread(got, 1, sizeof got, fp);
    fclose(fp);
    assert_int_equal(len, 40);
    assert_memory_equal(got, "\x20\0\0\0\0\0\0\0{\"__metadata__\":{\"format\":\"pt\"}}", 40);
}

static void test_writer_rejects(void **state)
{
    (void)state;
    float v[2] = {1, 2};
    sp_tensor t[2] = {
        {.name = "x", .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {2}, .data = v, .nbytes = 8},
        {.name = "x", .dtype = SP_DTYPE_F32, .ndim = 1, .shape = {2}, .data = v, .nbytes = 8},
    };
    char path[128], tmp[140];
    path_in(path, sizeof path, "bad.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(sp_st_write(path, t, 2, NULL, 0), SP_EINVAL);     /* duplicate */
    t[1].name = "__metadata__";
    assert_int_equal(sp_st_write(path, t, 2, NULL, 0), SP_EINVAL);
    t[1].name = "y";
    t[1].nbytes = 4;                                                     /* size */
    assert_int_equal(sp_st_write(path, t, 2, NULL, 0), SP_EINVAL);
    t[1].nbytes = 8;
    t[1].name = "bad\xff";                                               /* not UTF-8 */
    assert_int_equal(sp_st_write(path, t, 2, NULL, 0), SP_EINVAL);
    t[1].name = "y";
    const char *dupmeta[] = {"k", "1", "k", "2"};
    assert_int_equal(sp_st_write(path, t, 2, dupmeta, 2), SP_EINVAL);
    const char *nullmeta[] = {"k", NULL};
    assert_int_equal(sp_st_write(path, t, 2, nullmeta, 1), SP_EINVAL);
    assert_int_equal(sp_st_write(path, t, 2, NULL, 1), SP_EINVAL);
    assert_int_equal(sp_st_write(path, NULL, 1, NULL, 0), SP_EINVAL);
    assert_int_equal(sp_st_write("", t, 2, NULL, 0), SP_EINVAL);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);

    /* a directory in the way of the final name: rename fails, tmp removed */
    assert_int_equal(mkdir(path, 0755), 0);
    char inner[160];
    snprintf(inner, sizeof inner, "%s/keep", path);
    write_bytes(inner, "x", 1);
    assert_int_equal(sp_st_write(path, t, 2, NULL, 0), SP_EIO);
    assert_int_equal(access(tmp, F_OK), -1);
    /* a missing directory */
    path_in(path, sizeof path, "no/such/dir/x.safetensors");
    assert_int_equal(sp_st_write(path, t, 2, NULL, 0), SP_EIO);
}

static void test_valid_edge_cases(void **state)
{
    (void)state;
    expect_parse("{}", 0, SP_OK, NULL);
    expect_parse("{}       ", 0, SP_OK, NULL);                     /* padded header */
    expect_parse("{\"__metadata__\":{\"a\":\"b\"}}", 0, SP_OK, NULL);
    expect_parse("{" T("a", "F32", "[1]", "[0,4]") "," T("e", "F16", "[0]", "[4,4]") "}",
                 4, SP_OK, NULL);
    expect_parse("{" T("e", "F16", "[3,0]", "[0,0]") "," T("a", "I8", "[]", "[0,1]") "}",
                 1, SP_OK, NULL);

    char name[SP_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[SP_NAME_MAX] = '\0';
    char hdr[SP_NAME_MAX + 200];
    snprintf(hdr, sizeof hdr,
             "{\"%s\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", name);
    expect_parse(hdr, 2, SP_OK, NULL);
    name[SP_NAME_MAX] = 'n';
    name[SP_NAME_MAX + 1] = '\0';
    snprintf(hdr, sizeof hdr,
             "{\"%s\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", name);
    expect_parse(hdr, 2, SP_EFORMAT, "longer than 512 bytes");   /* one byte too long */
}

static void test_bad_lengths(void **state)
{
    (void)state;
    expect_bad_length(0, 0, "too short");
    expect_bad_length(0, 5, "too short");
    expect_bad_length(100, 20, "past the end");
    expect_bad_length(13, 20, "past the end");                  /* one byte past */
    expect_bad_length(UINT64_C(1) << 63, 20, "exceeds");
    expect_bad_length(UINT64_MAX, 20, "exceeds");
    expect_bad_length((uint64_t)SP_ST_HEADER_MAX + 1, 20, "exceeds");
    expect_bad_length(0, 10, "not valid JSON");                 /* empty header */

    char path[128];
    char err[SP_ERRMSG_MAX] = "";
    sp_st_file *f = (sp_st_file *)1;
    path_in(path, sizeof path, "empty.safetensors");
    write_bytes(path, "", 0);
    assert_int_equal(sp_st_open(&f, path, err), SP_EFORMAT);
    assert_null(f);
    assert_non_null(strstr(err, "too short"));
    path_in(path, sizeof path, "short.safetensors");
    write_bytes(path, "\x02\0\0\0", 4);
    err[0] = '\0';
    assert_int_equal(sp_st_open(&f, path, err), SP_EFORMAT);
    assert_non_null(strstr(err, "too short"));
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_parse("{\"a\":", 0, SP_EFORMAT, "not valid JSON");
    expect_parse("[1,2]", 0, SP_EFORMAT, "not a JSON object");
    expect_parse("\"text\"", 0, SP_EFORMAT, "not valid JSON");
    expect_parse("{} x", 0, SP_EFORMAT, "not valid JSON");
    expect_parse("{\"\xff\":1}", 0, SP_EFORMAT, "not valid JSON");      /* not UTF-8 */
    expect_parse("{" T("a", "F32", "[1]", "[0,4]") "," T("a", "F32", "[1]", "[4,8]") "}",
                 8, SP_EFORMAT, "duplicate object key");
    expect_parse("{\"a\\u0000b\":{}}", 0, SP_EFORMAT, "not valid JSON"); /* NUL in a name */
    expect_parse("{\"a\nb\":1}", 0, SP_EFORMAT, "not valid JSON");  /* raw newline */
    /* a raw NUL byte inside the header */
    char err[SP_ERRMSG_MAX] = "";
    sp_st_file *f = (sp_st_file *)1;
    assert_int_equal(sp_st_parse(&f, "\x03\0\0\0\0\0\0\0{}\0", 11, err), SP_EFORMAT);
    assert_null(f);
    assert_non_null(strstr(err, "not valid JSON"));
}

static void test_bad_entries(void **state)
{
    (void)state;
    expect_parse("{\"a\":5}", 0, SP_EFORMAT, "entry is not an object");
    expect_parse("{\"\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
                 SP_EFORMAT, "is empty");
    expect_parse("{" T("a", "F4", "[1]", "[0,1]") "}", 1, SP_EUNSUPPORTED,
                 "unsupported dtype \"F4\"");
    expect_parse("{" T("a", "F8_E4M3", "[1]", "[0,1]") "}", 1, SP_OK, "float8 e4m3 (dtype 11)");
    expect_parse("{" T("a", "F8_E5M2", "[2]", "[0,2]") "}", 2, SP_OK, "float8 e5m2 (dtype 12)");
    expect_parse("{" T("a", "f32", "[1]", "[0,4]") "}", 4, SP_EUNSUPPORTED,
                 "unsupported dtype \"f32\"");
    expect_parse("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SP_EFORMAT,
                 "dtype is not a string");
    expect_parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}",
                 4, SP_EFORMAT, "unknown field \"x\"");
    expect_parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, SP_EFORMAT,
                 "missing field \"data_offsets\"");
    expect_parse("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SP_EFORMAT,
                 "missing field \"dtype\"");
    expect_parse("{\"__metadata__\":[1]}", 0, SP_EFORMAT, "__metadata__ is not an object");
    expect_parse("{\"__metadata__\":{\"a\":1}}", 0, SP_EFORMAT,
                 "__metadata__ value of \"a\" is not a string");
}

static void test_bad_shapes(void **state)
{
    (void)state;
    const char *notint = "shape[0] is not a non-negative integer";
    expect_parse("{" T("a", "F32", "[-1]", "[0,4]") "}", 4, SP_EFORMAT, notint);
    expect_parse("{" T("a", "F32", "[1.0]", "[0,4]") "}", 4, SP_EFORMAT, notint);
    expect_parse("{" T("a", "F32", "[\"1\"]", "[0,4]") "}", 4, SP_EFORMAT, notint);
    expect_parse("{" T("a", "F32", "[1,-2]", "[0,4]") "}", 4, SP_EFORMAT,
                 "shape[1] is not a non-negative integer");
    expect_parse("{" T("a", "F32", "1", "[0,4]") "}", 4, SP_EFORMAT, "shape is not an array");
    expect_parse("{" T("a", "U8", "[4294967296,4294967296,4294967296]", "[0,4]") "}", 4,
                 SP_EFORMAT, "shape too large");                 /* element count */
    expect_parse("{" T("a", "F64", "[1152921504606846976]", "[0,4]") "}", 4,
                 SP_EFORMAT, "shape too large");                 /* 2^60 * 8 bytes */
    expect_parse("{" T("a", "U8", "[99999999999999999999]", "[0,4]") "}", 4, SP_EFORMAT,
                 "too big integer");                             /* beyond int64 */
    expect_parse("{" T("a", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1, SP_EFORMAT,
                 "9 dimensions");
    expect_parse("{" T("a", "U8", "[1,1,1,1,1,1,1,1]", "[0,1]") "}", 1, SP_OK, NULL);
}

static void test_bad_offsets(void **state)
{
    (void)state;
    const char *not2 = "data_offsets is not two non-negative integers";
    expect_parse("{" T("a", "F32", "[2]", "[0,8]") "}", 4, SP_EFORMAT,
                 "end 8 past the data region");
    expect_parse("{" T("a", "F32", "[1]", "[4,0]") "}", 4, SP_EFORMAT, "begin 4 > end 0");
    expect_parse("{" T("a", "F32", "[1]", "[0]") "}", 4, SP_EFORMAT, not2);
    expect_parse("{" T("a", "F32", "[1]", "[0,4,4]") "}", 4, SP_EFORMAT, not2);
    expect_parse("{" T("a", "F32", "[1]", "[-4,0]") "}", 4, SP_EFORMAT, not2);
    expect_parse("{" T("a", "F32", "[1]", "[0,4.0]") "}", 4, SP_EFORMAT, not2);
    expect_parse("{" T("a", "F32", "[1]", "{}") "}", 4, SP_EFORMAT, not2);
    expect_parse("{" T("a", "F32", "[2]", "[0,4]") "}", 4, SP_EFORMAT,
                 "4 bytes but dtype and shape need 8");
    expect_parse("{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[4,12]") "}",
                 12, SP_EFORMAT, "overlaps");
    expect_parse("{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[0,8]") "}",
                 8, SP_EFORMAT, "overlaps");                     /* the same bytes */
    expect_parse("{" T("a", "F32", "[1]", "[0,4]") "," T("b", "F32", "[1]", "[8,12]") "}",
                 12, SP_EFORMAT, "hole of 4 bytes before tensor \"b\"");
    expect_parse("{" T("a", "F32", "[1]", "[4,8]") "}", 8, SP_EFORMAT,
                 "hole of 4 bytes before tensor \"a\"");
    expect_parse("{" T("a", "F32", "[1]", "[0,4]") "}", 8, SP_EFORMAT,
                 "4 bytes after the last tensor");
    expect_parse("{}", 1, SP_EFORMAT, "1 bytes after the last tensor");
}
static void test_open_errors(void **state)
{
    (void)state;
    char err[SP_ERRMSG_MAX] = "";
    sp_st_file *f = (sp_st_file *)1;
    assert_int_equal(sp_st_open(&f, tmpdir, err), SP_EIO);   /* a directory */
    assert_null(f);
    assert_non_null(strstr(err, "directory"));
    char path[128];
    path_in(path, sizeof path, "missing.safetensors");
    err[0] = '\0';
    f = (sp_st_file *)1;
    assert_int_equal(sp_st_open(&f, path, err), SP_EIO);
    assert_null(f);
    assert_non_null(strstr(err, "No such file"));
    /* err may be NULL */
    assert_int_equal(sp_st_open(&f, path, NULL), SP_EIO);
    assert_int_equal(sp_st_parse(&f, "\x02\0\0\0\0\0\0\0{}", 10, NULL), SP_OK);
    sp_st_close(f);
}

/* The error line quotes a long, control-laden name safely. */
static void test_error_message_quoting(void **state)
{
    (void)state;
    char hdr[1200];
    char name[600];
    memset(name, 'q', sizeof name);
    memcpy(name, "bad\\nname", 9);
    name[sizeof name - 1] = '\0';
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             name);
    size_t len;
    uint8_t *b = make_buf(hdr, 4, &len);
    char err[SP_ERRMSG_MAX];
    sp_st_file *f;
    assert_int_equal(sp_st_parse(&f, b, len, err), SP_EFORMAT);   /* name too long */
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "bad?name"));
    assert_non_null(strstr(err, "..."));
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_bytes),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_valid_edge_cases),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_bad_offsets),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_error_message_quoting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
