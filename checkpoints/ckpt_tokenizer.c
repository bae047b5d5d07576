/* ckpt_tokenizer.c — a model's tokenizer inside its checkpoint: /tokenizer/file (the text file) + /tokenizer/merges. */
#include "ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ckpt_put_tokenizer(ckpt_writer *w, const data_tokenizer *t) {
    /* The text holds no NUL (every control byte is escaped), so a NUL-terminated string dataset keeps it whole. */
    char *text = data_tokenizer_to_text(t);
    int rc = ckpt_put_string(w, "/tokenizer/file", text);
    free(text);
    if (rc == 0) rc = ckpt_put_merges(w, data_bpe_merges(t->bpe), data_bpe_n_merges(t->bpe));
    return rc;
}

int ckpt_get_tokenizer(ckpt_reader *r, data_tokenizer **out) {
    *out = NULL;
    const char *path = ckpt_reader_path(r);
    if (!ckpt_has(r, "/tokenizer/file"))
        return base_error_set("%s: no tokenizer in checkpoint (/tokenizer/file missing)", path);
    char *text = NULL;
    if (ckpt_get_string(r, "/tokenizer/file", &text) < 0) return -1;
    size_t ol = strlen(path) + sizeof ":/tokenizer/file";
    char *origin = base_xmalloc(ol);
    snprintf(origin, ol, "%s:/tokenizer/file", path);
    data_tokenizer *t = NULL;
    int rc = data_tokenizer_from_text(&t, text, strlen(text), origin);
    free(text);
    free(origin);
    if (rc != 0) return -1;
    /* /tokenizer/merges is a convenience copy for other readers (h5py); if present it must agree,
     * or a hand edit of one of the two would go unnoticed. */
    if (ckpt_has(r, "/tokenizer/merges")) {
        int32_t *mg = NULL;
        int64_t m = 0;
        if (ckpt_get_merges(r, &mg, &m) < 0) {
            data_tokenizer_free(t);
            return -1;
        }
        const int64_t tm = data_bpe_n_merges(t->bpe);
        const int32_t *tmg = data_bpe_merges(t->bpe);
        int64_t row = -1;
        for (int64_t i = 0; i < m && i < tm && row < 0; i++)
            if (mg[2 * i] != tmg[2 * i] || mg[2 * i + 1] != tmg[2 * i + 1]) row = i;
        if (row >= 0 || m != tm) {
            if (row >= 0)
                base_error_set("%s: /tokenizer/merges row %lld is (%d, %d), /tokenizer/file says (%d, %d)", path,
                             (long long)row, mg[2 * row], mg[2 * row + 1], tmg[2 * row], tmg[2 * row + 1]);
            else
                base_error_set("%s: /tokenizer/merges has %lld rows, /tokenizer/file %lld merges", path, (long long)m,
                             (long long)tm);
            free(mg);
            data_tokenizer_free(t);
            return -1;
        }
        free(mg);
    }
    *out = t;
    return 0;
}
