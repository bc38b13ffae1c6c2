/*
 * trajectory_ref.c - trajectory screening against reference models
 * (trajectory.h, SPEC.md 13.4): every checkpoint with a file is audited
 * against every --ref (verify/audit: the same pairing, statistics,
 * components and Bonferroni level), and each reference gets one check
 * `trajectory-ref` naming where a component first becomes derived from it.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "trajectory.h"

/* With --ref: the audit of every checkpoint against the references. */
int sp_trajectory_refs(const sp_run_table *tab, const sp_traj_opts *o, sp_trajectory *T,
                       sp_report *rep, char *err)
{
    sp_audit_model **refs = calloc(o->n_refs, sizeof *refs);
    T->ref_path = calloc(o->n_refs, sizeof *T->ref_path);
    if (refs == NULL || T->ref_path == NULL) {
        free(refs);
        return SP_ENOMEM;
    }
    int rc = SP_OK;
    for (size_t r = 0; r < o->n_refs && rc == SP_OK; r++) {
        char why[SP_ERRMSG_MAX] = "";
        rc = sp_audit_model_open(&refs[r], o->refs[r], why);
        if (rc != SP_OK)
            sp_errf(err, "--ref %s: %s", o->refs[r], why[0] ? why : sp_strerror(rc));
        T->ref_path[r] = (char *)o->refs[r];
    }
    T->nref = o->n_refs;
    for (size_t c = 0; rc == SP_OK && c < T->ncomp; c++) {
        T->comp[c].ref = calloc(T->nref * T->npts, sizeof *T->comp[c].ref);
        if (T->comp[c].ref == NULL)
            rc = SP_ENOMEM;
    }
    sp_audit_options ao = {.alpha = SP_AUDIT_DEFAULT_ALPHA, .threads = o->threads};
    for (size_t p = 1; rc == SP_OK && p < T->npts; p++) {
        const sp_weight_file *w = tab->pts[p].weights;
        if (w == NULL)
            continue;
        sp_audit_model *m = NULL;
        char why[SP_ERRMSG_MAX] = "";
        if (sp_audit_model_open(&m, w->path, why) != SP_OK)
            continue;                     /* bound and hashed already: cannot happen but by a race */
        sp_audit_result res;
        rc = sp_audit_run(&res, w->path, m, (const char *const *)T->ref_path, refs, T->nref, &ao);
        for (size_t k = 0; rc == SP_OK && k < res.ncomp; k++) {
            size_t c = 0;
            while (c < T->ncomp && strcmp(T->comp[c].name, res.comp[k].name) != 0)
                c++;
            if (c == T->ncomp)
                continue;
            for (size_t r = 0; r < T->nref; r++) {
                sp_traj_refpt *x = &T->comp[c].ref[r * T->npts + p];
                x->ok = res.comp[k].ref[r].n_matrices > 0;
                x->derived = res.comp[k].ref[r].derived;
                x->log10p = res.comp[k].ref[r].log10p;
            }
        }
        sp_audit_result_free(&res);
        sp_audit_model_close(m);
    }
    for (size_t r = 0; rc == SP_OK && r < T->nref; r++) {
        char msg[900] = "";
        size_t len = 0, hits = 0;
        for (size_t c = 0; c < T->ncomp; c++) {
            for (size_t p = 1; p < T->npts; p++) {
                const sp_traj_refpt *x = &T->comp[c].ref[r * T->npts + p];
                if (!x->derived)
                    continue;
                char pt[32];
                if (hits++ < 6 && len < sizeof msg - 1) {
                    int n = snprintf(msg + len, sizeof msg - len, "%s%s.* becomes derived from it at step %llu (p %s)",
                                     len ? "; " : "", T->comp[c].name, (unsigned long long)T->step[p],
                                     sp_audit_p_text(pt, x->log10p));
                    len += n > 0 ? (size_t)n : 0;
                    if (len >= sizeof msg)
                        len = sizeof msg - 1;
                }
                break;
            }
        }
        if (hits)
            sp_report_add(rep, "trajectory-ref", 0, "%s: %s%s", T->ref_path[r], msg,
                          hits > 6 ? "; ..." : "");
        else
            sp_report_add(rep, "trajectory-ref", 1, "%s: no component of any checkpoint is derived from it",
                          T->ref_path[r]);
    }
    for (size_t r = 0; r < o->n_refs; r++)
        sp_audit_model_close(refs[r]);
    free(refs);
    return rc;
}

