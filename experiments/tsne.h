/* tsne.h — exact t-SNE (van der Maaten & Hinton 2008) for small point sets (tens to a few thousand). */
#ifndef EMBER_EXPERIMENTS_TSNE_H
#define EMBER_EXPERIMENTS_TSNE_H

#include <stdint.h>

typedef struct exp_tsne_options {
    double perplexity;          /* effective neighbours per point (default 7; clamped to (n-1)/3) */
    int iters;                  /* gradient steps (default 1000) */
    double learning_rate;       /* <= 0: sklearn's "auto", max(n / exaggeration / 4, 50) */
    double early_exaggeration;  /* P is multiplied by this for the first exaggeration_iters (12) */
    int exaggeration_iters;     /* 250; momentum is 0.5 during them and 0.8 after */
    uint64_t seed;              /* PCA init's subspace start (the init is otherwise deterministic) */
} exp_tsne_options;

void exp_tsne_options_default(exp_tsne_options *o);

/* Embeds x[n, d] (squared Euclidean input distances; normalise rows first for cosine geometry)
 * into y[n, 2]. Initialisation: the first two principal components scaled so that the first has
 * standard deviation 1e-4. Returns the final KL(P || Q), or -1 with an error if n < 2. */
double exp_tsne(const float *x, int64_t n, int64_t d, const exp_tsne_options *o, float *y);

#endif
