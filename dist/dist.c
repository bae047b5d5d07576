/* dist.c — the dist layer: MPI collectives in buckets when built with EMBER_MPI, a single process otherwise (dist.h). */
#include "dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

#ifdef EMBER_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
static bool g_started = false; /* MPI_Init done by us */
static dist_stats g_stats;

bool dist_compiled(void) {
#ifdef EMBER_HAVE_MPI
    return true;
#else
    return false;
#endif
}

/* The launcher's own word on the job size, or 0 when none is present. */
static long launcher_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return getenv("PMIX_RANK") ? 1 : 0; /* PMIx without a size variable: a launcher, size unknown */
}

bool dist_launched(void) { return launcher_size() > 0; }

int dist_init(bool force) {
    if (g_started) return 0;
#ifdef EMBER_HAVE_MPI
    if (!force && !dist_launched()) return 0;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        /* FUNNELED: OpenMP and OpenBLAS threads compute; only the main thread calls MPI. */
        MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_started = true;
    return 0;
#else
    if (force)
        return base_error_set("--dist: this ember was built without MPI (configure with -DEMBER_MPI=ON after "
                              "`apt-get install libopenmpi-dev openmpi-bin`)");
    long n = launcher_size();
    if (n > 1)
        return base_error_set("started by an MPI launcher as one of %ld ranks, but this ember was built without MPI: "
                              "each rank would train alone and overwrite the same checkpoint (rebuild with "
                              "-DEMBER_MPI=ON, or run without mpirun)", n);
    return 0;
#endif
}

void dist_finalize(void) {
#ifdef EMBER_HAVE_MPI
    if (g_started) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
    }
#endif
    g_started = false;
    g_rank = 0;
    g_size = 1;
}

void dist_abort(int code, const char *msg) {
    fflush(stdout);
    if (g_size > 1) fprintf(stderr, "ember: rank %d of %d: %s: stopping every rank\n", g_rank, g_size, msg ? msg : "failed");
    else if (msg) fprintf(stderr, "ember: %s\n", msg);
    fflush(stderr);
#ifdef EMBER_HAVE_MPI
    if (g_started) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#endif
    exit(code ? code : 1);
}

bool dist_active(void) { return g_started && g_size > 1; }
int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

int64_t dist_bucket_elems(void) {
    static int64_t n;
    if (!n) {
        const char *e = getenv("EMBER_DIST_BUCKET");
        long long v = e ? strtoll(e, NULL, 10) : 0;
        n = v >= 1024 && v <= (1LL << 28) ? v : (1LL << 20);
    }
    return n;
}

dist_stats dist_get_stats(void) { return g_stats; }
void dist_reset_stats(void) { memset(&g_stats, 0, sizeof g_stats); }

uint64_t dist_hash(const void *data, size_t bytes) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = data;
    for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

#ifdef EMBER_HAVE_MPI
/* In-place all-reduce of n elements of elem bytes, in buckets (MPI counts are int, and a bucket
 * bounds the library's temporary buffers). */
static void allreduce(void *buf, int64_t n, size_t elem, MPI_Datatype dt, MPI_Op op) {
    if (!dist_active() || n <= 0) return;
    double t0 = base_now_sec();
    int64_t bucket = dist_bucket_elems();
    for (int64_t off = 0; off < n; off += bucket) {
        int64_t k = n - off < bucket ? n - off : bucket;
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * elem, (int)k, dt, op, MPI_COMM_WORLD);
        g_stats.calls++;
    }
    g_stats.bytes += n * (int64_t)elem;
    g_stats.seconds += base_now_sec() - t0;
}
#endif

void dist_allreduce_sum_f32(float *buf, int64_t n) {
#ifdef EMBER_HAVE_MPI
    allreduce(buf, n, sizeof(float), MPI_FLOAT, MPI_SUM);
#else
    (void)buf, (void)n;
#endif
}

void dist_allreduce_avg_f32(float *buf, int64_t n) {
    if (!dist_active()) return;
    dist_allreduce_sum_f32(buf, n);
    float inv = 1.0f / (float)g_size;
    for (int64_t i = 0; i < n; i++) buf[i] *= inv;
}

void dist_allreduce_sum_f64(double *buf, int64_t n) {
#ifdef EMBER_HAVE_MPI
    allreduce(buf, n, sizeof(double), MPI_DOUBLE, MPI_SUM);
#else
    (void)buf, (void)n;
#endif
}

void dist_allreduce_sum_i64(int64_t *buf, int64_t n) {
#ifdef EMBER_HAVE_MPI
    allreduce(buf, n, sizeof(int64_t), MPI_INT64_T, MPI_SUM);
#else
    (void)buf, (void)n;
#endif
}

void dist_allreduce_max_i64(int64_t *buf, int64_t n) {
#ifdef EMBER_HAVE_MPI
    allreduce(buf, n, sizeof(int64_t), MPI_INT64_T, MPI_MAX);
#else
    (void)buf, (void)n;
#endif
}

void dist_broadcast(void *buf, int64_t bytes, int root) {
#ifdef EMBER_HAVE_MPI
    if (!dist_active() || bytes <= 0) return;
    double t0 = base_now_sec();
    int64_t bucket = 4 * dist_bucket_elems();
    for (int64_t off = 0; off < bytes; off += bucket) {
        int64_t k = bytes - off < bucket ? bytes - off : bucket;
        MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        g_stats.calls++;
    }
    g_stats.bytes += bytes;
    g_stats.seconds += base_now_sec() - t0;
#else
    (void)buf, (void)bytes, (void)root;
#endif
}

void dist_allgather(const void *send, int64_t bytes, void *recv) {
    if (!dist_active()) {
        if (bytes > 0 && recv != send) memmove(recv, send, (size_t)bytes);
        return;
    }
#ifdef EMBER_HAVE_MPI
    BASE_CHECK(bytes >= 0 && bytes <= INT_MAX, "dist_allgather", "%lld bytes per rank: expected at most %d",
               (long long)bytes, INT_MAX);
    double t0 = base_now_sec();
    MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    g_stats.calls++;
    g_stats.bytes += bytes;
    g_stats.seconds += base_now_sec() - t0;
#endif
}

void dist_allgatherv(const void *send, int64_t bytes, void *recv, int64_t *counts) {
    if (!dist_active()) {
        if (bytes > 0 && recv != send) memmove(recv, send, (size_t)bytes);
        if (counts) counts[0] = bytes;
        return;
    }
#ifdef EMBER_HAVE_MPI
    int64_t *all = base_xmalloc((size_t)g_size * sizeof(int64_t));
    dist_allgather(&bytes, sizeof bytes, all);
    int *cnt = base_xmalloc((size_t)g_size * sizeof(int)), *disp = base_xmalloc((size_t)g_size * sizeof(int));
    int64_t total = 0;
    for (int r = 0; r < g_size; r++) {
        BASE_CHECK(all[r] >= 0 && total + all[r] <= INT_MAX, "dist_allgatherv", "%lld bytes in all: expected at most %d",
                   (long long)(total + all[r]), INT_MAX);
        cnt[r] = (int)all[r];
        disp[r] = (int)total;
        total += all[r];
        if (counts) counts[r] = all[r];
    }
    double t0 = base_now_sec();
    MPI_Allgatherv(send, (int)bytes, MPI_BYTE, recv, cnt, disp, MPI_BYTE, MPI_COMM_WORLD);
    g_stats.calls++;
    g_stats.bytes += bytes;
    g_stats.seconds += base_now_sec() - t0;
    free(all);
    free(cnt);
    free(disp);
#endif
}

void dist_barrier(void) {
#ifdef EMBER_HAVE_MPI
    if (!dist_active()) return;
    double t0 = base_now_sec();
    MPI_Barrier(MPI_COMM_WORLD);
    g_stats.wait_seconds += base_now_sec() - t0;
#endif
}
