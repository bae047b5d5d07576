/* bpe_bench.c — benchmark: BPE training time on a corpus prefix and encoding rate of a whole file.
 *
 * usage: bench_bpe_bench FILE [train_bytes=10000000] [vocab=5000] [threads=2] [merges_out] [train_only]
 * merges_out: also save the merges (ember-bpe text format); train_only=1 skips the encoding part.
 * Prints training time, encode MB/s over the whole (plain or gzip) file, bytes/token, and checks
 * the round trip on the first 10 MB. bench/data_bench.sh runs it beside `zcat FILE | wc -c`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "data/bpe.h"
#include "autograd/ag.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [train_bytes] [vocab] [threads]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    long long train_bytes = argc > 2 ? atoll(argv[2]) : 10000000;
    int vocab = argc > 3 ? atoi(argv[3]) : 5000;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    const char *merges_out = argc > 5 ? argv[5] : NULL;
    int train_only = argc > 6 ? atoi(argv[6]) : 0;
    double t0 = base_now_sec();
    data_bpe *b = NULL;
    if (data_bpe_train_file(&b, path, train_bytes, vocab, NULL) != 0) {
        fprintf(stderr, "error: %s\n", base_error_msg());
        return 1;
    }
    double t_train = base_now_sec() - t0;
    printf("bpe_train: %lld bytes, vocab %d (%lld merges) in %.2f s\n", train_bytes, data_bpe_vocab_size(b),
           (long long)data_bpe_n_merges(b), t_train);
    if (merges_out && data_bpe_save(b, merges_out) != 0) {
        fprintf(stderr, "error: %s\n", base_error_msg());
        return 1;
    }
    if (train_only) {
        data_bpe_free(b);
        return 0;
    }
    t0 = base_now_sec();
    int32_t *ids;
    int64_t n;
    if (data_bpe_encode_file(b, path, &ids, &n, threads) != 0) {
        fprintf(stderr, "error: %s\n", base_error_msg());
        return 1;
    }
    double t_enc = base_now_sec() - t0;
    /* Uncompressed size from the decoded length (decode is exact). */
    uint8_t *text;
    size_t bytes;
    t0 = base_now_sec();
    if (data_bpe_decode(b, ids, n, &text, &bytes) != 0) {
        fprintf(stderr, "error: %s\n", base_error_msg());
        return 1;
    }
    double t_dec = base_now_sec() - t0;
    printf("bpe_encode_file (%d threads, incl. gzip read): %zu bytes -> %lld tokens in %.2f s = %.1f MB/s, %.2f "
           "bytes/token\n",
           threads, bytes, (long long)n, t_enc, (double)bytes / t_enc / 1e6, (double)bytes / (double)n);
    printf("bpe_decode: %.2f s = %.1f MB/s\n", t_dec, (double)bytes / t_dec / 1e6);
    /* Check the round trip against the file itself. */
    gzFile g = gzopen(path, "rb");
    size_t chk = bytes < 10000000 ? bytes : 10000000;
    uint8_t *orig = malloc(chk);
    int got = g ? gzread(g, orig, (unsigned)chk) : -1;
    if (g) gzclose(g);
    int ok = got == (int)chk && memcmp(orig, text, chk) == 0;
    printf("round trip of the first %zu bytes: %s\n", chk, ok ? "exact" : "MISMATCH");
    free(orig);
    free(text);
    free(ids);
    data_bpe_free(b);
    return ok ? 0 : 1;
}
