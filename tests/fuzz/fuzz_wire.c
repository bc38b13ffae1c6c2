/*
 * fuzz_wire.c - fuzz target for the hand protobuf decoder (wire.h) and the
 * _view decoders (record.h): the input as a record payload and as an
 * envelope (and then that envelope's payload). Aborts when the hand decoder
 * accepts what protobuf-c refuses or decodes it to other values, when a
 * bytes field it returns points outside the input, or when sp_*_decode_view
 * answers otherwise than sp_*_decode_in or decodes other values. Replayed
 * over tests/corpus/wire by make test (written by SP_WRITE_CORPUS=DIR
 * build/tests/test_wire).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "record.h"
#include "wire.h"
#include "../wire_cmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_wire: %s\n", what);
    abort();
}

static void one_record(const uint8_t *p, size_t len)
{
    sp_arena a, av, ai;
    sp_arena_init(&a);
    sp_arena_init(&av);
    sp_arena_init(&ai);
    Sp__Record *i = NULL;
    int ri = sp_record_decode_in(&i, p, len, &ai, NULL);
    {
        Sp__Record *w = NULL, *v = NULL;
        int rc = sp_wire_record(&w, p, len, &a);
        if (rc != SP_OK && rc != SP_EFORMAT)
            fail("sp_wire_record: an answer other than SP_OK or SP_EFORMAT");
        if (rc == SP_OK) {
            Sp__Record *u = sp__record__unpack(NULL, len, p);
            if (u == NULL)
                fail("sp_wire_record accepts a record protobuf-c refuses");
            if (w == NULL || w->base.n_unknown_fields != 0 || wire_cmp_msg(&w->base, &u->base, "record") != 0 ||
                wire_cmp_packed(&w->base, &u->base) != 0)
                fail("sp_wire_record and protobuf-c decode different records");
            if (wire_cmp_inside(&w->base, p, len, "record") != 0)
                fail("sp_wire_record: a bytes field outside the input");
            sp__record__free_unpacked(u, NULL);
        }
        int rv = sp_record_decode_view(&v, p, len, &av, NULL);
        if (rv != ri)
            fail("sp_record_decode_view and sp_record_decode_in answer differently");
        if (rv == SP_OK && (wire_cmp_msg(&v->base, &i->base, "record") != 0 ||
                            wire_cmp_packed(&v->base, &i->base) != 0))
            fail("sp_record_decode_view and sp_record_decode_in decode different records");
    }
    sp_arena_release(&a);
    sp_arena_release(&av);
    sp_arena_release(&ai);
}

static void one_envelope(const uint8_t *p, size_t len)
{
    sp_arena a, av, ai;
    sp_arena_init(&a);
    sp_arena_init(&av);
    sp_arena_init(&ai);
    Sp__Envelope *i = NULL;
    int ri = sp_envelope_decode_in(&i, p, len, &ai, NULL);
    if (ri == SP_OK)
        one_record(i->payload.data, i->payload.len);
    {
        Sp__Envelope *w = NULL, *v = NULL;
        int rc = sp_wire_envelope(&w, p, len, &a);
        if (rc != SP_OK && rc != SP_EFORMAT)
            fail("sp_wire_envelope: an answer other than SP_OK or SP_EFORMAT");
        if (rc == SP_OK) {
            Sp__Envelope *u = sp__envelope__unpack(NULL, len, p);
            if (u == NULL)
                fail("sp_wire_envelope accepts an envelope protobuf-c refuses");
            if (w == NULL || w->base.n_unknown_fields != 0 ||
                wire_cmp_msg(&w->base, &u->base, "envelope") != 0 || wire_cmp_packed(&w->base, &u->base) != 0)
                fail("sp_wire_envelope and protobuf-c decode different envelopes");
            if (wire_cmp_inside(&w->base, p, len, "envelope") != 0)
                fail("sp_wire_envelope: a bytes field outside the input");
            sp__envelope__free_unpacked(u, NULL);
        }
        int rv = sp_envelope_decode_view(&v, p, len, &av, NULL);
        if (rv != ri)
            fail("sp_envelope_decode_view and sp_envelope_decode_in answer differently");
        if (rv == SP_OK && (wire_cmp_msg(&v->base, &i->base, "envelope") != 0 ||
                            wire_cmp_packed(&v->base, &i->base) != 0))
            fail("sp_envelope_decode_view and sp_envelope_decode_in decode different envelopes");
    }
    sp_arena_release(&a);
    sp_arena_release(&av);
    sp_arena_release(&ai);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, never a NULL pointer: reads past the end show under ASan */
    uint8_t *p = malloc(size ? size : 1);
    if (p == NULL)
        return 0;
    if (size > 0)
        memcpy(p, data, size);
    one_record(p, size);
    one_envelope(p, size);
    free(p);
    return 0;
}
