/* fuzz_corpus.c — corpus streams (data/corpus.h) over arbitrary file bytes: plain text, or gzip when
 * the bytes start with gzip's magic (seeds include both); every word of the whole file and of each
 * of 3 shards, seeks back to a cursor, the size, and the fingerprint. */
#include "fuzz.h"

#include "data/corpus.h"

static int64_t read_all(data_corpus *c) {
    char w[DATA_MAX_WORD];
    int64_t n = 0;
    int len;
    while ((len = data_corpus_next(c, w, sizeof w)) > 0) {
        if ((size_t)len != strlen(w) || len >= DATA_MAX_WORD) abort(); /* the documented contract */
        n++;
    }
    return len < 0 ? -1 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_file(data, size, ".txt");
    data_corpus *c = data_corpus_open(path);
    if (!c) return 0;
    int64_t total = read_all(c);
    int64_t bytes = data_corpus_size(c);
    if (total >= 0 && bytes >= 0) {
        int64_t sum = 0;
        for (int k = 0; k < 3; k++) {
            if (data_corpus_shard(c, k, 3) != 0) break;
            int64_t at = data_corpus_tell(c);
            int64_t n = read_all(c);
            if (n < 0) break;
            sum += n;
            if (data_corpus_seek(c, at) != 0) break; /* a checkpoint's cursor: the same words again */
            if (read_all(c) != n) abort();
        }
        (void)sum;
    }
    data_corpus_close(c);
    uint64_t fp;
    (void)data_corpus_fingerprint(path, &fp);
    return 0;
}
