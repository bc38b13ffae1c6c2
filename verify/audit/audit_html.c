/*
 * audit_html.c - the HTML report of `scratchproof audit` (audit.h, SPEC.md
 * 10.6): one self-contained page, inline CSS and inline SVG, no script and
 * no network reference, so it opens the same offline, in a mail attachment
 * or a headless browser. It says in plain words what the verdict means and
 * does not mean; per reference, small multiples (one chart per component, at
 * most CHUNK tensors each, in natural name order so layer 2 comes before
 * layer 10) of each pair's similarity over the band its null allows
 * (mean +- 3 sd); the component and tensor tables (unpaired tensors with
 * their reason); and the tool version, date and digests of every input file.
 * The charts scale to the window (viewBox, width 100 %); tables scroll.
 */
#include "audit.h"
#include "escape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CW 560.0            /* one chart's viewBox */
#define CH 230.0
#define ML 40.0
#define MR 10.0
#define MT 12.0
#define MB 30.0
#define YMIN (-0.2)
#define YMAX 1.0
#define CHUNK 48            /* tensors per chart at most */
#define LABEL_GAP 34.0      /* viewBox units between two x labels */

/* An untrusted string (path, tensor name) as HTML text or attribute value (SPEC.md 1.1). */
static void esc(FILE *f, const char *str)
{
    (void)sp_escape_html_fputs(str, f);
}

/* Natural order: digit runs compare as numbers ("layers.2" < "layers.10"), the rest bytewise. */
int sp_audit_natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0' && a[1] >= '0' && a[1] <= '9')
                a++;
            while (*b == '0' && b[1] >= '0' && b[1] <= '9')
                b++;
            size_t la = 0, lb = 0;
            while (a[la] >= '0' && a[la] <= '9')
                la++;
            while (b[lb] >= '0' && b[lb] <= '9')
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = memcmp(a, b, la);
            if (c != 0)
                return c < 0 ? -1 : 1;
            a += la;
            b += lb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return (*a != 0) - (*b != 0);
}

/* The statistic a pair is drawn with: the one that decided it. */
static const sp_audit_stat *shown(const sp_audit_pair *p, const char **label)
{
    if (p->st.matrix && p->st.matched.valid &&
        (!p->st.pearson.valid || p->st.matched.log10p < p->st.pearson.log10p)) {
        *label = "matched";
        return &p->st.matched;
    }
    if (p->st.pearson.valid) {
        *label = "pearson";
        return &p->st.pearson;
    }
    *label = "cosine";
    return &p->st.cosine;
}

static double ypix(double v)
{
    if (!isfinite(v))
        v = 0;
    if (v < YMIN)
        v = YMIN;
    if (v > YMAX)
        v = YMAX;
    return MT + (YMAX - v) / (YMAX - YMIN) * (CH - MT - MB);
}

/* Sorting of pair indices: by component name, then tensor name, both natural. */
static _Thread_local const sp_audit_result *sort_res;   /* qsort has no context */
static _Thread_local const sp_audit_refres *sort_rr;

static int pair_order(const void *x, const void *y)
{
    const sp_audit_pair *a = &sort_rr->pairs[*(const size_t *)x], *b = &sort_rr->pairs[*(const size_t *)y];
    int c = sp_audit_natcmp(sort_res->comp[a->component].name, sort_res->comp[b->component].name);
    return c ? c : sp_audit_natcmp(a->a->name, b->a->name);
}

static int comp_order(const void *x, const void *y)
{
    return sp_audit_natcmp(sort_res->comp[*(const size_t *)x].name, sort_res->comp[*(const size_t *)y].name);
}

/* The x label of a tensor in its component's chart: the first number after the prefix
 * (a layer), else the next name segment; into out (16 bytes). */
static void xlabel(char *out, const char *name, const char *comp)
{
    size_t cl = strlen(comp);
    const char *s = strncmp(name, comp, cl) == 0 ? name + cl : name;
    while (*s == '.' || *s == '/' || *s == '_')
        s++;
    const char *d = s;
    while (*d && !(*d >= '0' && *d <= '9'))
        d++;
    size_t k = 0;
    if (*d && d - s < 24) {
        while (d[k] >= '0' && d[k] <= '9' && k < 15)
            k++;
        memcpy(out, d, k);
    } else {
        while (s[k] && s[k] != '.' && k < 10)
            k++;
        memcpy(out, s, k);
    }
    out[k] = '\0';
}

/* One chart: pairs idx[0..n) of one component (all paired). */
static void chart(FILE *f, const sp_audit_result *res, const sp_audit_refres *rr, const size_t *idx,
                  size_t n, const char *comp)
{
    double step = (CW - ML - MR) / (double)(n < 8 ? 8 : n);
    double rad = fmax(2.0, fmin(6.0, step * 0.32));
    fprintf(f, "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"similarity per tensor with "
               "null band\">\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n",
            CW, CH, CW, CH);
    for (int t = 0; t <= 6; t++) {
        double v = YMIN + t * 0.2, y = ypix(v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", ML, y, CW - MR, y,
                fabs(v) < 1e-9 ? "#888" : "#e8e8e8");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.1f</text>\n", ML - 5,
                y + 4, v);
    }
    double la = log10(res->alpha), lastx = -1e9;
    char prev[16] = "\x01", lab[16];
    for (size_t k = 0; k < n; k++) {
        const sp_audit_pair *p = &rr->pairs[idx[k]];
        const char *what;
        const sp_audit_stat *s = shown(p, &what);
        double x = ML + step * ((double)k + 0.5);
        double y0 = ypix(s->null_mean + 3 * s->null_sd), y1 = ypix(s->null_mean - 3 * s->null_sd);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#9ecae1\" "
                   "fill-opacity=\"0.6\"/>", x - step * 0.42, y0, step * 0.84, fmax(1.0, y1 - y0));
        char pt[32];
        if (p->st.matrix) {
            const char *col = p->fixed ? "#999" : p->st.log10p < la ? "#d62728" : "#1f77b4";
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"><title>", x, ypix(s->value),
                    rad, col);
            esc(f, p->a->name);
            fprintf(f, ": %s %.4f, null %.4f &#177; %.4f, p %s</title></circle>\n", what, s->value,
                    s->null_mean, s->null_sd, sp_audit_p_text(pt, p->st.log10p));
        } else {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#fff\" stroke=\"#777\" "
                       "stroke-width=\"1.5\"><title>", x, ypix(s->value), fmax(1.5, rad - 1));
            esc(f, p->a->name);
            fprintf(f, ": vector, %s %.4f (shown, never decides)</title></circle>\n", what, s->value);
        }
        xlabel(lab, p->a->name, comp);
        if (strcmp(lab, prev) != 0 && x - lastx >= LABEL_GAP) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">", x, CH - MB + 16);
            esc(f, lab);
            fputs("</text>\n", f);
            lastx = x;
        }
        memcpy(prev, lab, sizeof prev);
    }
    fputs("</svg>\n", f);
}

static const char about[] =
    "<h2>What this shows, and what it does not</h2>\n<p>For every tensor of the audited model that could"
    " be paired with one of a reference model, the audit measures how alike the two are and how alike two"
    " <em>independently</em> initialised and trained models can be by chance (the blue band). A component"
    " marked <strong>derived</strong> has weights far beyond that band, so alike that chance is ruled out"
    " at the stated p: they share an origin with the reference (copied, fine-tuned, cast, quantised,"
    " permuted or renamed from it).</p>\n<p>It does <strong>not</strong> show which of the two models came"
    " first, that a model was trained on the same data, or that a function was copied without its weights"
    " (distillation). <strong>No evidence of derivation</strong> is not a proof of training from scratch:"
    " only a verified training ledger (<code>scratchproof verify</code>) shows that. Tensors that could not"
    " be paired or compared carry no evidence either way; they are listed below with the reason."
    " Vectors (norms, biases) look alike in any two models and never decide.</p>\n";

static void legend(FILE *f)
{
    fputs("<p class=\"legend\"><span class=\"sw band\"></span> null band: independent models (mean &#177; 3"
          " sd) <span class=\"sw red\"></span> matrix beyond the null (p &lt; alpha)"
          " <span class=\"sw blue\"></span> matrix within the null <span class=\"sw hollow\"></span>"
          " vector: shown, never decides <span class=\"sw grey\"></span> fixed (untrained) matrix."
          " x axis: layer or name part; hover a point for the tensor.</p>\n", f);
}

static void tensor_note(FILE *f, const sp_audit_result *res, const sp_audit_refres *rr, const sp_audit_pair *p)
{
    const sp_audit_tinfo *ti = sp_audit_model_info(res->model, (size_t)(p - rr->pairs));
    if (ti != NULL && ti->how != SP_AUDIT_AS_STORED) {
        fprintf(f, "stored %s, read as %s", sp_dtype_name(ti->stored), sp_audit_how_text(ti->how));
        if (ti->scale) {
            fputs(" (scale ", f);
            esc(f, ti->scale);
            fputs(")", f);
        }
        fputs(". ", f);
    }
    if (ti != NULL && ti->unapplied != NULL) {
        fputs("scale ", f);
        esc(f, ti->unapplied);
        fputs(" not applied (its shape fits no known layout). ", f);
    }
    if (p->b == NULL)
        return;
    if (!p->st.matrix)
        fputs("vector: shown, never decides. ", f);
    if (p->st.near_constant)
        fputs("near-constant: raw cosine uninformative. ", f);
    if (p->fixed) {
        fputs("fixed: ", f);
        esc(f, sp_audit_fixed_text(p->fixed));
        fputs(" (shown only). ", f);
    }
    char lay[160];
    sp_audit_layout_text(lay, sizeof lay, p);
    if (lay[0]) {
        fputs("layout: ", f);
        esc(f, lay);
        fputs(". ", f);
    }
    if (p->by_content)
        fputs("paired by shape and content.", f);
}

static void reference_section(FILE *f, const sp_audit_result *res, size_t r, size_t *idx)
{
    const sp_audit_refres *rr = &res->ref[r];
    char pt[32];
    fputs("<h2>Similarity per tensor against ", f);
    esc(f, rr->path);
    fprintf(f, "</h2>\n<p class=\"muted\">%zu of %zu tensors paired (%zu by shape and content). Each point is"
               " the statistic that decided the pair (Pearson at the given alignment, or the matched"
               " correlation across permuted units); one chart per component, at most %d tensors each.</p>\n",
            rr->paired, rr->npairs, rr->by_content, CHUNK);
    legend(f);
    for (size_t i = 0; i < rr->npairs; i++)
        idx[i] = i;
    sort_res = res;
    sort_rr = rr;
    qsort(idx, rr->npairs, sizeof *idx, pair_order);
    fputs("<div class=\"charts\">\n", f);
    size_t *grp = malloc((rr->npairs ? rr->npairs : 1) * sizeof *grp);
    for (size_t i = 0; grp != NULL && i < rr->npairs;) {
        size_t c = rr->pairs[idx[i]].component, j = i, ng = 0, unp = 0;
        while (j < rr->npairs && rr->pairs[idx[j]].component == c) {
            if (rr->pairs[idx[j]].b != NULL)
                grp[ng++] = idx[j];
            else
                unp++;
            j++;
        }
        const sp_audit_component *cp = &res->comp[c];
        const sp_audit_comp_ref *cr = &cp->ref[r];
        size_t parts = (ng + CHUNK - 1) / CHUNK, per = parts ? (ng + parts - 1) / parts : 0;
        for (size_t k = 0; k < ng; k += per) {   /* parts of equal size, none a stub */
            size_t m = ng - k < per ? ng - k : per;
            fputs("<figure class=\"chart\"><figcaption><b>", f);
            esc(f, cp->name);
            fprintf(f, "</b> %s", cr->derived ? "<span class=\"derived\">derived</span>"
                                  : cr->n_matrices ? "not derived" : "uninformative");
            if (cr->n_matrices)
                fprintf(f, ", p %s", sp_audit_p_text(pt, cr->log10p));
            fprintf(f, ", %.1f %% of parameters", 100.0 * cp->share);
            if (parts > 1)
                fprintf(f, " (part %zu of %zu)", k / per + 1, parts);
            if (unp && k == 0)
                fprintf(f, "; %zu unpaired", unp);
            fputs("</figcaption>\n", f);
            chart(f, res, rr, grp + k, m, cp->name);
            fputs("</figure>\n", f);
        }
        i = j;
    }
    free(grp);
    fputs("</div>\n<div class=\"scroll\"><table><tr><th>tensor</th><th>reference tensor</th>"
          "<th>raw cosine [null]</th><th>Pearson [null]</th><th>matched [null]</th><th>p</th>"
          "<th>note</th></tr>\n", f);
    size_t lastc = SIZE_MAX;
    for (size_t k = 0; k < rr->npairs; k++) {
        const sp_audit_pair *p = &rr->pairs[idx[k]];
        if (p->component != lastc) {
            fputs("<tr class=\"grp\"><td colspan=\"7\">", f);
            esc(f, res->comp[p->component].name);
            fputs("</td></tr>\n", f);
            lastc = p->component;
        }
        fputs("<tr><td class=\"nm\">", f);
        esc(f, p->a->name);
        fputs("</td><td class=\"nm\">", f);
        if (p->b == NULL) {
            char why[256];
            sp_audit_unpaired_reason(why, sizeof why, rr, p);
            fputs("<span class=\"muted\">unpaired</span></td><td colspan=\"4\"></td><td>", f);
            esc(f, why);
            fputs(". ", f);
            tensor_note(f, res, rr, p);
            fputs("</td></tr>\n", f);
            continue;
        }
        esc(f, p->b->name);
        const sp_audit_stat *ss[3] = {&p->st.cosine, &p->st.pearson, &p->st.matched};
        for (int s = 0; s < 3; s++) {
            if (ss[s]->valid)
                fprintf(f, "</td><td>%.4f [%.3f, %.3f]", ss[s]->value, ss[s]->null_mean - 3 * ss[s]->null_sd,
                        ss[s]->null_mean + 3 * ss[s]->null_sd);
            else
                fputs("</td><td>-", f);
        }
        fprintf(f, "</td><td>%s</td><td>", p->st.matrix ? sp_audit_p_text(pt, p->st.log10p) : "-");
        tensor_note(f, res, rr, p);
        fputs("</td></tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

static void provenance(FILE *f, const sp_audit_result *res)
{
    fputs("<h2>Provenance</h2>\n<div class=\"scroll\"><table>", f);
    if (res->prov != NULL) {
        fputs("<tr><th>tool</th><td colspan=\"3\">", f);
        esc(f, res->prov->tool);
        fputs("</td></tr>\n<tr><th>date (UTC)</th><td colspan=\"3\">", f);
        esc(f, res->prov->date);
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "<tr><th>level</th><td colspan=\"3\">family-wise alpha %g over %zu component tests (Fisher"
               " within a component, Bonferroni across)</td></tr>\n", res->alpha, res->ntests);
    if (res->prov != NULL && res->prov->nfiles > 0) {
        fputs("<tr><th>input</th><th>file</th><th>SHA-256</th><th>BLAKE2b-256</th></tr>\n", f);
        for (size_t i = 0; i < res->prov->nfiles; i++) {
            const sp_audit_prov_file *pf = &res->prov->files[i];
            fputs("<tr><td>", f);
            esc(f, pf->role);
            fputs("</td><td class=\"nm\">", f);
            esc(f, pf->path);
            fprintf(f, "</td><td class=\"hx\">%s</td><td class=\"hx\">%s</td></tr>\n", pf->sha256, pf->blake2b);
        }
    }
    fputs("</table></div>\n", f);
}

int sp_audit_report_html(FILE *f, const sp_audit_result *res)
{
    char pt[32];
    size_t na = sp_audit_model_count(res->model);
    size_t *idx = malloc((na > res->ncomp ? na : res->ncomp ? res->ncomp : 1) * sizeof *idx);
    if (idx == NULL)
        return -1;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>scratchproof audit: ", f);
    esc(f, res->path);
    fputs("</title>\n<style>\nbody{font-family:sans-serif;margin:16px auto;max-width:1200px;padding:0 12px;"
          "color:#222;line-height:1.4}"
          "table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;"
          "font-size:13px;text-align:left;vertical-align:top}th{background:#f3f3f3}td.n{text-align:right}"
          "td.nm{overflow-wrap:anywhere;min-width:8em}td.hx{font-family:monospace;font-size:11px;"
          "overflow-wrap:anywhere}tr.grp td{background:#fafafa;font-weight:bold}"
          ".scroll{overflow-x:auto;max-width:100%}.derived{color:#b00;font-weight:bold}.clean{color:#070}"
          ".inconclusive{color:#a60;font-weight:bold}.muted{color:#666}"
          ".charts{display:flex;flex-wrap:wrap;gap:12px}figure.chart{flex:1 1 340px;max-width:600px;"
          "margin:0;border:1px solid #e3e3e3;padding:4px}figcaption{font-size:13px;margin:2px 4px 4px;"
          "overflow-wrap:anywhere}svg{width:100%;height:auto;display:block}"
          ".legend{font-size:13px}.sw{display:inline-block;width:12px;height:12px;margin:0 3px 0 10px;"
          "vertical-align:middle;border-radius:6px}.sw.band{background:#9ecae1;border-radius:0}"
          ".sw.red{background:#d62728}.sw.blue{background:#1f77b4}.sw.grey{background:#999}"
          ".sw.hollow{border:2px solid #777;width:8px;height:8px}"
          "h1{font-size:20px;overflow-wrap:anywhere}h2{font-size:16px;margin-top:28px;overflow-wrap:anywhere}"
          "@media (max-width:600px){td,th{font-size:12px;padding:2px 4px}body{padding:0 6px}}\n"
          "</style></head><body>\n", f);
    fputs("<h1>scratchproof audit: ", f);
    esc(f, res->path);
    fputs("</h1>\n<p class=\"", f);
    fputs(res->derived ? "derived\">Verdict: DERIVED"
          : res->inconclusive ? "inconclusive\">Verdict: INCONCLUSIVE (too little of the model could be compared)"
                              : "clean\">Verdict: no evidence of derivation", f);
    for (size_t c = 0; c < res->ncomp; c++)
        if (res->comp[c].derived) {
            fputs("; ", f);
            esc(f, res->comp[c].name);
            fprintf(f, ".* (%.1f %% of parameters) from ", 100.0 * res->comp[c].share);
            esc(f, res->ref[res->comp[c].best_ref].path);
        }
    fprintf(f, "</p>\n<p>Model-level p %s (family-wise alpha %g over %zu component tests); %llu parameters;"
               " %.0f %% of the matrix parameters compared.</p>\n",
            sp_audit_p_text(pt, res->log10p), res->alpha, res->ntests, (unsigned long long)res->params,
            100.0 * res->compared_share);
    fputs(about, f);
    fputs("<h2>Components</h2>\n<div class=\"scroll\"><table><tr><th>component</th><th>parameters</th>"
          "<th>share</th><th>verdict</th><th>p (Fisher)</th><th>reference</th><th>matrices</th>"
          "<th>vectors</th><th>why</th></tr>\n", f);
    for (size_t c = 0; c < res->ncomp; c++)
        idx[c] = c;
    sort_res = res;
    qsort(idx, res->ncomp, sizeof *idx, comp_order);
    for (size_t k = 0; k < res->ncomp; k++) {
        const sp_audit_component *cp = &res->comp[idx[k]];
        const sp_audit_comp_ref *cr = &cp->ref[cp->best_ref];
        fputs("<tr><td class=\"nm\">", f);
        esc(f, cp->name);
        fprintf(f, ".*</td><td class=\"n\">%llu</td><td class=\"n\">%.1f %%</td><td class=\"%s\">%s</td>",
                (unsigned long long)cp->params, 100.0 * cp->share,
                cp->derived ? "derived" : cr->n_matrices ? "clean" : "muted",
                cp->derived ? "derived" : cr->n_matrices ? "not derived" : "uninformative");
        fprintf(f, "<td>%s</td><td class=\"nm\">", cr->n_matrices ? sp_audit_p_text(pt, cr->log10p) : "-");
        esc(f, res->ref[cp->best_ref].path);
        fprintf(f, "</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td>", cr->n_matrices, cr->n_vectors);
        esc(f, cp->reason);
        fputs("</td></tr>\n", f);
    }
    fputs("</table></div>\n", f);
    for (size_t r = 0; r < res->nref; r++)
        reference_section(f, res, r, idx);
    provenance(f, res);
    fputs("<p class=\"muted\">Statistics: SPEC.md, section 10 (Audit).</p>\n</body></html>\n", f);
    free(idx);
    return ferror(f) ? -1 : 0;
}
