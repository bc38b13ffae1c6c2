/*
 * wire_cmp.h - field-by-field comparison of two decoded protobuf-c messages
 * and the zero-copy check, shared by tests/test_wire.c and
 * tests/fuzz/fuzz_wire.c. Both walk the message descriptors, so every field
 * of record.proto is covered, including ones added later: a packed
 * comparison alone would hide a NULL string against an empty one, or a
 * present empty submessage against an absent one (record.c tells those
 * apart), and doubles are compared by their bits (-0.0, NaN payloads).
 */
#ifndef SP_TESTS_WIRE_CMP_H
#define SP_TESTS_WIRE_CMP_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t wire_cmp_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static int wire_cmp_msg(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path);

/* 0 when the values at a and b (one element of type f->type) are equal; else prints path.name. */
static int wire_cmp_value(const ProtobufCFieldDescriptor *f, const void *a, const void *b, const char *path,
                          size_t index)
{
    char where[512];
    snprintf(where, sizeof where, "%s.%s[%zu]", path, f->name, index);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        if ((x == NULL) != (y == NULL) || (x != NULL && strcmp(x, y) != 0)) {
            fprintf(stderr, "wire_cmp: %s differs ('%s' / '%s')\n", where, x ? x : "(null)", y ? y : "(null)");
            return 1;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *x = a, *y = b;
        if (x->len != y->len || (x->len > 0 && memcmp(x->data, y->data, x->len) != 0)) {
            fprintf(stderr, "wire_cmp: %s differs (%zu / %zu bytes)\n", where, x->len, y->len);
            return 1;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *x = *(ProtobufCMessage *const *)a, *y = *(ProtobufCMessage *const *)b;
        if ((x == NULL) != (y == NULL)) {
            fprintf(stderr, "wire_cmp: %s present in one message only\n", where);
            return 1;
        }
        return x == NULL ? 0 : wire_cmp_msg(x, y, where);
    }
    default:
        if (memcmp(a, b, wire_cmp_elem_size(f->type)) != 0) {
            fprintf(stderr, "wire_cmp: %s differs\n", where);
            return 1;
        }
        return 0;
    }
}

/* 0 when a and b hold the same values in every field (bits of doubles, NULL-ness of pointers). */
static int wire_cmp_msg(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *path)
{
    if (a->descriptor != b->descriptor) {
        fprintf(stderr, "wire_cmp: %s: different message types\n", path);
        return 1;
    }
    if (a->n_unknown_fields != b->n_unknown_fields) {
        fprintf(stderr, "wire_cmp: %s: %u / %u unknown fields\n", path, a->n_unknown_fields, b->n_unknown_fields);
        return 1;
    }
    const ProtobufCMessageDescriptor *d = a->descriptor;
    const char *pa = (const char *)a, *pb = (const char *)b;
    int bad = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t es = wire_cmp_elem_size(f->type);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(const size_t *)(pa + f->quantifier_offset);
            size_t nb = *(const size_t *)(pb + f->quantifier_offset);
            if (na != nb) {
                fprintf(stderr, "wire_cmp: %s.%s: %zu / %zu elements\n", path, f->name, na, nb);
                bad = 1;
                continue;
            }
            const char *xa = *(char *const *)(pa + f->offset), *xb = *(char *const *)(pb + f->offset);
            for (size_t k = 0; k < na; k++)
                bad |= wire_cmp_value(f, xa + k * es, xb + k * es, path, k);
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t ca = *(const uint32_t *)(pa + f->quantifier_offset);
            uint32_t cb = *(const uint32_t *)(pb + f->quantifier_offset);
            if (ca != cb) {
                fprintf(stderr, "wire_cmp: %s: oneof case %u / %u\n", path, ca, cb);
                bad = 1;
                continue;
            }
            if (ca != f->id)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
                   f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_BYTES &&
                   f->type != PROTOBUF_C_TYPE_MESSAGE) {
            protobuf_c_boolean ha = *(const protobuf_c_boolean *)(pa + f->quantifier_offset);
            protobuf_c_boolean hb = *(const protobuf_c_boolean *)(pb + f->quantifier_offset);
            if (ha != hb) {
                fprintf(stderr, "wire_cmp: %s.%s: has_ differs\n", path, f->name);
                bad = 1;
                continue;
            }
        }
        bad |= wire_cmp_value(f, pa + f->offset, pb + f->offset, path, 0);
    }
    return bad;
}

/*
 * 0 when every non-empty bytes field of m (at any depth) points into
 * [buf, buf + len): the zero-copy promise of wire.h. Prints the first
 * offender's path.
 */
static int wire_cmp_inside(const ProtobufCMessage *m, const uint8_t *buf, size_t len, const char *path)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *p = (const char *)m;
    uintptr_t lo = (uintptr_t)buf, hi = lo + len;
    int bad = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_BYTES && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)(p + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        const char *base = p + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(p + f->quantifier_offset);
            base = *(char *const *)(p + f->offset);
        }
        for (size_t k = 0; k < n; k++) {
            char where[512];
            snprintf(where, sizeof where, "%s.%s[%zu]", path, f->name, k);
            if (f->type == PROTOBUF_C_TYPE_BYTES) {
                const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)(base + k * sizeof *b);
                uintptr_t x = (uintptr_t)b->data;
                if (b->len > 0 && (x < lo || x > hi || b->len > hi - x)) {
                    fprintf(stderr, "wire_cmp: %s (%zu bytes) does not point into the input\n", where, b->len);
                    bad = 1;
                }
            } else {
                const ProtobufCMessage *s = *(ProtobufCMessage *const *)(base + k * sizeof s);
                if (s != NULL)
                    bad |= wire_cmp_inside(s, buf, len, where);
            }
        }
    }
    return bad;
}

/* 0 when protobuf-c packs a and b to the same bytes. */
static int wire_cmp_packed(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
    if (na != nb) {
        fprintf(stderr, "wire_cmp: packed sizes %zu / %zu\n", na, nb);
        return 1;
    }
    uint8_t *x = malloc(na ? na : 1), *y = malloc(nb ? nb : 1);
    if (x == NULL || y == NULL) {
        free(x);
        free(y);
        fprintf(stderr, "wire_cmp: out of memory\n");
        return 1;
    }
    int bad = protobuf_c_message_pack(a, x) != na || protobuf_c_message_pack(b, y) != nb ||
              (na > 0 && memcmp(x, y, na) != 0);
    if (bad)
        fprintf(stderr, "wire_cmp: packed bytes differ\n");
    free(x);
    free(y);
    return bad;
}

#endif
