/* chapter_basics.h — the chapter's basic experiments: one-hot vs dense, cosine, parameter counts,
 * lookups, positional encodings, μOmni model sizes; each item is the chapter's claim vs ember's result. */
#ifndef EMBER_EXPERIMENTS_CHAPTER_BASICS_H
#define EMBER_EXPERIMENTS_CHAPTER_BASICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

typedef enum exp_status {
    EXP_MATCH = 0,    /* ember's result agrees with the claim */
    EXP_MISMATCH = 1, /* ember's result (the maths) disagrees with the claim: flagged */
    EXP_INFO = 2,     /* a measurement with nothing to compare (conventions, breakdowns) */
} exp_status;

typedef struct exp_basics_item {
    char id[48];      /* stable key, e.g. "cosine.cat_car" */
    char what[256];   /* what is measured */
    char claim[400];  /* the chapter's claim (or the reference it is checked against) */
    char ember[1000]; /* what ember computes (and, for a mismatch, the true value and why) */
    exp_status status;
    double value;     /* the headline number ember computed (for tests and JSON) */
} exp_basics_item;

typedef struct exp_basics_report {
    exp_basics_item *items;
    int n, cap;
} exp_basics_report;

/* Runs every experiment (a few seconds at most, < 100 MB). Returns 0, or -1 with base_error_msg(). */
int exp_basics_run(exp_basics_report *r, uint64_t seed);
/* The chapter's find_similar and analogy code run literally on real word vectors v (Word2Vec trained
 * on the corpus), beside ember's own queries: items "code.find_similar", "code.analogy". Adds an
 * info item saying they need vectors when v is NULL. */
struct train_vectors;
/* exp_basics_run, with the code items run on v (NULL: on the chapter's own vectors). */
int exp_basics_run_with(exp_basics_report *r, uint64_t seed, const struct train_vectors *v, const char *source);
void exp_basics_vector_items(exp_basics_report *r, const struct train_vectors *v, const char *source);

/* Report plumbing shared by every chapter section: appends a zeroed item (id, status, value). */
exp_basics_item *exp_item_add(exp_basics_report *r, const char *id, exp_status st, double value);
/* printf into a fixed field (truncated if longer). */
void exp_setf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define EXP_SETF(field, ...) exp_setf(field, sizeof field, __VA_ARGS__)
/* 1234567 → "1,234,567" (one of 8 rotating thread-local buffers). */
const char *exp_commas(int64_t v);
/* The item with this id, or NULL. */
const exp_basics_item *exp_basics_find(const exp_basics_report *r, const char *id);
/* Text: one block per item (claim vs ember, flagged mismatches); json: one JSON object. */
void exp_basics_print(const exp_basics_report *r, FILE *f, bool json);
/* One item as a JSON object (status "match" / "mismatch" / "info"; a non-finite value is null). */
void exp_basics_item_json(const exp_basics_item *it, FILE *f);
void exp_basics_free(exp_basics_report *r);
const char *exp_status_name(exp_status s); /* "match", "MISMATCH", "info" */

/* Parameter counts of the μOmni models as ember builds them (conventions in docs/NN.md and in
 * the items' text). vocab: 5000 or 32000 for the Thinker. */
int64_t exp_basics_thinker_params(int64_t vocab);
int64_t exp_basics_vit_tiny_params(void);
/* μOmni's projectors: proj_v Linear(128, 256) + proj_a Linear(192, 256), with biases. */
int64_t exp_basics_projector_params(void);

#endif
