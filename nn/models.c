/* models.c — whole models assembled from nn's layers: the BERT-style masked-LM encoder (bench and library use). */
#include "nn.h"

void nn_mlm_encoder_init(nn_mlm_encoder *m, int64_t vocab, int64_t max_seq, int64_t d, int64_t layers, int64_t heads,
                         uint64_t seed) {
    AG_CHECK(vocab > 0 && max_seq > 0 && d > 0 && layers > 0 && heads > 0 && d % heads == 0, "mlm_encoder",
             "vocab %lld, max_seq %lld, d %lld, layers %lld, heads %lld: expected positive sizes, d a multiple of heads",
             (long long)vocab, (long long)max_seq, (long long)d, (long long)layers, (long long)heads);
    m->vocab = vocab;
    m->max_seq = max_seq;
    m->d = d;
    nn_params_init(&m->ps);
    nn_embedding_config tc = nn_embedding_config_default(vocab, d);
    tc.a = 1.0f; /* PyTorch's nn.Embedding init N(0, 1) */
    nn_embedding_init(&m->tok, &m->ps, "tok", tc);
    nn_embedding_config pc = nn_embedding_config_default(max_seq, d);
    pc.a = 1.0f;
    nn_embedding_init(&m->pos, &m->ps, "pos", pc);
    nn_layer_norm_init(&m->ln, &m->ps, "ln", d, 1e-5f, true);
    nn_block_config bc = nn_block_config_default(d, heads, 4 * d);
    nn_encoder_init(&m->enc, &m->ps, "enc", (int)layers, bc, false);
    nn_linear_init(&m->head, &m->ps, "head", d, vocab, true);
    base_rng rng;
    base_rng_seed(&rng, seed);
    nn_params_alloc(&m->ps, &rng);
}

void nn_mlm_encoder_free(nn_mlm_encoder *m) {
    nn_encoder_free(&m->enc);
    nn_params_free(&m->ps);
}

/* The blocks run through nn_block_forward (pre-norm, no dropout: residual adds fused). Profiles
 * time ops through the graph's profile hook, not here. */
ag_tensor *nn_mlm_encoder_forward(ag_graph *g, nn_mlm_encoder *m, ag_tensor *x) {
    AG_CHECK(x->dtype == AG_I32 && x->ndim == 2 && x->shape[1] <= m->max_seq, "mlm_encoder",
             "expected i32 ids [B, T <= %lld]", (long long)m->max_seq);
    int64_t T = x->shape[1];
    ag_tensor *pos_ids = ag_new(g, AG_I32, AG_SHAPE(T)); /* [T]: 0, 1, ..., T-1 */
    for (int64_t t = 0; t < T; t++) ag_i32(pos_ids)[t] = (int32_t)t;
    ag_tensor *h = nn_layer_norm_forward(
        g, &m->ln, ag_add(g, nn_embedding_forward(g, &m->tok, x), nn_embedding_forward(g, &m->pos, pos_ids)));
    h = nn_encoder_forward(g, &m->enc, h, NULL, 0);
    return nn_linear_forward(g, &m->head, h); /* [B, T, V] */
}

ag_tensor *nn_mlm_encoder_loss(ag_graph *g, nn_mlm_encoder *m, ag_tensor *x, ag_tensor *y) {
    return ag_cross_entropy(g, nn_mlm_encoder_forward(g, m, x), y, -1, AG_MEAN);
}
