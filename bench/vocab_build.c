/* vocab_build.c — benchmark: data_vocab_build over a corpus (time, words/s, peak RSS) and the data_vocab_find rate.
 *
 * usage: bench_vocab_build CORPUS [min_count=5] [max_size=0]
 * bench/data_bench.sh runs it beside gensim's build_vocab on the same corpus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "data/corpus.h"
#include "autograd/ag.h"
#include "data/vocab.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS [min_count] [max_size]\n", argv[0]);
        return 2;
    }
    long long min_count = argc > 2 ? atoll(argv[2]) : 5, max_size = argc > 3 ? atoll(argv[3]) : 0;
    double t0 = base_now_sec();
    data_vocab *v;
    if (data_vocab_build(&v, argv[1], min_count, max_size, stderr) != 0) {
        fprintf(stderr, "error: %s\n", base_error_msg());
        return 1;
    }
    double dt = base_now_sec() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                 1e-6 * (double)ru.ru_stime.tv_usec;
    printf("vocab_build %s: %lld words kept (min-count %lld), total %lld in %.2f s wall, %.2f s cpu, peak RSS %.1f MB\n",
           argv[1], (long long)v->n, min_count, (long long)v->total, dt, cpu, (double)ru.ru_maxrss / 1024.0);
    /* The trainer's hot path: one find per corpus word (second pass over the corpus, lookups only). */
    data_corpus *c = data_corpus_open(argv[1]);
    if (!c) {
        fprintf(stderr, "error: %s\n", base_error_msg());
        return 1;
    }
    char w[DATA_MAX_WORD];
    int64_t n = 0, hits = 0;
    double t1 = base_now_sec();
    while (data_corpus_next(c, w, sizeof w) > 0) {
        n++;
        hits += data_vocab_find(v, w) >= 0;
    }
    double dr = base_now_sec() - t1;
    data_corpus_close(c);
    printf("read + find: %lld words (%lld in vocab) in %.2f s = %.1f Mwords/s\n", (long long)n, (long long)hits, dr,
           (double)n / dr / 1e6);
    data_vocab_free(v);
    return 0;
}
