/*
 * audit_quant.h - internal to verify/audit: the audit's view of a model's
 * tensors (audit_quant.c, SPEC.md 10.1): quantised tensors dequantised,
 * their scale and zero-point tensors absorbed, bit-cast floats re-typed.
 */
#ifndef SP_AUDIT_QUANT_H
#define SP_AUDIT_QUANT_H

#include "audit.h"

typedef struct sp_audit_view {
    size_t count;
    sp_tensor *tensors;     /* the visible tensors, in the order of all[] */
    sp_audit_tinfo *info;   /* how each was read */
    float **owned;          /* dequantised data, or NULL */
} sp_audit_view;

/*
 * Builds the view of all[0..n) (sorted by name, data valid while the caller
 * keeps it). A scale or zero point whose shape fits no known layout is not
 * applied (info.unapplied names it; the integers are read as they are).
 * Returns SP_OK or SP_ENOMEM; err is reserved.
 */
int sp_audit_interpret(sp_audit_view *v, const sp_tensor *all, size_t n, char *err);
void sp_audit_view_free(sp_audit_view *v);

#endif
