/* fuzz_sts.c — sentence-pair sets: STS Benchmark (tab-separated .csv) and SICK (header "pair_ID");
 * the first input byte picks auto, STS-B or SICK. */
#include "fuzz.h"

#include "data/evalsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    data_sentence_pairs *s = NULL;
    data_pairs_format fmt = (data_pairs_format)(data[0] % 3);
    if (data_pairs_read(&s, fz_file(data + 1, size - 1, ".csv"), fmt) != 0) return 0;
    for (int64_t i = 0; i < s->n; i++)
        if (!s->a[i] || !s->b[i]) abort();
    data_pairs_free(s);
    return 0;
}
