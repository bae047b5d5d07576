/* fuzz_wordsim.c — word-similarity sets ("w1 w2 score" lines, tab or space separated). */
#include "fuzz.h"

#include "data/evalsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_wordsim_set *s = NULL;
    if (data_wordsim_read(&s, fz_file(data, size, ".txt")) != 0) return 0;
    for (int64_t i = 0; i < s->n; i++)
        if (!s->w1[i] || !s->w2[i]) abort();
    data_wordsim_free(s);
    return 0;
}
