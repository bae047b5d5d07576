/* fuzz_corpus_gz.c — gzip corpus streams: the input is compressed (level 1) and, when its first byte
 * is odd, cut short or given trailing garbage, so the fuzzer explores text content behind a valid
 * (or damaged) gzip stream rather than the deflate format itself. */
#include "fuzz.h"

#include <zlib.h>

#include "data/corpus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++, size--;
    uLongf cap = compressBound((uLong)size) + 64;
    uint8_t *gz = malloc(cap + 32);
    /* a gzip member: deflateInit2 with windowBits 31 */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)size;
    zs.next_out = gz;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (mode & 1) n = n * (mode >> 1) / 128;         /* truncated stream */
    if (mode & 2) memcpy(gz + n, "garbage!", 8), n += 8; /* trailing bytes after the member */
    const char *path = fz_file(gz, n, ".gz");
    free(gz);
    data_corpus *c = data_corpus_open(path);
    if (!c) return 0;
    char w[DATA_MAX_WORD];
    while (data_corpus_next(c, w, sizeof w) > 0) {
    }
    if (data_corpus_size(c) >= 0 && data_corpus_shard(c, 1, 2) == 0)
        while (data_corpus_next(c, w, sizeof w) > 0) {
        }
    data_corpus_close(c);
    return 0;
}
