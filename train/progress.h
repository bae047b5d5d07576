/* progress.h — progress reporting for long work: a bar on a terminal, plain periodic lines otherwise,
 * and metrics as JSON lines. Reusable by every trainer.
 *
 *   train_progress *p = train_progress_new(stderr, "word2vec", true, "metrics.jsonl");
 *   ...
 *   train_progress_stat st[] = {{"words_per_sec_thread", wps, "%.0f"}, {"lr", alpha, "%.6f"},
 *                               {"loss", loss, "%.4f"}};
 *   train_progress_report(p, fraction_done, elapsed_seconds, st, 3, false);
 *   ...
 *   train_progress_report(p, 1.0, elapsed, st, 3, true);   // final: newline after the bar
 *   train_progress_free(p);
 *
 * On a terminal the bar is redrawn in place ("\r") at most every 0.1 s; on a pipe or file a plain
 * line is printed at most every `plain_interval` seconds (10 s by default) and at the final report.
 * Every report call appends one JSON object per line to the metrics file (if any) and flushes it,
 * so the file is usable while the run goes on:
 *     {"label":"word2vec","fraction":0.421,"elapsed":12.5,"eta":17.2,"lr":0.0213,"loss":2.34,...}
 */
#ifndef EMBER_TRAIN_PROGRESS_H
#define EMBER_TRAIN_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct train_progress train_progress;

typedef struct train_progress_stat {
    const char *key;  /* JSON key and bar label, e.g. "loss" */
    double value;
    const char *fmt;  /* printf format for the bar, e.g. "%.4f"; NULL = "%g" */
} train_progress_stat;

/* out: where the bar/lines go (usually stderr), or NULL for no display. show: false = no display
 * (metrics are still written). metrics_path: JSON lines file (truncated), or NULL. Returns NULL
 * with base_error_msg() set if the metrics file cannot be opened. */
train_progress *train_progress_new(FILE *out, const char *label, bool show, const char *metrics_path);
/* Seconds between plain lines when out is not a terminal (default 10). */
void train_progress_set_plain_interval(train_progress *p, double seconds);
/* One report. fraction in [0, 1]; elapsed in seconds (ETA = elapsed · (1 − f) / f). final forces
 * the display and ends the bar's line. Non-finite stat values are written as JSON null. */
void train_progress_report(train_progress *p, double fraction, double elapsed, const train_progress_stat *stats,
                           int n, bool final);
/* Appends one free-form JSON object (already formatted, without newline) to the metrics file. */
void train_progress_event(train_progress *p, const char *json_object);
void train_progress_free(train_progress *p); /* NULL is fine; closes the metrics file */


#endif
