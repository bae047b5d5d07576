/* fuzz_vectors.c — word2vec vectors files: text and binary (the first input byte picks auto, text or
 * binary), then the vector set the eval tools build from them (lookups, a neighbour query). */
#include "fuzz.h"

#include "checkpoints/export.h"
#include "train/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ckpt_w2v_mode mode = (ckpt_w2v_mode)(data[0] % 3);
    ckpt_embeddings e;
    if (ckpt_import_word2vec(fz_file(data + 1, size - 1, ".vec"), mode, &e) != 0) return 0;
    if (e.n > 0 && e.dim > 0) {
        train_vectors *v = train_vectors_adopt(e.n, e.dim, e.words, e.vecs); /* takes words and vecs */
        train_neighbor nb[3];
        (void)train_similar(v, v->words[0], 3, nb);
        train_vectors_free(v);
    } else {
        ckpt_embeddings_free(&e);
    }
    return 0;
}
