/* demo.h — `ember demo`: generate (or read) a corpus, train Word2Vec, show neighbours, analogies, scores and a picture. */
#ifndef EMBER_EXPERIMENTS_DEMO_H
#define EMBER_EXPERIMENTS_DEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct exp_demo_options {
    const char *corpus;   /* NULL: generate the chapter world (data/world.h) into out_dir/world.txt */
    const char *out_dir;  /* created if missing (default "ember-demo") */
    bool json;            /* one JSON object on `out` instead of the text report */
    uint64_t seed;        /* corpus generator and trainer seed (default 1) */
    int threads;          /* trainer workers (default 2) */
    bool deterministic;   /* one worker, bit-reproducible for a seed (the trainer's --deterministic) */
    int epochs;           /* 0: 5 */
    int dim;              /* 0: 50 for the world, 100 for a user corpus */
    int64_t world_sentences; /* 0: the world generator's default size */
} exp_demo_options;

void exp_demo_options_default(exp_demo_options *o);

/* Runs the whole demo, printing the report to out (progress notes go to stderr). Writes into
 * out_dir: world.txt (generated corpus, world mode only), vectors.txt (word2vec text),
 * demo.ckpt (the trainer's final checkpoint: /config, /vocab, /params/syn0, /params/syn1neg,
 * /state) and picture.svg (t-SNE map of the four categories, or of the most frequent words).
 * Returns 0, or -1 with base_error_msg() set. */
int exp_demo_run(const exp_demo_options *o, FILE *out);

#endif
