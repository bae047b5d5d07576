/* fuzz_vocab.c — vocabulary files (-read-vocab: "word count" lines), then finishing (sort, prune). */
#include "fuzz.h"

#include "data/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_vocab *v = NULL;
    if (data_vocab_read(&v, fz_file(data, size, ".vocab")) != 0) return 0;
    for (int64_t i = 0; i < v->n; i++)
        if (data_vocab_find(v, v->words[i]) < 0) abort(); /* every word read can be found */
    data_vocab_finish(v, 2);
    data_vocab_free(v);
    return 0;
}
