/*
 * verify_html.h - what `scratchproof verify` reports beyond its list of
 * checks: the trajectory screen's numbers as JSON (SPEC.md 13.4) and the
 * self-contained HTML page of --html FILE (SPEC.md 13.5).
 */
#ifndef SP_VERIFY_HTML_H
#define SP_VERIFY_HTML_H

#include <jansson.h>
#include <stdio.h>

#include "replay.h"
#include "report.h"
#include "trajectory.h"
#include "verify.h"

/* The trajectory as a JSON object (new reference), NULL on OOM. */
json_t *sp_trajectory_json(const sp_trajectory *t) SP_NONNULL(1);

/* What the page shows; every pointer but rep may be NULL/empty. */
typedef struct sp_verify_page {
    const char *ledger;               /* the path given */
    const sp_verify_summary *sum;
    const sp_report *rep;
    const sp_trajectory *traj;        /* NULL or npts == 0: no charts */
    const sp_replay_result *replay;   /* NULL: --replay not given */
} sp_verify_page;

/*
 * Writes the page to f: every check, the replay table, and with a
 * trajectory the charts of loss, update size and correlation with the
 * genesis per component, flagged and replayed segments marked. Inline
 * CSS and SVG, no script, no network reference; every string from the
 * ledger, a file or the command line is HTML-escaped, with bytes that are
 * not valid UTF-8 shown as U+FFFD. Returns 0, or -1 when writing failed.
 */
int sp_verify_html(FILE *f, const sp_verify_page *pg) SP_NONNULL(1, 2);

#endif
