/* chapter.h — `ember chapter`: every experiment of "Understanding Embeddings" as report sections (claim, measurement, verdict, figure).
 *
 * A section is a list of items (chapter_basics.h's exp_basics_item: the chapter's claim, what ember
 * measured, a verdict) plus inline SVG figures. Sections that need trained models build them in the
 * run at a reduced size, or reuse checkpoints found in --models DIR; each says which in `source`.
 * exp_chapter_html writes one self-contained page (report.html) with every section, its figures and
 * a summary of every place the chapter is wrong; exp_chapter_print writes text or JSON.
 */
#ifndef EMBER_EXPERIMENTS_CHAPTER_H
#define EMBER_EXPERIMENTS_CHAPTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "chapter_basics.h"

struct train_vectors;
struct data_tokenizer;

typedef struct exp_chapter_options {
    const char *data_dir;   /* ../shared/data (NULL: sections that need data say so and are skipped) */
    const char *out_dir;    /* trained models, corpora cut for training, report.html (created) */
    const char *models_dir; /* reuse: w2v.bin / w2v<dim>.bin, bpe5000.tok, mlm.ckpt, align.ckpt found here */
    int threads;            /* trainer and BLAS threads (default 2) */
    uint64_t seed;          /* 42 */
    bool no_train;          /* sections that would train are skipped (the fast part) */
    bool quick;             /* smallest training sizes (tests): minutes become seconds */
    FILE *log;              /* progress notes (stderr), or NULL */
} exp_chapter_options;

void exp_chapter_options_default(exp_chapter_options *o);

#define EXP_MAX_FIGS 6

typedef struct exp_section {
    char id[24];             /* "basics", "positional", ... */
    char title[160];
    char source[1200];       /* data and models used: trained here (sizes, time) or reused (path) */
    exp_basics_report r;
    int nfig;
    char *fig[EXP_MAX_FIGS]; /* SVG documents (heap, no XML prolog) */
    char caption[EXP_MAX_FIGS][400];
    double seconds;
    bool skipped;            /* nothing measured; skip_reason says why */
    char skip_reason[400];
} exp_section;

typedef struct exp_chapter {
    exp_section *s;
    int n, cap;
    /* Models shared between sections, built once (owned). */
    struct train_vectors *w2v; /* Word2Vec trained on the Wikipedia corpus */
    char w2v_source[400];
    struct data_tokenizer *tok; /* the 5,000-piece BPE of `tokens` (256 bytes + 4,739 merges + 5 specials) */
    char tok_source[400];
    double seconds;            /* whole run */
} exp_chapter;

/* Section names in report order; "all" runs every one. */
extern const char *const exp_chapter_sections[];
extern const int exp_chapter_nsections;

/* Runs one section (name) or all (NULL or "all") into c (zeroed first when c->n == 0). A section
 * that fails records the error as its skip reason; only bad options return -1 (error set). */
int exp_chapter_run(exp_chapter *c, const exp_chapter_options *o, const char *name);
void exp_chapter_free(exp_chapter *c);
/* Text (one block per item) or one JSON object with every section and item. */
void exp_chapter_print(const exp_chapter *c, FILE *f, bool json);
/* The page: sections with claim / measurement / verdict tables and inline figures, and the
 * summary of mismatches. Written atomically. 0 or -1 with an error. */
int exp_chapter_html(const exp_chapter *c, const exp_chapter_options *o, const char *path);

/* ---- shared by the section files (chapter_*.c) ----------------------------------------------- */
exp_section *exp_section_new(exp_chapter *c, const char *id, const char *title);
/* Takes ownership of svg (heap). */
void exp_section_fig(exp_section *s, char *svg, const char *caption);
/* "<data_dir>/<rel>" in a static rotating buffer (8 in rotation, shared with exp_out, exp_model and
 * exp_cut_corpus: copy a path that must outlive later calls), or NULL when data_dir is NULL or the
 * file is absent. */
const char *exp_data(const exp_chapter_options *o, const char *rel);
/* "<out_dir>/<name>" (static rotating buffer). */
const char *exp_out(const exp_chapter_options *o, const char *name);
/* "<models_dir>/<name>" if that file exists, else NULL. */
const char *exp_model(const exp_chapter_options *o, const char *name);
/* Writes the first max_bytes of a (gzip) corpus to "<out_dir>/<name>" unless it is already there
 * with that size; returns the path (static rotating buffer) or NULL with an error. */
const char *exp_cut_corpus(const exp_chapter_options *o, const char *src, int64_t max_bytes, const char *name);
/* The 5,000-token BPE on raw Wikipedia (trained once per run, or bpe5000.tok from --models): c->tok. */
int exp_chapter_tokenizer(exp_chapter *c, const exp_chapter_options *o);
/* Word2Vec on the Wikipedia corpus (trained once per run, or loaded from --models): c->w2v. */
int exp_chapter_w2v(exp_chapter *c, const exp_chapter_options *o);
/* Values of `key` and "step" on the "train" lines of a training loop's JSON-lines metrics file: up
 * to max points into step[], val[]; returns how many (0 if the file is absent). */
int exp_metrics_series(const char *path, const char *key, double *step, double *val, int max);
void exp_log(const exp_chapter_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sections (one file each). Each fills s; returns 0, or -1 with an error (recorded as skipped). */
int exp_section_basics(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_positional(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_multimodal(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_tokens(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_words(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_eval(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_context(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_tips(exp_chapter *c, exp_section *s, const exp_chapter_options *o);
int exp_section_align(exp_chapter *c, exp_section *s, const exp_chapter_options *o);

/* ---- figures as SVG strings (chapter_fig.c) --------------------------------------------------- */
/* Heat map of v[rows, cols] (row 0 at the top). diverging: blue–white–red around 0 over
 * [-max|v|, max|v|]; else grey/viridis-like over [min, max]. gray: black (min) to white (max), for
 * images. Labels may be NULL. */
typedef enum { EXP_CMAP_DIVERGING = 0, EXP_CMAP_SEQUENTIAL, EXP_CMAP_GRAY } exp_cmap;
char *exp_fig_heatmap(const char *title, const float *v, int64_t rows, int64_t cols, exp_cmap cmap, const char *xlabel,
                      const char *ylabel, int width, int height);
/* Line chart: nser series of n points each, y[s * n + i] at x[i]; NaN points are skipped. */
char *exp_fig_lines(const char *title, const char *xlabel, const char *ylabel, const double *x, const double *y,
                    int nser, int64_t n, const char *const *names, bool logy);
/* Horizontal bars: n values with labels; groups colour them (may be NULL). unit is appended to the
 * printed values ("%"). */
char *exp_fig_bars(const char *title, const char *const *labels, const double *v, const int *groups, int n,
                   const char *unit);
/* A table rendered as SVG text rows (for shape walks): rows of cells separated by '|'. */
char *exp_fig_table(const char *title, const char *const *rows, int n);
/* Reads an SVG file written by exp_svg_scatter (its XML prolog removed). NULL on error. */
char *exp_fig_from_file(const char *path);

#endif
