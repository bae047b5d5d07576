/* chapter_basics.h — the chapter's basic experiments: one-hot vs dense, cosine, parameter counts,
 * lookups, positional encodings, μOmni model sizes; each item is the chapter's claim vs ember's result. */
#ifndef EMBER_EXPERIMENTS_CHAPTER_BASICS_H
#define EMBER_EXPERIMENTS_CHAPTER_BASICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum exp_status {
    EXP_MATCH = 0,    /* ember's result agrees with the claim */
    EXP_MISMATCH = 1, /* ember's result (the maths) disagrees with the claim: flagged */
    EXP_INFO = 2,     /* a measurement with nothing to compare (conventions, breakdowns) */
} exp_status;

typedef struct exp_basics_item {
    char id[48];      /* stable key, e.g. "cosine.cat_car" */
    char what[256];   /* what is measured */
    char claim[200];  /* the chapter's claim (or the reference it is checked against) */
    char ember[400];  /* what ember computes */
    exp_status status;
    double value;     /* the headline number ember computed (for tests and JSON) */
} exp_basics_item;

typedef struct exp_basics_report {
    exp_basics_item *items;
    int n, cap;
} exp_basics_report;

/* Runs every experiment (a few seconds at most, < 100 MB). Returns 0, or -1 with base_error_msg(). */
int exp_basics_run(exp_basics_report *r, uint64_t seed);
/* The item with this id, or NULL. */
const exp_basics_item *exp_basics_find(const exp_basics_report *r, const char *id);
/* Text: one block per item (claim vs ember, flagged mismatches); json: one JSON object. */
void exp_basics_print(const exp_basics_report *r, FILE *f, bool json);
void exp_basics_free(exp_basics_report *r);
const char *exp_status_name(exp_status s); /* "match", "MISMATCH", "info" */

/* Parameter counts of the μOmni models as ember builds them (conventions in docs/NN.md and in
 * the items' text). vocab: 5000 or 32000 for the Thinker. */
int64_t exp_basics_thinker_params(int64_t vocab);
int64_t exp_basics_vit_tiny_params(void);

#endif
