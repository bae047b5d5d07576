/* fuzz_ckpt.c — checkpoints as files: the integrity line (ckpt_check_integrity: header syntax,
 * size, hash), and for inputs that pass it, the HDF5 layout as ember reads it: every dataset's
 * info and values, /vocab, the embedding pick, /config and Word2Vec's /state reader. Files without
 * the line are not handed to ckpt_open here: HDF5's parser crashes on some damaged files (found by
 * this harness, docs/FUZZING.md); ckpt_open contains that by reading them in a forked child first,
 * which a fuzzer would pay for on every input and whose crashes it would not see. fuzz_ckpt_state
 * fuzzes ember's own checks of the layout through well-formed HDF5 files instead. */
#include "fuzz.h"

#include "checkpoints/ckpt.h"
#include "train/word2vec.h"

static int visit(const char *path, const ckpt_info *info, void *ctx) {
    ckpt_reader *r = ctx;
    if (!info || info->numel > (1 << 20)) return 0; /* groups; huge declared sizes are HDF5's to refuse */
    switch (info->dtype) {
    case CKPT_F32: {
        float *v = malloc((size_t)(info->numel ? info->numel : 1) * sizeof *v);
        (void)ckpt_get_f32_array(r, path, v, info->ndim, info->shape);
        free(v);
        break;
    }
    case CKPT_I64:
        if (info->ndim <= 1) {
            int64_t *v = malloc((size_t)(info->numel ? info->numel : 1) * sizeof *v);
            (void)ckpt_get_i64_array(r, path, v, info->numel);
            free(v);
        }
        break;
    case CKPT_STRING: {
        char *s = NULL;
        if (ckpt_get_string(r, path, &s) == 0) free(s);
        break;
    }
    default: break;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_file(data, size, ".ckpt");
    if (ckpt_check_integrity(path) != 1) return 0;
    ckpt_reader *r = ckpt_open(path);
    if (!r) return 0;
    (void)ckpt_visit(r, visit, r);
    char **words = NULL;
    int64_t *counts = NULL, n = 0;
    if (ckpt_get_vocab(r, &words, &counts, &n) == 0) {
        char best[512];
        ckpt_info info;
        (void)ckpt_pick_embedding(r, n, NULL, best, sizeof best, &info);
        ckpt_free_words(words, n);
        free(counts);
    }
    char *json = NULL;
    if (ckpt_get_config_json(r, &json) == 0) free(json);
    train_w2v_state st;
    if (train_w2v_get_state(r, &st) == 0) train_w2v_state_free(&st);
    ckpt_close(r);
    return 0;
}
