/* pick.c — which /params dataset of a checkpoint is the word-embedding table (one rule for every reader). */
#include "ckpt.h"

#include <stdio.h>
#include <string.h>

#define PICK_MAX 16 /* candidates named in an ambiguity error */

typedef struct {
    int64_t rows;
    int ncand, best_score, nbest;   /* candidates seen; top score; how many share it */
    char best[512];                 /* path of the first candidate with the top score */
    char names[PICK_MAX][128];      /* names of the candidates with the top score (for the error) */
} pick_ctx;

/* How well a parameter name says "input embedding": 4 best … 1 (an output table). */
static int name_score(const char *name) {
    if (strstr(name, "syn0") || strstr(name, "in_embed") || strstr(name, "input")) return 4;
    if ((strstr(name, "tok_emb") || strstr(name, "embed")) && !strstr(name, "out")) return 3;
    if (!strstr(name, "syn1") && !strstr(name, "out")) return 2;
    return 1;
}

static int visit(const char *path, const ckpt_info *info, void *vctx) {
    pick_ctx *c = vctx;
    if (!info || strncmp(path, "/params/", 8) || info->dtype != CKPT_F32 || info->ndim != 2 ||
        info->shape[0] != c->rows || info->shape[1] <= 0 || strlen(path) >= sizeof c->best)
        return 0;
    int sc = name_score(path + 8);
    c->ncand++;
    if (sc > c->best_score) {
        c->best_score = sc;
        c->nbest = 0;
        snprintf(c->best, sizeof c->best, "%s", path);
    }
    if (sc == c->best_score) {
        if (c->nbest < PICK_MAX) snprintf(c->names[c->nbest], sizeof c->names[0], "%s", path + 8);
        c->nbest++;
    }
    return 0;
}

int ckpt_pick_embedding(ckpt_reader *r, int64_t rows, const char *preferred, char *out_path, size_t size,
                        ckpt_info *info) {
    const char *file = ckpt_reader_path(r);
    char path[512];
    if (preferred) {
        if (snprintf(path, sizeof path, "%s%s", preferred[0] == '/' ? "" : "/params/", preferred) >= (int)sizeof path)
            return base_error_set("%s: --param: expected a name of at most 500 bytes, got %zu bytes", file,
                                strlen(preferred));
    } else {
        pick_ctx c;
        memset(&c, 0, sizeof c);
        c.rows = rows;
        if (ckpt_visit(r, visit, &c) < 0) return -1;
        if (c.ncand == 0)
            return base_error_set("%s: expected a 2-D float32 dataset under /params with %lld rows (one per "
                                "/vocab/words entry), found none", file, (long long)rows);
        if (c.nbest > 1) {
            char list[PICK_MAX * 130] = "";
            size_t used = 0;
            for (int i = 0; i < c.nbest && i < PICK_MAX; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", c.names[i]);
            return base_error_set("%s: %d float32 parameters with %lld rows (the vocabulary size) could be the "
                                "embedding (%s%s): name one with --param", file, c.nbest, (long long)rows, list,
                                c.nbest > PICK_MAX ? ", ..." : "");
        }
        snprintf(path, sizeof path, "%s", c.best);
    }
    ckpt_info in;
    if (ckpt_get_info(r, path, &in) < 0) return -1;
    if (in.dtype != CKPT_F32 || in.ndim != 2 || in.shape[0] != rows || in.shape[1] <= 0)
        return base_error_set("%s: %s: %s with %d dims in file, expected float32 [%lld, dim] (one row per vocabulary "
                            "word; it has %lld rows)", file, path, ckpt_dtype_name(in.dtype), in.ndim, (long long)rows,
                            (long long)(in.ndim ? in.shape[0] : 0));
    if (strlen(path) >= size) return base_error_set("%s: %s: name longer than %zu bytes", file, path, size - 1);
    memcpy(out_path, path, strlen(path) + 1);
    if (info) *info = in;
    return 0;
}
