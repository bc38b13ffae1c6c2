/*
 * test_escape.c - the one escaping rule (attest/escape.c, SPEC.md 1.1):
 * the known answers of SPEC.md 1.1.1 (newline, ESC, CR, backslash, invalid
 * UTF-8, overlong forms, encoded surrogates, bidi overrides, C1 controls),
 * truncation at every cap, the properties of the output, sp_errf's scrub,
 * sp_json_str, and the non-blocking input open of SPEC.md 1.2 on a FIFO.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "escape.h"
#include "fileio.h"
#include "report.h"

/* SPEC.md 1.1.1: input bytes (a literal, NUL bytes included) and the escaped text. */
#define K(in, out) {in, sizeof(in) - 1, out}
static const struct {
    const char *in;
    size_t len;
    const char *out;
} kat[] = {
    K("model-7b", "model-7b"),
    K("", ""),
    K("a\nb", "a\\x0ab"),
    K("\x1b[31mred", "\\x1b[31mred"),
    K("x\r", "x\\x0d"),
    K("tab\there", "tab\\x09here"),
    K("\x7f", "\\x7f"),
    K("a\\b", "a\\\\b"),
    K("a\0b", "a\\x00b"),
    K("caf\xc3\xa9", "caf\xc3\xa9"),                       /* U+00E9 */
    K("\xed\x95\x9c\xea\xb5\xad", "\xed\x95\x9c\xea\xb5\xad"), /* Korean, kept */
    K("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),              /* U+1F600 */
    K("\xff", "\\xff"),
    K("\xc0\xaf", "\\xc0\\xaf"),                            /* overlong '/' */
    K("\xe0\x80\xaf", "\\xe0\\x80\\xaf"),                   /* overlong, 3 bytes */
    K("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf"),           /* overlong, 4 bytes */
    K("\xed\xa0\x80", "\\xed\\xa0\\x80"),                   /* surrogate U+D800 */
    K("\xed\xbf\xbf", "\\xed\\xbf\\xbf"),                   /* surrogate U+DFFF */
    K("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),           /* U+110000 */
    K("\xe2\x82", "\\xe2\\x82"),                            /* cut sequence */
    K("\x80z", "\\x80z"),                                   /* lone continuation */
    K("\xc2\x9b", "\\xc2\\x9b"),                            /* U+009B, C1 CSI */
    K("\xc2\x85", "\\xc2\\x85"),                            /* U+0085, C1 NEL */
    K("\xc2\xa0", "\xc2\xa0"),                              /* U+00A0, kept */
    K("ab\xe2\x80\xae" "cd", "ab\\xe2\\x80\\xaecd"),        /* U+202E RLO */
    K("\xe2\x80\xaa", "\\xe2\\x80\\xaa"),                   /* U+202A LRE */
    K("\xe2\x81\xa6", "\\xe2\\x81\\xa6"),                   /* U+2066 LRI */
    K("\xe2\x81\xa9", "\\xe2\\x81\\xa9"),                   /* U+2069 PDI */
    K("\xe2\x81\xaa", "\xe2\x81\xaa"),                      /* U+206A, kept */
    K("\xe2\x80\x8f", "\\xe2\\x80\\x8f"),                   /* U+200F RLM */
    K("\xd8\x9c", "\\xd8\\x9c"),                            /* U+061C ALM */
    K("\xe2\x80\xa8", "\\xe2\\x80\\xa8"),                   /* U+2028 LS */
    K("\xe2\x80\xa7", "\xe2\x80\xa7"),                      /* U+2027, kept */
    K("x\n\x1b[32mVERIFIED: 99 checks passed",
     "x\\x0a\\x1b[32mVERIFIED: 99 checks passed"),
};

static void test_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        char out[256];
        size_t n = sp_escape_n(out, sizeof out, kat[i].in, kat[i].len);
        assert_string_equal(out, kat[i].out);
        assert_int_equal(n, strlen(kat[i].out));
        char *d = sp_escape_dupn(kat[i].in, kat[i].len);
        assert_non_null(d);
        assert_string_equal(d, kat[i].out);
        free(d);
        if (memchr(kat[i].in, 0, kat[i].len) == NULL) {
            assert_int_equal(sp_escape(out, sizeof out, kat[i].in), strlen(kat[i].out));
            assert_string_equal(out, kat[i].out);
        }
    }
}

/* Units of the escaped "a\nb\xe2\x80\xae\xc3\xa9\\": where a cut may fall. */
static void test_truncation_every_cap(void **state)
{
    (void)state;
    const char in[] = "a\nb\xe2\x80\xae\xc3\xa9\\\xff";
    const char *full = "a\\x0ab\\xe2\\x80\\xae\xc3\xa9\\\\\\xff";
    /* ends of whole units in the full output; a cut output is the longest that fits */
    const size_t ends[] = {0, 1, 5, 6, 18, 20, 22, 26};
    size_t flen = strlen(full);
    assert_int_equal(flen, 26);
    for (size_t cap = 0; cap <= flen + 2; cap++) {
        char out[64];
        memset(out, 'Z', sizeof out);
        size_t n = sp_escape_n(cap ? out : NULL, cap, in, sizeof in - 1);
        assert_int_equal(n, flen);
        if (cap == 0)
            continue;
        size_t want = 0;
        for (size_t k = 0; k < sizeof ends / sizeof ends[0]; k++)
            if (ends[k] < cap)
                want = ends[k];
        assert_int_equal(strlen(out), want);
        assert_memory_equal(out, full, want);
        assert_int_equal(out[want], '\0');
        assert_int_equal(out[want + 1], 'Z');   /* nothing written past the NUL */
        assert_true(sp_utf8_valid(out, strlen(out)));
    }
}

/* A cut never lets a later, shorter unit fill the gap left by a long one. */
static void test_truncation_keeps_order(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(sp_escape(out, sizeof out, "\x01z"), 5);
    assert_string_equal(out, "");
}

/* Every output is valid UTF-8 without a control byte, over all 1- and 2-byte inputs. */
static void test_output_properties(void **state)
{
    (void)state;
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            unsigned char in[3] = {(unsigned char)a, (unsigned char)b, 0xA9};
            for (size_t len = 1; len <= 3; len++) {
                char out[64];
                size_t n = sp_escape_n(out, sizeof out, in, len);
                assert_int_equal(n, strlen(out));
                assert_true(sp_utf8_valid(out, n));
                for (size_t i = 0; i < n; i++) {
                    unsigned char c = (unsigned char)out[i];
                    assert_true(c >= 0x20 && c != 0x7f);
                }
                /* escaping the output again changes only its backslashes */
                char again[256], want[256];
                sp_escape(again, sizeof again, out);
                size_t w = 0;
                for (size_t i = 0; i < n; i++) {
                    want[w++] = out[i];
                    if (out[i] == '\\')
                        want[w++] = '\\';
                }
                want[w] = '\0';
                assert_string_equal(again, want);
            }
        }
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(sp_utf8_valid("", 0));
    assert_true(sp_utf8_valid("abc\n", 4));
    assert_true(sp_utf8_valid("\xed\x9f\xbf", 3));      /* U+D7FF */
    assert_true(sp_utf8_valid("\xee\x80\x80", 3));      /* U+E000 */
    assert_true(sp_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
    assert_false(sp_utf8_valid("\xed\xa0\x80", 3));
    assert_false(sp_utf8_valid("\xc1\xbf", 2));
    assert_false(sp_utf8_valid("\xf5\x80\x80\x80", 4));
    assert_false(sp_utf8_valid("\xe2\x82", 2));
    assert_false(sp_utf8_valid("\xfe", 1));
}

static void test_fputs(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(sp_escape_fputs("a\x1b\xe2\x80\xae\xff\\", f), 0);
    fclose(f);
    assert_string_equal(buf, "a\\x1b\\xe2\\x80\\xae\\xff\\\\");
    free(buf);
}

/* HTML: the terminal escaping first, then the five metacharacters; a "\x" from escaping is text. */
static void test_html_fputs(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(sp_escape_html_fputs("<b a='1'>&amp;\"\x1b\xe2\x80\xae\xff caf\xc3\xa9\\", f), 0);
    fclose(f);
    assert_string_equal(buf, "&lt;b a=&#39;1&#39;&gt;&amp;amp;&quot;\\x1b\\xe2\\x80\\xae\\xff caf\xc3\xa9\\\\");
    free(buf);
    /* every byte value alone: the output is valid UTF-8 with no control byte and no markup */
    for (int c = 1; c < 256; c++) {
        char in[2] = {(char)c, 0};
        buf = NULL;
        f = open_memstream(&buf, &len);
        assert_non_null(f);
        assert_int_equal(sp_escape_html_fputs(in, f), 0);
        fclose(f);
        assert_true(sp_utf8_valid(buf, strlen(buf)));
        for (const char *p = buf; *p; p++)
            assert_true((unsigned char)*p >= 0x20 && *p != 0x7f && *p != '<' && *p != '>' && *p != '"' && *p != '\'');
        free(buf);
    }
}

/* sp_errf: unsafe bytes of a detail line become '?', backslashes stay. */
static void test_errf_scrub(void **state)
{
    (void)state;
    char err[SP_ERRMSG_MAX];
    sp_errf(err, "tensor \"%s\"", "a\nb\x1b\xe2\x80\xae\xff\\\xc3\xa9");
    assert_string_equal(err, "tensor \"a?b?????\\\xc3\xa9\"");
    char s[] = "\xc2\x9bx\xed\xa0\x80";
    sp_escape_scrub(s);
    assert_string_equal(s, "??x???");
}

/* sp_json_str: valid UTF-8 as itself, invalid as its escaped form (SPEC.md 1.1). */
static void test_json_str(void **state)
{
    (void)state;
    json_t *j = sp_json_str("a\n\xc3\xa9");
    assert_non_null(j);
    assert_string_equal(json_string_value(j), "a\n\xc3\xa9");
    json_decref(j);
    j = sp_json_str("bad\xff\n\\");
    assert_non_null(j);
    assert_string_equal(json_string_value(j), "bad\\xff\\x0a\\\\");
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
    assert_non_null(text);
    assert_string_equal(text, "\"bad\\\\xff\\\\x0a\\\\\\\\\"");
    free(text);
    json_decref(j);
    j = sp_json_str(NULL);
    assert_true(json_is_null(j));
    json_decref(j);
}

/* A report detail cut inside a character drops the partial character, and prints escaped. */
static void test_report_detail(void **state)
{
    (void)state;
    char name[1100];
    memset(name, 'a', 1022);
    strcpy(name + 1022, "\xc3\xa9tail");
    sp_report r;
    sp_report_init(&r);
    sp_report_add(&r, "model", 0, "%s", name);
    sp_report_add(&r, "model", 1, "tensor '%s'", "x\n\x1b[32mok");
    assert_int_equal(r.n, 2);
    assert_int_equal(strlen(r.v[0].detail), 1022);
    assert_true(sp_utf8_valid(r.v[0].detail, 1022));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sp_report_print(&r, f, 1);
    fclose(f);
    assert_non_null(strstr(buf, "  ok    model              tensor 'x\\x0a\\x1b[32mok'\n"));
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 2);
    free(buf);
    sp_report_free(&r);
}

/* SPEC.md 1.2: a FIFO is refused at once (no writer: a blocking open would hang). */
static void test_open_input_fifo(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_escape_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[64], reg[64];
    snprintf(fifo, sizeof fifo, "%s/f", dir);
    snprintf(reg, sizeof reg, "%s/r", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct stat st;
    char err[SP_ERRMSG_MAX] = "";
    assert_int_equal(sp_open_input(fifo, &st, err), SP_EIO);
    assert_string_equal(err, "not a regular file (a FIFO)");
    assert_int_equal(sp_open_input(dir, &st, err), SP_EIO);
    assert_string_equal(err, "not a regular file (a directory)");
    assert_int_equal(sp_open_input("/dev/null", &st, err), SP_EIO);
    assert_string_equal(err, "not a regular file (a character device)");
    assert_int_equal(sp_open_input(reg, &st, err), SP_ENOTFOUND);
    FILE *f = fopen(reg, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
    int fd = sp_open_input(reg, &st, err);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(st.st_size, 1);
    close(fd);
    assert_int_equal(sp_write_errno(ENOSPC), SP_ENOSPC);
    assert_int_equal(sp_write_errno(EDQUOT), SP_ENOSPC);
    assert_int_equal(sp_write_errno(EIO), SP_EIO);
    assert_string_equal(sp_strerror(SP_ENOSPC), "no space left on device");
    unlink(fifo);
    unlink(reg);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_truncation_every_cap),
        cmocka_unit_test(test_truncation_keeps_order),
        cmocka_unit_test(test_output_properties),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_fputs),
        cmocka_unit_test(test_html_fputs),
        cmocka_unit_test(test_errf_scrub),
        cmocka_unit_test(test_json_str),
        cmocka_unit_test(test_report_detail),
        cmocka_unit_test(test_open_input_fifo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
