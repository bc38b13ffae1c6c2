/*
 * verify_html.c - the trajectory as JSON and the HTML page of
 * `scratchproof verify --html FILE` (verify_html.h, SPEC.md 13.4, 13.5).
 * The page is one file: inline CSS, inline SVG charts, no script, no network
 * reference; it reflows down to a 420 px window (charts scale to the width).
 */
#include "verify_html.h"

#include "escape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ JSON */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int put(json_t *o, const char *k, json_t *v)
{
    return v == NULL || json_object_set_new(o, k, v) != 0 ? -1 : 0;
}

static int push(json_t *a, json_t *v)
{
    return v == NULL || json_array_append_new(a, v) != 0 ? -1 : 0;
}

static json_t *seg_json(const sp_traj_seg *s)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = put(o, "ok", json_boolean(s->ok)) | put(o, "steps", json_integer((json_int_t)s->steps)) |
              put(o, "update", num(s->ok ? s->upd : NAN)) | put(o, "relative_update", num(s->ok ? s->rel : NAN)) |
              put(o, "update_all", num(s->upd_all)) | put(o, "corr_prev", num(s->ok ? s->corr_prev : NAN)) |
              put(o, "corr_genesis", num(s->gen_ok ? s->corr_gen : NAN)) |
              put(o, "z_genesis", num(s->gen_ok ? s->z_gen : NAN)) | put(o, "kept", num(s->kept)) |
              put(o, "ratio", num(s->ratio)) |
              put(o, "robust_z", num(s->robust_z)) | put(o, "jump", json_boolean(s->jump)) |
              put(o, "lost", json_boolean(s->lost));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *comp_json(const sp_trajectory *t, const sp_traj_comp *c)
{
    json_t *o = json_object(), *segs = json_array(), *refs = json_array();
    int bad = o == NULL || segs == NULL || refs == NULL;
    for (size_t s = 0; !bad && s + 1 < t->npts; s++)
        bad = push(segs, seg_json(&c->seg[s]));
    for (size_t r = 0; !bad && c->ref != NULL && r < t->nref; r++) {
        json_t *ro = json_object(), *der = json_array(), *lp = json_array();
        bad = ro == NULL || der == NULL || lp == NULL;
        for (size_t p = 0; !bad && p < t->npts; p++) {
            const sp_traj_refpt *x = &c->ref[r * t->npts + p];
            bad = push(der, p && x->ok ? json_boolean(x->derived) : json_null()) |
                  push(lp, p && x->ok ? num(x->log10p) : json_null());
        }
        if (!bad)
            bad = put(ro, "ref", json_string(t->ref_path[r])) | put(ro, "derived", der) |
                  put(ro, "log10p", lp) | push(refs, ro);
        else {
            json_decref(ro);
            json_decref(der);
            json_decref(lp);
        }
    }
    if (!bad)
        bad = put(o, "name", json_string(c->name)) | put(o, "params", json_integer((json_int_t)c->params)) |
              put(o, "matrices", json_integer((json_int_t)c->nmat)) |
              put(o, "vectors", json_integer((json_int_t)c->nvec)) |
              put(o, "typical_log_rate", num(c->med_log_rate)) |
              put(o, "mad_log_rate", num(c->mad_log_rate)) | put(o, "segments", segs) |
              put(o, "refs", refs);
    else {
        json_decref(segs);
        json_decref(refs);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *sp_trajectory_json(const sp_trajectory *t)
{
    json_t *o = json_object(), *steps = json_array(), *loss = json_array(), *comps = json_array();
    int bad = o == NULL || steps == NULL || loss == NULL || comps == NULL;
    for (size_t p = 0; !bad && p < t->npts; p++)
        bad = push(steps, json_integer((json_int_t)t->step[p])) | push(loss, num(t->loss[p]));
    for (size_t c = 0; !bad && c < t->ncomp; c++)
        bad = push(comps, comp_json(t, &t->comp[c]));
    if (!bad)
        bad = put(o, "schema", json_string("scratchproof.trajectory/1")) | put(o, "steps", steps) |
              put(o, "loss", loss) | put(o, "genesis_regenerated", json_boolean(t->genesis_ok)) |
              put(o, "flagged", json_integer((json_int_t)t->flagged)) |
              put(o, "seconds", json_real(t->seconds)) | put(o, "components", comps);
    else {
        json_decref(steps);
        json_decref(loss);
        json_decref(comps);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------ escaping */

/* Every string from the ledger, a file or the command line: SPEC.md 1.1, then HTML entities. */
static void esc(FILE *f, const char *str)
{
    (void)sp_escape_html_fputs(str ? str : "", f);
}

/* ------------------------------------------------------------ charts */

#define CW 480.0   /* chart viewBox: scales to the page width */
#define CH 230.0
#define CL 46.0
#define CR 10.0
#define CT 12.0
#define CB 34.0

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};
#define NPAL (sizeof palette / sizeof palette[0])

typedef struct series {
    const char *name;
    const char *color;
    double *y;                /* per point, NaN = no value */
} series;

typedef struct axes {
    double x0, x1, y0, y1;
    int logy;
} axes;

static double px(const axes *a, double x)
{
    return CL + (a->x1 > a->x0 ? (x - a->x0) / (a->x1 - a->x0) : 0.5) * (CW - CL - CR);
}

static double py(const axes *a, double y)
{
    double v = a->logy ? log10(y) : y, lo = a->logy ? log10(a->y0) : a->y0,
           hi = a->logy ? log10(a->y1) : a->y1;
    double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    if (t < 0)
        t = 0;
    if (t > 1)
        t = 1;
    return CT + (1 - t) * (CH - CT - CB);
}

/*
 * One chart: series over the points' steps, segments [step[s], step[s+1]]
 * shaded when mark[s] (1 flagged, 2 replayed, 3 both).
 */
static void chart(FILE *f, const char *title, const sp_trajectory *t, const series *sv, size_t ns,
                  int logy, const int *mark, const char *note)
{
    axes a = {(double)t->step[0], (double)t->step[t->npts - 1], INFINITY, -INFINITY, logy};
    for (size_t k = 0; k < ns; k++)
        for (size_t p = 0; p < t->npts; p++) {
            double v = sv[k].y[p];
            if (!isfinite(v) || (logy && !(v > 0)))
                continue;
            a.y0 = v < a.y0 ? v : a.y0;
            a.y1 = v > a.y1 ? v : a.y1;
        }
    fprintf(f, "<figure><figcaption>");
    esc(f, title);
    fprintf(f, "</figcaption>\n");
    if (!(a.y0 <= a.y1)) {
        fprintf(f, "<p class=\"muted\">no values to draw</p></figure>\n");
        return;
    }
    if (logy) {
        a.y0 = pow(10, floor(log10(a.y0)));
        a.y1 = pow(10, ceil(log10(a.y1)));
        if (a.y1 <= a.y0)
            a.y1 = a.y0 * 10;
    } else {
        double pad = (a.y1 - a.y0) * 0.08 + 1e-9;
        a.y0 -= pad;
        a.y1 += pad;
    }
    fprintf(f, "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", CW, CH);
    esc(f, title);
    fprintf(f, "\">\n<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", CW, CH);
    for (size_t s = 0; mark != NULL && s + 1 < t->npts; s++) {
        if (!mark[s])
            continue;
        double x0 = px(&a, (double)t->step[s]), x1 = px(&a, (double)t->step[s + 1]);
        if (x1 - x0 < 3) {
            x0 -= 1.5;
            x1 += 1.5;
        }
        fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"%s\"%s/>\n", x0, CT,
                x1 - x0, CH - CT - CB, mark[s] & 1 ? "#fbd5d5" : "#d6e6fb",
                (mark[s] & 3) == 3 ? " stroke=\"#5b8fd6\" stroke-width=\"2\"" : "");
    }
    /* y grid: "nice" steps (1, 2, 5 x 10^k) on a linear axis, decades on a log one */
    if (logy) {
        int lo = (int)lround(log10(a.y0)), hi = (int)lround(log10(a.y1));
        int stride = hi - lo > 6 ? (hi - lo + 5) / 6 : 1;
        for (int k = lo; k <= hi; k += stride) {
            double v = pow(10, k), y = py(&a, v);
            fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>"
                       "<text x=\"%.0f\" y=\"%.1f\" class=\"tk\" text-anchor=\"end\">1e%d</text>\n",
                    CL, y, CW - CR, y, CL - 4, y + 4, k);
        }
    } else {
        double raw = (a.y1 - a.y0) / 4, mag = pow(10, floor(log10(raw))), st = mag;
        if (raw / mag > 5)
            st = 10 * mag;
        else if (raw / mag > 2)
            st = 5 * mag;
        else if (raw / mag > 1)
            st = 2 * mag;
        int dec = st >= 1 ? 0 : (int)ceil(-log10(st) - 1e-9);
        for (double v = ceil(a.y0 / st) * st; v <= a.y1 + st * 1e-6; v += st) {
            double y = py(&a, v);
            fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>"
                       "<text x=\"%.0f\" y=\"%.1f\" class=\"tk\" text-anchor=\"end\">%.*f</text>\n",
                    CL, y, CW - CR, y, CL - 4, y + 4, dec, fabs(v) < st * 1e-6 ? 0.0 : v);
        }
    }
    /* x ticks: at most 8 labels, whatever the number of checkpoints */
    size_t xs = t->npts > 8 ? (t->npts + 7) / 8 : 1;
    for (size_t p = 0; p < t->npts; p += xs) {
        double x = px(&a, (double)t->step[p]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#999\"/>"
                   "<text x=\"%.1f\" y=\"%.0f\" class=\"tk\" text-anchor=\"middle\">%llu</text>\n",
                x, CH - CB, x, CH - CB + 4, x, CH - CB + 16, (unsigned long long)t->step[p]);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"tk\" text-anchor=\"middle\">step</text>\n",
            (CL + CW - CR) / 2, CH - 4);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#555\"/>\n", CL, CH - CB,
            CW - CR, CH - CB);
    for (size_t k = 0; k < ns; k++) {
        int open = 0;
        fprintf(f, "<path fill=\"none\" stroke-width=\"1.8\" stroke=\"%s\" d=\"", sv[k].color);
        for (size_t p = 0; p < t->npts; p++) {
            double v = sv[k].y[p];
            if (!isfinite(v) || (logy && !(v > 0))) {
                open = 0;
                continue;
            }
            fprintf(f, "%c%.1f %.1f", open ? 'L' : 'M', px(&a, (double)t->step[p]), py(&a, v));
            open = 1;
        }
        fprintf(f, "\"/>\n");
        for (size_t p = 0; t->npts <= 40 && p < t->npts; p++)
            if (isfinite(sv[k].y[p]) && (!logy || sv[k].y[p] > 0))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>\n",
                        px(&a, (double)t->step[p]), py(&a, sv[k].y[p]), sv[k].color);
    }
    fprintf(f, "</svg>\n<ul class=\"legend\">");
    for (size_t k = 0; k < ns; k++) {
        fprintf(f, "<li><span class=\"sw\" style=\"background:%s\"></span>", sv[k].color);
        esc(f, sv[k].name);
        fprintf(f, "</li>");
    }
    int flagged = 0, replayed = 0;
    for (size_t s = 0; mark != NULL && s + 1 < t->npts; s++) {
        flagged |= mark[s] & 1;
        replayed |= mark[s] & 2;
    }
    if (flagged)
        fprintf(f, "<li><span class=\"sw\" style=\"background:#fbd5d5\"></span>flagged segment</li>");
    if (replayed)
        fprintf(f, "<li><span class=\"sw\" style=\"background:#d6e6fb\"></span>replayed segment</li>");
    fprintf(f, "</ul>\n");
    if (note != NULL)
        fprintf(f, "<p class=\"muted\">%s</p>\n", note);
    fprintf(f, "</figure>\n");
}

/* ------------------------------------------------------------ the page */

static const char css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;"
    "background:#f6f6f4}\n"
    "main{max-width:980px;margin:0 auto;padding:12px}\n"
    "h1{font-size:1.35em;margin:.3em 0}h2{font-size:1.12em;margin:1.2em 0 .4em}\n"
    ".verdict{padding:10px 14px;border-radius:6px;font-weight:600;color:#fff}\n"
    ".pass{background:#2e7d32}.fail{background:#c62828}\n"
    ".meta{font-size:.88em;color:#444;overflow-wrap:anywhere}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;width:100%;background:#fff;font-size:.9em}\n"
    "th,td{border-bottom:1px solid #e3e3e3;padding:4px 6px;text-align:left;vertical-align:top}\n"
    "td.d{overflow-wrap:anywhere}td.n{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}\n"
    "tr.bad td{background:#fdecea}.ok{color:#2e7d32;font-weight:600}.no{color:#c62828;"
    "font-weight:600}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:10px}\n"
    "figure{margin:0;background:#fff;padding:8px;border:1px solid #e3e3e3;border-radius:6px}\n"
    "figcaption{font-weight:600;font-size:.92em;margin-bottom:4px}\n"
    "svg{width:100%;height:auto;display:block}.tk{font-size:12px;fill:#555}\n"
    ".legend{list-style:none;padding:0;margin:4px 0 0;font-size:.82em;display:flex;"
    "flex-wrap:wrap;gap:4px 12px}\n"
    ".sw{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}\n"
    ".muted{color:#666;font-size:.85em;margin:.3em 0}\n"
    "summary{cursor:pointer}\n";

static void check_row(FILE *f, const sp_check *c)
{
    fprintf(f, "<tr%s><td class=\"%s\">%s</td><td>", c->ok ? "" : " class=\"bad\"", c->ok ? "ok" : "no",
            c->ok ? "ok" : "FAIL");
    esc(f, c->name);
    fprintf(f, "</td><td class=\"d\">");
    esc(f, c->detail);
    fprintf(f, "</td></tr>\n");
}

/* The failed checks first; then every check, runs of 3+ passed ones of one name folded. */
static void checks_table(FILE *f, const sp_report *rep)
{
    static const char head[] = "<div class=\"scroll\"><table><thead><tr><th></th><th>check</th>"
                               "<th>detail</th></tr></thead><tbody>\n";
    if (rep->failed > 0 || rep->oom) {
        fprintf(f, "<h2>Failed checks</h2>\n%s", head);
        for (size_t i = 0; i < rep->n; i++)
            if (!rep->v[i].ok)
                check_row(f, &rep->v[i]);
        if (rep->oom)
            fprintf(f, "<tr class=\"bad\"><td class=\"no\">FAIL</td><td>report</td><td class=\"d\">out "
                       "of memory: some checks are missing</td></tr>\n");
        fprintf(f, "</tbody></table></div>\n");
    }
    fprintf(f, "<h2>All checks</h2>\n%s", head);
    for (size_t i = 0; i < rep->n;) {
        size_t j = i + 1;
        while (j < rep->n && rep->v[i].ok && rep->v[j].ok && strcmp(rep->v[j].name, rep->v[i].name) == 0)
            j++;
        if (j - i < 3) {
            for (; i < j; i++)
                check_row(f, &rep->v[i]);
            continue;
        }
        fprintf(f, "<tr><td class=\"ok\">ok</td><td>");
        esc(f, rep->v[i].name);
        fprintf(f, " &times;%zu</td><td class=\"d\"><details><summary>", j - i);
        esc(f, rep->v[i].detail);
        fprintf(f, " &hellip; and %zu more</summary>\n", j - i - 1);
        for (size_t k = i + 1; k < j; k++) {
            esc(f, rep->v[k].detail);
            fprintf(f, "<br>\n");
        }
        fprintf(f, "</details></td></tr>\n");
        i = j;
    }
    fprintf(f, "</tbody></table></div>\n");
}

/* v with `digits` significant digits, or a dash. */
static void fmt_num(FILE *f, double v, int digits)
{
    if (isfinite(v))
        fprintf(f, "%.*g", digits, v);
    else
        fputs("&ndash;", f);
}

/* Per segment and component: relative update, x typical, corr with the genesis. */
static void traj_table(FILE *f, const sp_trajectory *t)
{
    fprintf(f, "<div class=\"scroll\"><table><thead><tr><th>segment</th>");
    for (size_t c = 0; c < t->ncomp; c++) {
        if (t->comp[c].nmat == 0)
            continue;
        fprintf(f, "<th>");
        esc(f, t->comp[c].name);
        fprintf(f, ".*</th>");
    }
    fprintf(f, "</tr></thead><tbody>\n");
    for (size_t s = 0; s + 1 < t->npts; s++) {
        int bad = 0;
        for (size_t c = 0; c < t->ncomp; c++)
            bad |= t->comp[c].seg[s].jump || t->comp[c].seg[s].lost;
        fprintf(f, "<tr%s><td class=\"n\">%llu&ndash;%llu</td>", bad ? " class=\"bad\"" : "",
                (unsigned long long)t->step[s], (unsigned long long)t->step[s + 1]);
        for (size_t c = 0; c < t->ncomp; c++) {
            const sp_traj_seg *x = &t->comp[c].seg[s];
            if (t->comp[c].nmat == 0)
                continue;
            fprintf(f, "<td class=\"n\">");
            if (!x->ok) {
                fprintf(f, "not readable</td>");
                continue;
            }
            fmt_num(f, x->rel, 3);
            if (isfinite(x->ratio))
                fprintf(f, " (%s%.1fx%s)", x->jump ? "<b class=\"no\">" : "", x->ratio, x->jump ? "</b>" : "");
            fprintf(f, " &middot; %s", x->lost ? "<b class=\"no\">" : "");
            fmt_num(f, x->gen_ok ? x->corr_gen : NAN, 3);
            fprintf(f, "%s</td>", x->lost ? "</b>" : "");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</tbody></table></div>\n<p class=\"muted\">Each cell: the update ||W<sub>end</sub> "
               "&minus; W<sub>start</sub>|| / ||W<sub>start</sub>|| of the component's matrices, in "
               "brackets its per-step size against the typical one of the run's other segments, then "
               "the matrices' correlation with the genesis at the segment's end. Vectors (biases, "
               "norms) are shown in the JSON, never deciding.</p>\n");
}

static void refs_table(FILE *f, const sp_trajectory *t)
{
    fprintf(f, "<h2>Against reference models</h2>\n<div class=\"scroll\"><table><thead><tr>"
               "<th>reference</th><th>component</th><th>first derived at</th></tr></thead><tbody>\n");
    for (size_t r = 0; r < t->nref; r++)
        for (size_t c = 0; c < t->ncomp; c++) {
            if (t->comp[c].ref == NULL || t->comp[c].nmat == 0)
                continue;
            size_t at = 0;
            for (size_t p = 1; p < t->npts && at == 0; p++)
                if (t->comp[c].ref[r * t->npts + p].derived)
                    at = p;
            fprintf(f, "<tr%s><td class=\"d\">", at ? " class=\"bad\"" : "");
            esc(f, t->ref_path[r]);
            fprintf(f, "</td><td>");
            esc(f, t->comp[c].name);
            if (at)
                fprintf(f, ".*</td><td class=\"no\">step %llu</td></tr>\n", (unsigned long long)t->step[at]);
            else
                fprintf(f, ".*</td><td class=\"ok\">never</td></tr>\n");
        }
    fprintf(f, "</tbody></table></div>\n");
}

static void why_text(FILE *f, unsigned why)
{
    static const struct { unsigned bit; const char *text; } w[] = {
        {SP_WHY_FIRST, "first"}, {SP_WHY_LARGEST, "largest update"}, {SP_WHY_RANDOM, "drawn"},
        {SP_WHY_ASKED, "asked"}, {SP_WHY_EMPTY, "empty"}};
    int any = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (why & w[i].bit) {
            fprintf(f, "%s%s", any ? ", " : "", w[i].text);
            any = 1;
        }
}

/* The chosen segments and their verdicts (SPEC.md 12.6). */
static void replay_table(FILE *f, const sp_replay_result *r)
{
    fprintf(f, "<p class=\"muted\">%zu of %zu segments replayed (", r->chosen, r->n_segs);
    esc(f, r->mode_name ? r->mode_name : "default");
    fprintf(f, ", %s", r->tolerance >= 0 ? "tolerance" : "exact mode");
    if (r->tolerance >= 0)
        fprintf(f, " %.3g", r->tolerance);
    fprintf(f, "), %.0f%% of the steps; nonce %s", 100 * r->share, r->nonce_hex);
    if (r->escape >= 0)
        fprintf(f, "; chance that one forged segment outside the first and the largest escaped: %.2f",
                r->escape);
    if (r->calibrated)
        fprintf(f, "; calibration noise %.3g (1 thread) and %.3g (2), suggested T %.3g", r->noise[0],
                r->noise[1], r->suggested_t);
    fprintf(f, ".</p>\n<div class=\"scroll\"><table><thead><tr><th>segment</th><th>steps</th>"
               "<th>records</th><th>why</th><th>result</th><th>seconds</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < r->n_segs; i++) {
        const sp_replay_seg *g = &r->segs[i];
        if (!g->chosen)
            continue;
        fprintf(f, "<tr%s><td class=\"n\">%zu</td><td class=\"n\">", g->ran && !g->ok ? " class=\"bad\"" : "",
                g->index);
        if (g->first_step > g->last_step)
            fprintf(f, "none");
        else
            fprintf(f, "%llu&ndash;%llu", (unsigned long long)g->first_step, (unsigned long long)g->last_step);
        fprintf(f, "</td><td class=\"n\">%llu&ndash;%llu</td><td>", (unsigned long long)g->start_seq,
                (unsigned long long)g->end_seq);
        why_text(f, g->why);
        fprintf(f, "</td><td class=\"d\">");
        if (!g->ran)
            fprintf(f, "not run");
        else if (g->ok && !g->tolerance)
            fprintf(f, "<span class=\"ok\">bit for bit</span>");
        else if (g->ok)
            fprintf(f, "<span class=\"ok\">within tolerance</span>, largest e %.3g", g->max_e);
        else {
            fprintf(f, "<span class=\"no\">diverged</span>");
            if (g->worst[0]) {
                fprintf(f, ": ");
                esc(f, g->worst);
            }
            if (g->max_e >= 0)
                fprintf(f, " (e = %.3g)", g->max_e);
        }
        fprintf(f, "</td><td class=\"n\">%.2f</td></tr>\n", g->seconds);
    }
    fprintf(f, "</tbody></table></div>\n");
}

static void traj_charts(FILE *f, const sp_trajectory *t, const sp_replay_result *r)
{
    size_t np = t->npts, nm = 0;
    for (size_t c = 0; c < t->ncomp; c++)
        nm += t->comp[c].nmat > 0;
    double *buf = calloc((nm + 1) * np, sizeof *buf);
    series *sv = calloc(nm + 1, sizeof *sv);
    int *mark = calloc(np, sizeof *mark);
    if (buf == NULL || sv == NULL || mark == NULL) {
        fprintf(f, "<p class=\"muted\">out of memory drawing the charts</p>\n");
        goto out;
    }
    for (size_t c = 0; c < t->ncomp; c++)
        for (size_t s = 0; s + 1 < np; s++)
            mark[s] |= t->comp[c].seg[s].jump || t->comp[c].seg[s].lost;
    for (size_t i = 0; r != NULL && i < r->n_segs; i++)      /* replay's segment k: points k-1..k */
        if (r->segs[i].chosen && r->segs[i].ran && r->segs[i].index >= 1 && r->segs[i].index < np)
            mark[r->segs[i].index - 1] |= 2;
    fprintf(f, "<div class=\"charts\">\n");
    series loss = {"loss (recorded)", palette[0], t->loss};
    chart(f, "Training loss at each checkpoint", t, &loss, 1, 0, mark, NULL);
    size_t k = 0;
    for (size_t c = 0; c < t->ncomp; c++) {
        if (t->comp[c].nmat == 0)
            continue;
        double *y = buf + k * np;
        y[0] = NAN;
        for (size_t s = 0; s + 1 < np; s++) {
            const sp_traj_seg *x = &t->comp[c].seg[s];
            y[s + 1] = x->ok && x->steps > 0 ? x->rel / (double)x->steps : NAN;
        }
        sv[k] = (series){t->comp[c].name, palette[k % NPAL], y};
        k++;
    }
    chart(f, "Update size per step, ||\xce\x94W|| / ||W|| / steps (log scale)", t, sv, k, 1, mark,
          "Each point is the segment ending at that step.");
    k = 0;
    for (size_t c = 0; c < t->ncomp; c++) {
        if (t->comp[c].nmat == 0)
            continue;
        double *y = buf + k * np;
        y[0] = t->genesis_ok ? 1.0 : NAN;
        for (size_t s = 0; s + 1 < np; s++) {
            const sp_traj_seg *x = &t->comp[c].seg[s];
            y[s + 1] = x->ok && x->gen_ok ? x->corr_gen : NAN;
        }
        k++;
    }
    chart(f, "Correlation with the genesis (matrices, mean-centred Pearson)", t, sv, k, 0, mark,
          t->genesis_ok ? NULL : "The genesis is not regenerable (external): no trace to follow.");
    fprintf(f, "</div>\n");
out:
    free(buf);
    free(sv);
    free(mark);
}

int sp_verify_html(FILE *f, const sp_verify_page *pg)
{
    const sp_report *rep = pg->rep;
    int ok = sp_report_ok(rep);
    fprintf(f, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
               "<title>scratchproof verify: %s</title>\n<style>\n%s</style></head><body><main>\n",
            ok ? "verified" : "not verified", css);
    fprintf(f, "<h1>scratchproof verify</h1>\n<p class=\"meta\">ledger ");
    esc(f, pg->ledger);
    if (pg->sum != NULL && pg->sum->have_genesis) {
        fprintf(f, "<br>run %s, model &ldquo;", pg->sum->run_id);
        esc(f, pg->sum->model_name);
        fprintf(f, "&rdquo;, seed %llu, %llu records, key %s", (unsigned long long)pg->sum->seed,
                (unsigned long long)pg->sum->records, pg->sum->keyid);
    }
    fprintf(f, "</p>\n<div class=\"verdict %s\">%s: ", ok ? "pass" : "fail", ok ? "VERIFIED" : "NOT VERIFIED");
    if (ok)
        fprintf(f, "%zu checks passed</div>\n", rep->n);
    else
        fprintf(f, "%zu of %zu checks failed</div>\n", rep->failed, rep->n);
    checks_table(f, rep);
    fprintf(f, "<h2>Segment replay</h2>\n");
    if (pg->replay != NULL && pg->replay->n_segs > 0)
        replay_table(f, pg->replay);
    else
        fprintf(f, "<p class=\"muted\">No segment was re-executed (--replay not given).</p>\n");
    const sp_trajectory *t = pg->traj;
    if (t != NULL && t->npts >= 2) {
        fprintf(f, "<h2>Trajectory</h2>\n<p class=\"muted\">%zu weight points, %zu components; screened in "
                   "%.2f s. A screen points at segments to replay; a careful forger can shape a "
                   "trajectory, so only replay proves a segment.</p>\n", t->npts, t->ncomp, t->seconds);
        traj_charts(f, t, pg->replay);
        traj_table(f, t);
        if (t->nref > 0)
            refs_table(f, t);
    } else {
        fprintf(f, "<h2>Trajectory</h2>\n<p class=\"muted\">Not screened: give --checkpoints DIR "
                   "with the checkpoint files.</p>\n");
    }
    fprintf(f, "</main></body></html>\n");
    return ferror(f) ? -1 : 0;
}
