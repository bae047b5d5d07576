/* corpus_read.c — benchmark: words/s and MB/s of data_corpus_next over a file (plain or gzip), optionally sharded.
 *
 * usage: bench_corpus_read FILE [threads]
 * Prints one line: "corpus_read FILE: W words, B bytes in S s = X MB/s (uncompressed), Y Mwords/s".
 * bench/data_bench.sh runs it beside `cat` / `zcat` on the same file and quotes the ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "autograd/ag.h"
#include "data/corpus.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [threads]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads < 1) threads = 1;
    double t0 = base_now_sec();
    int64_t words = 0, bytes = 0;
    int failed = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : words, bytes, failed) schedule(static, 1)
    for (int k = 0; k < threads; k++) {
        data_corpus *c = data_corpus_open(argv[1]);
        if (!c) {
            fprintf(stderr, "error: %s\n", base_error_msg());
            failed++;
            continue;
        }
        if (threads > 1 && data_corpus_shard(c, k, threads) != 0) {
            fprintf(stderr, "error: %s\n", base_error_msg());
            failed++;
            data_corpus_close(c);
            continue;
        }
        char w[DATA_MAX_WORD];
        int n;
        while ((n = data_corpus_next(c, w, sizeof w)) > 0) words++;
        if (n < 0) {
            fprintf(stderr, "error: %s\n", base_error_msg());
            failed++;
        }
        if (k == 0) bytes = data_corpus_size(c); /* known by now: the whole file was read once */
        data_corpus_close(c);
    }
    double dt = base_now_sec() - t0;
    if (failed) return 1;
    printf("corpus_read %s (%d thread%s): %lld words, %lld bytes in %.3f s = %.1f MB/s uncompressed, %.2f Mwords/s\n",
           argv[1], threads, threads > 1 ? "s" : "", (long long)words, (long long)bytes, dt, (double)bytes / dt / 1e6,
           (double)words / dt / 1e6);
    return 0;
}
