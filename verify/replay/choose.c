/*
 * choose.c - which segments a replay re-executes (SPEC.md 12.4): the first
 * segment, the Q largest relative updates, and R drawn from a nonce the
 * verifier picks, with a stream anyone can recompute from the nonce and the
 * ledger's last record digest.
 */
#include "replay_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

void sp_draw_init(sp_draw *d, const uint8_t nonce[SP_REPLAY_NONCE_BYTES],
                  const uint8_t last_digest[SP_DIGEST_BYTES])
{
    uint8_t in[SP_REPLAY_NONCE_BYTES + SP_DIGEST_BYTES];
    memcpy(in, nonce, SP_REPLAY_NONCE_BYTES);
    memcpy(in + SP_REPLAY_NONCE_BYTES, last_digest, SP_DIGEST_BYTES);
    memset(d, 0, sizeof *d);
    (void)sp_hash_tagged(d->key, "scratchproof/segment-draw", in, sizeof in);
    d->used = 8;     /* no block yet */
}

uint64_t sp_draw_u64(sp_draw *d)
{
    if (d->used == 8) {
        uint8_t msg[8], out[64];
        for (int i = 0; i < 8; i++)
            msg[i] = (uint8_t)(d->block >> (8 * i));
        crypto_generichash(out, sizeof out, msg, sizeof msg, d->key, sizeof d->key);
        for (int k = 0; k < 8; k++) {
            uint64_t x = 0;
            for (int i = 7; i >= 0; i--)
                x = (x << 8) | out[8 * k + i];
            d->w[k] = x;
        }
        d->block++;
        d->used = 0;
    }
    return d->w[d->used++];
}

uint64_t sp_draw_below(sp_draw *d, uint64_t n)
{
    /* Accept x < 2^64 - (2^64 mod n): every residue equally often. */
    uint64_t reject = (0 - n) % n;           /* 2^64 mod n */
    for (;;) {
        uint64_t x = sp_draw_u64(d);
        if (x <= UINT64_MAX - reject)
            return x % n;
    }
}

static int seg_empty(const sp_replay_seg *s)
{
    return s->first_step > s->last_step;
}

double sp_choose_default(sp_replay_seg *segs, size_t n, unsigned q, unsigned r, sp_draw *d)
{
    if (n == 0)
        return 0;
    segs[0].chosen = 1;
    segs[0].why |= SP_WHY_FIRST;
    for (unsigned k = 0; k < q; k++) {
        size_t best = n;
        for (size_t i = 1; i < n; i++) {
            if (segs[i].chosen || seg_empty(&segs[i]))
                continue;
            if (best == n || segs[i].update > segs[best].update)
                best = i;
        }
        if (best == n)
            break;
        segs[best].chosen = 1;
        segs[best].why |= SP_WHY_LARGEST;
    }
    size_t *cand = malloc(n * sizeof *cand), m = 0;
    if (cand == NULL) {
        /* Cannot draw: choose every remaining segment (never fewer than asked). */
        for (size_t i = 1; i < n; i++)
            if (!segs[i].chosen && !seg_empty(&segs[i])) {
                segs[i].chosen = 1;
                segs[i].why |= SP_WHY_RANDOM;
            }
        return 0;
    }
    for (size_t i = 1; i < n; i++)
        if (!segs[i].chosen && !seg_empty(&segs[i]))
            cand[m++] = i;
    size_t take = r < m ? r : m;
    for (size_t k = 0; k < take; k++) {
        size_t j = k + (size_t)sp_draw_below(d, m - k);
        size_t t = cand[k];
        cand[k] = cand[j];
        cand[j] = t;
        segs[cand[k]].chosen = 1;
        segs[cand[k]].why |= SP_WHY_RANDOM;
    }
    free(cand);
    return m == 0 ? 0.0 : (double)(m - take) / (double)m;
}
