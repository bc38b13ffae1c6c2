/*
 * trajectory.h - trajectory screening (SPEC.md 13): from the checkpoint files
 * alone (no re-execution), per segment and per component, how far the
 * weights moved and how much of the random initialisation they still carry,
 * judged against the run's own history; with --ref, when a component
 * becomes derived from a reference model (the audit's statistics).
 *
 * A screen points at segments to replay; it proves nothing by itself: a
 * careful forger can shape a trajectory. Replay (SPEC.md 12) is the proof.
 */
#ifndef SP_TRAJECTORY_H
#define SP_TRAJECTORY_H

#include "report.h"
#include "segments.h"
#include "sp_base.h"

/* The rule's thresholds (SPEC.md 13.3, with the measurements behind them). */
#define SP_TRAJ_JUMP_RATIO 5.0     /* update at least this many times its neighbours'... */
#define SP_TRAJ_JUMP_Z 4.0         /* ...and this many robust deviations above the others */
#define SP_TRAJ_JUMP_MIN_SPREAD 0.1 /* floor of the robust deviation (log scale) */
#define SP_TRAJ_NEAR 4             /* neighbours that make a segment's reference */
#define SP_TRAJ_JUMP_MIN_SEGS 3    /* usable segments (after the first) for rule 1 */
#define SP_TRAJ_TRACE_Z 20.0       /* genesis trace strongly measurable before... */
#define SP_TRAJ_LOST_Z 4.0         /* ...and not measurable after: vanished, or */
#define SP_TRAJ_LOST_KEPT0 0.25    /* ...and less than this fraction kept over the first segment */
#define SP_TRAJ_LOST_KEPT 0.5      /* ...or over a later one, losing... */
#define SP_TRAJ_LOST_TIMES 4.0     /* ...this many times the other segments' typical loss */

/* One component over one segment (points s -> s + 1). */
typedef struct sp_traj_seg {
    int ok;                   /* stats available (both ends readable) */
    uint64_t steps;           /* steps in the segment; 0 for an empty one */
    double upd;               /* ||W_end - W_start|| over the component's matrices */
    double rel;               /* upd / ||W_start|| (matrices) */
    double upd_all;           /* over every tensor, vectors included (shown only) */
    double corr_prev;         /* pooled Pearson of the matrices with W_start */
    double corr_gen;          /* pooled Pearson of the matrices at the end with the genesis */
    double z_gen;             /* corr_gen * sqrt(elements): > 4 is a measurable trace */
    double kept;              /* corr_gen / the previous point's (NaN when that is not measurable) */
    int gen_ok;               /* corr_gen computed (genesis regenerable) */
    double ratio;             /* per-step update / its neighbours' (median) */
    double robust_z;          /* log ratio / the run's robust spread of log ratios */
    int jump;                 /* rule 1 fired */
    int lost;                 /* rule 2 fired */
} sp_traj_seg;

/* A component's verdict against one reference at one point. */
typedef struct sp_traj_refpt {
    int ok;                   /* compared */
    int derived;
    double log10p;
} sp_traj_refpt;

typedef struct sp_traj_comp {
    char *name;               /* "fc1": tensors fc1.* */
    uint64_t params, matrix_params;
    size_t nmat, nvec;
    double med_log_rate, mad_log_rate;   /* history: median and MAD of log per-step updates */
    int have_history;
    sp_traj_seg *seg;         /* npts - 1 */
    sp_traj_refpt *ref;       /* nref x npts, [r * npts + p]; p = 0 unused */
} sp_traj_comp;

typedef struct sp_trajectory {
    size_t npts;
    uint64_t *step;           /* per point */
    double *loss;             /* per point, NaN when not recorded (genesis, final) */
    uint64_t *seq;            /* record sequence numbers */
    int *have;                /* per point: weights readable */
    int genesis_ok;           /* every genesis matrix regenerable */
    size_t ncomp;
    sp_traj_comp *comp;
    size_t nref;
    char **ref_path;
    size_t flagged;           /* segments x components that fired */
    double seconds;           /* wall time of the screen */
} sp_trajectory;

typedef struct sp_traj_opts {
    unsigned threads;
    const char *const *refs;  /* --ref paths, n_refs of them */
    size_t n_refs;
} sp_traj_opts;

/*
 * Screens the run in tab: a check "trajectory" (ok, or failed naming each
 * segment and component outside the run's history) and, with refs, a check
 * "trajectory-ref" per reference, into rep; the numbers into *out (free with
 * sp_trajectory_free) when out is not NULL. Nothing is added when fewer than
 * two points have weights. Returns SP_OK (findings are in rep), SP_ENOMEM;
 * a reference that cannot be opened is SP_EIO/SP_EFORMAT/... with err set
 * (a usage error: exit 2).
 */
int sp_trajectory_screen(const sp_run_table *tab, const sp_traj_opts *o, sp_report *rep,
                         sp_trajectory *out, char *err) SP_WUR SP_NONNULL(1, 2, 3);
void sp_trajectory_free(sp_trajectory *t);

/*
 * The rule over one component's segments (exposed for the tests): fills
 * ratio, robust_z, jump and lost of seg[0 .. n) from their ok, steps, upd,
 * corr_gen, z_gen and gen_ok, and the history into c. Segment s's genesis
 * trace before it is seg[s - 1].z_gen (1.0 correlation at the genesis).
 * Returns the number of segments that fired.
 */
size_t sp_trajectory_rule(sp_traj_comp *c, sp_traj_seg *seg, size_t n, double z_genesis)
    SP_NONNULL(1, 2);

/*
 * Internal to trajectory*.c: with o->refs, audits every point's file against
 * every reference into t (components already set) and adds the checks
 * `trajectory-ref` to rep. SP_OK, SP_ENOMEM, or why a reference cannot be
 * opened (err set: a usage error).
 */
int sp_trajectory_refs(const sp_run_table *tab, const sp_traj_opts *o, sp_trajectory *t,
                       sp_report *rep, char *err) SP_WUR SP_NONNULL(1, 2, 3, 4);

#endif
