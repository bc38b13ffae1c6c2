/*
 * audit_html.c - the HTML report of `scratchproof audit` (audit.h): one
 * self-contained page, inline CSS and inline SVG, no script and no network
 * reference, so it opens the same offline, in a mail attachment or headless
 * browser. Per reference, a chart of each tensor pair's similarity with the
 * band its null model allows (mean +- 3 sd), then the component table and
 * the tensor table.
 */
#include "audit.h"
#include "escape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 1100.0
#define H 420.0
#define ML 64.0
#define MR 24.0
#define MT 44.0
#define MB 120.0
#define YMIN (-0.2)
#define YMAX 1.0

/*
 * An untrusted string (path, tensor name) as HTML text or attribute value:
 * first the terminal escaping of SPEC.md 1.1, so control bytes, invalid
 * UTF-8 and bidi overrides show as \xNN and the page stays valid UTF-8,
 * then the five HTML metacharacters as entities.
 */
static void esc(FILE *f, const char *str)
{
    char *e = sp_escape_dup(str);
    if (e == NULL) {
        fputs("(out of memory)", f);
        return;
    }
    for (const char *s = e; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
    free(e);
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
    return MT + (YMAX - v) / (YMAX - YMIN) * (H - MT - MB);
}

static void chart(FILE *f, const sp_audit_result *res, size_t r)
{
    const sp_audit_refres *rr = &res->ref[r];
    size_t n = 0;
    for (size_t i = 0; i < rr->npairs; i++)
        n += rr->pairs[i].b != NULL;
    double step = n ? (W - ML - MR) / (double)n : 0;
    fprintf(f, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
               "aria-label=\"similarity per tensor with null band\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", W, H);
    for (int t = 0; t <= 6; t++) {
        double v = YMIN + t * 0.2, y = ypix(v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", ML, y,
                W - MR, y, fabs(v) < 1e-9 ? "#888" : "#e4e4e4");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.1f</text>\n",
                ML - 6, y + 4, v);
    }
    fprintf(f, "<text x=\"16\" y=\"%.1f\" font-size=\"13\" transform=\"rotate(-90 16 %.1f)\" "
               "text-anchor=\"middle\">similarity (correlation)</text>\n",
            (MT + H - MB) / 2, (MT + H - MB) / 2);
    /* the null band: a polygon through mean + 3 sd forward, mean - 3 sd back */
    if (n > 0) {
        fputs("<polygon fill=\"#9ecae1\" fill-opacity=\"0.55\" stroke=\"none\" points=\"", f);
        size_t k = 0;
        for (size_t i = 0; i < rr->npairs; i++) {
            const sp_audit_pair *p = &rr->pairs[i];
            if (p->b == NULL)
                continue;
            const char *lab;
            const sp_audit_stat *s = shown(p, &lab);
            double x = ML + step * ((double)k + 0.5);
            fprintf(f, "%.1f,%.1f %.1f,%.1f ", x - step * 0.45, ypix(s->null_mean + 3 * s->null_sd),
                    x + step * 0.45, ypix(s->null_mean + 3 * s->null_sd));
            k++;
        }
        for (size_t i = rr->npairs; i-- > 0;) {
            const sp_audit_pair *p = &rr->pairs[i];
            if (p->b == NULL)
                continue;
            const char *lab;
            const sp_audit_stat *s = shown(p, &lab);
            k--;
            double x = ML + step * ((double)k + 0.5);
            fprintf(f, "%.1f,%.1f %.1f,%.1f ", x + step * 0.45, ypix(s->null_mean - 3 * s->null_sd),
                    x - step * 0.45, ypix(s->null_mean - 3 * s->null_sd));
        }
        fputs("\"/>\n", f);
    }
    size_t k = 0;
    double la = log10(res->alpha);
    for (size_t i = 0; i < rr->npairs; i++) {
        const sp_audit_pair *p = &rr->pairs[i];
        if (p->b == NULL)
            continue;
        const char *lab;
        const sp_audit_stat *s = shown(p, &lab);
        double x = ML + step * ((double)k + 0.5), y = ypix(s->value);
        char pt[32];
        if (p->st.matrix && !p->fixed) {
            const char *col = p->st.log10p < la ? "#d62728" : "#1f77b4";
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\"><title>", x, y, col);
            esc(f, p->a->name);
            fprintf(f, ": %s %.4f, null %.4f &#177; %.4f, p %s</title></circle>\n", lab, s->value,
                    s->null_mean, s->null_sd, sp_audit_p_text(pt, p->st.log10p));
        } else {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#fff\" stroke=\"#777\" "
                       "stroke-width=\"2\"><title>", x, y);
            esc(f, p->a->name);
            fprintf(f, ": vector, %s %.4f (shown, never decides)</title></circle>\n", lab, s->value);
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" "
                   "transform=\"rotate(-40 %.1f %.1f)\">", x, H - MB + 16, x, H - MB + 16);
        esc(f, p->a->name);
        fputs("</text>\n", f);
        k++;
    }
    /* legend, above the plot */
    double ly = 16;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"#9ecae1\"/>"
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">null band: independent models (mean &#177; 3 sd)</text>\n",
            ML, ly - 8, ML + 20, ly + 1);
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#d62728\"/><text x=\"%.1f\" y=\"%.1f\" "
               "font-size=\"12\">matrix beyond the null (p &lt; alpha)</text>\n", ML + 330, ly - 3, ML + 340, ly + 1);
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#1f77b4\"/><text x=\"%.1f\" y=\"%.1f\" "
               "font-size=\"12\">matrix within the null</text>\n", ML + 560, ly - 3, ML + 570, ly + 1);
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#fff\" stroke=\"#777\" stroke-width=\"2\"/>"
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">vector: shown, never decides</text>\n",
            ML + 720, ly - 3, ML + 730, ly + 1);
    fputs("</svg>\n", f);
}

int sp_audit_report_html(FILE *f, const sp_audit_result *res)
{
    char pt[32];
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>scratchproof audit: ", f);
    esc(f, res->path);
    fputs("</title>\n<style>\nbody{font-family:sans-serif;margin:24px;color:#222}"
          "table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;"
          "font-size:13px;text-align:left}th{background:#f3f3f3}td.n{text-align:right}"
          ".derived{color:#b00;font-weight:bold}.clean{color:#070}.muted{color:#777}"
          "h1{font-size:20px}h2{font-size:16px;margin-top:28px}\n</style></head><body>\n", f);
    fputs("<h1>scratchproof audit: ", f);
    esc(f, res->path);
    fputs("</h1>\n<p class=\"", f);
    fputs(res->derived ? "derived\">Verdict: DERIVED"
          : res->inconclusive ? "derived\">Verdict: INCONCLUSIVE (less than half of the matrix parameters compared)"
                              : "clean\">Verdict: no evidence of derivation", f);
    for (size_t c = 0; c < res->ncomp; c++)
        if (res->comp[c].derived) {
            fputs("; ", f);
            esc(f, res->comp[c].name);
            fprintf(f, ".* (%.1f %% of parameters) from ", 100.0 * res->comp[c].share);
            esc(f, res->ref[res->comp[c].best_ref].path);
        }
    fprintf(f, "</p>\n<p>Model-level p %s (family-wise alpha %g over %zu component tests); %llu parameters.</p>\n",
            sp_audit_p_text(pt, res->log10p), res->alpha, res->ntests, (unsigned long long)res->params);
    fputs("<h2>Components</h2>\n<table><tr><th>component</th><th>parameters</th><th>share</th>"
          "<th>verdict</th><th>p (Fisher)</th><th>reference</th><th>matrices</th><th>vectors</th></tr>\n", f);
    for (size_t c = 0; c < res->ncomp; c++) {
        const sp_audit_component *cp = &res->comp[c];
        const sp_audit_comp_ref *cr = &cp->ref[cp->best_ref];
        fputs("<tr><td>", f);
        esc(f, cp->name);
        fprintf(f, ".*</td><td class=\"n\">%llu</td><td class=\"n\">%.1f %%</td><td class=\"%s\">%s</td>",
                (unsigned long long)cp->params, 100.0 * cp->share,
                cp->derived ? "derived" : cr->n_matrices ? "clean" : "muted",
                cp->derived ? "derived" : cr->n_matrices ? "not derived" : "uninformative (vectors only)");
        fprintf(f, "<td>%s</td><td>", cr->n_matrices ? sp_audit_p_text(pt, cr->log10p) : "-");
        esc(f, res->ref[cp->best_ref].path);
        fprintf(f, "</td><td class=\"n\">%d</td><td class=\"n\">%d</td></tr>\n", cr->n_matrices, cr->n_vectors);
    }
    fputs("</table>\n", f);
    for (size_t r = 0; r < res->nref; r++) {
        const sp_audit_refres *rr = &res->ref[r];
        fputs("<h2>Similarity per tensor against ", f);
        esc(f, rr->path);
        fprintf(f, "</h2>\n<p class=\"muted\">%zu of %zu tensors paired (%zu by shape and content). "
                   "Each point is the statistic that decided the pair (Pearson at the given alignment,"
                   " or the matched correlation across permuted units); the band is what independently"
                   " initialised and trained tensors of that shape show.</p>\n",
                rr->paired, rr->npairs, rr->by_content);
        chart(f, res, r);
        fputs("<table><tr><th>tensor</th><th>reference tensor</th><th>raw cosine [null]</th>"
              "<th>Pearson [null]</th><th>matched [null]</th><th>p</th><th>note</th></tr>\n", f);
        for (size_t i = 0; i < rr->npairs; i++) {
            const sp_audit_pair *p = &rr->pairs[i];
            fputs("<tr><td>", f);
            esc(f, p->a->name);
            fputs("</td><td>", f);
            if (p->b == NULL) {
                fputs("unpaired</td><td></td><td></td><td></td><td></td><td></td></tr>\n", f);
                continue;
            }
            esc(f, p->b->name);
            const sp_audit_stat *ss[3] = {&p->st.cosine, &p->st.pearson, &p->st.matched};
            for (int k = 0; k < 3; k++) {
                if (ss[k]->valid)
                    fprintf(f, "</td><td>%.4f [%.3f, %.3f]", ss[k]->value,
                            ss[k]->null_mean - 3 * ss[k]->null_sd, ss[k]->null_mean + 3 * ss[k]->null_sd);
                else
                    fputs("</td><td>-", f);
            }
            fprintf(f, "</td><td>%s</td><td>%s%s%s</td></tr>\n",
                    p->st.matrix && !p->fixed ? sp_audit_p_text(pt, p->st.log10p) : "-",
                    p->fixed ? "fixed (untrained constant): shown, never decides. "
                             : p->st.matrix ? "" : "vector: shown, never decides. ",
                    p->st.near_constant ? "near-constant: raw cosine uninformative. " : "",
                    p->by_content ? "paired by shape and content." : "");
        }
        fputs("</table>\n", f);
    }
    fputs("<p class=\"muted\">Generated by scratchproof audit. Statistics: SPEC.md, section Audit.</p>\n"
          "</body></html>\n", f);
    return ferror(f) ? -1 : 0;
}
