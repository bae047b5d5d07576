/* align.c — `ember train align`: the image, audio and text towers, their data, the CLIP-style trainer and its evaluation (align.h). */
#include "align.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/batch.h"
#include "eval.h"


/* ---- configuration ------------------------------------------------------------------------------ */

train_align_config train_align_config_default(void) {
    return (train_align_config){.embed = 256, .img_patch = 7, .img_d = 96, .img_layers = 3, .img_heads = 4,
                                .mel_bins = 40, .frames = 96, .aud_ch = 32, .aud_d = 96, .aud_layers = 2,
                                .aud_heads = 4, .txt_d = 64};
}

/* Output length of a 3-wide, stride-2, pad-1 convolution. */
static int64_t down2(int64_t n) { return (n + 2 - 3) / 2 + 1; }

int train_align_config_check(const train_align_config *c) {
    if (c->embed < 2 || c->embed > 4096) return base_error_set("embed %lld: expected 2 .. 4096", (long long)c->embed);
    if (c->img_patch < 1 || 28 % c->img_patch)
        return base_error_set("image patch %lld: expected a divisor of 28 (1, 2, 4, 7, 14, 28)", (long long)c->img_patch);
    if (c->img_d < 4 || c->img_heads < 1 || c->img_d % c->img_heads)
        return base_error_set("image d %lld: expected a multiple of the %lld heads", (long long)c->img_d,
                              (long long)c->img_heads);
    if (c->aud_d < 4 || c->aud_heads < 1 || c->aud_d % c->aud_heads)
        return base_error_set("audio d %lld: expected a multiple of the %lld heads", (long long)c->aud_d,
                              (long long)c->aud_heads);
    if (c->img_layers < 0 || c->img_layers > 64 || c->aud_layers < 0 || c->aud_layers > 64)
        return base_error_set("layers: expected 0 .. 64 per tower");
    if (c->mel_bins < 8 || c->mel_bins > 128) return base_error_set("mel bins %lld: expected 8 .. 128", (long long)c->mel_bins);
    if (c->frames < 8 || c->frames > 4096) return base_error_set("frames %lld: expected 8 .. 4096", (long long)c->frames);
    if (c->aud_ch < 1 || c->aud_ch > 1024) return base_error_set("audio channels %lld: expected 1 .. 1024", (long long)c->aud_ch);
    if (c->txt_d < 2 || c->txt_d > 4096) return base_error_set("text d %lld: expected 2 .. 4096", (long long)c->txt_d);
    return 0;
}

/* ---- prompts and the text vocabulary ------------------------------------------------------------- */

static const char *const CLASS_NAMES[TRAIN_ALIGN_CLASSES] = {
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
    "zero",    "one",     "two",      "three", "four", "five",   "six",   "seven",   "eight", "nine"};
static const char *const PROMPTS[TRAIN_ALIGN_CLASSES] = {
    "a photo of a t-shirt", "a photo of a trouser", "a photo of a pullover", "a photo of a dress",
    "a photo of a coat",    "a photo of a sandal",  "a photo of a shirt",    "a photo of a sneaker",
    "a photo of a bag",     "a photo of an ankle boot",
    "the number zero", "the number one", "the number two", "the number three", "the number four",
    "the number five", "the number six", "the number seven", "the number eight", "the number nine"};

const char *train_align_prompt(int c) { return c >= 0 && c < TRAIN_ALIGN_CLASSES ? PROMPTS[c] : ""; }
const char *train_align_class_name(int c) { return c >= 0 && c < TRAIN_ALIGN_CLASSES ? CLASS_NAMES[c] : ""; }

/* The vocabulary: "[unk]" then every distinct word of the prompts in order of first use. */
static void build_vocab(train_align_model *m) {
    m->words = base_xmalloc(64 * sizeof(char *));
    m->nwords = 0;
    m->words[m->nwords++] = base_xstrdup("[unk]");
    for (int c = 0; c < TRAIN_ALIGN_CLASSES; c++) {
        const char *s = PROMPTS[c];
        while (*s) {
            while (*s == ' ') s++;
            size_t n = strcspn(s, " ");
            if (!n) break;
            bool seen = false;
            for (int64_t i = 0; i < m->nwords && !seen; i++) seen = strlen(m->words[i]) == n && !strncmp(m->words[i], s, n);
            if (!seen) {
                char *w = base_xmalloc(n + 1);
                memcpy(w, s, n);
                w[n] = 0;
                m->words[m->nwords++] = w;
            }
            s += n;
        }
    }
}

int train_align_encode_text(const train_align_model *m, const char *text, int32_t *ids) {
    int k = 0;
    const char *s = text;
    while (*s) {
        while (*s == ' ' || *s == '\t') s++;
        size_t n = strcspn(s, " \t");
        if (!n) break;
        if (k == TRAIN_ALIGN_MAX_WORDS)
            return base_error_set("prompt '%s': more than %d words", text, TRAIN_ALIGN_MAX_WORDS);
        int64_t id = -1;
        for (int64_t i = 1; i < m->nwords && id < 0; i++)
            if (strlen(m->words[i]) == n && !strncasecmp(m->words[i], s, n)) id = i;
        if (id < 0) return base_error_set("prompt '%s': word '%.*s' is not in the model's %lld-word vocabulary", text,
                                          (int)n, s, (long long)m->nwords);
        ids[k++] = (int32_t)id;
        s += n;
    }
    if (!k) return base_error_set("prompt '%s': no words", text);
    return k;
}

/* ---- the model ------------------------------------------------------------------------------------ */

static void model_register(train_align_model *m, const train_align_config *c) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    build_vocab(m);
    m->audio_mean = 0;
    m->audio_std = 1;
    nn_params_init(&m->ps);
    nn_params *ps = &m->ps;
    /* image tower */
    nn_patch_embed_init(&m->patch, ps, "image.patch", 28, 28, c->img_patch, 1, c->img_d, true, true);
    nn_encoder_init(&m->img_enc, ps, "image.enc", (int)c->img_layers,
                    nn_block_config_default(c->img_d, c->img_heads, 2 * c->img_d), true);
    nn_linear_init(&m->img_proj, ps, "image.proj", c->img_d, c->embed, false);
    /* audio tower */
    int64_t f4 = down2(down2(c->mel_bins));
    nn_conv2d_init(&m->aconv1, ps, "audio.conv1", 1, c->aud_ch, 3, 3, 2, 1, true);
    nn_conv2d_init(&m->aconv2, ps, "audio.conv2", c->aud_ch, c->aud_ch, 3, 3, 2, 1, true);
    nn_linear_init(&m->ain, ps, "audio.in", c->aud_ch * f4, c->aud_d, true);
    nn_encoder_init(&m->aud_enc, ps, "audio.enc", (int)c->aud_layers,
                    nn_block_config_default(c->aud_d, c->aud_heads, 2 * c->aud_d), true);
    nn_linear_init(&m->aud_proj, ps, "audio.proj", c->aud_d, c->embed, false);
    /* text tower: N(0, 1) word vectors (PyTorch's nn.Embedding init; mean-pooled, then projected) */
    nn_embedding_config ec = nn_embedding_config_default(m->nwords, c->txt_d);
    ec.a = 1.0f;
    nn_embedding_init(&m->tok, ps, "text.tok", ec);
    nn_linear_init(&m->txt_proj, ps, "text.proj", c->txt_d, c->embed, false);
    m->logit_scale = nn_params_add(ps, "logit_scale", 1, (const int64_t[]){1}, NN_INIT_CONST, logf(1.0f / 0.07f), 0, false);
}

void train_align_model_init(train_align_model *m, const train_align_config *cfg, uint64_t seed) {
    model_register(m, cfg);
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&m->ps, &rng);
}

void train_align_model_free(train_align_model *m) {
    nn_encoder_free(&m->img_enc);
    nn_encoder_free(&m->aud_enc);
    nn_params_free(&m->ps);
    for (int64_t i = 0; i < m->nwords; i++) free(m->words[i]);
    free(m->words);
    memset(m, 0, sizeof *m);
}

/* ---- tower forwards ------------------------------------------------------------------------------- */

ag_tensor *train_align_image(ag_graph *g, const train_align_model *m, ag_tensor *img) {
    ag_tensor *x = nn_patch_embed_forward(g, &m->patch, img); /* [B, N+1, Di] */
    if (!x) return NULL;
    x = nn_encoder_forward(g, &m->img_enc, x, NULL, 0);        /* [B, N+1, Di] */
    x = nn_pool_cls(g, x);                                      /* [B, Di] */
    x = nn_linear_forward(g, &m->img_proj, x);                  /* [B, E] */
    return ag_l2_normalize(g, x, 1e-12f);
}

/* Valid frames after the two stride-2 convolutions: output t sees input 2t (its kernel centre). */
static int64_t frames_after(int64_t f) { return ((f + 1) / 2 + 1) / 2; }

ag_tensor *train_align_audio(ag_graph *g, const train_align_model *m, ag_tensor *mel, const int32_t *frames) {
    const train_align_config *c = &m->cfg;
    char s[96];
    if (mel->dtype != AG_F32 || mel->ndim != 4 || mel->shape[1] != 1 || mel->shape[2] != c->mel_bins) {
        base_error_set("train_align_audio: expected f32 [B, 1, %lld, T], got %s", (long long)c->mel_bins,
                       ag_shape_str(mel, s, sizeof s));
        return NULL;
    }
    int64_t B = mel->shape[0];
    ag_tensor *x = ag_gelu_erf(g, nn_conv2d_forward(g, &m->aconv1, mel)); /* [B, C, F/2, T/2] */
    x = ag_gelu_erf(g, nn_conv2d_forward(g, &m->aconv2, x));              /* [B, C, F4, T4] */
    int64_t C = x->shape[1], F4 = x->shape[2], T4 = x->shape[3];
    x = ag_permute(g, x, (const int[]){0, 3, 1, 2});                     /* [B, T4, C, F4] */
    x = ag_reshape(g, x, 3, (const int64_t[]){B, T4, C * F4});           /* [B, T4, C·F4] */
    x = nn_linear_forward(g, &m->ain, x);                                /* [B, T4, Da] */
    x = nn_sinusoidal_add(g, x, 0);
    ag_tensor *pad = NULL; /* i32 [B, T4], nonzero = a frame made of padding only */
    if (frames) {
        pad = ag_new(g, AG_I32, 2, (const int64_t[]){B, T4});
        for (int64_t b = 0; b < B; b++) {
            int64_t v = frames_after(frames[b]);
            for (int64_t t = 0; t < T4; t++) ag_i32(pad)[b * T4 + t] = t >= v;
        }
    }
    x = nn_encoder_forward(g, &m->aud_enc, x, pad, 0); /* [B, T4, Da] */
    x = nn_pool_mean(g, x, pad);                        /* [B, Da] */
    x = nn_linear_forward(g, &m->aud_proj, x);          /* [B, E] */
    return ag_l2_normalize(g, x, 1e-12f);
}

ag_tensor *train_align_text(ag_graph *g, const train_align_model *m, ag_tensor *ids, ag_tensor *pad) {
    ag_tensor *x = nn_embedding_forward(g, &m->tok, ids); /* [B, L, Dt] */
    if (!x) return NULL;
    x = nn_pool_mean(g, x, pad);                           /* [B, Dt] */
    x = nn_linear_forward(g, &m->txt_proj, x);             /* [B, E] */
    return ag_l2_normalize(g, x, 1e-12f);
}

/* Word ids [n, MAX_WORDS] and padding [n, MAX_WORDS] of the class prompts of labels[n]. */
static void prompt_batch(const train_align_model *m, const int32_t *labels, int64_t n, int32_t *ids, int32_t *pad) {
    for (int64_t i = 0; i < n; i++) {
        int32_t w[TRAIN_ALIGN_MAX_WORDS];
        int k = train_align_encode_text(m, PROMPTS[labels[i]], w);
        AG_CHECK(k > 0, "train_align", "built-in prompt '%s' does not encode", PROMPTS[labels[i]]);
        for (int j = 0; j < TRAIN_ALIGN_MAX_WORDS; j++) {
            ids[i * TRAIN_ALIGN_MAX_WORDS + j] = j < k ? w[j] : 0;
            pad[i * TRAIN_ALIGN_MAX_WORDS + j] = j >= k;
        }
    }
}

float *train_align_class_embeddings(const train_align_model *m) {
    int64_t n = TRAIN_ALIGN_CLASSES, L = TRAIN_ALIGN_MAX_WORDS, E = m->cfg.embed;
    int32_t labels[TRAIN_ALIGN_CLASSES], ids[TRAIN_ALIGN_CLASSES * TRAIN_ALIGN_MAX_WORDS],
        pad[TRAIN_ALIGN_CLASSES * TRAIN_ALIGN_MAX_WORDS];
    for (int c = 0; c < n; c++) labels[c] = c;
    prompt_batch(m, labels, n, ids, pad);
    ag_graph *g = ag_graph_new(1 << 20);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    ag_tensor *z = train_align_text(g, m, ag_from_i32(g, 2, (const int64_t[]){n, L}, ids),
                                    ag_from_i32(g, 2, (const int64_t[]){n, L}, pad));
    float *out = base_xmalloc((size_t)(n * E) * sizeof(float));
    memcpy(out, ag_f32(z), (size_t)(n * E) * sizeof(float));
    ag_no_grad_end(g);
    ag_graph_free(g);
    return out;
}

/* ---- the shape walk --------------------------------------------------------------------------------- */

static double norm_of(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

static void put_shape(FILE *f, const char *what, const ag_tensor *t, const char *note) {
    char s[96];
    fprintf(f, "    %-44s %-18s", what, ag_shape_str(t, s, sizeof s));
    if (t->dtype == AG_F32) {
        int64_t row = t->numel / t->shape[0];
        fprintf(f, " [%+.3f %+.3f %+.3f ...] |row0| %.3f", (double)ag_f32(t)[0], (double)ag_f32(t)[1 % t->numel],
                (double)ag_f32(t)[2 % t->numel], norm_of(ag_f32(t), row));
    }
    fprintf(f, "%s%s\n", note ? "  " : "", note ? note : "");
}

void train_align_summary(const train_align_model *m, FILE *f, const float *image, const float *mel, int64_t mel_frames) {
    const train_align_config *c = &m->cfg;
    int64_t n_img = nn_params_count(&m->ps, "image."), n_aud = nn_params_count(&m->ps, "audio."),
            n_txt = nn_params_count(&m->ps, "text."), n_all = nn_params_count(&m->ps, NULL);
    fprintf(f, "ember align model: one %lld-d space (all vectors L2-normalised)\n", (long long)c->embed);
    fprintf(f, "  image tower  %9lld parameters  patch %lld, d %lld, %lld pre-norm blocks, %lld heads, CLS pooled\n",
            (long long)n_img, (long long)c->img_patch, (long long)c->img_d, (long long)c->img_layers, (long long)c->img_heads);
    fprintf(f, "  audio tower  %9lld parameters  %lld mel bins x %lld frames, 2 convs 3x3/2 (%lld ch), d %lld, %lld blocks, "
               "mean pooled\n", (long long)n_aud, (long long)c->mel_bins, (long long)c->frames, (long long)c->aud_ch,
            (long long)c->aud_d, (long long)c->aud_layers);
    fprintf(f, "  text tower   %9lld parameters  %lld words x d %lld, mean pooled\n", (long long)n_txt,
            (long long)m->nwords, (long long)c->txt_d);
    fprintf(f, "  logit_scale  %9lld parameter   ln(1/tau) = %.4f (tau %.4f)\n", (long long)1,
            (double)ag_f32(m->logit_scale)[0], exp(-(double)ag_f32(m->logit_scale)[0]));
    fprintf(f, "  total        %9lld parameters\n", (long long)n_all);
    /* The walk itself: real tensors through the real layers (a blank image / silence if none given). */
    ag_graph *g = ag_graph_new(1 << 22);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    fprintf(f, "\nshape walk (batch of one; values are the first three of the tensor and the norm of its first row):\n");
    ag_tensor *img = ag_zeros(g, AG_F32, 4, (const int64_t[]){1, 1, 28, 28});
    if (image) memcpy(ag_f32(img), image, 28 * 28 * sizeof(float));
    put_shape(f, "image", img, image ? "pixels / 255" : "(blank)");
    ag_tensor *x = nn_conv2d_forward(g, &m->patch.proj, img);
    put_shape(f, "patch conv (kernel = stride = patch)", x, NULL);
    x = nn_patch_embed_forward(g, &m->patch, img);
    put_shape(f, "patches + CLS + positions", x, NULL);
    x = nn_encoder_forward(g, &m->img_enc, x, NULL, 0);
    put_shape(f, "after the blocks", x, NULL);
    x = nn_pool_cls(g, x);
    put_shape(f, "CLS", x, NULL);
    x = nn_linear_forward(g, &m->img_proj, x);
    put_shape(f, "image.proj", x, NULL);
    ag_tensor *zi = ag_l2_normalize(g, x, 1e-12f);
    put_shape(f, "L2-normalised image vector", zi, NULL);

    int64_t T = c->frames;
    ag_tensor *a = ag_zeros(g, AG_F32, 4, (const int64_t[]){1, 1, c->mel_bins, T});
    int32_t fr = (int32_t)T;
    if (mel) {
        int64_t n = mel_frames < T ? mel_frames : T;
        for (int64_t b = 0; b < c->mel_bins; b++)
            for (int64_t t = 0; t < n; t++)
                ag_f32(a)[b * T + t] = (mel[b * mel_frames + t] - m->audio_mean) / m->audio_std;
        fr = (int32_t)n;
    }
    fputc('\n', f);
    put_shape(f, "log-mel (normalised, padded)", a, mel ? NULL : "(silence)");
    x = ag_gelu_erf(g, nn_conv2d_forward(g, &m->aconv1, a));
    put_shape(f, "conv1 3x3 stride 2 + GELU", x, NULL);
    x = ag_gelu_erf(g, nn_conv2d_forward(g, &m->aconv2, x));
    put_shape(f, "conv2 3x3 stride 2 + GELU", x, NULL);
    int64_t C = x->shape[1], F4 = x->shape[2], T4 = x->shape[3];
    x = ag_reshape(g, ag_permute(g, x, (const int[]){0, 3, 1, 2}), 3, (const int64_t[]){1, T4, C * F4});
    put_shape(f, "frames (flatten channels x bins)", x, NULL);
    x = nn_linear_forward(g, &m->ain, x);
    put_shape(f, "audio.in", x, NULL);
    ag_tensor *za = train_align_audio(g, m, a, &fr);
    char note[64];
    snprintf(note, sizeof note, "%lld of %lld frames are speech", (long long)frames_after(fr), (long long)T4);
    put_shape(f, "blocks, mean pool, audio.proj, L2", za, note);

    int32_t ids[TRAIN_ALIGN_MAX_WORDS];
    int k = train_align_encode_text(m, PROMPTS[15], ids);
    ag_tensor *ti = ag_from_i32(g, 2, (const int64_t[]){1, k}, ids);
    x = nn_embedding_forward(g, &m->tok, ti);
    snprintf(note, sizeof note, "'%s'", PROMPTS[15]);
    fputc('\n', f);
    put_shape(f, "prompt words", x, note);
    ag_tensor *zt = train_align_text(g, m, ti, NULL);
    put_shape(f, "mean pool, text.proj, L2", zt, NULL);
    double ci = 0, ca = 0, cia = 0;
    for (int64_t i = 0; i < c->embed; i++) {
        ci += (double)ag_f32(zi)[i] * ag_f32(zt)[i];
        ca += (double)ag_f32(za)[i] * ag_f32(zt)[i];
        cia += (double)ag_f32(zi)[i] * ag_f32(za)[i];
    }
    fprintf(f, "\n    cosines: image·text %.3f, audio·text %.3f, image·audio %.3f\n", ci, ca, cia);
    ag_no_grad_end(g);
    ag_graph_free(g);
}

/* ---- data ------------------------------------------------------------------------------------------ */

void train_align_data_free(train_align_data *d) {
    free(d->fm_train);
    free(d->fm_test);
    free(d->fm_train_y);
    free(d->fm_test_y);
    free(d->mn);
    free(d->mn_y);
    for (int64_t i = 0; i < d->nclips; i++) {
        free(d->clips[i].mel);
        free(d->clips[i].name);
    }
    free(d->clips);
    for (int i = 0; i < d->nspeakers; i++) free(d->speakers[i]);
    memset(d, 0, sizeof *d);
}

/* Reads an image file and its label file: u8 [n, 28, 28], labels + offset in i32 [n]. */
static int read_idx_pair(const char *dir, const char *stem, int offset, int64_t max, uint8_t **img, int32_t **lab,
                         int64_t *n) {
    char pi[4096], pl[4096];
    snprintf(pi, sizeof pi, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    snprintf(pl, sizeof pl, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    int64_t ni, h, w, nl;
    uint8_t *x = data_idx_images_u8(pi, &ni, &h, &w);
    if (!x) return -1;
    if (h != 28 || w != 28) {
        free(x);
        return base_error_set("%s: images are %lldx%lld, expected 28x28", pi, (long long)h, (long long)w);
    }
    uint8_t *y = data_idx_labels_u8(pl, &nl);
    if (!y) {
        free(x);
        return -1;
    }
    if (nl != ni) {
        free(x);
        free(y);
        return base_error_set("%s: %lld labels for the %lld images of %s", pl, (long long)nl, (long long)ni, pi);
    }
    for (int64_t i = 0; i < nl; i++)
        if (y[i] > 9) {
            int64_t v = y[i];
            free(x);
            free(y);
            return base_error_set("%s: label %lld of item %lld: expected a class 0..9", pl, (long long)v, (long long)i);
        }
    if (max > 0 && max < ni) ni = max;
    *img = base_xrealloc(x, (size_t)(ni * 784));
    *lab = base_xmalloc((size_t)ni * sizeof(int32_t));
    for (int64_t i = 0; i < ni; i++) (*lab)[i] = y[i] + offset;
    free(y);
    *n = ni;
    return 0;
}

/* One FSDD labels row. */
typedef struct fsdd_row {
    char *file;
    int digit, index, speaker, line;
    bool test, found;
} fsdd_row;

static int cmp_row(const void *a, const void *b) { return strcmp(((const fsdd_row *)a)->file, ((const fsdd_row *)b)->file); }

/* Parses the labels TSV (header "file digit speaker index split"); speakers are added to d. */
static int read_fsdd_labels(const char *path, train_align_data *d, fsdd_row **rows_out, int64_t *nrows_out) {
    FILE *f = fopen(path, "r");
    if (!f) return base_error_set("%s: cannot open: %s", path, strerror(errno));
    char line[1024];
    int ln = 0;
    fsdd_row *rows = NULL;
    int64_t n = 0, cap = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (ln == 1) {
            if (strncmp(line, "file\tdigit\tspeaker\tindex\tsplit", 30)) {
                rc = base_error_set("%s: line 1: expected the header 'file<TAB>digit<TAB>speaker<TAB>index<TAB>split'", path);
                break;
            }
            continue;
        }
        if (!len) continue;
        char *col[5];
        int nc = 0;
        char *s = line;
        while (nc < 5) {
            col[nc++] = s;
            char *t = strchr(s, '\t');
            if (!t) break;
            *t = 0;
            s = t + 1;
        }
        char *end1 = NULL, *end2 = NULL;
        long digit = nc == 5 ? strtol(col[1], &end1, 10) : -1, index = nc == 5 ? strtol(col[3], &end2, 10) : -1;
        if (nc != 5 || strchr(col[4], '\t') || !*col[1] || *end1 || digit < 0 || digit > 9 || !*col[3] || *end2 ||
            index < 0 || (strcmp(col[4], "test") && strcmp(col[4], "train")) || !*col[0] || !*col[2]) {
            rc = base_error_set("%s: line %d: expected 'file<TAB>digit 0-9<TAB>speaker<TAB>index<TAB>train|test'", path, ln);
            break;
        }
        int sp = -1;
        for (int i = 0; i < d->nspeakers && sp < 0; i++)
            if (!strcmp(d->speakers[i], col[2])) sp = i;
        if (sp < 0) {
            if (d->nspeakers == 16) {
                rc = base_error_set("%s: line %d: more than 16 speakers", path, ln);
                break;
            }
            sp = d->nspeakers;
            d->speakers[d->nspeakers++] = base_xstrdup(col[2]);
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            rows = base_xrealloc(rows, (size_t)cap * sizeof *rows);
        }
        rows[n++] = (fsdd_row){.file = base_xstrdup(col[0]), .digit = (int)digit, .index = (int)index, .speaker = sp,
                               .line = ln, .test = !strcmp(col[4], "test")};
    }
    fclose(f);
    if (!rc && n == 0) rc = base_error_set("%s: no recordings listed", path);
    if (rc) {
        for (int64_t i = 0; i < n; i++) free(rows[i].file);
        free(rows);
        return -1;
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    for (int64_t i = 1; i < n; i++)
        if (!strcmp(rows[i].file, rows[i - 1].file)) {
            int l1 = rows[i - 1].line, l2 = rows[i].line;
            char *dup = base_xstrdup(rows[i].file);
            for (int64_t j = 0; j < n; j++) free(rows[j].file);
            free(rows);
            base_error_set("%s: lines %d and %d both list %s", path, l1 < l2 ? l1 : l2, l1 < l2 ? l2 : l1, dup);
            free(dup);
            return -1;
        }
    *rows_out = rows;
    *nrows_out = n;
    return 0;
}

int train_align_mel(const data_audio *a, int64_t mel_bins, const char *name, float **mel, int64_t *frames) {
    if (a->rate != 8000)
        return base_error_set("%s: sample rate %d Hz: expected 8000 Hz (FSDD; the mel frontend is set for 8 kHz)", name,
                              a->rate);
    data_mel_config mc = {.sample_rate = 8000, .n_fft = 256, .win_length = 200, .hop = 80, .n_mels = (int)mel_bins,
                          .f_min = 0, .f_max = 4000};
    if (a->n <= mc.n_fft / 2)
        return base_error_set("%s: %lld samples (%.3f s): too short for a %d-point frame (need more than %d)", name,
                              (long long)a->n, (double)a->n / 8000.0, mc.n_fft, mc.n_fft / 2);
    data_mel *m = data_mel_new(&mc);
    if (!m) return -1;
    int64_t T = data_mel_frames(m, a->n);
    float *out = base_xmalloc((size_t)(mel_bins * T) * sizeof(float)); /* [F, T] */
    if (data_mel_compute(m, a->samples, a->n, out)) {
        data_mel_free(m);
        free(out);
        return base_error_prefix("%s", name);
    }
    data_mel_free(m);
    data_mel_log(out, mel_bins * T, 1e-6f);
    *mel = out;
    *frames = T;
    return 0;
}

static int load_fsdd(const train_align_data_options *o, train_align_data *d) {
    fsdd_row *rows = NULL;
    int64_t nrows = 0;
    if (read_fsdd_labels(o->fsdd_labels, d, &rows, &nrows)) return -1;
    /* A subset keeps every s-th take (index % s == 0), so every digit and speaker stays. */
    int64_t s = o->max_clips > 0 && o->max_clips < nrows ? nrows / o->max_clips : 1;
    int rc = 0;
    data_tar *t = data_tar_open(o->fsdd_tar);
    if (!t) rc = -1;
    d->clips = base_xcalloc((size_t)nrows, sizeof *d->clips);
    const char *name;
    int64_t size;
    int st;
    while (!rc && (st = data_tar_next(t, &name, &size)) == 1) {
        fsdd_row key = {.file = (char *)name};
        fsdd_row *r = bsearch(&key, rows, (size_t)nrows, sizeof *rows, cmp_row);
        if (!r || r->index % s) continue;
        char full[4096];
        snprintf(full, sizeof full, "%s:%s", o->fsdd_tar, name);
        void *buf = data_tar_read(t, &size);
        if (!buf) {
            rc = -1;
            break;
        }
        data_audio a;
        rc = data_wav_parse(buf, (size_t)size, full, &a);
        free(buf);
        if (rc) break;
        train_align_clip *c = &d->clips[d->nclips];
        rc = train_align_mel(&a, o->mel_bins, full, &c->mel, &c->frames);
        data_audio_free(&a);
        if (rc) break;
        c->label = 10 + r->digit;
        c->speaker = r->speaker;
        c->index = r->index;
        c->test = r->test;
        c->name = base_xstrdup(name);
        r->found = true;
        d->nclips++;
    }
    if (!rc && st < 0) rc = -1;
    data_tar_close(t);
    for (int64_t i = 0; !rc && i < nrows; i++)
        if (!rows[i].found && rows[i].index % s == 0)
            rc = base_error_set("%s: line %d names %s, which is not in %s", o->fsdd_labels, rows[i].line, rows[i].file,
                                o->fsdd_tar);
    for (int64_t i = 0; i < nrows; i++) free(rows[i].file);
    free(rows);
    d->holdout = -1;
    if (!rc && o->holdout_speaker && *o->holdout_speaker) {
        for (int i = 0; i < d->nspeakers; i++)
            if (!strcmp(d->speakers[i], o->holdout_speaker)) d->holdout = i;
        if (d->holdout < 0) rc = base_error_set("--holdout-speaker %s: not a speaker of %s", o->holdout_speaker, o->fsdd_labels);
    }
    return rc;
}

int train_align_data_load(const train_align_data_options *o, train_align_data *d) {
    memset(d, 0, sizeof *d);
    d->holdout = -1;
    int rc = 0;
    if (o->fashion_dir) {
        if (!o->test_only)
            rc = read_idx_pair(o->fashion_dir, "train", 0, o->max_fashion, &d->fm_train, &d->fm_train_y, &d->n_fm_train);
        if (!rc)
            rc = read_idx_pair(o->fashion_dir, "t10k", 0, o->max_fashion > 0 ? (o->max_fashion + 5) / 6 : 0, &d->fm_test,
                               &d->fm_test_y, &d->n_fm_test);
    }
    if (!rc && o->mnist_dir) {
        rc = read_idx_pair(o->mnist_dir, "t10k", 10, 0, &d->mn, &d->mn_y, &d->n_mn);
        if (!rc && (o->mnist_train < 0 || o->mnist_train >= d->n_mn))
            rc = base_error_set("--mnist-train %lld: expected 0 .. %lld (the rest of the %lld MNIST test images are held out)",
                                (long long)o->mnist_train, (long long)d->n_mn - 1, (long long)d->n_mn);
        d->mnist_train = o->mnist_train;
    }
    if (!rc && o->fsdd_tar) {
        if (!o->fsdd_labels) rc = base_error_set("FSDD: a recordings archive needs its labels file (--fsdd-labels)");
        else rc = load_fsdd(o, d);
    }
    if (rc) train_align_data_free(d);
    return rc;
}

/* ---- embedding many items (no grad) ------------------------------------------------------------------ */

void train_align_embed_images(const train_align_model *m, const uint8_t *img, int64_t n, float *out) {
    const int64_t B = 256, E = m->cfg.embed;
    ag_graph *g = ag_graph_new(0);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    for (int64_t i = 0; i < n; i += B) {
        int64_t b = n - i < B ? n - i : B;
        ag_tensor *x = ag_new(g, AG_F32, 4, (const int64_t[]){b, 1, 28, 28}); /* [b, 1, 28, 28] */
        for (int64_t k = 0; k < b * 784; k++) ag_f32(x)[k] = img[i * 784 + k] / 255.0f;
        ag_tensor *z = train_align_image(g, m, x);
        memcpy(out + i * E, ag_f32(z), (size_t)(b * E) * sizeof(float));
        ag_graph_reset(g);
    }
    ag_no_grad_end(g);
    ag_graph_free(g);
}

/* Fills mel [b, 1, F, T] and frames [b] from clips, cropping long clips at crop[k] (centre when
 * crop is NULL) and padding short ones with 0 (the normalised mean). */
static void clips_batch(const train_align_model *m, const train_align_clip *const *clips, int64_t b, float *mel,
                        int32_t *frames, const int64_t *crop) {
    const int64_t F = m->cfg.mel_bins, T = m->cfg.frames;
    memset(mel, 0, (size_t)(b * F * T) * sizeof(float));
    for (int64_t k = 0; k < b; k++) {
        const train_align_clip *c = clips[k];
        int64_t n = c->frames < T ? c->frames : T;
        int64_t off = c->frames > T ? (crop ? crop[k] : (c->frames - T) / 2) : 0;
        for (int64_t f = 0; f < F; f++)
            for (int64_t t = 0; t < n; t++)
                mel[(k * F + f) * T + t] = (c->mel[f * c->frames + off + t] - m->audio_mean) / m->audio_std;
        frames[k] = (int32_t)n;
    }
}

void train_align_embed_clips(const train_align_model *m, const train_align_clip *const *clips, int64_t n, float *out) {
    const int64_t B = 128, E = m->cfg.embed, F = m->cfg.mel_bins, T = m->cfg.frames;
    ag_graph *g = ag_graph_new(0);
    ag_set_training(g, false);
    ag_no_grad_begin(g);
    int32_t *fr = base_xmalloc((size_t)B * sizeof(int32_t));
    for (int64_t i = 0; i < n; i += B) {
        int64_t b = n - i < B ? n - i : B;
        ag_tensor *x = ag_new(g, AG_F32, 4, (const int64_t[]){b, 1, F, T}); /* [b, 1, F, T] */
        clips_batch(m, clips + i, b, ag_f32(x), fr, NULL);
        ag_tensor *z = train_align_audio(g, m, x, fr);
        memcpy(out + i * E, ag_f32(z), (size_t)(b * E) * sizeof(float));
        ag_graph_reset(g);
    }
    free(fr);
    ag_no_grad_end(g);
    ag_graph_free(g);
}

/* Zero-shot: the fraction of rows z [n, E] whose nearest prompt among classes [lo, lo+10) is label. */
static double zero_shot(const float *z, const int32_t *label, int64_t n, const float *cls, int64_t E, int lo) {
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        int best = lo;
        double bs = -INFINITY;
        for (int c = lo; c < lo + 10; c++) {
            double s = 0;
            for (int64_t e = 0; e < E; e++) s += (double)z[i * E + e] * cls[c * E + e];
            if (s > bs) {
                bs = s;
                best = c;
            }
        }
        ok += best == label[i];
    }
    return n ? (double)ok / (double)n : NAN;
}

/* Zero-shot on the clips chosen by keep(); labels copied out. */
static double clips_zero_shot(const train_align_model *m, const train_align_data *d, const float *cls, int which,
                              int64_t *count) {
    const train_align_clip **sel = base_xmalloc((size_t)(d->nclips + 1) * sizeof *sel);
    int32_t *lab = base_xmalloc((size_t)(d->nclips + 1) * sizeof(int32_t));
    int64_t n = 0;
    for (int64_t i = 0; i < d->nclips; i++) {
        const train_align_clip *c = &d->clips[i];
        bool held = c->speaker == d->holdout;
        bool k = which == 0 ? c->test && !held : which == 1 ? c->test : held;
        if (k) {
            lab[n] = c->label;
            sel[n++] = c;
        }
    }
    double acc = NAN;
    if (n) {
        float *z = base_xmalloc((size_t)(n * m->cfg.embed) * sizeof(float));
        train_align_embed_clips(m, sel, n, z);
        acc = zero_shot(z, lab, n, cls, m->cfg.embed, 10);
        free(z);
    }
    free(sel);
    free(lab);
    *count = n;
    return acc;
}

int train_align_evaluate(const train_align_model *m, const train_align_data *d, int64_t max_fashion,
                         train_align_eval *out) {
    const int64_t E = m->cfg.embed;
    memset(out, 0, sizeof *out);
    out->fashion_acc = out->mnist_acc = out->fsdd_acc = out->fsdd_all_acc = out->speaker_acc = out->r1 = out->r5 = NAN;
    float *cls = train_align_class_embeddings(m);
    if (d->n_fm_test) {
        int64_t n = max_fashion > 0 && max_fashion < d->n_fm_test ? max_fashion : d->n_fm_test;
        float *z = base_xmalloc((size_t)(n * E) * sizeof(float));
        train_align_embed_images(m, d->fm_test, n, z);
        out->fashion_acc = zero_shot(z, d->fm_test_y, n, cls, E, 0);
        out->n_fashion = n;
        free(z);
    }
    float *zm = NULL;
    int64_t nm = d->n_mn - d->mnist_train;
    if (d->n_mn && nm > 0) {
        zm = base_xmalloc((size_t)(nm * E) * sizeof(float));
        train_align_embed_images(m, d->mn + d->mnist_train * 784, nm, zm);
        out->mnist_acc = zero_shot(zm, d->mn_y + d->mnist_train, nm, cls, E, 10);
        out->n_mnist = nm;
    }
    if (d->nclips) {
        out->fsdd_acc = clips_zero_shot(m, d, cls, 0, &out->n_fsdd);
        out->fsdd_all_acc = clips_zero_shot(m, d, cls, 1, &out->n_fsdd_all);
        if (d->holdout >= 0) out->speaker_acc = clips_zero_shot(m, d, cls, 2, &out->n_speaker);
    }
    /* Retrieval: MNIST held-out images → the official FSDD test recordings, by cosine. */
    if (zm && d->nclips) {
        const train_align_clip **gal = base_xmalloc((size_t)d->nclips * sizeof *gal);
        int64_t ng = 0;
        for (int64_t i = 0; i < d->nclips; i++)
            if (d->clips[i].test) gal[ng++] = &d->clips[i];
        if (ng >= 5) {
            float *za = base_xmalloc((size_t)(ng * E) * sizeof(float));
            train_align_embed_clips(m, gal, ng, za);
            int64_t hit1 = 0, hit5 = 0;
            double *s = base_xmalloc((size_t)ng * sizeof(double));
            for (int64_t q = 0; q < nm; q++) {
                for (int64_t j = 0; j < ng; j++) {
                    double v = 0;
                    for (int64_t e = 0; e < E; e++) v += (double)zm[q * E + e] * za[j * E + e];
                    s[j] = v;
                }
                int32_t want = d->mn_y[d->mnist_train + q];
                bool h5 = false;
                for (int r = 0; r < 5; r++) { /* top 5 by repeated selection */
                    int64_t bj = -1;
                    for (int64_t j = 0; j < ng; j++)
                        if (s[j] > -INFINITY && (bj < 0 || s[j] > s[bj])) bj = j;
                    if (gal[bj]->label == want) {
                        h5 = true;
                        if (r == 0) hit1++;
                    }
                    s[bj] = -INFINITY;
                }
                hit5 += h5;
            }
            free(s);
            free(za);
            out->r1 = (double)hit1 / (double)nm;
            out->r5 = (double)hit5 / (double)nm;
            out->n_queries = nm;
            out->n_gallery = ng;
        }
        free(gal);
    }
    free(zm);
    free(cls);
    return 0;
}

/* ---- checkpoints: the model ------------------------------------------------------------------------- */

static const char *const CFG_NAMES[] = {"embed", "img_patch", "img_d", "img_layers", "img_heads", "mel_bins", "frames",
                                        "aud_ch", "aud_d", "aud_layers", "aud_heads", "txt_d"};
static int64_t *cfg_field(train_align_config *c, int i) {
    int64_t *f[] = {&c->embed, &c->img_patch, &c->img_d, &c->img_layers, &c->img_heads, &c->mel_bins, &c->frames,
                    &c->aud_ch, &c->aud_d, &c->aud_layers, &c->aud_heads, &c->txt_d};
    return f[i];
}
#define NCFG ((int)(sizeof CFG_NAMES / sizeof CFG_NAMES[0]))

static int put_model(ckpt_writer *w, const train_align_model *m) {
    int rc = ckpt_put_string(w, "/model/kind", "align");
    char path[64];
    train_align_config c = m->cfg;
    for (int i = 0; !rc && i < NCFG; i++) {
        snprintf(path, sizeof path, "/model/%s", CFG_NAMES[i]);
        rc = ckpt_put_i64(w, path, *cfg_field(&c, i));
    }
    if (!rc) rc = ckpt_put_f64(w, "/model/audio_mean", m->audio_mean);
    if (!rc) rc = ckpt_put_f64(w, "/model/audio_std", m->audio_std);
    if (!rc) {
        int64_t *counts = base_xcalloc((size_t)m->nwords, sizeof(int64_t));
        rc = ckpt_put_vocab(w, (const char *const *)m->words, counts, m->nwords);
        free(counts);
    }
    return rc;
}

int train_align_load(const char *path, train_align_model *m) {
    memset(m, 0, sizeof *m);
    ckpt_reader *r = ckpt_open(path);
    if (!r) return -1;
    char *kind = NULL;
    int rc = ckpt_get_string(r, "/model/kind", &kind);
    if (rc) base_error_prefix("%s: not an `ember train align` checkpoint", path);
    else if (strcmp(kind, "align")) rc = base_error_set("%s: /model/kind '%s': expected align", path, kind);
    free(kind);
    train_align_config c;
    char p[64];
    for (int i = 0; !rc && i < NCFG; i++) {
        snprintf(p, sizeof p, "/model/%s", CFG_NAMES[i]);
        rc = ckpt_get_i64(r, p, cfg_field(&c, i));
    }
    double mean = 0, sd = 1;
    if (!rc) rc = ckpt_get_f64(r, "/model/audio_mean", &mean);
    if (!rc) rc = ckpt_get_f64(r, "/model/audio_std", &sd);
    if (!rc && train_align_config_check(&c)) rc = base_error_prefix("%s: /model", path);
    char **words = NULL;
    int64_t *counts = NULL, nw = 0;
    if (!rc) rc = ckpt_get_vocab(r, &words, &counts, &nw);
    if (!rc) {
        train_align_model_init(m, &c, 0);
        bool same = nw == m->nwords;
        for (int64_t i = 0; same && i < nw; i++) same = !strcmp(words[i], m->words[i]);
        if (!same) rc = base_error_set("%s: /vocab: %lld words that differ from this ember's prompt vocabulary (%lld words)",
                                       path, (long long)nw, (long long)m->nwords);
        m->audio_mean = (float)mean;
        m->audio_std = (float)sd;
        if (!rc && ckpt_load_params(r, &m->ps, true) < 0) rc = -1;
        if (rc) train_align_model_free(m);
    }
    if (words) ckpt_free_words(words, nw);
    free(counts);
    ckpt_close(r);
    return rc;
}

/* ---- the trainer ------------------------------------------------------------------------------------- */

train_align_options train_align_options_default(void) {
    train_align_options o;
    memset(&o, 0, sizeof o);
    o.model = train_align_config_default();
    o.data.mnist_train = 8000;
    o.data.holdout_speaker = "theo";
    o.data.mel_bins = o.model.mel_bins;
    o.img_batch = 128;
    o.aud_batch = 32;
    o.audio_weight = 1.0;
    o.augment = true;
    o.eval_images = 1000;
    o.seed = 1;
    o.threads = 2;
    o.loop = train_loop_config_default();
    o.loop.label = "align";
    o.loop.rate_unit = "ex"; /* images + recordings per second in the progress line */
    o.loop.lr = 1e-3f;
    o.loop.weight_decay = 0.05f;
    o.loop.warmup = 200;
    o.loop.steps = 3000;
    return o;
}

typedef struct align_run {
    const train_align_options *o;
    train_align_model model;
    train_align_data data;
    int64_t n_img;                 /* training images: Fashion train then MNIST [0, mnist_train) */
    int64_t *aud_idx, n_aud;       /* training clips (indices into data.clips) */
    data_order img_order, aud_order;
    base_rng aug_rng;
    int64_t bi, ba;                /* this micro-batch's sizes (0 when a modality is absent) */
    float *img;                    /* [bi, 1, 28, 28] */
    int32_t *img_y;                /* [bi] */
    float *mel;                    /* [ba, 1, F, T] */
    int32_t *frames, *aud_y;       /* [ba] */
    int32_t *tid, *tpad;           /* [max(bi, ba), MAX_WORDS] */
    const train_align_clip **sel;  /* [ba] */
    int64_t *crop;                 /* [ba] */
} align_run;

static int64_t align_next_batch(void *ctx) {
    align_run *R = ctx;
    const int64_t F = R->model.cfg.mel_bins, T = R->model.cfg.frames;
    for (int64_t k = 0; k < R->bi; k++) {
        int64_t i = data_order_next(&R->img_order);
        const uint8_t *src = i < R->data.n_fm_train ? R->data.fm_train + i * 784 : R->data.mn + (i - R->data.n_fm_train) * 784;
        R->img_y[k] = i < R->data.n_fm_train ? R->data.fm_train_y[i] : R->data.mn_y[i - R->data.n_fm_train];
        for (int p = 0; p < 784; p++) R->img[k * 784 + p] = src[p] / 255.0f;
    }
    for (int64_t k = 0; k < R->ba; k++) {
        const train_align_clip *c = &R->data.clips[R->aud_idx[data_order_next(&R->aud_order)]];
        R->sel[k] = c;
        R->aud_y[k] = c->label;
        R->crop[k] = c->frames > T ? (R->o->augment ? (int64_t)base_rng_below(&R->aug_rng, (uint32_t)(c->frames - T + 1))
                                                    : (c->frames - T) / 2)
                                   : 0;
    }
    if (R->ba) {
        clips_batch(&R->model, R->sel, R->ba, R->mel, R->frames, R->crop);
        if (R->o->augment) /* SpecAugment: one band of up to F/8 mel bins and one run of up to 10 frames set to 0 */
            for (int64_t k = 0; k < R->ba; k++) {
                float *x = R->mel + k * F * T;
                int64_t fw = (int64_t)base_rng_below(&R->aug_rng, (uint32_t)(F / 8 + 1));
                int64_t f0 = (int64_t)base_rng_below(&R->aug_rng, (uint32_t)(F - fw + 1));
                for (int64_t f = f0; f < f0 + fw; f++) memset(x + f * T, 0, (size_t)T * sizeof(float));
                int64_t n = R->frames[k], tw = (int64_t)base_rng_below(&R->aug_rng, (uint32_t)((n / 5 < 10 ? n / 5 : 10) + 1));
                int64_t t0 = (int64_t)base_rng_below(&R->aug_rng, (uint32_t)(n - tw + 1));
                for (int64_t f = 0; f < F; f++)
                    for (int64_t t = t0; t < t0 + tw; t++) x[f * T + t] = 0;
            }
    }
    return R->bi + R->ba;
}

/* i32 [n, n]: 1 where rows i ≠ j share a label (not a negative of each other). */
static ag_tensor *label_mask(ag_graph *g, const int32_t *y, int64_t n) {
    ag_tensor *m = ag_new(g, AG_I32, 2, (const int64_t[]){n, n});
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) ag_i32(m)[i * n + j] = i != j && y[i] == y[j];
    return m;
}

static ag_tensor *pair_loss(ag_graph *g, align_run *R, ag_tensor *z, const int32_t *y, int64_t n, ag_tensor *scale) {
    const int64_t L = TRAIN_ALIGN_MAX_WORDS;
    prompt_batch(&R->model, y, n, R->tid, R->tpad);
    ag_tensor *t = train_align_text(g, &R->model, ag_from_i32(g, 2, (const int64_t[]){n, L}, R->tid),
                                    ag_from_i32(g, 2, (const int64_t[]){n, L}, R->tpad)); /* [n, E] */
    if (!t) return NULL;
    return ag_info_nce(g, z, t, scale, label_mask(g, y, n), true);
}

static ag_tensor *align_loss(void *ctx, ag_graph *g) {
    align_run *R = ctx;
    const train_align_config *c = &R->model.cfg;
    ag_tensor *scale = ag_exp(g, R->model.logit_scale); /* [1] = 1/τ */
    ag_tensor *loss = NULL;
    if (R->bi) {
        ag_tensor *img = ag_from_f32(g, 4, (const int64_t[]){R->bi, 1, 28, 28}, R->img);
        ag_tensor *z = train_align_image(g, &R->model, img);
        if (!z) return NULL;
        loss = pair_loss(g, R, z, R->img_y, R->bi, scale);
        if (!loss) return NULL;
    }
    if (R->ba) {
        ag_tensor *mel = ag_from_f32(g, 4, (const int64_t[]){R->ba, 1, c->mel_bins, c->frames}, R->mel);
        ag_tensor *z = train_align_audio(g, &R->model, mel, R->frames);
        if (!z) return NULL;
        ag_tensor *la = pair_loss(g, R, z, R->aud_y, R->ba, scale);
        if (!la) return NULL;
        if (R->o->audio_weight != 1.0) la = ag_mul_scalar(g, la, (float)R->o->audio_weight);
        loss = loss ? ag_add(g, loss, la) : la;
    }
    return loss;
}

/* open_clip: logit_scale.clamp_(0, ln 100) after every optimizer step. */
static void align_after_step(void *ctx) {
    align_run *R = ctx;
    float *s = ag_f32(R->model.logit_scale);
    const float hi = logf(100.0f);
    if (s[0] < 0) s[0] = 0;
    if (s[0] > hi) s[0] = hi;
}

static int align_eval(void *ctx, ag_graph *g, train_eval_result *out) {
    (void)g;
    align_run *R = ctx;
    train_align_eval e; /* evaluate picks the held-out parts of the loaded data */
    train_align_evaluate(&R->model, &R->data, R->o->eval_images, &e);
    memset(out, 0, sizeof *out);
    double sum = 0;
    int n = 0;
    const char *keys[] = {"fashion_acc", "mnist_acc", "fsdd_acc", "speaker_acc", "mnist_to_fsdd_r1"};
    double vals[] = {e.fashion_acc, e.mnist_acc, e.fsdd_acc, e.speaker_acc, e.r1};
    for (int i = 0; i < 5; i++) {
        if (isnan(vals[i])) continue;
        out->key[out->n] = keys[i];
        out->value[out->n++] = vals[i];
        if (i < 3 || i == 4) { /* the score: the targets' mean (the held-out speaker is reported, not selected on) */
            sum += vals[i];
            n++;
        }
    }
    out->key[out->n] = "logit_scale";
    out->value[out->n++] = (double)ag_f32(R->model.logit_scale)[0];
    out->score = n ? sum / n : 0;
    return 0;
}

static int align_save(void *ctx, ckpt_writer *w) {
    align_run *R = ctx;
    int rc = put_model(w, &R->model);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/img_epoch", R->img_order.epoch);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/img_pos", R->img_order.pos);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/aud_epoch", R->aud_order.epoch);
    if (!rc) rc = ckpt_put_i64(w, "/state/data/aud_pos", R->aud_order.pos);
    if (!rc) rc = ckpt_put_rng(w, "/state/rng/augment", &R->aug_rng);
    return rc;
}

static int align_load(void *ctx, ckpt_reader *r) {
    align_run *R = ctx;
    int64_t ie = 0, ip = 0, ae = 0, ap = 0;
    if (ckpt_get_i64(r, "/state/data/img_epoch", &ie) || ckpt_get_i64(r, "/state/data/img_pos", &ip) ||
        ckpt_get_i64(r, "/state/data/aud_epoch", &ae) || ckpt_get_i64(r, "/state/data/aud_pos", &ap) ||
        ckpt_get_rng(r, "/state/rng/augment", &R->aug_rng))
        return -1;
    double mean, sd;
    if (ckpt_get_f64(r, "/model/audio_mean", &mean) || ckpt_get_f64(r, "/model/audio_std", &sd)) return -1;
    R->model.audio_mean = (float)mean;
    R->model.audio_std = (float)sd;
    if (R->n_img) {
        if (ie < 0 || ip < 0 || ip > R->n_img)
            return base_error_set("%s: /state/data/img_pos %lld outside the %lld training images", ckpt_reader_path(r),
                                  (long long)ip, (long long)R->n_img);
        data_order_free(&R->img_order);
        if (data_order_restore(&R->img_order, R->n_img, R->o->seed, ie, ip)) return -1;
    }
    if (R->n_aud) {
        if (ae < 0 || ap < 0 || ap > R->n_aud)
            return base_error_set("%s: /state/data/aud_pos %lld outside the %lld training clips", ckpt_reader_path(r),
                                  (long long)ap, (long long)R->n_aud);
        data_order_free(&R->aud_order);
        if (data_order_restore(&R->aud_order, R->n_aud, R->o->seed ^ 0xa0d10ull, ae, ap)) return -1;
    }
    return 0;
}

static char *trainer_json(const align_run *R) {
    const train_align_options *o = R->o;
    const train_align_config *c = &R->model.cfg;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    fprintf(f, "{\"kind\":\"align\"");
    train_align_config cc = *c;
    for (int i = 0; i < NCFG; i++) fprintf(f, ",\"%s\":%lld", CFG_NAMES[i], (long long)*cfg_field(&cc, i));
    fprintf(f, ",\"img_batch\":%lld,\"aud_batch\":%lld,\"audio_weight\":%.6g,\"augment\":%s,\"seed\":%llu,"
               "\"train_images\":%lld,\"train_clips\":%lld,\"mnist_train\":%lld,\"holdout_speaker\":\"%s\","
               "\"lock_image\":%s,\"lock_text\":%s,\"lock_audio\":%s}",
            (long long)o->img_batch, (long long)o->aud_batch, o->audio_weight, o->augment ? "true" : "false",
            (unsigned long long)o->seed, (long long)R->n_img, (long long)R->n_aud, (long long)R->data.mnist_train,
            R->data.holdout >= 0 ? R->data.speakers[R->data.holdout] : "", o->lock_image ? "true" : "false",
            o->lock_text ? "true" : "false", o->lock_audio ? "true" : "false");
    fclose(f);
    return buf;
}

static void run_free(align_run *R) {
    if (R->model.ps.n) train_align_model_free(&R->model);
    train_align_data_free(&R->data);
    free(R->aud_idx);
    data_order_free(&R->img_order);
    data_order_free(&R->aud_order);
    free(R->img);
    free(R->img_y);
    free(R->mel);
    free(R->frames);
    free(R->aud_y);
    free(R->tid);
    free(R->tpad);
    free(R->sel);
    free(R->crop);
}

/* Copies word2vec vectors into text.tok for the words the file has (dims must match). */
static int init_text(align_run *R, const char *path) {
    train_vectors *v = NULL;
    if (train_vectors_load(&v, path, "--text-init")) return -1;
    if (v->dim != R->model.cfg.txt_d) {
        int64_t d = v->dim;
        train_vectors_free(v);
        return base_error_set("--text-init %s: %lld-d vectors, the text tower is %lld-d (--txt-d)", path, (long long)d,
                              (long long)R->model.cfg.txt_d);
    }
    int64_t found = 0;
    float *w = ag_f32(R->model.tok.weight);
    for (int64_t i = 1; i < R->model.nwords; i++) {
        int64_t k = train_vectors_find(v, R->model.words[i], true);
        if (k < 0) continue;
        /* scaled to unit RMS per element, the scale of the N(0, 1) init the rest keep */
        double ss = 0;
        for (int64_t e = 0; e < v->dim; e++) ss += (double)v->vec[k * v->dim + e] * v->vec[k * v->dim + e];
        double sc = ss > 0 ? sqrt((double)v->dim / ss) : 0;
        for (int64_t e = 0; e < v->dim; e++) w[i * v->dim + e] = (float)(v->vec[k * v->dim + e] * sc);
        found++;
    }
    if (!R->o->loop.quiet)
        fprintf(stderr, "align: text.tok initialised from %s for %lld of %lld words\n", path, (long long)found,
                (long long)(R->model.nwords - 1));
    train_vectors_free(v);
    return 0;
}

int train_align_run(const train_align_options *o) {
    if (train_align_config_check(&o->model)) return -1;
    if (o->img_batch < 0 || o->aud_batch < 0 || o->img_batch + o->aud_batch < 2)
        return base_error_set("--img-batch %lld, --aud-batch %lld: expected non-negative, at least one of them >= 2",
                              (long long)o->img_batch, (long long)o->aud_batch);
    train_set_threads(o->threads);
    align_run R;
    memset(&R, 0, sizeof R);
    R.o = o;
    int rc = -1;
    char *tj = NULL;
    train_loop *L = NULL;
    double t0 = base_now_sec();
    train_align_data_options dopt = o->data;
    dopt.mel_bins = o->model.mel_bins;
    if (train_align_data_load(&dopt, &R.data)) goto out;
    R.n_img = R.data.n_fm_train + R.data.mnist_train;
    R.aud_idx = base_xmalloc((size_t)(R.data.nclips + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < R.data.nclips; i++)
        if (!R.data.clips[i].test && R.data.clips[i].speaker != R.data.holdout) R.aud_idx[R.n_aud++] = i;
    R.bi = R.n_img ? o->img_batch : 0;
    R.ba = R.n_aud ? o->aud_batch : 0;
    if ((R.bi && R.bi < 2) || (R.ba && R.ba < 2) || R.bi + R.ba == 0) {
        base_error_set("nothing to train on: %lld images (batch %lld), %lld clips (batch %lld); give --data or "
                       "--fashion/--mnist/--fsdd-tar", (long long)R.n_img, (long long)o->img_batch, (long long)R.n_aud,
                       (long long)o->aud_batch);
        goto out;
    }
    train_align_model_init(&R.model, &o->model, o->seed);
    /* log-mel normalisation from the training clips */
    if (R.n_aud) {
        double s = 0, ss = 0, n = 0;
        for (int64_t k = 0; k < R.n_aud; k++) {
            const train_align_clip *c = &R.data.clips[R.aud_idx[k]];
            for (int64_t i = 0; i < c->frames * o->model.mel_bins; i++) {
                s += c->mel[i];
                ss += (double)c->mel[i] * c->mel[i];
            }
            n += (double)(c->frames * o->model.mel_bins);
        }
        R.model.audio_mean = (float)(s / n);
        R.model.audio_std = (float)sqrt(fmax(ss / n - (s / n) * (s / n), 1e-12));
    }
    if (o->init) {
        train_align_model init;
        if (train_align_load(o->init, &init)) {
            base_error_prefix("--init");
            goto out;
        }
        if (init.ps.total != R.model.ps.total) {
            base_error_set("--init %s: %lld parameters, this model has %lld (the sizes must match)", o->init,
                           (long long)init.ps.total, (long long)R.model.ps.total);
            train_align_model_free(&init);
            goto out;
        }
        memcpy(R.model.ps.values, init.ps.values, (size_t)init.ps.total * sizeof(float));
        R.model.audio_mean = init.audio_mean;
        R.model.audio_std = init.audio_std;
        train_align_model_free(&init);
    }
    if (o->text_init && init_text(&R, o->text_init)) goto out;
    if (R.n_img && data_order_init(&R.img_order, R.n_img, o->seed)) goto out;
    if (R.n_aud && data_order_init(&R.aud_order, R.n_aud, o->seed ^ 0xa0d10ull)) goto out;
    base_rng_seed(&R.aug_rng, o->seed ^ 0x617567ull);
    const int64_t F = o->model.mel_bins, T = o->model.frames, B = R.bi > R.ba ? R.bi : R.ba;
    R.img = base_xmalloc((size_t)(R.bi * 784 + 1) * sizeof(float));
    R.img_y = base_xmalloc((size_t)(R.bi + 1) * sizeof(int32_t));
    R.mel = base_xmalloc((size_t)(R.ba * F * T + 1) * sizeof(float));
    R.frames = base_xmalloc((size_t)(R.ba + 1) * sizeof(int32_t));
    R.aud_y = base_xmalloc((size_t)(R.ba + 1) * sizeof(int32_t));
    R.tid = base_xmalloc((size_t)(B * TRAIN_ALIGN_MAX_WORDS) * sizeof(int32_t));
    R.tpad = base_xmalloc((size_t)(B * TRAIN_ALIGN_MAX_WORDS) * sizeof(int32_t));
    R.sel = base_xmalloc((size_t)(R.ba + 1) * sizeof *R.sel);
    R.crop = base_xmalloc((size_t)(R.ba + 1) * sizeof(int64_t));
    tj = trainer_json(&R);
    train_loop_config lc = o->loop;
    lc.config_json = tj;
    lc.seed = o->seed;
    const char *locks[3] = {o->lock_image ? "image.*" : NULL, o->lock_text ? "text.*" : NULL,
                            o->lock_audio ? "audio.*" : NULL};
    for (int i = 0; i < 3; i++)
        if (locks[i]) {
            if (lc.nfreeze == TRAIN_LOOP_MAX_GLOBS) {
                base_error_set("--freeze/--lock-*: at most %d globs", TRAIN_LOOP_MAX_GLOBS);
                goto out;
            }
            lc.freeze[lc.nfreeze++] = locks[i];
        }
    train_loop_trainer tr = {.ctx = &R, .next_batch = align_next_batch, .loss = align_loss, .eval = align_eval,
                             .save = align_save, .load = align_load, .after_step = align_after_step};
    L = train_loop_new(&lc, &R.model.ps, &tr);
    if (!L) goto out;
    if (!o->loop.quiet) {
        fprintf(stderr, "align: %lld Fashion-MNIST + %lld MNIST training images, %lld training recordings (%lld clips read, "
                        "held-out speaker %s) in %.1f s\n",
                (long long)R.data.n_fm_train, (long long)R.data.mnist_train, (long long)R.n_aud, (long long)R.data.nclips,
                R.data.holdout >= 0 ? R.data.speakers[R.data.holdout] : "none", base_now_sec() - t0);
        fprintf(stderr, "align: %lld parameters (%lld trainable: image %lld, audio %lld, text %lld); per step %lld images "
                        "+ %lld recordings x accum %d; log-mel mean %.3f std %.3f\n",
                (long long)nn_params_count(&R.model.ps, NULL), (long long)nn_params_count_trainable(&R.model.ps),
                (long long)nn_params_count(&R.model.ps, "image."), (long long)nn_params_count(&R.model.ps, "audio."),
                (long long)nn_params_count(&R.model.ps, "text."), (long long)R.bi, (long long)R.ba, lc.accum,
                (double)R.model.audio_mean, (double)R.model.audio_std);
    }
    double t1 = base_now_sec();
    rc = train_loop_run(L);
    double wall = base_now_sec() - t1;
    if (rc == 0 || rc == TRAIN_LOOP_STOPPED) {
        const train_eval_result *ev = train_loop_last_eval(L);
        double sps = train_loop_tokens_per_sec(L) / (double)(R.bi + R.ba); /* steps/s (examples/s per example/step) */
        if (!o->loop.quiet) {
            fprintf(stderr, "align: %lld steps, final loss %.4f, %.1f images/s and %.1f recordings/s over this process's "
                            "steps after its first (%.2f s), %.1f s wall",
                    (long long)train_loop_step(L), (double)train_loop_last_loss(L), sps * (double)R.bi, sps * (double)R.ba,
                    train_loop_first_step_seconds(L), wall);
            for (int i = 0; ev && i < ev->n; i++) fprintf(stderr, ", %s %.4f", ev->key[i], ev->value[i]);
            fputc('\n', stderr);
        }
        if ((o->plot || o->loop.checkpoint) && train_loop_plot(L, o->plot, "ember train align: image/audio/text InfoNCE"))
            rc = -1;
    }
out:
    train_loop_free(L);
    free(tj);
    run_free(&R);
    return rc;
}
