/* fuzz_sst.c — labelled sentences (SST-2 .tsv: "sentence<TAB>label" under a header). */
#include "fuzz.h"

#include "data/evalsets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_labeled_sentences *s = NULL;
    if (data_labeled_read(&s, fz_file(data, size, ".tsv")) != 0) return 0;
    for (int64_t i = 0; i < s->n; i++)
        if (!s->text[i]) abort();
    data_labeled_free(s);
    return 0;
}
