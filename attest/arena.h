/*
 * arena.h - a bump allocator for decoding many records at once (verify): a
 * protobuf-c allocator whose free does nothing and whose memory is released
 * in one call. Decoding a record of 1,000 tensors with malloc costs some
 * 5,000 allocations and as many frees; from an arena it costs a few blocks.
 * One arena per thread: an arena is not thread-safe.
 */
#ifndef SP_ARENA_H
#define SP_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct sp_arena_block sp_arena_block;

typedef struct sp_arena {
    sp_arena_block *head;        /* newest block first */
    size_t used, cap;            /* in the head block */
    void *base;                  /* the head block's data */
    int oom;                     /* an allocation failed since init */
    ProtobufCAllocator pc;       /* hands out this arena to protobuf-c */
} sp_arena;

/* An empty arena; no memory until the first allocation. */
void sp_arena_init(sp_arena *a);

/* n bytes aligned to 16, or NULL (and a->oom set). Valid until sp_arena_release. */
void *sp_arena_alloc(sp_arena *a, size_t n);

/* sp_arena_alloc, inline while the newest block has room (a decoder calls it per field). */
static inline void *sp_arena_take(sp_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need >= n && a->head != NULL && a->cap - a->used >= need) {
        void *p = (unsigned char *)a->base + a->used;
        a->used += need;
        return p;
    }
    return sp_arena_alloc(a, n);
}

/* Frees every block; the arena is empty again and reusable. NULL is a no-op. */
void sp_arena_release(sp_arena *a);

/*
 * Empties the arena but keeps its newest block for the next allocations:
 * scratch memory reused record after record touches no fresh pages (a page
 * first touched costs the kernel about as much as decoding it). Everything
 * allocated before is invalid. NULL is a no-op.
 */
void sp_arena_reset(sp_arena *a);

#endif
