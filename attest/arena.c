/* arena.c - bump allocation in growing blocks (arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define ARENA_BLOCK (256u << 10)

struct sp_arena_block {
    sp_arena_block *next;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

static void *pc_alloc(void *ctx, size_t n)
{
    return sp_arena_alloc(ctx, n);
}

static void pc_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p;   /* released with the arena */
}

void sp_arena_init(sp_arena *a)
{
    a->head = NULL;
    a->used = a->cap = 0;
    a->oom = 0;
    a->pc.alloc = pc_alloc;
    a->pc.free = pc_free;
    a->pc.allocator_data = a;
}

void *sp_arena_alloc(sp_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) {
        a->oom = 1;
        return NULL;
    }
    if (a->head == NULL || a->cap - a->used < need) {
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        if (cap > SIZE_MAX - sizeof(sp_arena_block)) {
            a->oom = 1;
            return NULL;
        }
        sp_arena_block *b = malloc(sizeof *b + cap);
        if (b == NULL) {
            a->oom = 1;
            return NULL;
        }
        b->next = a->head;
        b->cap = cap;
        a->head = b;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += need;
    return p;
}

void sp_arena_release(sp_arena *a)
{
    if (a == NULL)
        return;
    for (sp_arena_block *b = a->head, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    sp_arena_init(a);
}

void sp_arena_reset(sp_arena *a)
{
    if (a == NULL || a->head == NULL)
        return;
    for (sp_arena_block *b = a->head->next, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    a->head->next = NULL;
    a->used = 0;
    a->cap = a->head->cap;
    a->oom = 0;
}
