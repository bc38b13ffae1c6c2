/* arena.c - bump allocation in growing blocks (arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define ARENA_BLOCK (256u << 10)
#define HUGE_BLOCK ((size_t)2 << 20)   /* a transparent huge page on x86-64 and arm64 */

struct sp_arena_block {
    sp_arena_block *next;
    size_t cap;
    size_t mapped;                 /* bytes mapped (a huge block), or 0 (malloc'd) */
    _Alignas(16) unsigned char data[];
};

/*
 * An arena's first block is malloc'd; when it grows past it, its blocks are
 * 2 MiB-aligned mappings offered to the kernel as huge pages: an arena that
 * holds a ledger's records would otherwise take a page fault per 4 KiB it
 * touches, which costs verify more than decoding (SPEC.md 17.4). NULL when
 * the mapping fails.
 */
static sp_arena_block *huge_block(size_t need)
{
    if (need > SIZE_MAX - sizeof(sp_arena_block) - 2 * HUGE_BLOCK)
        return NULL;
    size_t bytes = (sizeof(sp_arena_block) + need + HUGE_BLOCK - 1) & ~(HUGE_BLOCK - 1);
    unsigned char *p = mmap(NULL, bytes + HUGE_BLOCK, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t base = ((uintptr_t)p + HUGE_BLOCK - 1) & ~(uintptr_t)(HUGE_BLOCK - 1);
    unsigned char *a = (unsigned char *)base;
    if (a > p)
        (void)munmap(p, (size_t)(a - p));
    if (p + HUGE_BLOCK > a)
        (void)munmap(a + bytes, (size_t)(p + HUGE_BLOCK - a));
#ifdef MADV_HUGEPAGE
    (void)madvise(a, bytes, MADV_HUGEPAGE);   /* advice only: without it, 4 KiB pages */
#endif
    sp_arena_block *b = (sp_arena_block *)a;
    b->mapped = bytes;
    b->cap = bytes - sizeof *b;
    return b;
}

static void block_free(sp_arena_block *b)
{
    if (b->mapped)
        (void)munmap(b, b->mapped);
    else
        free(b);
}

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
        sp_arena_block *b;
        if (a->head != NULL || need > ARENA_BLOCK) {
            b = huge_block(need);
        } else {
            b = malloc(sizeof *b + ARENA_BLOCK);
            if (b != NULL) {
                b->cap = ARENA_BLOCK;
                b->mapped = 0;
            }
        }
        if (b == NULL) {
            a->oom = 1;
            return NULL;
        }
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->cap = b->cap;
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
        block_free(b);
    }
    sp_arena_init(a);
}

void sp_arena_reset(sp_arena *a)
{
    if (a == NULL || a->head == NULL)
        return;
    for (sp_arena_block *b = a->head->next, *next; b != NULL; b = next) {
        next = b->next;
        block_free(b);
    }
    a->head->next = NULL;
    a->used = 0;
    a->cap = a->head->cap;
    a->oom = 0;
}
