/* params.h — named parameter sets: one list for init, counts, grads, freezing and checkpoints.
 *
 * Layers register their parameters by PyTorch-style dotted name before any memory exists
 * (nn_params_add); nn_params_alloc then places every value in one aligned block and every dense
 * grad in a second block (llm.c's habit: zeroing, norms and checkpoint I/O become single loops),
 * and initialises each parameter from its recorded init spec with the given RNG.
 */
#ifndef EMBER_NN_PARAMS_H
#define EMBER_NN_PARAMS_H

#include "../autograd/ag.h"

typedef enum nn_init_kind {
    NN_INIT_ZEROS = 0,
    NN_INIT_ONES,
    NN_INIT_CONST,   /* every element = a */
    NN_INIT_NORMAL,  /* normal(0, a) */
    NN_INIT_UNIFORM, /* uniform(a, b) */
    NN_INIT_NONE,    /* left as is (filled by the caller after alloc) */
} nn_init_kind;

typedef struct nn_param {
    char *name;        /* dotted name, owned */
    ag_tensor *t;      /* heap tensor; data (and grad for dense params) point into the blocks */
    nn_init_kind init;
    float a, b;        /* init arguments (see nn_init_kind) */
    bool frozen;       /* no grad is computed; optimizers skip it; its bytes never change */
    bool has_zero_row; /* (2-D params) row zero_row is set to zero by every (re)init: an */
    int64_t zero_row;  /* embedding's padding index (see nn_params_set_zero_row) */
} nn_param;

typedef struct nn_params {
    nn_param *items;
    int n, cap;
    float *values;     /* [total] one block for all values (after alloc) */
    float *grads;      /* [total_dense] one block for the dense grads of unfrozen parameters (sparse and
                        * frozen parameters have none) */
    int64_t total, total_dense;
    bool allocated;
} nn_params;

void nn_params_init(nn_params *ps);
void nn_params_free(nn_params *ps); /* frees tensors, names and blocks */

/* Registers a parameter (before alloc). Aborts on a duplicate name (a programming error).
 * sparse_grad: gathers from it produce row-sparse grads (embedding tables). */
ag_tensor *nn_params_add(nn_params *ps, const char *name, int ndim, const int64_t *shape,
                         nn_init_kind init, float a, float b, bool sparse_grad);
/* Allocates the blocks and initialises every parameter in registration order from rng. */
void nn_params_alloc(nn_params *ps, base_rng *rng);
/* Re-initialises one parameter from its spec. */
void nn_param_reinit(nn_param *p, base_rng *rng);

nn_param *nn_params_find(const nn_params *ps, const char *name); /* NULL if absent */
/* Freezes (or unfreezes) every parameter whose name matches the fnmatch(3) glob; returns how many
 * matched. A frozen parameter loses AG_REQUIRES_GRAD so no op records a grad for it, and (once the
 * set is allocated) the grad block is re-laid by nn_params_regrad, so it has no grad storage either. */
int nn_params_freeze(nn_params *ps, const char *glob, bool frozen);
/* Re-lays the dense grad block over the unfrozen dense parameters only (frozen ones get grad NULL):
 * freezing saves the gradient memory as well as its compute. Every grad is zero afterwards. Called
 * by nn_params_freeze; a no-op before nn_params_alloc. */
void nn_params_regrad(nn_params *ps);
/* Number of scalars in parameters whose name starts with prefix (NULL or "" = all). */
int64_t nn_params_count(const nn_params *ps, const char *prefix);
int64_t nn_params_count_trainable(const nn_params *ps);
void nn_params_zero_grad(nn_params *ps);
/* Prints "name shape count [frozen]" per parameter and the total. */
void nn_params_print(const nn_params *ps, FILE *f);

/* Additions by nn (layers) ----------------------------------------------------------------------- */
/* The nn_param that owns tensor t (NULL if t is not in the set). */
nn_param *nn_params_of(const nn_params *ps, const ag_tensor *t);
/* Marks row `row` of the 2-D parameter t to be zeroed by init (before or after alloc; after alloc
 * the row is zeroed at once). */
void nn_params_set_zero_row(nn_params *ps, ag_tensor *t, int64_t row);
/* Re-initialises every parameter from its spec, in registration order (same result as the
 * initialisation nn_params_alloc did when given an RNG in the same state). */
void nn_params_reinit_all(nn_params *ps, base_rng *rng);
/* Number of parameters (tensors, not scalars) whose name matches the fnmatch(3) glob. */
int nn_params_match_count(const nn_params *ps, const char *glob);

#endif
