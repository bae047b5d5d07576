/* dist.h — data-parallel plumbing: rank, size and collectives over MPI (EMBER_MPI builds), or one process otherwise.
 *
 * Trainers never call MPI: they call these. A build without MPI (the default) compiles the same
 * functions as a single process (rank 0 of 1; reductions and broadcasts leave buffers as they
 * are), so no caller needs an #ifdef. With -DEMBER_MPI=ON, dist_init starts MPI when the process
 * was launched by an MPI launcher (mpirun, mpiexec, srun with PMI/PMIx) or when forced (--dist);
 * a plain run of the same binary stays a single process and never touches MPI.
 *
 * Every collective must be called by every rank in the same order (MPI's rule). Failures inside
 * MPI abort the whole job (MPI_ERRORS_ARE_FATAL): a collective that cannot complete is not user
 * input but a broken job, and waiting would hang the other ranks. A rank that fails for an ordinary
 * reason (bad file, non-finite loss) calls dist_abort, which prints its message and makes every
 * other rank exit instead of waiting forever in the next collective.
 *
 * Buffers are host memory; counts are elements (int64_t: large buffers are sent in buckets of
 * at most dist_bucket_elems() elements, which also bounds the launcher's temporary memory).
 */
#ifndef EMBER_DIST_DIST_H
#define EMBER_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Starts the data-parallel runtime. force: start MPI even if no launcher is detected (--dist).
 * 0, or -1 with an error: force (or a launcher that says there are several ranks) in a build
 * without MPI — every rank would otherwise train alone and overwrite the others' checkpoint.
 * Idempotent. */
int dist_init(bool force);
/* Ends MPI (if started). Call once, on every rank, after the last collective. */
void dist_finalize(void);
/* Prints "ember: rank R of N: msg" to stderr and ends every rank of the job with status code
 * (MPI_Abort); in a single process, exits with code. Does not return. */
void dist_abort(int code, const char *msg) __attribute__((noreturn));

bool dist_compiled(void);   /* built with MPI */
bool dist_launched(void);   /* an MPI launcher's environment is present (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK) */
bool dist_active(void);     /* MPI started and more than one rank */
int dist_rank(void);        /* 0 .. size-1 (0 in a single process) */
int dist_size(void);        /* number of ranks (1 in a single process) */

/* In-place reductions over all ranks; every rank ends with the same bytes. */
void dist_allreduce_sum_f32(float *buf, int64_t n);
void dist_allreduce_avg_f32(float *buf, int64_t n); /* sum, then · 1/size */
void dist_allreduce_sum_f64(double *buf, int64_t n);
void dist_allreduce_sum_i64(int64_t *buf, int64_t n);
void dist_allreduce_max_i64(int64_t *buf, int64_t n);
/* buf [bytes] of root is copied to every rank. */
void dist_broadcast(void *buf, int64_t bytes, int root);
/* send [bytes] of every rank → recv [size · bytes], rank order. */
void dist_allgather(const void *send, int64_t bytes, void *recv);
/* send [bytes] of every rank, sizes differing → recv [Σ bytes], rank order. counts (optional):
 * [size] bytes per rank. The caller sizes recv from dist_allreduce_sum_i64 of bytes (or knows). */
void dist_allgatherv(const void *send, int64_t bytes, void *recv, int64_t *counts);
void dist_barrier(void);

/* Elements per bucket of a large reduction (EMBER_DIST_BUCKET overrides; default 2^20 floats = 4 MB). */
int64_t dist_bucket_elems(void);

/* Time spent inside collectives and bytes this rank sent into them since the start (or the last
 * reset): the communication share of a step. */
typedef struct dist_stats {
    double seconds;      /* in reductions, broadcasts and gathers */
    double wait_seconds; /* in dist_barrier: waiting for the slowest rank (load imbalance, not transfer) */
    int64_t bytes;
    int64_t calls;
} dist_stats;
dist_stats dist_get_stats(void);
void dist_reset_stats(void);

/* For tests: a 64-bit FNV-1a hash of bytes (parameter checksums compared across ranks). */
uint64_t dist_hash(const void *data, size_t bytes);

#endif
