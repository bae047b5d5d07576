/* align.h — `ember train align`: images, speech and text in one 256-d space (CLIP-style InfoNCE on the loop).
 *
 * Three towers, each ending in a linear projector to `embed` (256) dimensions and an L2
 * normalisation, so every vector lives on the unit sphere of one shared space (μOmni's picture,
 * chapter 6, scaled down to 28×28 images and 8 kHz speech):
 *
 *   image  [B, 1, 28, 28] → patch conv (patch P, stride P) → [B, (28/P)², Di] → CLS in front,
 *          learned positions → [B, N+1, Di] → `img_layers` pre-norm blocks + final LayerNorm →
 *          CLS row [B, Di] → "image.proj" [B, 256] → L2 normalise
 *   audio  WAV 8 kHz mono PCM16 → log power mel (n_fft 256, window 200 = 25 ms, hop 80 = 10 ms,
 *          `mel_bins` HTK bins over 0–4 kHz: the mel parameters are set for 8 kHz, nothing is
 *          resampled) → normalised with the training set's mean/std → [B, 1, F, T] (T = `frames`,
 *          shorter clips padded, longer ones cropped) → conv 3×3 stride 2 → GELU → conv 3×3
 *          stride 2 → GELU → [B, C, F/4, T/4] → frames [B, T/4, C·F/4] → "audio.in" linear → Da,
 *          sinusoidal positions → `aud_layers` pre-norm blocks (padding frames masked) + final
 *          LayerNorm → mean over real frames [B, Da] → "audio.proj" [B, 256] → L2 normalise
 *   text   whitespace words of a prompt ("a photo of a sneaker", "the number five") → "text.tok"
 *          [V, Dt] → mean over the words [B, Dt] → "text.proj" [B, 256] → L2 normalise
 *
 * Loss per step: symmetric InfoNCE of image↔prompt plus symmetric InfoNCE of recording↔prompt,
 * with one learnable temperature stored as "logit_scale" = ln(1/τ), initialised at ln(1/0.07)
 * and clamped to [0, ln 100] after every optimizer step (open_clip's rule). Rows of a batch share
 * labels (a batch of 128 images holds only 20 classes), so every pair (i, j ≠ i) with the same
 * label is masked out of each other's negatives (ag_info_nce's neg_mask), in both directions.
 *
 * Data (train_align_data_load): Fashion-MNIST train (labels 0–9, prompts "a photo of a <class>"),
 * the MNIST test images split into the first `mnist_train` for training and the rest held out
 * (labels 10–19, prompts "the number <word>"), FSDD recordings (labels 10–19, the same prompts: text
 * is the bridge between the digit images and the spoken digits) with the official split (index
 * 0–4 is test) and one speaker held out of training entirely (`holdout_speaker`).
 */
#ifndef EMBER_TRAIN_ALIGN_H
#define EMBER_TRAIN_ALIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "../data/media.h"
#include "../nn/nn.h"
#include "loop.h"

#define TRAIN_ALIGN_CLASSES 20 /* 0–9 Fashion-MNIST classes, 10–19 the digits zero..nine */
#define TRAIN_ALIGN_MAX_WORDS 8 /* words per prompt */

typedef struct train_align_config {
    int64_t embed;                                   /* shared space (256) */
    int64_t img_patch, img_d, img_layers, img_heads; /* 7, 96, 3, 4 */
    int64_t mel_bins, frames;                        /* 40 mel bins, 96 frames (0.96 s at hop 10 ms) */
    int64_t aud_ch, aud_d, aud_layers, aud_heads;    /* 32 conv channels, 96, 2, 4 */
    int64_t txt_d;                                   /* 64 */
} train_align_config;

train_align_config train_align_config_default(void);
/* 0, or -1 with an error naming the bad field (sizes that do not divide, out-of-range values). */
int train_align_config_check(const train_align_config *c);

/* The three towers and the temperature in one parameter set. */
typedef struct train_align_model {
    train_align_config cfg;
    nn_params ps;
    nn_patch_embed patch;  /* "image.patch.*" */
    nn_encoder img_enc;    /* "image.enc.*" with final norm */
    nn_linear img_proj;    /* "image.proj" Di → embed, no bias */
    nn_conv2d aconv1, aconv2; /* "audio.conv1", "audio.conv2" */
    nn_linear ain;         /* "audio.in" C·F/4 → Da */
    nn_encoder aud_enc;    /* "audio.enc.*" with final norm */
    nn_linear aud_proj;    /* "audio.proj" Da → embed, no bias */
    nn_embedding tok;      /* "text.tok" [V, Dt] */
    nn_linear txt_proj;    /* "text.proj" Dt → embed, no bias */
    ag_tensor *logit_scale; /* "logit_scale" [1] = ln(1/τ) */
    char **words;           /* [nwords] text vocabulary (owned); word 0 is "[unk]" */
    int64_t nwords;
    float audio_mean, audio_std; /* log-mel normalisation (training set statistics) */
} train_align_model;

/* Registers and allocates every parameter from seed; the vocabulary is the words of the built-in
 * prompts. The config must pass train_align_config_check. */
void train_align_model_init(train_align_model *m, const train_align_config *cfg, uint64_t seed);
void train_align_model_free(train_align_model *m);

/* Prompt of class c (0..19): "a photo of a sneaker", "the number five". */
const char *train_align_prompt(int c);
/* Short class name ("sneaker", "five"). */
const char *train_align_class_name(int c);
/* Encodes a prompt into word ids [TRAIN_ALIGN_MAX_WORDS] (returns the count), -1 with an error when a
 * word is not in the vocabulary or there are too many words. */
int train_align_encode_text(const train_align_model *m, const char *text, int32_t *ids);

/* Tower forwards (emit ops on g) → L2-normalised [B, embed].
 * img: f32 [B, 1, 28, 28] in [0, 1]; mel: f32 [B, 1, F, T] normalised log-mel; frames: valid frames
 * per row [B] (NULL = all); ids: i32 [B, L] word ids, pad: i32 [B, L] nonzero = padding (or NULL). */
ag_tensor *train_align_image(ag_graph *g, const train_align_model *m, ag_tensor *img);
ag_tensor *train_align_audio(ag_graph *g, const train_align_model *m, ag_tensor *mel, const int32_t *frames);
ag_tensor *train_align_text(ag_graph *g, const train_align_model *m, ag_tensor *ids, ag_tensor *pad);
/* The 20 class prompts embedded: out [20, embed] (heap, caller frees), no grad. */
float *train_align_class_embeddings(const train_align_model *m);

/* Prints the shape walk (image → patches → CLS → 256, recording → mel → conv → frames → 256,
 * prompt → words → 256) with each tower's parameter count; with an image and/or a recording given
 * (NULL for none), the shapes are the real tensors' and the first values and norms are printed. */
void train_align_summary(const train_align_model *m, FILE *f, const float *image, const float *mel,
                         int64_t mel_frames);

/* ---- data ------------------------------------------------------------------------------------- */

typedef struct train_align_clip {
    float *mel;      /* [F, frames] log-mel (not normalised), heap */
    int64_t frames;
    int label;       /* 10 + digit */
    int speaker;     /* index into speakers[] */
    int index;       /* the FSDD take index 0..49 */
    bool test;       /* official split: index 0–4 */
    char *name;      /* member name, for messages */
} train_align_clip;

typedef struct train_align_data_options {
    const char *fashion_dir;   /* dir with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, or NULL to skip */
    const char *mnist_dir;     /* dir with t10k-{images-idx3,labels-idx1}-ubyte.gz, or NULL */
    const char *fsdd_tar;      /* recordings .tar(.gz), or NULL */
    const char *fsdd_labels;   /* TSV: file, digit, speaker, index, split (header line first) */
    int64_t mnist_train;       /* first N MNIST test images train, the rest are held out (8000) */
    int64_t max_fashion;       /* 0 = all; else the first N of train (and N/6 of test) — tests, subsets */
    int64_t max_clips;         /* 0 = all; else every k-th clip so that about N are read */
    const char *holdout_speaker; /* excluded from training, evaluated on all its clips ("theo"), or NULL */
    int64_t mel_bins;          /* must match the model */
    bool test_only;            /* evaluation: leave the Fashion-MNIST training images unread */
} train_align_data_options;

typedef struct train_align_data {
    /* Fashion-MNIST: u8 images [n, 28, 28], labels 0..9 */
    uint8_t *fm_train, *fm_test;
    int32_t *fm_train_y, *fm_test_y;
    int64_t n_fm_train, n_fm_test;
    /* MNIST test images: [n, 28, 28]; labels 10..19; [0, mnist_train) train, the rest held out */
    uint8_t *mn;
    int32_t *mn_y;
    int64_t n_mn, mnist_train;
    /* FSDD */
    train_align_clip *clips;
    int64_t nclips;
    char *speakers[16];
    int nspeakers;
    int holdout;               /* speaker index held out of training, -1 for none */
} train_align_data;

/* Reads what the options name. Every bad file is an error naming it (and the member / line / byte).
 * 0 or -1; on -1 d is left empty (freed). */
int train_align_data_load(const train_align_data_options *o, train_align_data *d);
void train_align_data_free(train_align_data *d);
/* log-mel of one recording: mel [F, *frames] (heap). 8 kHz only: another rate is an error naming
 * `name`. */
int train_align_mel(const data_audio *a, int64_t mel_bins, const char *name, float **mel, int64_t *frames);

/* ---- training ---------------------------------------------------------------------------------- */

typedef struct train_align_options {
    train_align_config model;
    train_align_data_options data;
    int64_t img_batch, aud_batch; /* 128 images, 32 recordings per step */
    double audio_weight;          /* weight of the audio↔text loss (1) */
    bool augment;                 /* audio: random crop/shift, time and frequency masks (SpecAugment) */
    bool lock_image, lock_text, lock_audio;
    const char *text_init;        /* word2vec vectors (text or binary) for text.tok, or NULL */
    const char *init;             /* an align checkpoint whose parameters start the run, or NULL */
    int64_t eval_images;          /* Fashion test images per in-training evaluation (1000) */
    const char *plot;             /* loss-curve SVG (default <checkpoint>.svg) */
    uint64_t seed;
    int threads;
    train_loop_config loop;
} train_align_options;

train_align_options train_align_options_default(void);
/* The whole run; 0, TRAIN_LOOP_STOPPED or -1 with an error. */
int train_align_run(const train_align_options *o);

/* ---- evaluation ---------------------------------------------------------------------------------- */

/* Reads a model from an align checkpoint (its /model and /params). 0 or -1. */
int train_align_load(const char *path, train_align_model *m);

typedef struct train_align_eval {
    double fashion_acc; int64_t n_fashion;      /* zero-shot, Fashion-MNIST test */
    double mnist_acc; int64_t n_mnist;          /* zero-shot, MNIST held-out */
    double fsdd_acc; int64_t n_fsdd;            /* zero-shot, FSDD test (index 0–4) of the training speakers */
    double fsdd_all_acc; int64_t n_fsdd_all;    /* zero-shot, the official FSDD test (all speakers) */
    double speaker_acc; int64_t n_speaker;      /* zero-shot, every clip of the held-out speaker */
    double r1, r5; int64_t n_queries, n_gallery; /* MNIST held-out image → FSDD test recordings */
} train_align_eval;

/* Embeds (no grad) n images [n, 28, 28] u8 → out [n, embed]. */
void train_align_embed_images(const train_align_model *m, const uint8_t *img, int64_t n, float *out);
/* Embeds clips → out [n, embed]. */
void train_align_embed_clips(const train_align_model *m, const train_align_clip *const *clips, int64_t n, float *out);
/* The full evaluation on d (which sets are present decides which figures are filled; others are
 * NaN with n 0). max_fashion > 0 limits the Fashion test images. */
int train_align_evaluate(const train_align_model *m, const train_align_data *d, int64_t max_fashion,
                         train_align_eval *out);

#endif
