/* chapter_multimodal.c — `ember chapter multimodal`: a real Fashion-MNIST image through μOmni's ViT path and a real FSDD recording through its audio path. */
#include "chapter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "data/media.h"
#include "nn/nn.h"

#define SETF EXP_SETF

/* μOmni's audio encoder (omni/audio_encoder.py, configs/audio_enc_tiny.json at ae4594a, downsample 8):
 * mel (B, T, 128) → [B, 1, T, 128] → 3 × (Conv2d 3×3 stride 2 pad 1 → GELU), 64 channels →
 * [B, 64, T', 16] → permute to [B, T', 64·16 = 1024] → Linear 1024 → 192 → 4 blocks (RMSNorm eps
 * 1e-5, fused qkv with bias, 3 heads, no positional encoding, GELU MLP 768) → RMSNorm → (B, T', 192). */
typedef struct {
    nn_params ps;
    nn_conv2d c1, c2, c3;
    nn_linear proj;
    nn_encoder enc;
    nn_rms_norm norm;
    nn_linear proj_a; /* sft_omni.py: Linear(192, 256) into the Thinker's space */
} audio_enc;

static void audio_build(audio_enc *m, uint64_t seed) {
    nn_params_init(&m->ps);
    nn_conv2d_init(&m->c1, &m->ps, "audio.down.0", 1, 64, 3, 3, 2, 1, true);
    nn_conv2d_init(&m->c2, &m->ps, "audio.down.1", 64, 64, 3, 3, 2, 1, true);
    nn_conv2d_init(&m->c3, &m->ps, "audio.down.2", 64, 64, 3, 3, 2, 1, true);
    nn_linear_init(&m->proj, &m->ps, "audio.proj", 64 * 16, 192, true);
    nn_block_config bc = nn_block_config_default(192, 3, 768);
    bc.norm = NN_NORM_RMS;
    bc.norm_eps = 1e-5f;
    nn_encoder_init(&m->enc, &m->ps, "audio", 4, bc, false);
    nn_rms_norm_init(&m->norm, &m->ps, "audio.norm", 192, 1e-5f);
    nn_linear_init(&m->proj_a, &m->ps, "proj_a", 192, 256, true);
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&m->ps, &rng);
}

static void audio_free(audio_enc *m) {
    nn_encoder_free(&m->enc);
    nn_params_free(&m->ps);
}

/* mel [1, 1, T, 128] → the three conv outputs' time lengths and the frames [1, T', 192]. */
static ag_tensor *audio_forward(ag_graph *g, const audio_enc *m, ag_tensor *mel, int64_t tl[4], ag_tensor **flat) {
    tl[0] = mel->shape[2];
    ag_tensor *x = ag_gelu_erf(g, nn_conv2d_forward(g, &m->c1, mel));
    tl[1] = x->shape[2];
    x = ag_gelu_erf(g, nn_conv2d_forward(g, &m->c2, x));
    tl[2] = x->shape[2];
    x = ag_gelu_erf(g, nn_conv2d_forward(g, &m->c3, x)); /* [1, 64, T', 16] */
    tl[3] = x->shape[2];
    int64_t C = x->shape[1], T = x->shape[2], F = x->shape[3];
    x = ag_permute(g, x, (const int[]){0, 2, 1, 3}); /* [1, T', 64, 16] */
    x = ag_reshape(g, x, 3, (const int64_t[]){1, T, C * F});
    *flat = x;
    x = nn_linear_forward(g, &m->proj, x);
    x = nn_encoder_forward(g, &m->enc, x, NULL, 0);
    return nn_rms_norm_forward(g, &m->norm, x);
}

/* μOmni's ViT (as in chapter_basics.c) plus proj_v. */
typedef struct {
    nn_params ps;
    nn_patch_embed pe;
    nn_encoder enc;
    nn_rms_norm norm;
    nn_linear proj_v;
} vit_enc;

static void vit_build(vit_enc *m, uint64_t seed) {
    nn_params_init(&m->ps);
    nn_patch_embed_init(&m->pe, &m->ps, "vision.patch", 224, 224, 16, 3, 128, true, true);
    nn_encoder_init(&m->enc, &m->ps, "vision", 4, nn_block_config_default(128, 2, 512), false);
    nn_rms_norm_init(&m->norm, &m->ps, "vision.norm", 128, 1e-5f);
    nn_linear_init(&m->proj_v, &m->ps, "proj_v", 128, 256, true);
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&m->ps, &rng);
}

/* Bilinear resize of a [h, w] u8 image to [H, W] floats in [0, 1] (PyTorch's align_corners=False). */
static void resize_bilinear(const uint8_t *src, int h, int w, float *dst, int H, int W) {
    for (int y = 0; y < H; y++) {
        double sy = fmax(0, (y + 0.5) * h / H - 0.5);
        int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        double fy = sy - y0;
        for (int x = 0; x < W; x++) {
            double sx = fmax(0, (x + 0.5) * w / W - 0.5);
            int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            double fx = sx - x0;
            double v = (1 - fy) * ((1 - fx) * src[y0 * w + x0] + fx * src[y0 * w + x1]) +
                       fy * ((1 - fx) * src[y1 * w + x0] + fx * src[y1 * w + x1]);
            dst[y * W + x] = (float)(v / 255.0);
        }
    }
}

static double l2(const float *v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static const char *const FASHION[10] = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                        "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};

static int image_path(exp_section *s, const exp_chapter_options *o, char *src, size_t srcn) {
    const char *ip = exp_data(o, "images/fashion-mnist/t10k-images-idx3-ubyte.gz");
    const char *lp = exp_data(o, "images/fashion-mnist/t10k-labels-idx1-ubyte.gz");
    if (!ip || !lp) return base_error_set("Fashion-MNIST test images are not in the data directory");
    int64_t n, h, w, nl;
    uint8_t *img = data_idx_images_u8(ip, &n, &h, &w);
    if (!img) return -1;
    uint8_t *lab = data_idx_labels_u8(lp, &nl);
    if (!lab) {
        free(img);
        return -1;
    }
    const int64_t pick = 0; /* the first test image */
    snprintf(src, srcn, "Fashion-MNIST test image #%lld (%s, %lldx%lld grey)", (long long)pick, FASHION[lab[pick] % 10],
             (long long)h, (long long)w);
    float orig[28 * 28];
    for (int i = 0; i < 28 * 28; i++) orig[i] = img[pick * h * w + i] / 255.0f;
    float *big = base_xmalloc(3 * 224 * 224 * sizeof *big);
    resize_bilinear(img + pick * h * w, (int)h, (int)w, big, 224, 224);
    memcpy(big + 224 * 224, big, 224 * 224 * sizeof *big); /* grey → 3 equal channels */
    memcpy(big + 2 * 224 * 224, big, 224 * 224 * sizeof *big);

    vit_enc m;
    vit_build(&m, o->seed);
    ag_graph *g = ag_graph_new(0);
    ag_no_grad_begin(g);
    ag_tensor *x = ag_from_f32(g, AG_SHAPE(1, 3, 224, 224), big);
    ag_tensor *tokens = nn_patch_embed_forward(g, &m.pe, x); /* [1, 197, 128] */
    ag_tensor *h2 = nn_rms_norm_forward(g, &m.norm, nn_encoder_forward(g, &m.enc, tokens, NULL, 0));
    ag_tensor *cls = ag_slice(g, h2, 1, 0, 1);       /* [1, 1, 128] */
    ag_tensor *grid = ag_slice(g, h2, 1, 1, 196);    /* [1, 196, 128] */
    ag_tensor *cls256 = nn_linear_forward(g, &m.proj_v, cls);   /* [1, 1, 256] */
    ag_tensor *grid256 = nn_linear_forward(g, &m.proj_v, grid); /* [1, 196, 256] */
    int64_t np = nn_params_count(&m.ps, "vision.");
    bool ok = tokens->shape[1] == 197 && tokens->shape[2] == 128 && cls256->shape[2] == 256;
    exp_basics_item *it = exp_item_add(&s->r, "vision.shapes", ok ? EXP_MATCH : EXP_MISMATCH, (double)tokens->shape[1]);
    SETF(it->what, "a real image through μOmni's ViT path (%s, bilinear to 224x224, 3 equal channels)", src);
    SETF(it->claim, "Image (224x224x3) → 16x16 patches → 196 patches + CLS → 197 x 128 → ViT-tiny → CLS (1, 128) → "
                    "Vision Projector (Linear 128→256) → (1, 256)");
    SETF(it->ember, "input [1, 3, 224, 224] → patch conv [1, 128, 14, 14] → tokens [%lld, %lld, %lld] (CLS + 196) → 4 "
                    "blocks + RMSNorm → CLS [1, 1, 128] (norm %.2f) → proj_v [1, 1, %lld] (norm %.2f); ViT %s parameters "
                    "(untrained, seed %llu: the shapes, not the values, are the point)",
         (long long)tokens->shape[0], (long long)tokens->shape[1], (long long)tokens->shape[2], l2(ag_f32(cls), 128),
         (long long)cls256->shape[2], l2(ag_f32(cls256), 256), exp_commas(np), (unsigned long long)o->seed);
    it = exp_item_add(&s->r, "vision.patches_or_cls", EXP_MISMATCH, 1);
    SETF(it->what, "what the vision projector receives: 196 patch vectors or the CLS vector");
    SETF(it->claim, "\"Multimodal Embeddings\": ViT → (196 patches, 128 dim each) → Vision Projector → (196 patches, "
                    "256 dim); \"Vision Embeddings\": CLS token extracted (1, 128) → (1, 256)");
    SETF(it->ember, "differs: the chapter contradicts itself. μOmni's sft_omni.py projects only the CLS row "
                    "(proj_v(cls)): the Thinker gets 1 image token of 256, not 196. Both computed here: CLS → [1, 1, %lld]; "
                    "the 196 grid rows would give [1, %lld, %lld], which μOmni returns from ViTTiny but never projects",
         (long long)cls256->shape[2], (long long)grid256->shape[1], (long long)grid256->shape[2]);
    exp_section_fig(s, exp_fig_heatmap("The input image (28 x 28, as stored)", orig, 28, 28, EXP_CMAP_GRAY, "x", "y", 360, 330),
                    src);
    float pin[196];
    for (int k = 0; k < 196; k++) { /* mean pixel of each 16x16 patch of the resized image */
        double sum = 0;
        for (int yy = 0; yy < 16; yy++)
            for (int xx = 0; xx < 16; xx++) sum += big[((k / 14) * 16 + yy) * 224 + (k % 14) * 16 + xx];
        pin[k] = (float)(sum / 256);
    }
    exp_section_fig(s, exp_fig_heatmap("Mean pixel of each of the 196 patches (224 / 16 = 14 per side)", pin, 14, 14,
                                       EXP_CMAP_GRAY, "patch column", "patch row", 360, 330),
                    "What the 16x16 patch conv sees: the 28x28 image upsampled 8x, cut into a 14x14 grid.");
    ag_no_grad_end(g);
    ag_graph_free(g);
    free(big);
    free(img);
    free(lab);
    nn_encoder_free(&m.enc);
    nn_params_free(&m.ps);
    return 0;
}

/* Reads one FSDD recording (the spoken "five" of jackson, take 0, a test clip; else the first). */
static int read_clip(const exp_chapter_options *o, data_audio *a, char *name, size_t namen) {
    const char *tp = exp_data(o, "audio/fsdd_recordings.tar.gz");
    if (!tp) return base_error_set("FSDD recordings (audio/fsdd_recordings.tar.gz) are not in the data directory");
    data_tar *t = data_tar_open(tp);
    if (!t) return -1;
    const char *nm;
    int64_t size;
    int rc, found = 0;
    while ((rc = data_tar_next(t, &nm, &size)) == 1) {
        size_t L = strlen(nm);
        if (L < 4 || strcmp(nm + L - 4, ".wav")) continue;
        bool want = strstr(nm, "5_jackson_0.wav") != NULL;
        if (!want && found) continue;
        int64_t n;
        void *buf = data_tar_read(t, &n);
        if (!buf) {
            rc = -1;
            break;
        }
        if (found) data_audio_free(a);
        snprintf(name, namen, "%s", nm);
        int pr = data_wav_parse(buf, (size_t)n, nm, a);
        free(buf);
        if (pr != 0) {
            rc = -1;
            break;
        }
        found = 1;
        if (want) break;
    }
    data_tar_close(t);
    if (rc < 0) {
        if (found) data_audio_free(a);
        return -1;
    }
    return found ? 0 : base_error_set("%s: no .wav member", tp);
}

static int audio_path(exp_section *s, const exp_chapter_options *o, char *src, size_t srcn) {
    data_audio a;
    char name[256];
    if (read_clip(o, &a, name, sizeof name) != 0) return -1;
    int rate0 = a.rate;
    int64_t n0 = a.n;
    if (data_audio_resample(&a, 16000) != 0) {
        data_audio_free(&a);
        return -1;
    }
    data_mel_config mc = data_mel_config_default();
    data_mel *mel = data_mel_new(&mc);
    int64_t T = data_mel_frames(mel, a.n);
    float *mt = base_xmalloc((size_t)mc.n_mels * T * sizeof *mt); /* [128, T] */
    if (data_mel_compute(mel, a.samples, a.n, mt) != 0) {
        free(mt);
        data_mel_free(mel);
        data_audio_free(&a);
        return -1;
    }
    snprintf(src, srcn, "FSDD %.120s (%d Hz, %.2f s, resampled to 16 kHz)", name, rate0, (double)n0 / rate0);
    /* (T, 128) as μOmni feeds it: mel_spec(wav)[0].T, power (no log) */
    float *tm = base_xmalloc((size_t)T * 128 * sizeof *tm);
    for (int64_t t = 0; t < T; t++)
        for (int f = 0; f < 128; f++) tm[t * 128 + f] = mt[f * T + t];
    audio_enc m;
    audio_build(&m, o->seed);
    ag_graph *g = ag_graph_new(0);
    ag_no_grad_begin(g);
    int64_t tl[4];
    ag_tensor *flat;
    ag_tensor *fr = audio_forward(g, &m, ag_from_f32(g, AG_SHAPE(1, 1, T, 128), tm), tl, &flat);
    ag_tensor *fr256 = nn_linear_forward(g, &m.proj_a, fr);
    int64_t nenc = nn_params_count(&m.ps, "audio.");
    exp_basics_item *it = exp_item_add(&s->r, "audio.shapes", fr->shape[2] == 192 && fr256->shape[2] == 256 ? EXP_MATCH : EXP_MISMATCH,
                                       (double)fr->shape[1]);
    SETF(it->what, "a real recording through μOmni's audio path (%s)", src);
    SETF(it->claim, "Audio waveform (16kHz) → Mel Spectrogram (T, 128) → conv downsampling → frame embeddings (T/8, 192) → "
                    "Audio Projector (Linear 192→256) → (T/8, 256)");
    SETF(it->ember, "%lld samples → power mel [%lld, 128] → 3 stride-2 convs: %lld → %lld → %lld → %lld frames → [1, %lld, "
                    "%lld] flattened → proj → 4 blocks + RMSNorm → frames [1, %lld, %lld] → proj_a [1, %lld, %lld] "
                    "(untrained, seed %llu)",
         (long long)a.n, (long long)T, (long long)tl[0], (long long)tl[1], (long long)tl[2], (long long)tl[3],
         (long long)flat->shape[1], (long long)flat->shape[2], (long long)fr->shape[1], (long long)fr->shape[2],
         (long long)fr256->shape[1], (long long)fr256->shape[2], (unsigned long long)o->seed);
    it = exp_item_add(&s->r, "audio.flatten", flat->shape[2] == 1024 ? EXP_MISMATCH : EXP_MATCH, (double)flat->shape[2]);
    SETF(it->what, "what the audio encoder flattens and projects to 192");
    SETF(it->claim, "\"(T/8, 128) time-frequency features\" → \"Flatten & Project (128xC → 192)\"");
    SETF(it->ember, "differs: after the convs the features are 64 channels x 16 frequency rows (128 mel bins / 8), so each "
                    "frame flattens to 64 x 16 = %lld values and the projection is Linear(1024, 192) (%s parameters); "
                    "there is no 128-wide feature at that point",
         (long long)flat->shape[2], exp_commas(1024 * 192 + 192));
    it = exp_item_add(&s->r, "audio.params", nenc == 2049408 ? EXP_MATCH : EXP_MISMATCH, (double)nenc);
    SETF(it->what, "parameters of μOmni's audio encoder (AudioEncoderTiny, downsample 8, d 192, 4 layers, 3 heads, FFN 768)");
    SETF(it->claim, "(not in the chapter) PyTorch build of μOmni's modules: 2,049,408");
    SETF(it->ember, "%s = convs %s + proj %s + 4 blocks %s (each %s) + final RMSNorm %s", exp_commas(nenc),
         exp_commas(nn_params_count(&m.ps, "audio.down.")), exp_commas(nn_params_count(&m.ps, "audio.proj.")),
         exp_commas(nn_params_count(&m.ps, "audio.layers.")), exp_commas(nn_params_count(&m.ps, "audio.layers.0.")),
         exp_commas(nn_params_count(&m.ps, "audio.norm.")));
    /* log-mel for the picture (the model takes power mel) */
    float *lm = base_xmalloc((size_t)128 * T * sizeof *lm);
    for (int f = 0; f < 128; f++)
        for (int64_t t = 0; t < T; t++) lm[(127 - f) * T + t] = logf(fmaxf(mt[f * T + t], 1e-10f));
    exp_section_fig(s, exp_fig_heatmap("Log-mel spectrogram of the recording (128 bins, hop 10 ms)", lm, 128, T,
                                       EXP_CMAP_SEQUENTIAL, "frame (10 ms)", "mel bin (high at the top)", 620, 360),
                    "data_mel_compute with μOmni's settings (16 kHz, n_fft 1024, window 400, hop 160, 128 HTK bins). FSDD "
                    "is 8 kHz, so the upper half of the band is empty after resampling.");
    free(lm);
    /* the 3-second table, through the same convs */
    ag_graph_reset(g);
    int64_t n3 = 48000, T3 = data_mel_frames(mel, n3);
    float *z = base_xcalloc((size_t)T3 * 128, sizeof *z);
    int64_t tl3[4];
    ag_tensor *fl3;
    ag_tensor *f3 = audio_forward(g, &m, ag_from_f32(g, AG_SHAPE(1, 1, T3, 128), z), tl3, &fl3);
    bool ok = T3 == 301 && tl3[1] == 151 && tl3[2] == 76 && tl3[3] == 38 && f3->shape[1] == 38;
    it = exp_item_add(&s->r, "audio.3s_table", ok ? EXP_MATCH : EXP_MISMATCH, (double)f3->shape[1]);
    SETF(it->what, "frames of a 3-second clip at each stage");
    SETF(it->claim, "\"(T/8, ...)\" frames after \"Convolutional Downsampling (4x or 8x)\" (μOmni's config: 8x, 12.5 Hz)");
    SETF(it->ember, "48,000 samples → %lld mel frames (48,000/160 + 1, centred) → %lld → %lld → %lld frames (each conv: "
                    "floor((T - 1) / 2) + 1), so T' = ceil(T/8) = %lld, 12.7 frames per second",
         (long long)T3, (long long)tl3[1], (long long)tl3[2], (long long)tl3[3], (long long)f3->shape[1]);
    static char rows[6][120];
    const char *rp[6];
    snprintf(rows[0], sizeof rows[0], "stage|3 s clip|this recording");
    snprintf(rows[1], sizeof rows[1], "samples (16 kHz)|48,000|%s", exp_commas(a.n));
    snprintf(rows[2], sizeof rows[2], "mel frames (hop 160)|%lld|%lld", (long long)T3, (long long)T);
    snprintf(rows[3], sizeof rows[3], "after conv 1 (stride 2)|%lld|%lld", (long long)tl3[1], (long long)tl[1]);
    snprintf(rows[4], sizeof rows[4], "after conv 2|%lld|%lld", (long long)tl3[2], (long long)tl[2]);
    snprintf(rows[5], sizeof rows[5], "after conv 3 → frames x 192|%lld|%lld", (long long)tl3[3], (long long)tl[3]);
    for (int i = 0; i < 6; i++) rp[i] = rows[i];
    exp_section_fig(s, exp_fig_table("Audio frames at each stage", rp, 6),
                    "The same encoder on a 3-second silent clip and on the recording.");
    it = exp_item_add(&s->r, "audio.rate", EXP_INFO, rate0);
    SETF(it->what, "sample rate of the real recordings");
    SETF(it->claim, "\"Audio waveform (16kHz)\"");
    SETF(it->ember, "FSDD is %d Hz; resampled to 16 kHz with data_resample (torchaudio's windowed sinc) before the mel, as "
                    "μOmni's mel settings require",
         rate0);
    free(z);
    ag_no_grad_end(g);
    ag_graph_free(g);
    audio_free(&m);
    free(tm);
    free(mt);
    data_mel_free(mel);
    data_audio_free(&a);
    return 0;
}

int exp_section_multimodal(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    (void)c;
    char isrc[200] = "", asrc[200] = "";
    int ri = image_path(s, o, isrc, sizeof isrc);
    if (ri != 0) exp_log(o, "multimodal: image path: %s", base_error_msg());
    int ra = audio_path(s, o, asrc, sizeof asrc);
    if (ra != 0) exp_log(o, "multimodal: audio path: %s", base_error_msg());
    exp_basics_item *it = exp_item_add(&s->r, "multimodal.projectors", EXP_MATCH, 33024 + 49408);
    SETF(it->what, "the projectors into the shared 256-d space");
    SETF(it->claim, "\"All embeddings in same 256-dim space!\" (Linear 128→256, Linear 192→256)");
    SETF(it->ember, "proj_v 33,024 + proj_a 49,408 = 82,432 parameters; both outputs above are 256 wide. Whether the "
                    "space is shared in meaning, not only in width, takes alignment training: `chapter align`");
    snprintf(s->source, sizeof s->source, "No training: μOmni's ViT-tiny and audio encoder built at their config sizes in "
                                          "ember (random init). Inputs: %s; %s.",
             isrc[0] ? isrc : "(no image)", asrc[0] ? asrc : "(no recording)");
    if (ri != 0 && ra != 0) return base_error_set("neither the image nor the recording could be read (data directory?)");
    return 0;
}
