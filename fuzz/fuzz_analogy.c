/* fuzz_analogy.c — analogy question files (questions-words.txt: ": section" lines, "a b c d" lines). */
#include "fuzz.h"

#include "data/evalsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_analogy_set *s = NULL;
    if (data_analogy_read(&s, fz_file(data, size, ".txt")) != 0) return 0;
    for (int64_t i = 0; i < s->n; i++)
        if (s->section[i] < 0 || s->section[i] >= s->n_sections || !s->words[4 * i + 3]) abort();
    data_analogy_free(s);
    return 0;
}
