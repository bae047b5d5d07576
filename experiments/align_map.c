/* align_map.c — t-SNE of the align model's shared space as an SVG: colour = class, marker = modality (align_map.h). */
#include "align_map.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"
#include "tsne.h"

/* Up to k indices of [0, n) whose labels (y[i]) come evenly from the classes: round-robin over the
 * classes in index order. idx [k]; returns the count. */
static int64_t pick_even(const int32_t *y, int64_t n, int lo, int64_t k, int64_t *idx) {
    int64_t got = 0, next[10] = {0};
    while (got < k) {
        bool any = false;
        for (int c = 0; c < 10 && got < k; c++) {
            while (next[c] < n && y[next[c]] != lo + c) next[c]++;
            if (next[c] < n) {
                idx[got++] = next[c]++;
                any = true;
            }
        }
        if (!any) break;
    }
    return got;
}

static void marker(FILE *f, int kind, double x, double y, const char *fill) {
    switch (kind) {
    case 0: fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\" fill=\"%s\" fill-opacity=\"0.75\"/>\n", x - 3, y - 3, fill); break;
    case 1: fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.4\" fill=\"%s\" fill-opacity=\"0.75\"/>\n", x, y, fill); break;
    case 2: fprintf(f, "<path d=\"M%.1f %.1fl4 7h-8z\" fill=\"%s\" fill-opacity=\"0.75\"/>\n", x, y - 4.5, fill); break;
    default: {
        fprintf(f, "<path d=\"");
        for (int i = 0; i < 10; i++) {
            double r = i % 2 ? 4.5 : 11, a = -M_PI / 2 + i * M_PI / 5;
            fprintf(f, "%c%.1f %.1f", i ? 'L' : 'M', x + r * cos(a), y + r * sin(a));
        }
        fprintf(f, "Z\" fill=\"%s\" stroke=\"#000\" stroke-width=\"1.2\"/>\n", fill);
    }
    }
}

int exp_align_map(const char *path, const train_align_model *m, const train_align_data *d, int64_t per_set,
                  uint64_t seed) {
    const int64_t E = m->cfg.embed;
    int64_t cap = 3 * per_set + TRAIN_ALIGN_CLASSES;
    float *z = base_xmalloc((size_t)(cap * E) * sizeof(float));
    int *kind = base_xmalloc((size_t)cap * sizeof(int)), *cls = base_xmalloc((size_t)cap * sizeof(int));
    int64_t *idx = base_xmalloc((size_t)(per_set + 1) * sizeof(int64_t));
    uint8_t *img = base_xmalloc((size_t)(per_set * 784 + 1));
    int64_t n = 0, counts[4] = {0};
    if (d->n_fm_test) { /* Fashion test images */
        int64_t k = pick_even(d->fm_test_y, d->n_fm_test, 0, per_set, idx);
        for (int64_t i = 0; i < k; i++) memcpy(img + i * 784, d->fm_test + idx[i] * 784, 784);
        train_align_embed_images(m, img, k, z + n * E);
        for (int64_t i = 0; i < k; i++, n++) { kind[n] = 0; cls[n] = d->fm_test_y[idx[i]]; }
        counts[0] = k;
    }
    int64_t nm = d->n_mn - d->mnist_train;
    if (nm > 0) { /* MNIST held-out images */
        int64_t k = pick_even(d->mn_y + d->mnist_train, nm, 10, per_set, idx);
        for (int64_t i = 0; i < k; i++) memcpy(img + i * 784, d->mn + (d->mnist_train + idx[i]) * 784, 784);
        train_align_embed_images(m, img, k, z + n * E);
        for (int64_t i = 0; i < k; i++, n++) { kind[n] = 1; cls[n] = d->mn_y[d->mnist_train + idx[i]]; }
        counts[1] = k;
    }
    if (d->nclips) { /* FSDD official test recordings */
        int32_t *y = base_xmalloc((size_t)d->nclips * sizeof(int32_t));
        const train_align_clip **all = base_xmalloc((size_t)d->nclips * sizeof *all), **sel = base_xmalloc((size_t)(per_set + 1) * sizeof *sel);
        int64_t nt = 0;
        for (int64_t i = 0; i < d->nclips; i++)
            if (d->clips[i].test) { all[nt] = &d->clips[i]; y[nt++] = d->clips[i].label; }
        int64_t k = pick_even(y, nt, 10, per_set, idx);
        for (int64_t i = 0; i < k; i++) sel[i] = all[idx[i]];
        train_align_embed_clips(m, sel, k, z + n * E);
        for (int64_t i = 0; i < k; i++, n++) { kind[n] = 2; cls[n] = sel[i]->label; }
        counts[2] = k;
        free(y); free(all); free(sel);
    }
    float *pz = train_align_class_embeddings(m); /* the 20 prompts */
    memcpy(z + n * E, pz, (size_t)(TRAIN_ALIGN_CLASSES * E) * sizeof(float));
    free(pz);
    for (int c = 0; c < TRAIN_ALIGN_CLASSES; c++, n++) { kind[n] = 3; cls[n] = c; }
    counts[3] = TRAIN_ALIGN_CLASSES;
    float *y2 = base_xmalloc((size_t)(2 * n) * sizeof(float));
    exp_tsne_options to;
    exp_tsne_options_default(&to);
    to.perplexity = 30;
    to.seed = seed;
    exp_tsne(z, n, E, &to, y2);
    float lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++)
        for (int a = 0; a < 2; a++) { lo[a] = fminf(lo[a], y2[2 * i + a]); hi[a] = fmaxf(hi[a], y2[2 * i + a]); }
    int rc = 0;
    FILE *f = fopen(path, "w");
    if (!f) { rc = base_error_set("%s: cannot write: %s", path, strerror(errno)); goto out; }
    const double W = 960, H = 760, L0 = 40, T0 = 70, PW = 700, PH = 650;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"
               "<text x=\"%.0f\" y=\"30\" font-size=\"18\">ember align: one %lld-d space for images, speech and text (t-SNE)</text>\n"
               "<text x=\"%.0f\" y=\"52\" font-size=\"12\" fill=\"#555\">%lld Fashion-MNIST test images, %lld MNIST held-out images, "
               "%lld FSDD test recordings, %lld class prompts; colour = class, marker = modality</text>\n",
            W, H, L0, (long long)E, L0, (long long)counts[0], (long long)counts[1], (long long)counts[2], (long long)counts[3]);
    for (int pass = 0; pass < 4; pass++) /* prompts last, on top */
        for (int64_t i = 0; i < n; i++) {
            if (kind[i] != pass) continue;
            double x = L0 + (y2[2 * i] - lo[0]) / fmax(hi[0] - lo[0], 1e-9) * PW;
            double y = T0 + (y2[2 * i + 1] - lo[1]) / fmax(hi[1] - lo[1], 1e-9) * PH;
            marker(f, kind[i], x, y, exp_svg_color(cls[i] % 10));
            if (kind[i] == 3)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" font-weight=\"bold\">%s</text>\n", x + 12, y + 4,
                        train_align_class_name(cls[i]));
        }
    /* legend */
    double lx = L0 + PW + 40, ly = T0 + 10;
    const char *kinds[] = {"Fashion-MNIST image", "MNIST image", "FSDD recording", "class prompt (text)"};
    for (int k = 0; k < 4; k++, ly += 24) {
        marker(f, k, lx, ly, "#888");
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">%s</text>\n", lx + 16, ly + 4, kinds[k]);
    }
    ly += 12;
    for (int c = 0; c < 10; c++, ly += 20) {
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", lx - 6, ly - 6, exp_svg_color(c));
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">%s / %s</text>\n", lx + 16, ly + 4,
                train_align_class_name(c), train_align_class_name(10 + c));
    }
    fprintf(f, "</svg>\n");
    if (fclose(f)) rc = base_error_set("%s: write failed", path);
out:
    free(z); free(kind); free(cls); free(idx); free(img); free(y2);
    return rc;
}
