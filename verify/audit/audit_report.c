/*
 * audit_report.c - the text and JSON reports of `scratchproof audit`
 * (audit.h; JSON fields in SPEC.md "Audit report"). The HTML page is in
 * audit_html.c. JSON is built with jansson; numbers that are not finite are
 * written as null. Paths and tensor names are untrusted: the text report
 * prints them escaped, the JSON holds them through sp_json_str (SPEC.md 1.1).
 */
#include "audit.h"
#include "escape.h"
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void shape_text(char *out, size_t len, const sp_tensor *t)
{
    size_t k = 0;
    out[0] = '\0';
    for (uint32_t d = 0; d < t->ndim && k < len; d++)
        k += (size_t)snprintf(out + k, len - k, "%s%llu", d ? "x" : "", (unsigned long long)t->shape[d]);
    if (t->ndim == 0)
        snprintf(out, len, "scalar");
}

/* Why part of the model was not compared (fail closed, SPEC.md 10.4), into out. */
static void uncompared_text(char *out, size_t len, const sp_audit_result *res)
{
    if (res->matrix_params == 0) {
        snprintf(out, len, "no weight matrix to compare (only vectors or untrained constants)");
        return;
    }
    snprintf(out, len, "%.1f %% of the matrix parameters compared (needs 50 %%); not compared: "
             "%.1f %% no reference tensor of that shape or layout, %.1f %% non-float dtype, "
             "%.1f %% same size but no known layout",
             100.0 * res->compared_share,
             res->matrix_params ? 100.0 * (double)res->uncompared_no_pair / (double)res->matrix_params : 0.0,
             res->matrix_params ? 100.0 * (double)res->uncompared_dtype / (double)res->matrix_params : 0.0,
             res->matrix_params ? 100.0 * (double)res->uncompared_layout / (double)res->matrix_params : 0.0);
}

static int same_dims(const sp_tensor *x, const sp_tensor *y)
{
    if (x->ndim != y->ndim)
        return 0;
    for (uint32_t d = 0; d < x->ndim; d++)
        if (x->shape[d] != y->shape[d])
            return 0;
    return 1;
}

void sp_audit_unpaired_reason(char *out, size_t len, const sp_audit_refres *rr, const sp_audit_pair *p)
{
    const sp_tensor *a = p->a;
    char sh[64];
    shape_text(sh, sizeof sh, a);
    uint64_t n = 0;
    if (!sp_audit_dtype_ok(a->dtype)) {
        snprintf(out, len, "dtype %s is not compared (%s)", sp_dtype_name(a->dtype),
                 a->dtype == SP_DTYPE_BOOL ? "boolean data"
                 : a->dtype == SP_DTYPE_I8 || a->dtype == SP_DTYPE_U8
                     ? "a single integer element"
                     : "integer data that is not a float bit-cast");
        return;
    }
    if (sp_shape_numel(&n, a->shape, a->ndim) != SP_OK || n < 2) {
        snprintf(out, len, "a single element carries no evidence");
        return;
    }
    const sp_tensor *b = sp_audit_model_find(rr->model, a->name);
    if (b != NULL && !sp_audit_dtype_ok(b->dtype)) {
        snprintf(out, len, "the reference's tensor of this name has dtype %s, not compared",
                 sp_dtype_name(b->dtype));
        return;
    }
    size_t same = 0;
    for (size_t j = 0; j < sp_audit_model_count(rr->model); j++) {
        const sp_tensor *t = sp_audit_model_tensor(rr->model, j);
        same += sp_audit_dtype_ok(t->dtype) && same_dims(t, a);
    }
    if (b != NULL && !same_dims(a, b)) {
        char bs[64];
        shape_text(bs, sizeof bs, b);
        snprintf(out, len, "the reference's tensor of this name is %s, not %s, and no known layout maps "
                 "one onto the other%s", bs, sh, same ? "; the tensors of this shape went to others" : "");
    } else if (same == 0) {
        snprintf(out, len, "no float tensor of shape %s in the reference", sh);
    } else {
        snprintf(out, len, "no tensor of this name in the reference, and its %zu float tensor%s of shape %s "
                 "%s paired with others", same, same == 1 ? "" : "s", sh, same == 1 ? "was" : "were");
    }
}

static const char *comp_verdict(const sp_audit_component *c, const sp_audit_result *res)
{
    if (c->derived)
        return "derived";
    for (size_t r = 0; r < res->nref; r++)
        if (c->ref[r].n_matrices > 0)
            return "not derived";
    return "uninformative";
}

static void stat_text(char *out, size_t len, const sp_audit_stat *s)
{
    if (!s->valid)
        snprintf(out, len, "%-22s", "-");
    else
        snprintf(out, len, "%6.3f [%6.3f,%6.3f]", s->value, s->null_mean - 3 * s->null_sd,
                 s->null_mean + 3 * s->null_sd);
}

/* The escaped form of a path or name, cut to cap - 1 bytes between characters. */
static const char *esc(char *buf, size_t cap, const char *s)
{
    sp_escape(buf, cap, s);
    return buf;
}

#define PATH_SHOWN 1024     /* bytes of an escaped path shown in the text report */

int sp_audit_report_text(FILE *f, const sp_audit_result *res)
{
    char pt[32], sh[64], ep[PATH_SHOWN + 1], ec[4 * SP_NAME_MAX + 1];
    fprintf(f, "scratchproof audit: %s\n", esc(ep, sizeof ep, res->path));
    fprintf(f, "  %llu parameters in %zu tensors\n", (unsigned long long)res->params,
            sp_audit_model_count(res->model));
    for (size_t r = 0; r < res->nref; r++)
        fprintf(f, "  reference %zu: %s (%zu of %zu tensors paired, %zu by shape and content)\n",
                r + 1, esc(ep, sizeof ep, res->ref[r].path), res->ref[r].paired,
                res->ref[r].npairs, res->ref[r].by_content);
    fprintf(f, "\n%-28s %12s %7s  %-14s %s\n", "component", "parameters", "share", "verdict", "p");
    for (size_t c = 0; c < res->ncomp; c++) {
        const sp_audit_component *cp = &res->comp[c];
        const sp_audit_comp_ref *cr = &cp->ref[cp->best_ref];
        char name[48], en[41];
        snprintf(name, sizeof name, "%s.*", esc(en, sizeof en, cp->name));
        fprintf(f, "%-28s %12llu %6.1f%%  %-14s %s%s%s\n", name, (unsigned long long)cp->params,
                100.0 * cp->share, comp_verdict(cp, res),
                cr->n_matrices ? sp_audit_p_text(pt, cr->log10p) : "-",
                cp->derived ? "  from " : "",
                cp->derived ? esc(ep, sizeof ep, res->ref[cp->best_ref].path) : "");
        char er[4 * sizeof cp->reason + 1];
        fprintf(f, "    %s\n", esc(er, sizeof er, cp->reason));
    }
    for (size_t r = 0; r < res->nref; r++) {
        const sp_audit_refres *rr = &res->ref[r];
        fprintf(f, "\ntensors against %s (value [null mean +- 3 sd]):\n", esc(ep, sizeof ep, rr->path));
        fprintf(f, "  %-24s %-12s %-22s %-22s %-28s %s\n", "tensor", "shape", "raw cosine",
                "pearson", "matched", "p");
        for (size_t i = 0; i < rr->npairs; i++) {
            const sp_audit_pair *p = &rr->pairs[i];
            char ea[61], eb[61];   /* names shown up to 60 bytes, as before escaping */
            shape_text(sh, sizeof sh, p->a);
            esc(ea, sizeof ea, p->a->name);
            if (p->b == NULL) {
                char why[256];
                sp_audit_unpaired_reason(why, sizeof why, rr, p);
                fprintf(f, "  %-24s %-12s unpaired: %s\n", ea, sh, why);
                continue;
            }

            char cs[48], ps[48], ms[48], mm[64];
            stat_text(cs, sizeof cs, &p->st.cosine);
            stat_text(ps, sizeof ps, &p->st.pearson);
            stat_text(ms, sizeof ms, &p->st.matched);
            snprintf(mm, sizeof mm, "%s%s", ms,
                     !p->st.matched.valid ? "" : p->st.matched_axis == SP_AUDIT_AXIS_ROWS ? " rows" : " cols");
            fprintf(f, "  %-24s %-12s %-22s %-22s %-28s %s", ea, sh, cs, ps, mm,
                    p->st.matrix ? sp_audit_p_text(pt, p->st.log10p) : "(vector: shown only)");
            if (p->by_content)
                fprintf(f, "  <- %s", esc(eb, sizeof eb, p->b->name));
            if (p->st.near_constant)
                fprintf(f, "  near-constant: raw cosine uninformative");
            if (p->fixed)
                fprintf(f, "  fixed: %s (shown only)", sp_audit_fixed_text(p->fixed));
            char lay[160];
            sp_audit_layout_text(lay, sizeof lay, p);
            if (lay[0])
                fprintf(f, "  layout: %s", lay);
            if (p->st.prop_tried && p->st.prop.valid && p->st.prop.z >= 6.0)
                fprintf(f, "  carried %s permutation: %s matched %.3f",
                        esc(eb, sizeof eb, p->prop_from ? p->prop_from : ""),
                        p->st.prop_axis == SP_AUDIT_AXIS_ROWS ? "rows" : "cols", p->st.prop.value);
            const sp_audit_tinfo *ti = sp_audit_model_info(res->model, (size_t)(p - rr->pairs));
            if (ti != NULL && ti->how != SP_AUDIT_AS_STORED)
                fprintf(f, "  stored %s, read as %s%s%s", sp_dtype_name(ti->stored),
                        sp_audit_how_text(ti->how), ti->scale ? " with scale " : "",
                        ti->scale ? esc(eb, sizeof eb, ti->scale) : "");
            if (ti != NULL && ti->unapplied != NULL)
                fprintf(f, "  scale %s not applied (no known layout)", esc(eb, sizeof eb, ti->unapplied));
            fputc('\n', f);
        }
    }
    fprintf(f, "\nverdict: ");
    if (res->derived) {
        fprintf(f, "DERIVED");
        for (size_t c = 0; c < res->ncomp; c++)
            if (res->comp[c].derived)
                fprintf(f, "; %s.* from %s (%.1f %% of parameters, p %s%s)",
                        esc(ec, sizeof ec, res->comp[c].name),
                        esc(ep, sizeof ep, res->ref[res->comp[c].best_ref].path), 100.0 * res->comp[c].share,
                        res->comp[c].ref[res->comp[c].best_ref].log10p < -300 ? "" : "= ",
                        sp_audit_p_text(pt, res->comp[c].ref[res->comp[c].best_ref].log10p));
        fputc('\n', f);
    } else if (res->inconclusive) {
        char why[400];
        uncompared_text(why, sizeof why, res);
        fprintf(f, "INCONCLUSIVE: %s\n", why);
    } else {
        fprintf(f, "no evidence of derivation (smallest adjusted p %s)\n",
                sp_audit_p_text(pt, res->log10p));
    }
    fprintf(f, "  family-wise alpha %g over %zu component tests (Fisher within a component,"
               " Bonferroni across)\n", res->alpha, res->ntests);
    return ferror(f) ? -1 : 0;
}

/* ------------------------------------------------------------ JSON */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *stat_json(const sp_audit_stat *s)
{
    if (!s->valid)
        return json_null();
    return json_pack("{s:o,s:o,s:o,s:o,s:o}", "value", num(s->value), "null_mean", num(s->null_mean),
                     "null_sd", num(s->null_sd), "z", num(s->z), "log10_p", num(s->log10p));
}

static json_t *pair_json(const sp_audit_result *res, size_t r, const sp_audit_pair *p)
{
    json_t *shape = json_array();
    for (uint32_t d = 0; d < p->a->ndim; d++)
        json_array_append_new(shape, json_integer((json_int_t)p->a->shape[d]));
    char pt[32];
    json_t *o = json_pack("{s:o,s:o,s:o,s:o}", "reference", sp_json_str(res->ref[r].path),
                          "name", sp_json_str(p->a->name), "shape", shape,
                          "component", sp_json_str(res->comp[p->component].name));
    if (o == NULL)
        return NULL;
    const sp_audit_tinfo *ti = sp_audit_model_info(res->model, (size_t)(p - res->ref[r].pairs));
    if (ti != NULL) {
        json_object_set_new(o, "dtype", json_string(sp_dtype_name(ti->stored)));
        json_object_set_new(o, "read_as", json_string(ti->how == SP_AUDIT_DEQUANT ? "dequantised"
                                                      : ti->how == SP_AUDIT_INT_VALUES ? "integer_values"
                                                      : ti->how == SP_AUDIT_BITCAST ? "bitcast"
                                                                                    : "stored"));
        json_object_set_new(o, "scale", ti->scale ? sp_json_str(ti->scale) : json_null());
        json_object_set_new(o, "zero_point", ti->zero ? sp_json_str(ti->zero) : json_null());
        if (ti->unapplied != NULL)
            json_object_set_new(o, "scale_not_applied", sp_json_str(ti->unapplied));
        if (ti->how == SP_AUDIT_BITCAST)
            json_object_set_new(o, "bitcast_as", json_string(sp_dtype_name(p->a->dtype)));
    }
    if (p->b == NULL) {
        char why[256];
        sp_audit_unpaired_reason(why, sizeof why, &res->ref[r], p);
        json_object_set_new(o, "ref_name", json_null());
        json_object_set_new(o, "paired_by", json_null());
        json_object_set_new(o, "unpaired_reason", json_string(why));
        return o;
    }
    json_object_set_new(o, "ref_name", sp_json_str(p->b->name));
    json_object_set_new(o, "paired_by", json_string(p->by_content ? "content" : "name"));
    {
        char lay[160];
        static const char *const lname[] = {"same", "axes", "slice", "stack"};
        sp_audit_layout_text(lay, sizeof lay, p);
        json_t *l = json_pack("{s:s,s:s}", "kind", lname[p->layout & 3], "text", lay);
        if (p->layout == SP_AUDIT_LAYOUT_AXES) {
            json_t *ax = json_array();
            for (uint32_t d = 0; d < p->a->ndim; d++)
                json_array_append_new(ax, json_integer(p->axes[d]));
            json_object_set_new(l, "axes", ax);
        } else if (p->layout == SP_AUDIT_LAYOUT_SLICE) {
            json_object_set_new(l, "rows", json_pack("[I,I]", (json_int_t)p->slice_lo, (json_int_t)p->slice_hi));
        } else if (p->layout == SP_AUDIT_LAYOUT_STACK) {
            json_t *names = json_array();
            for (size_t k = 0; k < p->nstack; k++)
                json_array_append_new(names, sp_json_str(p->stack[k]->name));
            json_object_set_new(l, "tensors", names);
        }
        json_object_set_new(o, "layout", l);
        json_object_set_new(o, "layouts_tried", json_integer(p->st.nlayouts ? p->st.nlayouts : 1));
        json_object_set_new(o, "fixed", p->fixed ? json_string(sp_audit_fixed_text(p->fixed)) : json_null());
        json_object_set_new(o, "exact", stat_json(&p->st.exact));
        json_t *pm = json_null();
        if (p->st.prop_tried > 0) {
            pm = json_pack("{s:I,s:o}", "candidates", (json_int_t)p->st.prop_tried, "matched", stat_json(&p->st.prop));
            json_object_set_new(pm, "axis", json_string(p->st.prop_axis == SP_AUDIT_AXIS_ROWS ? "rows" : "cols"));
            json_object_set_new(pm, "from", p->prop_from && p->prop_from[0] ? sp_json_str(p->prop_from) : json_null());
            json_object_set_new(pm, "units_in_place", num(p->unpermuted));
        }
        json_object_set_new(o, "permutation", pm);
    }
    json_object_set_new(o, "kind", json_string(p->st.matrix ? "matrix" : "vector"));
    json_object_set_new(o, "near_constant", json_boolean(p->st.near_constant));
    json_object_set_new(o, "cosine", stat_json(&p->st.cosine));
    json_object_set_new(o, "pearson", stat_json(&p->st.pearson));
    json_object_set_new(o, "null_axis",
                        json_string(p->st.null_axis == SP_AUDIT_AXIS_ROWS ? "rows" : "cols"));
    json_t *m = stat_json(&p->st.matched);
    if (json_is_object(m))
        json_object_set_new(m, "axis",
                            json_string(p->st.matched_axis == SP_AUDIT_AXIS_ROWS ? "rows" : "cols"));
    json_object_set_new(o, "matched", m);
    int decides = p->st.matrix && !p->fixed;
    json_object_set_new(o, "decides", json_boolean(decides));
    json_object_set_new(o, "log10_p", decides ? num(p->st.log10p) : json_null());
    json_object_set_new(o, "p", decides ? json_string(sp_audit_p_text(pt, p->st.log10p)) : json_null());
    return o;
}

/*
 * Every "p" as a number (SPEC.md 10.5): 10^log10_p from the object's own
 * "log10_p" (0 when it underflows a double: log10_p keeps the exact figure),
 * null when log10_p is null; the printed form moves to "p_text". Done in one
 * pass over the finished tree, so every object that carries both agrees.
 */
static void numeric_p(json_t *j)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
            numeric_p(v);
        return;
    }
    if (!json_is_object(j))
        return;
    json_t *p = json_object_get(j, "p");
    if (json_is_string(p)) {
        json_t *lp = json_object_get(j, "log10_p");
        json_object_set(j, "p_text", p);
        json_object_set_new(j, "p", json_is_number(lp) ? json_real(pow(10.0, json_number_value(lp)))
                                                       : json_null());
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
        if (strcmp(k, "p") != 0 && strcmp(k, "p_text") != 0)
            numeric_p(v);
}

#define JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12) | JSON_ENSURE_ASCII)

/* One element of the root's "tensors" array as json_dumps writes it at depth 0 (malloc'd). */
static char *tensor_text(const sp_audit_result *res, size_t r, const sp_audit_pair *p)
{
    json_t *o = pair_json(res, r, p);
    if (o == NULL)
        return NULL;
    numeric_p(o);
    char *t = json_dumps(o, JSON_FLAGS);
    json_decref(o);
    return t;
}

/*
 * Writes an element as json_dumpf writes it inside the whole tree (depth 2: every line
 * indented 4 more spaces). first: no separating comma before it.
 */
static int put_tensor(FILE *f, const char *t, int first)
{
    int rc = fputs(first ? "\n  \"tensors\": [\n    " : ",\n    ", f) == EOF ? -1 : 0;
    for (const char *q = t; rc == 0 && *q;) {
        const char *nl = strchr(q, '\n');
        size_t len = nl ? (size_t)(nl - q) : strlen(q);
        if (fwrite(q, 1, len, f) != len || (nl && fputs("\n    ", f) == EOF))
            rc = -1;
        q += len + (nl ? 1 : 0);
    }
    return rc;
}

/*
 * The tensors are serialised in batches on the pool (each element is independent; jansson
 * objects are not shared between threads) and written in order, then freed: a million
 * tensors never form one tree, and two threads halve the time.
 */
#define JSON_BATCH 4096u

typedef struct jbatch {
    const sp_audit_result *res;
    size_t first;           /* index over (reference, pair) of text[0] */
    char **text;
} jbatch;

static int batch_item(void *arg, size_t k)
{
    jbatch *b = arg;
    size_t g = b->first + k, na = b->res->ref[0].npairs, r = g / na, i = g % na;
    b->text[k] = tensor_text(b->res, r, &b->res->ref[r].pairs[i]);
    return b->text[k] != NULL ? SP_OK : SP_ENOMEM;
}

static int put_tensors(FILE *f, const sp_audit_result *res, size_t *nt)
{
    size_t na = res->nref ? res->ref[0].npairs : 0, total = res->nref * na;
    *nt = 0;
    for (size_t r = 0; r < res->nref; r++)
        if (res->ref[r].npairs != na)
            return -1;      /* every reference pairs the model's tensors, one each */
    char **text = calloc(JSON_BATCH, sizeof *text);
    if (text == NULL)
        return -1;
    int rc = 0;
    for (size_t first = 0; first < total && rc == 0; first += JSON_BATCH) {
        size_t n = total - first < JSON_BATCH ? total - first : JSON_BATCH;
        jbatch b = {res, first, text};
        if (sp_audit_par_for(n, res->threads, batch_item, &b, NULL, NULL) != SP_OK)
            rc = -1;
        for (size_t k = 0; k < n; k++) {
            if (rc == 0 && put_tensor(f, text[k], (*nt)++ == 0) != 0)
                rc = -1;
            free(text[k]);
            text[k] = NULL;
        }
    }
    free(text);
    return rc;
}

int sp_audit_report_json(FILE *f, const sp_audit_result *res)
{
    char pt[32];
    json_t *root = json_object(), *refs = json_array(), *comps = json_array(), *tens = json_array();
    if (root == NULL || refs == NULL || comps == NULL || tens == NULL) {
        json_decref(root);
        json_decref(refs);
        json_decref(comps);
        json_decref(tens);
        return -1;
    }
    json_object_set_new(root, "model", sp_json_str(res->path));
    if (res->prov != NULL) {   /* with --html: what a reader cites */
        json_t *fs = json_array();
        for (size_t i = 0; i < res->prov->nfiles; i++) {
            const sp_audit_prov_file *pf = &res->prov->files[i];
            json_array_append_new(fs, json_pack("{s:o,s:s,s:s,s:s}", "path", sp_json_str(pf->path),
                                                "role", pf->role, "sha256", pf->sha256,
                                                "blake2b_256", pf->blake2b));
        }
        json_object_set_new(root, "tool", json_string(res->prov->tool));
        json_object_set_new(root, "date", json_string(res->prov->date));
        json_object_set_new(root, "files", fs);
    }
    json_object_set_new(root, "parameters", json_integer((json_int_t)res->params));
    json_object_set_new(root, "derived", json_boolean(res->derived));
    json_object_set_new(root, "log10_p", num(res->log10p));
    json_object_set_new(root, "p", json_string(sp_audit_p_text(pt, res->log10p)));
    json_object_set_new(root, "alpha", num(res->alpha));
    json_object_set_new(root, "tests", json_integer((json_int_t)res->ntests));
    json_object_set_new(root, "inconclusive", json_boolean(res->inconclusive));
    json_object_set_new(root, "compared_share", num(res->compared_share));
    json_object_set_new(root, "matrix_parameters", json_integer((json_int_t)res->matrix_params));
    json_object_set_new(root, "uncompared", json_pack("{s:I,s:I,s:I}",
                        "no_pair", (json_int_t)res->uncompared_no_pair,
                        "dtype", (json_int_t)res->uncompared_dtype,
                        "layout", (json_int_t)res->uncompared_layout));
    {
        char why[400];
        uncompared_text(why, sizeof why, res);
        json_object_set_new(root, "inconclusive_reason", res->inconclusive ? json_string(why) : json_null());
    }
    for (size_t r = 0; r < res->nref; r++) {
        const sp_audit_refres *rr = &res->ref[r];
        json_array_append_new(refs, json_pack("{s:o,s:I,s:I,s:I,s:b,s:o}", "path", sp_json_str(rr->path),
                                              "tensors", (json_int_t)rr->npairs,
                                              "paired", (json_int_t)rr->paired,
                                              "paired_by_content", (json_int_t)rr->by_content,
                                              "derived", rr->derived, "log10_p", num(rr->log10p)));
    }
    for (size_t c = 0; c < res->ncomp; c++) {
        const sp_audit_component *cp = &res->comp[c];
        const sp_audit_comp_ref *best = &cp->ref[cp->best_ref];
        char prefix[SP_NAME_MAX + 3];
        snprintf(prefix, sizeof prefix, "%s.", cp->name);
        json_t *by = json_array();
        for (size_t r = 0; r < res->nref; r++)
            json_array_append_new(by, json_pack("{s:o,s:b,s:o,s:i,s:i}", "reference", sp_json_str(res->ref[r].path),
                                                "derived", cp->ref[r].derived,
                                                "log10_p", num(cp->ref[r].log10p),
                                                "matrices", cp->ref[r].n_matrices,
                                                "vectors", cp->ref[r].n_vectors));
        json_t *o = json_pack("{s:o,s:o,s:I,s:o,s:b,s:s,s:o,s:o,s:s,s:i,s:i,s:o}",
                              "name", sp_json_str(cp->name), "prefix", sp_json_str(prefix),
                              "parameters", (json_int_t)cp->params, "share", num(cp->share),
                              "derived", cp->derived, "verdict", comp_verdict(cp, res),
                              "derived_from", cp->derived ? sp_json_str(res->ref[cp->best_ref].path)
                                                          : json_null(),
                              "log10_p", best->n_matrices ? num(best->log10p) : json_null(),
                              "p", best->n_matrices ? sp_audit_p_text(pt, best->log10p) : "-",
                              "matrices", best->n_matrices, "vectors", best->n_vectors,
                              "by_reference", by);
        json_object_set_new(o, "fixed", json_integer(best->n_fixed));
        json_object_set_new(o, "reason", sp_json_str(cp->reason));
        json_array_append_new(comps, o);
    }
    json_object_set_new(root, "references", refs);
    json_object_set_new(root, "components", comps);
    json_object_set_new(root, "tensors", tens);   /* empty: a placeholder, streamed below */
    numeric_p(root);
    json_object_set_new(root, "schema", json_string("scratchproof/audit/v1"));
    char *text = json_dumps(root, JSON_FLAGS);
    json_decref(root);
    if (text == NULL)
        return -1;
    /* the root's own "tensors" key: at depth 1, right after a newline (a string value never
     * holds a raw newline: JSON escapes it) */
    static const char key[] = "\n  \"tensors\": []";
    const char *at = strstr(text, key);
    int rc = at != NULL ? 0 : -1;
    size_t head = at != NULL ? (size_t)(at - text) : 0, nt = 0;
    if (rc == 0 && fwrite(text, 1, head, f) != head)
        rc = -1;
    if (rc == 0)
        rc = put_tensors(f, res, &nt);
    /* as jansson closes an array: "[]" when empty, else the bracket on its own line */
    if (rc == 0 && fputs(nt ? "\n  ]" : "\n  \"tensors\": []", f) == EOF)
        rc = -1;
    if (rc == 0 && (fputs(at + sizeof key - 1, f) == EOF || fputc('\n', f) == EOF))
        rc = -1;
    free(text);
    return rc == 0 && !ferror(f) ? 0 : -1;
}
