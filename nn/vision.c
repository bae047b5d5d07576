/* vision.c — Conv2d layer, ViT patch embedding (CLS token, learned positions), pooling over time. */
#include "nn.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Conv2d
 * ------------------------------------------------------------------------------------------ */
void nn_conv2d_init(nn_conv2d *c, nn_params *ps, const char *prefix, int64_t in_ch, int64_t out_ch, int64_t kh,
                    int64_t kw, int stride, int padding, bool bias) {
    AG_CHECK(in_ch > 0 && out_ch > 0 && kh > 0 && kw > 0 && stride >= 1 && padding >= 0, "nn_conv2d_init",
             "bad geometry %lld->%lld k %lldx%lld stride %d pad %d", (long long)in_ch, (long long)out_ch, (long long)kh,
             (long long)kw, stride, padding);
    char nm[NN_NAME_MAX];
    c->in_ch = in_ch;
    c->out_ch = out_ch;
    c->kh = kh;
    c->kw = kw;
    c->stride = stride;
    c->padding = padding;
    float k = 1.0f / sqrtf((float)(in_ch * kh * kw)); /* PyTorch: uniform(±1/√fan_in) */
    c->weight = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "weight"), 4, (const int64_t[]){out_ch, in_ch, kh, kw},
                              NN_INIT_UNIFORM, -k, k, false);
    c->bias = bias ? nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "bias"), 1, (const int64_t[]){out_ch},
                                   NN_INIT_UNIFORM, -k, k, false)
                   : NULL;
}

ag_tensor *nn_conv2d_forward(ag_graph *g, const nn_conv2d *c, ag_tensor *x) {
    return ag_conv2d(g, x, c->weight, c->bias, c->stride, c->padding);
}

/* ---------------------------------------------------------------------------------------------
 * Patch embedding
 * ------------------------------------------------------------------------------------------ */
void nn_patch_embed_init(nn_patch_embed *p, nn_params *ps, const char *prefix, int64_t img_h, int64_t img_w,
                         int64_t patch, int64_t channels, int64_t dim, bool cls, bool learned_pos) {
    AG_CHECK(patch > 0 && img_h % patch == 0 && img_w % patch == 0, "nn_patch_embed_init",
             "image %lldx%lld is not a whole number of %lld-pixel patches", (long long)img_h, (long long)img_w,
             (long long)patch);
    char nm[NN_NAME_MAX];
    memset(p, 0, sizeof *p);
    p->img_h = img_h;
    p->img_w = img_w;
    p->patch = patch;
    p->channels = channels;
    p->dim = dim;
    p->grid_h = img_h / patch;
    p->grid_w = img_w / patch;
    p->cls = cls;
    p->learned_pos = learned_pos;
    nn_conv2d_init(&p->proj, ps, nn_name(nm, sizeof nm, prefix, "proj"), channels, dim, patch, patch, (int)patch, 0, true);
    if (cls)
        p->cls_token = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "cls"), 3, (const int64_t[]){1, 1, dim},
                                     NN_INIT_NORMAL, 0.02f, 0, false);
    if (learned_pos)
        p->pos = nn_params_add(ps, nn_name(nm, sizeof nm, prefix, "pos"), 2,
                               (const int64_t[]){p->grid_h * p->grid_w + (cls ? 1 : 0), dim}, NN_INIT_NORMAL, 0.02f, 0,
                               false);
}

ag_tensor *nn_patch_embed_forward(ag_graph *g, const nn_patch_embed *p, ag_tensor *img) {
    char s[96];
    if (img->dtype != AG_F32 || img->ndim != 4 || img->shape[1] != p->channels || img->shape[2] != p->img_h ||
        img->shape[3] != p->img_w) {
        base_error_set("nn_patch_embed_forward: expected an f32 image [B, %lld, %lld, %lld], got %s", (long long)p->channels,
                     (long long)p->img_h, (long long)p->img_w, ag_shape_str(img, s, sizeof s));
        return NULL;
    }
    int64_t B = img->shape[0], N = p->grid_h * p->grid_w, D = p->dim;
    ag_tensor *x = nn_conv2d_forward(g, &p->proj, img);           /* [B, D, gh, gw] */
    x = ag_reshape(g, x, 3, (const int64_t[]){B, D, N});           /* [B, D, N] */
    x = ag_permute(g, x, (const int[]){0, 2, 1});                  /* [B, N, D] */
    if (p->cls) {
        /* Broadcast the one CLS vector to every image, then put it in front. */
        ag_tensor *cls = ag_add(g, ag_zeros(g, AG_F32, 3, (const int64_t[]){B, 1, D}), p->cls_token); /* [B, 1, D] */
        x = ag_concat(g, 2, (ag_tensor *[]){cls, x}, 1);           /* [B, N + 1, D] */
    }
    if (p->learned_pos) x = ag_add(g, x, p->pos);
    return x;
}

/* ---------------------------------------------------------------------------------------------
 * Pooling
 * ------------------------------------------------------------------------------------------ */
static void check_pool(const char *op, const ag_tensor *x, const ag_tensor *pad) {
    char s[96];
    AG_CHECK(x->ndim == 3, op, "x must be [B, T, D], got %s", ag_shape_str(x, s, sizeof s));
    if (pad)
        AG_CHECK(pad->dtype == AG_I32 && pad->numel == x->shape[0] * x->shape[1], op, "pad must be i32 [%lld, %lld]",
                 (long long)x->shape[0], (long long)x->shape[1]);
}

ag_tensor *nn_pool_mean(ag_graph *g, ag_tensor *x, ag_tensor *pad) {
    check_pool("nn_pool_mean", x, pad);
    if (!pad) return ag_mean(g, x, 1, false);
    int64_t B = x->shape[0], T = x->shape[1];
    /* w [B, T, 1] = [not pad] / (number of non-pad positions in the row); an all-pad row pools to 0. */
    ag_tensor *w = ag_new(g, AG_F32, 3, (const int64_t[]){B, T, 1});
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 0;
        for (int64_t t = 0; t < T; t++) n += ag_i32(pad)[b * T + t] == 0;
        for (int64_t t = 0; t < T; t++)
            ag_f32(w)[b * T + t] = ag_i32(pad)[b * T + t] == 0 ? 1.0f / (float)(n ? n : 1) : 0.0f;
    }
    return ag_sum(g, ag_mul(g, x, w), 1, false); /* [B, D] */
}

ag_tensor *nn_pool_max(ag_graph *g, ag_tensor *x, ag_tensor *pad) {
    check_pool("nn_pool_max", x, pad);
    if (!pad) return ag_max(g, x, 1, false);
    int64_t B = x->shape[0], T = x->shape[1];
    ag_tensor *m = ag_new(g, AG_I32, 3, (const int64_t[]){B, T, 1});  /* [B, T, 1] nonzero = pad */
    ag_tensor *empty = ag_new(g, AG_I32, 2, (const int64_t[]){B, 1}); /* [B, 1] nonzero = all pad */
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 0;
        for (int64_t t = 0; t < T; t++) {
            ag_i32(m)[b * T + t] = ag_i32(pad)[b * T + t] != 0;
            n += ag_i32(pad)[b * T + t] == 0;
        }
        ag_i32(empty)[b] = n == 0;
    }
    ag_tensor *y = ag_max(g, ag_masked_fill(g, x, m, -INFINITY), 1, false); /* [B, D] */
    return ag_masked_fill(g, y, empty, 0.0f); /* an all-pad row pools to 0, not −inf */
}

ag_tensor *nn_pool_cls(ag_graph *g, ag_tensor *x) {
    check_pool("nn_pool_cls", x, NULL);
    ag_tensor *y = ag_slice(g, x, 1, 0, 1); /* [B, 1, D] */
    return ag_reshape(g, y, 2, (const int64_t[]){x->shape[0], x->shape[2]});
}
