/* arena.c - bump allocation in growing blocks (arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define ARENA_BLOCK (256u << 10)
#define HUGE_BLOCK ((size_t)2 << 20)   /* a transparent huge page on x86-64 and arm64 */
#define MAX_GROWTH ((size_t)64 << 20)  /* blocks double up to this size */

struct sp_arena_block {
    sp_arena_block *next;
    size_t cap;
    size_t mapped;                 /* bytes mapped, this header included */
    _Alignas(16) unsigned char data[];
};

/*
 * Blocks are mappings of their own, not malloc'd: memory a process had
 * before it forked (verify forks its ledger reader) is copy-on-write, and
 * the first write to each of its pages costs a fault and a TLB shootdown on
 * every core. An arena's blocks double in size; from 2 MiB on they are
 * 2 MiB-aligned and offered to the kernel as huge pages: an arena that holds
 * a ledger's records would otherwise take a fault per 4 KiB it touches
 * (SPEC.md 17, verify at scale). NULL when the mapping fails.
 */
static sp_arena_block *map_block(size_t need, size_t want)
{
    if (need > SIZE_MAX - sizeof(sp_arena_block) - 2 * HUGE_BLOCK)
        return NULL;
    size_t bytes = sizeof(sp_arena_block) + need;
    if (bytes < want)
        bytes = want;
    int huge = bytes >= HUGE_BLOCK;
    size_t align = huge ? HUGE_BLOCK : 4096;
    bytes = (bytes + align - 1) & ~(align - 1);
    size_t extra = huge ? HUGE_BLOCK : 0;
    unsigned char *p = mmap(NULL, bytes + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    unsigned char *a = p;
    if (huge) {
        a = (unsigned char *)(((uintptr_t)p + HUGE_BLOCK - 1) & ~(uintptr_t)(HUGE_BLOCK - 1));
        if (a > p)
            (void)munmap(p, (size_t)(a - p));
        (void)munmap(a + bytes, (size_t)(p + HUGE_BLOCK - a));
#ifdef MADV_HUGEPAGE
        (void)madvise(a, bytes, MADV_HUGEPAGE);   /* advice only: without it, 4 KiB pages */
#endif
    }
    sp_arena_block *b = (sp_arena_block *)a;
    b->mapped = bytes;
    b->cap = bytes - sizeof *b;
    return b;
}

static void block_free(sp_arena_block *b)
{
    (void)munmap(b, b->mapped);
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
    a->base = NULL;
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
        size_t want = ARENA_BLOCK;
        if (a->head != NULL)
            want = a->head->mapped < MAX_GROWTH ? 2 * a->head->mapped : MAX_GROWTH;
        sp_arena_block *b = map_block(need, want);
        if (b == NULL) {
            a->oom = 1;
            return NULL;
        }
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->cap = b->cap;
        a->base = b->data;
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
    a->base = a->head->data;
    a->oom = 0;
}
