/*
 * segments.h - the run as a sequence of weight points, shared by segment
 * replay (replay.c, SPEC.md 12) and trajectory screening (trajectory.c,
 * SPEC.md 13). verify/chain/verify.c builds the table after the chain checks
 * and the binding of checkpoint files; the checks here only read it.
 *
 * A point is one weight record: the genesis (step 0), each checkpoint, the
 * final record. Segment i runs from point i to point i+1: steps
 * pts[i].step + 1 .. pts[i+1].step.
 */
#ifndef SP_SEGMENTS_H
#define SP_SEGMENTS_H

#include "bind.h"
#include "record.h"
#include "report.h"

enum sp_point_kind { SP_POINT_GENESIS, SP_POINT_CHECKPOINT, SP_POINT_FINAL };

typedef struct sp_point {
    uint64_t seq;                     /* the record's sequence number */
    enum sp_point_kind kind;
    uint64_t step;                    /* 0 for the genesis */
    const Sp__Record *rec;            /* decoded and validated; lives as long as the table */
    /*
     * Files bound by content (root equal to the record's), or NULL when
     * --checkpoints holds none. The genesis has no weights file (it is
     * regenerated: sp_genesis_materialise) and no optimizer state.
     */
    const sp_weight_file *weights;
    const sp_weight_file *optimizer;  /* bound to the checkpoint's optimizer_digest */
} sp_point;

typedef struct sp_run_table {
    const Sp__Record *genesis;        /* == pts[0].rec */
    sp_point *pts;
    size_t n;                         /* points; n - 1 segments */
    uint32_t batches_per_step;        /* from the genesis, 0 read as 1 */
} sp_run_table;

/*
 * Regenerates genesis tensor i (sp_init_fill) into a malloc'd buffer *data,
 * described by *t (t->name points into the record). SP_EUNSUPPORTED for an
 * external tensor (it cannot be regenerated), SP_ENOMEM. Caller frees *data.
 */
int sp_genesis_materialise(const Sp__Record *genesis, size_t i, sp_tensor *t, void **data)
    SP_WUR SP_NONNULL(1, 3, 4);

#endif
