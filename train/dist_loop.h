/* dist_loop.h — the training loop's data-parallel hook (docs/DISTRIBUTED.md): start identical, average grads, agree on stops, one writer.
 *
 * train/loop.c calls these at six places marked "data parallel"; with one rank (a build without
 * MPI, or a run not started by mpirun) each is a no-op or returns at once, so the single-process
 * loop is unchanged. With N ranks, every rank runs the same loop on its own shard of each global batch:
 *
 *   start        parameters broadcast from rank 0; rank r > 0 derives its own dropout stream
 *   each step    after the micro-batches' backward, before clipping: dense grads averaged with
 *                bucketed all-reduces over the grad block (contiguous runs of trainable params),
 *                row-sparse grads all-gathered (every rank's rows, · 1/N) so the optimizer's
 *                coalescing sums them; the loss and the step's token count reduced alongside
 *   step top     a stop (signal, --stop-after) is agreed by all ranks, so all stop at one step
 *   checkpoints  all ranks check that their parameters are bitwise identical; rank 0 alone writes
 *                (checkpoints, metrics, progress), since every rank's state is the same bytes
 */
#ifndef EMBER_TRAIN_DIST_LOOP_H
#define EMBER_TRAIN_DIST_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/base.h"
#include "../dist/dist.h"
#include "../nn/params.h"

/* True on the rank that writes files and prints (rank 0; always in a single process). */
bool train_dist_writer(void);

/* Start of a run (after any resume): parameters from rank 0; rank r > 0 reseeds graph_rng from its
 * current state and r (dropout masks differ across ranks, rank 0 keeps the single-process stream). */
void train_dist_begin(nn_params *ps, base_rng *graph_rng);

/* After the step's backward passes: averages the grads (dense and sparse) over ranks, replaces
 * *loss_sum by the ranks' mean, and adds the other ranks' tokens of this step (those counted since
 * tokens0 on this rank) to *tokens and, if non-NULL, *tokens_here. */
void train_dist_step(nn_params *ps, double *loss_sum, int64_t tokens0, int64_t *tokens, int64_t *tokens_here);

/* Whether any rank wants to stop (logical or over ranks). */
bool train_dist_any(bool local);

/* Before a checkpoint: all ranks compare a hash of their parameter values (0, or -1 with an error
 * naming the ranks that diverged). Sets *write to whether this rank writes the file. */
int train_dist_save_gate(const nn_params *ps, bool *write);

/* Hash of a parameter set's values (tests and the divergence check). */
uint64_t train_dist_params_hash(const nn_params *ps);

#endif
