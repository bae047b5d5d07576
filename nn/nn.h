/* nn.h — ember's layers: embeddings, linear/norm/MLP, positional encodings, attention, transformer
 * blocks and stacks, BERT input stack, ViT patch embedding, Conv2d, pooling.
 *
 * How a layer works (read this first):
 *
 *   nn_params ps; nn_params_init(&ps);
 *   nn_linear fc;
 *   nn_linear_init(&fc, &ps, "encoder.proj", 256, 128, true);   // registers encoder.proj.weight/.bias
 *   ...                                                          // register every layer first
 *   base_rng rng; base_rng_seed(&rng, 1);
 *   nn_params_alloc(&ps, &rng);                                  // one block, every init applied
 *   ag_tensor *y = nn_linear_forward(g, &fc, x);                 // emits autograd ops into g
 *
 * - A layer is a plain struct holding its config and pointers to its parameter tensors. The
 *   tensors belong to the nn_params set (names, memory, grads, freezing, counts all live there);
 *   a layer's *_init only registers them. Layers with heap arrays (stacks) have a *_free.
 * - Parameter names are PyTorch-style and dotted: "<prefix>.<sub>.weight". A NULL or "" prefix
 *   registers bare names ("weight").
 * - Conventions follow PyTorch: Linear weight is [out, in] (y = x Wᵀ + b), default init
 *   uniform(±1/√in) for weight and bias; LayerNorm eps 1e-5 (weight 1, bias 0); Embedding
 *   normal(0, 0.02) by default here (not PyTorch's N(0,1)); GELU is the erf form unless asked.
 * - Activations are [B, T, D] (batch, time, model dim) unless stated; ids are i32.
 * - Forward functions that take user ids validate them and return NULL after base_error_set() on
 *   bad input; shape mistakes in code abort via AG_CHECK (programming errors).
 */
#ifndef EMBER_NN_H
#define EMBER_NN_H

#include "../autograd/ag.h"
#include "params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "<prefix>.<name>" (or "<name>" when prefix is NULL/"") into buf; returns buf. Aborts if it does
 * not fit (names are built by code, not by users). */
const char *nn_name(char *buf, size_t size, const char *prefix, const char *name);
#define NN_NAME_MAX 256

/* ------------------------------------------------------------------------------------------------
 * Embedding: a [num, dim] table; forward gathers rows by id.
 * --------------------------------------------------------------------------------------------- */
typedef struct nn_embedding_config {
    int64_t num, dim;
    nn_init_kind init;   /* NN_INIT_NORMAL (a = σ, default 0.02), NN_INIT_UNIFORM (a, b), or
                          * NN_INIT_NONE for from-pretrained (fill with nn_embedding_load) */
    float a, b;
    int32_t padding_idx; /* -1 = none. That row is zero after init and never receives grad. */
    bool sparse_grad;    /* row-sparse grad (only the looked-up rows), for sparse optimizers */
    float max_norm;      /* > 0: rows looked up are renormalised in place to ‖row‖₂ ≤ max_norm
                          * before the lookup, outside the recorded graph (PyTorch semantics) */
    float dropout;       /* embedding dropout (Gal & Ghahramani): while training, each distinct id
                          * in a forward call is dropped whole with this probability; kept rows
                          * are scaled by 1/(1-p) */
} nn_embedding_config;

/* num × dim, normal(0, 0.02), no padding, dense grad, no max-norm, no dropout. */
nn_embedding_config nn_embedding_config_default(int64_t num, int64_t dim);

typedef struct nn_embedding {
    nn_embedding_config cfg;
    ag_tensor *weight; /* [num, dim], registered as "<prefix>.weight" */
} nn_embedding;

void nn_embedding_init(nn_embedding *e, nn_params *ps, const char *prefix, nn_embedding_config cfg);
/* Copies pretrained vectors (rows × cols, row-major) into the table after nn_params_alloc.
 * Returns -1 with a message if the shape differs. Re-zeroes the padding row. */
int nn_embedding_load(nn_embedding *e, const float *src, int64_t rows, int64_t cols);
/* ids: i32 [...] (any shape, ≤ 3 dims) → [..., dim]. NULL + base_error_set if an id is out of range. */
ag_tensor *nn_embedding_forward(ag_graph *g, const nn_embedding *e, ag_tensor *ids);
/* Number of parameters of a num × dim table (what nn_params_count reports for it). */
int64_t nn_embedding_param_count(const nn_embedding *e);

/* ------------------------------------------------------------------------------------------------
 * Linear (projector), LayerNorm, RMSNorm, Dropout
 * --------------------------------------------------------------------------------------------- */
typedef struct nn_linear {
    int64_t in, out;
    ag_tensor *weight; /* [out, in] "<prefix>.weight" */
    ag_tensor *bias;   /* [out] "<prefix>.bias", or NULL */
} nn_linear;

/* PyTorch default init: weight and bias uniform(±1/√in). */
void nn_linear_init(nn_linear *l, nn_params *ps, const char *prefix, int64_t in, int64_t out, bool bias);
/* Same, but weight normal(0, std) and bias zero (GPT/BERT-style init). */
void nn_linear_init_normal(nn_linear *l, nn_params *ps, const char *prefix, int64_t in, int64_t out,
                           bool bias, float std);
/* x [..., in] (2–4 dims) → [..., out]: x Wᵀ + b (one fused op, ag_linear). */
ag_tensor *nn_linear_forward(ag_graph *g, const nn_linear *l, ag_tensor *x);
/* act(x Wᵀ + b) + residual in one op (ag_linear_ex); residual may be NULL, act an enum ag_act. */
ag_tensor *nn_linear_forward_ex(ag_graph *g, const nn_linear *l, ag_tensor *x, ag_tensor *residual, int act);

typedef struct nn_layer_norm {
    int64_t dim;
    float eps;
    ag_tensor *weight, *bias; /* [dim] "<prefix>.weight" (ones), "<prefix>.bias" (zeros); NULL if !affine */
} nn_layer_norm;
void nn_layer_norm_init(nn_layer_norm *n, nn_params *ps, const char *prefix, int64_t dim, float eps, bool affine);
ag_tensor *nn_layer_norm_forward(ag_graph *g, const nn_layer_norm *n, ag_tensor *x); /* over last axis */

typedef struct nn_rms_norm {
    int64_t dim;
    float eps;
    ag_tensor *weight; /* [dim] "<prefix>.weight" (ones) */
} nn_rms_norm;
void nn_rms_norm_init(nn_rms_norm *n, nn_params *ps, const char *prefix, int64_t dim, float eps);
ag_tensor *nn_rms_norm_forward(ag_graph *g, const nn_rms_norm *n, ag_tensor *x); /* x / rms(x) · w */

/* Either norm behind one type (transformer blocks choose by config). */
typedef enum nn_norm_kind { NN_NORM_LAYER = 0, NN_NORM_RMS = 1 } nn_norm_kind;
typedef struct nn_norm {
    nn_norm_kind kind;
    nn_layer_norm ln;
    nn_rms_norm rms;
} nn_norm;
void nn_norm_init(nn_norm *n, nn_params *ps, const char *prefix, nn_norm_kind kind, int64_t dim, float eps);
ag_tensor *nn_norm_forward(ag_graph *g, const nn_norm *n, ag_tensor *x);

/* Inverted dropout (identity when the graph is not training or p == 0). */
ag_tensor *nn_dropout(ag_graph *g, ag_tensor *x, float p);

/* ------------------------------------------------------------------------------------------------
 * MLPs: GELU / SiLU:  fc2(act(fc1 x));   SwiGLU:  w2(silu(w1 x) ⊙ w3 x)  (LLaMA naming)
 * --------------------------------------------------------------------------------------------- */
typedef enum nn_mlp_kind { NN_MLP_GELU = 0, NN_MLP_GELU_TANH, NN_MLP_SILU, NN_MLP_SWIGLU } nn_mlp_kind;
typedef struct nn_mlp {
    nn_mlp_kind kind;
    nn_linear fc1, fc2; /* GELU/SiLU: "<prefix>.fc1", "<prefix>.fc2" */
    nn_linear w1, w2, w3; /* SwiGLU: gate "<prefix>.w1", down "<prefix>.w2", up "<prefix>.w3" */
} nn_mlp;
void nn_mlp_init(nn_mlp *m, nn_params *ps, const char *prefix, nn_mlp_kind kind, int64_t dim,
                 int64_t hidden, bool bias);
ag_tensor *nn_mlp_forward(ag_graph *g, const nn_mlp *m, ag_tensor *x);
/* residual + mlp(x), the add fused into the last projection (residual NULL = nn_mlp_forward). */
ag_tensor *nn_mlp_forward_residual(ag_graph *g, const nn_mlp *m, ag_tensor *x, ag_tensor *residual);

/* ------------------------------------------------------------------------------------------------
 * Positional encodings
 * --------------------------------------------------------------------------------------------- */
/* Sinusoidal table (Vaswani et al.): out [T, D], out[p, 2i] = sin(p / base^(2i/D)),
 * out[p, 2i+1] = cos(same), positions pos0 .. pos0+T-1. base is usually 10000. */
void nn_sinusoidal_table(float *out, int64_t T, int64_t D, int64_t pos0, float base);
/* x [B, T, D] + sinusoidal table (a constant: no parameters, no grad). */
ag_tensor *nn_sinusoidal_add(ag_graph *g, ag_tensor *x, int64_t pos0);

/* Learned absolute positions: a [max_len, dim] table "<prefix>.weight", normal(0, 0.02). */
typedef struct nn_learned_pos {
    nn_embedding table;
} nn_learned_pos;
void nn_learned_pos_init(nn_learned_pos *p, nn_params *ps, const char *prefix, int64_t max_len, int64_t dim);
/* x [B, T, D] + table[pos0 .. pos0+T-1]. NULL + error if pos0 + T > max_len. */
ag_tensor *nn_learned_pos_add(ag_graph *g, const nn_learned_pos *p, ag_tensor *x, int64_t pos0);

/* RoPE on x [B, H, T, Dh] (Dh even) at positions pos0..: see ag_rope. Half-split layout
 * (interleaved = false) pairs dim i with i + Dh/2 (GPT-NeoX, LLaMA-HF, μOmni); interleaved pairs
 * (2i, 2i+1) as in the RoFormer paper. Frequencies θ^(-2i/Dh). */
ag_tensor *nn_rope(ag_graph *g, ag_tensor *x, int64_t pos0, float theta, bool interleaved);

/* ALiBi slopes for H heads (Press et al.; the reference code's rule for H not a power of 2):
 * out [H]. For H = 8: 1/2, 1/4, ..., 1/256. */
void nn_alibi_slopes(int64_t H, float *out);
/* Attention bias [H, T, S]: -slope_h · |t + (S - T) - s| (query t is at absolute position
 * t + S - T). With a causal mask this is exactly the paper's bias; without, the symmetric form. */
ag_tensor *nn_alibi_bias(ag_graph *g, int64_t H, int64_t T, int64_t S);

/* 2-D sin-cos table for a rows × cols patch grid (MAE/ViT style): out [rows·cols, D] (D % 4 == 0),
 * patch (r, c) at row-major index r·cols + c; dims [0, D/2) encode the column c, [D/2, D) the row r
 * (exactly MAE's get_2d_sincos_pos_embed), each as [sin(p ω_0..), cos(p ω_0..)] with
 * ω_i = base^(-i/(D/4)), i < D/4. */
void nn_sincos_2d_table(float *out, int64_t rows, int64_t cols, int64_t D, float base);
/* x [B, rows·cols, D] + the 2-D sin-cos table (constant). */
ag_tensor *nn_sincos_2d_add(ag_graph *g, ag_tensor *x, int64_t rows, int64_t cols);
/* Learned 2-D positions, factorised: "<prefix>.row" [rows, D] + "<prefix>.col" [cols, D],
 * patch (r, c) gets row[r] + col[c]; normal(0, 0.02). */
typedef struct nn_learned_pos_2d {
    int64_t rows, cols, dim;
    ag_tensor *row, *col;
} nn_learned_pos_2d;
void nn_learned_pos_2d_init(nn_learned_pos_2d *p, nn_params *ps, const char *prefix, int64_t rows,
                            int64_t cols, int64_t dim);
ag_tensor *nn_learned_pos_2d_add(ag_graph *g, const nn_learned_pos_2d *p, ag_tensor *x); /* x [B, rows·cols, D] */

/* ------------------------------------------------------------------------------------------------
 * Multi-head attention (grouped-query when n_kv_heads < n_heads), on the fused ag_attention.
 * Parameters: "<prefix>.wq" [H·Dh, D], ".wk" [Hkv·Dh, D], ".wv" [Hkv·Dh, D], ".wo" [D, H·Dh]
 * (nn_linear each, with ".bias" when bias is on).
 * --------------------------------------------------------------------------------------------- */
typedef enum nn_pos_kind { NN_POS_NONE = 0, NN_POS_ROPE, NN_POS_ALIBI } nn_pos_kind;

typedef struct nn_attention_config {
    int64_t dim, n_heads, n_kv_heads; /* n_kv_heads = 0 means n_heads; must divide n_heads */
    int64_t head_dim;                 /* 0 means dim / n_heads */
    bool bias;                        /* biases on the four projections */
    bool causal;
    nn_pos_kind pos;                  /* in-attention positions: RoPE on q, k or ALiBi on scores */
    float rope_theta;                 /* 10000 by default */
    bool rope_interleaved;            /* false = half-split (GPT-NeoX / μOmni) */
    float dropout;                    /* on the output projection (fused attention has no
                                       * dropout on the attention weights) */
} nn_attention_config;
nn_attention_config nn_attention_config_default(int64_t dim, int64_t n_heads);

typedef struct nn_attention {
    nn_attention_config cfg;
    nn_linear wq, wk, wv, wo;
} nn_attention;
void nn_attention_init(nn_attention *a, nn_params *ps, const char *prefix, nn_attention_config cfg);
/* x [B, T, D]; key_pad: optional i32 [B, T], nonzero = padding; pos0: absolute position of x's
 * first token (RoPE/ALiBi). → [B, T, D]. */
ag_tensor *nn_attention_forward(ag_graph *g, const nn_attention *a, ag_tensor *x, ag_tensor *key_pad,
                                int64_t pos0);
/* residual + attention(x) (after the output dropout), the add fused into the output projection
 * when the dropout is 0. residual NULL = nn_attention_forward. */
ag_tensor *nn_attention_forward_residual(ag_graph *g, const nn_attention *a, ag_tensor *x, ag_tensor *key_pad,
                                         int64_t pos0, ag_tensor *residual);

/* ------------------------------------------------------------------------------------------------
 * Transformer block and stack.
 *   pre-norm:  x = x + drop(attn(norm1 x)); x = x + drop(mlp(norm2 x))
 *   post-norm: x = norm1(x + drop(attn x)); x = norm2(x + drop(mlp x))
 * Names: "<prefix>.norm1", ".attn", ".norm2", ".mlp".
 * --------------------------------------------------------------------------------------------- */
typedef struct nn_block_config {
    nn_attention_config attn;
    int64_t ffn;          /* hidden width of the MLP */
    nn_mlp_kind mlp;
    bool mlp_bias;
    nn_norm_kind norm;
    float norm_eps;
    bool pre_norm;
    float dropout;        /* residual dropout after attention and after the MLP */
} nn_block_config;
/* BERT/PyTorch-like encoder block: biases, LayerNorm 1e-5, GELU(erf), pre-norm, no dropout. */
nn_block_config nn_block_config_default(int64_t dim, int64_t n_heads, int64_t ffn);

typedef struct nn_block {
    nn_block_config cfg;
    nn_norm norm1, norm2;
    nn_attention attn;
    nn_mlp mlp;
} nn_block;
void nn_block_init(nn_block *b, nn_params *ps, const char *prefix, nn_block_config cfg);
ag_tensor *nn_block_forward(ag_graph *g, const nn_block *b, ag_tensor *x, ag_tensor *key_pad, int64_t pos0);

/* n_layers identical blocks "<prefix>.layers.<i>" and an optional final norm "<prefix>.norm". */
typedef struct nn_encoder {
    int n_layers;
    nn_block *layers; /* [n_layers], heap */
    bool final_norm;
    nn_norm norm;
} nn_encoder;
void nn_encoder_init(nn_encoder *e, nn_params *ps, const char *prefix, int n_layers, nn_block_config cfg,
                     bool final_norm);
void nn_encoder_free(nn_encoder *e);
ag_tensor *nn_encoder_forward(ag_graph *g, const nn_encoder *e, ag_tensor *x, ag_tensor *key_pad, int64_t pos0);

/* ------------------------------------------------------------------------------------------------
 * BERT input stack: LayerNorm(tok[ids] + pos[0..T) + seg[segment ids]) then dropout.
 * Names: "<prefix>.tok", ".pos", ".seg" (tables, normal 0.02), ".norm" (LayerNorm, eps 1e-12 as
 * BERT unless changed in the struct before use). n_segments 0 = no segment table.
 * --------------------------------------------------------------------------------------------- */
typedef struct nn_bert_embeddings {
    nn_embedding tok, pos, seg;
    bool has_seg;
    nn_layer_norm norm;
    float dropout;
} nn_bert_embeddings;
void nn_bert_embeddings_init(nn_bert_embeddings *e, nn_params *ps, const char *prefix, int64_t vocab,
                             int64_t max_len, int64_t n_segments, int64_t dim, float eps);
/* ids i32 [B, T]; segs i32 [B, T] or NULL (all segment 0). → [B, T, D]; NULL + error on bad ids. */
ag_tensor *nn_bert_embeddings_forward(ag_graph *g, const nn_bert_embeddings *e, ag_tensor *ids, ag_tensor *segs);

/* ------------------------------------------------------------------------------------------------
 * Conv2d (im2col + sgemm; see ag_conv2d) and ViT patch embedding.
 * --------------------------------------------------------------------------------------------- */
typedef struct nn_conv2d {
    int64_t in_ch, out_ch, kh, kw;
    int stride, padding;
    ag_tensor *weight; /* [out_ch, in_ch, kh, kw] "<prefix>.weight", PyTorch init uniform(±1/√fan_in) */
    ag_tensor *bias;   /* [out_ch] "<prefix>.bias" or NULL */
} nn_conv2d;
void nn_conv2d_init(nn_conv2d *c, nn_params *ps, const char *prefix, int64_t in_ch, int64_t out_ch,
                    int64_t kh, int64_t kw, int stride, int padding, bool bias);
/* x [B, C, H, W] → [B, out_ch, Ho, Wo], Ho = (H + 2p - kh) / stride + 1. */
ag_tensor *nn_conv2d_forward(ag_graph *g, const nn_conv2d *c, ag_tensor *x);

/* ViT patch embedding: image [B, C, H, W] → conv (kernel = stride = patch) → [B, N, D] patches,
 * then (optionally) a CLS token in front and learned positions [N(+1), D].
 * Names: "<prefix>.proj" (conv), ".cls" [1, 1, D] (normal 0.02), ".pos" [N(+1), D] (normal 0.02). */
typedef struct nn_patch_embed {
    int64_t img_h, img_w, patch, channels, dim, grid_h, grid_w;
    bool cls, learned_pos;
    nn_conv2d proj;
    ag_tensor *cls_token; /* [1, 1, D] or NULL */
    ag_tensor *pos;       /* [N + cls, D] or NULL */
} nn_patch_embed;
void nn_patch_embed_init(nn_patch_embed *p, nn_params *ps, const char *prefix, int64_t img_h, int64_t img_w,
                         int64_t patch, int64_t channels, int64_t dim, bool cls, bool learned_pos);
/* NULL + error if the image is not [B, channels, img_h, img_w]. */
ag_tensor *nn_patch_embed_forward(ag_graph *g, const nn_patch_embed *p, ag_tensor *img);

/* ------------------------------------------------------------------------------------------------
 * Pooling over time: x [B, T, D] → [B, D]. pad: optional i32 [B, T], nonzero = padding.
 * --------------------------------------------------------------------------------------------- */
ag_tensor *nn_pool_mean(ag_graph *g, ag_tensor *x, ag_tensor *pad); /* mean over non-pad positions */
ag_tensor *nn_pool_max(ag_graph *g, ag_tensor *x, ag_tensor *pad);  /* max over non-pad positions */
ag_tensor *nn_pool_cls(ag_graph *g, ag_tensor *x);                  /* x[:, 0, :] */

/* ------------------------------------------------------------------------------------------------
 * Whole models (nn/models.c).
 *
 * BERT-style masked-LM encoder (the PyTorch peer bench/torch_encoder_step.py builds the same):
 *   h = LayerNorm_ln(tok[x] + pos[0..T))          tok, pos: N(0, 1) like nn.Embedding
 *   h = encoder(h): `layers` pre-norm blocks (LayerNorm, attention with biases, GELU MLP 4d,
 *       no dropout, no final norm)
 *   logits = head(h)                              [B, T, vocab]
 *   loss = mean cross-entropy(logits, y)
 * Names: "tok.weight", "pos.weight", "ln.*", "enc.layers.<i>.*", "head.weight", "head.bias".
 * --------------------------------------------------------------------------------------------- */
typedef struct nn_mlm_encoder {
    nn_params ps;
    int64_t vocab, max_seq, d;
    nn_embedding tok, pos;
    nn_layer_norm ln;
    nn_encoder enc;
    nn_linear head;
} nn_mlm_encoder;

/* Registers and allocates every parameter, initialised from seed. d must be a multiple of heads
 * (AG_CHECK: callers validate user input first). */
void nn_mlm_encoder_init(nn_mlm_encoder *m, int64_t vocab, int64_t max_seq, int64_t d, int64_t layers, int64_t heads,
                         uint64_t seed);
void nn_mlm_encoder_free(nn_mlm_encoder *m);
/* x: i32 [B, T] token ids (T <= max_seq) → logits [B, T, vocab]. */
ag_tensor *nn_mlm_encoder_forward(ag_graph *g, nn_mlm_encoder *m, ag_tensor *x);
/* Scalar mean cross-entropy of the forward against y: i32 [B * T] targets. */
ag_tensor *nn_mlm_encoder_loss(ag_graph *g, nn_mlm_encoder *m, ag_tensor *x, ag_tensor *y);

/* ------------------------------------------------------------------------------------------------
 * Text models trained by `ember train mlm|lm` (nn/text_model.c): one struct, two shapes.
 *
 *   MLM (BERT-style, bidirectional):  h = drop(tok[x] + pos[0..T)); pre-norm blocks (LayerNorm,
 *       attention with biases, GELU MLP ffn); final LayerNorm; head = LayerNorm(GELU(dense h)) then
 *       the decoder, tied to tok (logits = h' tokᵀ + bias) or untied.
 *   LM (μOmni's Thinker, causal):  h = drop(tok[x]); pre-norm blocks (RMSNorm, grouped-query
 *       attention with RoPE half-split, no biases, SwiGLU MLP); final RMSNorm; head = untied
 *       linear without bias (or tied).
 *
 * Names: "tok.weight", "pos.weight" (learned positions only), "enc.layers.<i>.{norm1,attn,norm2,
 * mlp}.*", "enc.norm.*", MLM "head.dense.*", "head.norm.*", "head.bias" (tied) or
 * "head.decoder.*" (untied); LM "head.weight" (untied). Embedding tables normal(0, 0.02), linear
 * layers PyTorch's default init.
 * --------------------------------------------------------------------------------------------- */
typedef enum nn_text_kind { NN_TEXT_MLM = 0, NN_TEXT_LM = 1 } nn_text_kind;
typedef enum nn_text_pos { NN_TEXT_POS_LEARNED = 0, NN_TEXT_POS_SINUSOIDAL, NN_TEXT_POS_ROPE } nn_text_pos;

typedef struct nn_text_config {
    nn_text_kind kind;
    int64_t vocab, max_seq, d, layers, heads, kv_heads, ffn;
    nn_text_pos pos;
    bool tie_head;
    float dropout; /* after the embeddings and on each residual branch (after attention, after the MLP) */
} nn_text_config;

/* BERT-style MLM defaults: ffn 4d, learned positions, tied head, dropout 0.1. */
nn_text_config nn_text_config_mlm(int64_t vocab, int64_t max_seq, int64_t d, int64_t layers, int64_t heads);
/* Thinker-style LM defaults: ffn 8d/3 rounded up to a multiple of 64 (SwiGLU keeps the parameter
 * count of a 4d GELU MLP), kv_heads = heads / 2 when heads is even (grouped-query), RoPE, untied
 * head, dropout 0. */
nn_text_config nn_text_config_lm(int64_t vocab, int64_t max_seq, int64_t d, int64_t layers, int64_t heads);
/* 0 if the config is usable, else -1 with an error naming the bad field (for user-supplied sizes). */
int nn_text_config_check(const nn_text_config *c);
const char *nn_text_kind_name(nn_text_kind k); /* "mlm", "lm" */
const char *nn_text_pos_name(nn_text_pos p);   /* "learned", "sinusoidal", "rope" */

typedef struct nn_text_model {
    nn_text_config cfg;
    nn_params ps;
    nn_embedding tok;
    nn_learned_pos pos;           /* NN_TEXT_POS_LEARNED only */
    nn_encoder enc;               /* with its final norm */
    nn_linear head_dense;         /* MLM: d → d */
    nn_layer_norm head_norm;      /* MLM */
    nn_linear head_decoder;       /* untied: d → vocab */
    ag_tensor *head_bias;         /* MLM tied: [vocab] */
} nn_text_model;

/* Registers and allocates every parameter from seed. The config must pass nn_text_config_check. */
void nn_text_model_init(nn_text_model *m, const nn_text_config *cfg, uint64_t seed);
/* Registers the parameters only, so a trainer can add its own to m->ps (a projection head, a
 * temperature) before nn_params_alloc; the model's parameters are registered first, so they get the
 * same initial values as from nn_text_model_init with the same seed. */
void nn_text_model_register(nn_text_model *m, const nn_text_config *cfg);
void nn_text_model_free(nn_text_model *m);
/* ids i32 [B, T] (T <= max_seq), pad: optional i32 [B, T] (nonzero = padding) → hidden states
 * [B, T, d] after `layers` blocks (0..n_layers; n_layers also applies the final norm). NULL with
 * an error if an id is out of range or T exceeds max_seq. */
ag_tensor *nn_text_model_hidden(ag_graph *g, const nn_text_model *m, ag_tensor *ids, ag_tensor *pad, int layers);
/* Rows of hidden states h [N, d] → logits [N, vocab] (the MLM head transform included). */
ag_tensor *nn_text_model_logits(ag_graph *g, const nn_text_model *m, ag_tensor *h);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_NN_H */
