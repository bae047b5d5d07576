/* ops_matmul.c — matrix products on OpenBLAS: 2-D, batched 3-D/4-D, transposes as cblas flags. */
#include "ag_internal.h"

#include <cblas.h>
#include <limits.h>

/* Geometry of one call, shared by forward and backward.
 *   op(A) = ta ? Aᵀ : A is [M, K]; op(B) = tb ? Bᵀ : B is [K, N]; C = op(A) op(B) is [M, N].
 *   A is stored [M, K] (lda = K) or [K, M] (lda = M); B is [K, N] (ldb = N) or [N, K] (ldb = K). */
typedef struct mm_geom {
    int64_t batch;   /* number of (M, N) products; 1 for 2-D */
    int64_t M, N, K;
    bool ta, tb;
    bool shared_b;   /* b is 2-D and used by every batch */
    bool flat;       /* shared_b && !ta: all batches form one [batch*M, K] · op(B) product */
} mm_geom;

static const char *const OP = "ag_matmul";

static void mm_shape_fail(const ag_tensor *a, const ag_tensor *b, bool ta, bool tb, const char *why) {
    char sa[96], sb[96];
    AG_CHECK(false, OP, "%s: a %s%s, b %s%s", why, ag_shape_str(a, sa, sizeof sa), ta ? "ᵀ" : "",
             ag_shape_str(b, sb, sizeof sb), tb ? "ᵀ" : "");
}

static mm_geom mm_plan(const ag_tensor *a, const ag_tensor *b, bool ta, bool tb) {
    mm_geom m;
    ag_check_f32(OP, a);
    ag_check_f32(OP, b);
    if (a->ndim < 2 || a->ndim > 4 || b->ndim < 2 || b->ndim > 4) mm_shape_fail(a, b, ta, tb, "need 2-D to 4-D operands");
    int da = a->ndim, db = b->ndim;
    m.ta = ta;
    m.tb = tb;
    m.M = ta ? a->shape[da - 1] : a->shape[da - 2];
    m.K = ta ? a->shape[da - 2] : a->shape[da - 1];
    int64_t kb = tb ? b->shape[db - 1] : b->shape[db - 2];
    m.N = tb ? b->shape[db - 2] : b->shape[db - 1];
    if (kb != m.K) mm_shape_fail(a, b, ta, tb, "inner dimensions differ");
    m.batch = 1;
    for (int i = 0; i < da - 2; i++) m.batch *= a->shape[i];
    m.shared_b = db == 2;
    if (!m.shared_b) {
        bool same = da == db;
        for (int i = 0; same && i < da - 2; i++) same = a->shape[i] == b->shape[i];
        if (!same) mm_shape_fail(a, b, ta, tb, "batched b must have a's leading dims or be 2-D");
    }
    m.flat = m.shared_b && !ta;
    /* cblas takes int dimensions; the flattened batch is the largest one passed */
    AG_CHECK((m.flat ? m.M * m.batch : m.M) <= INT_MAX && m.N <= INT_MAX && m.K <= INT_MAX, OP,
             "dimensions exceed the BLAS int range");
    return m;
}

/* C[M,N] (+)= op(A)[M,K] · op(B)[K,N] for raw row-major pointers; lda/ldb follow the flags. */
static inline void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)M,
                (blasint)N, (blasint)K, 1.0f, A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

static void matmul_backward(ag_graph *g, ag_node *nd) {
    ag_tensor *ta_ = nd->in[0], *tb_ = nd->in[1];
    mm_geom m = mm_plan(ta_, tb_, nd->ip[0] != 0, nd->ip[1] != 0);
    const float *dC = nd->out->grad; /* [batch, M, N] */
    const float *A = ag_f32(ta_);    /* [batch, M, K] or [batch, K, M] if ta */
    const float *B = ag_f32(tb_);    /* [(batch,) K, N] or [(batch,) N, K] if tb */
    float *dA = ag_requires_grad(ta_) ? ag_grad(g, ta_) : NULL; /* A's shape */
    float *dB = ag_requires_grad(tb_) ? ag_grad(g, tb_) : NULL; /* B's shape */
    int64_t M = m.M, N = m.N, K = m.K;
    if (M == 0 || N == 0 || K == 0) return; /* nothing flows */
    int64_t lda = m.ta ? M : K, ldb = m.tb ? K : N;
    if (m.flat) { /* every batch shares B and A is [batch*M, K]: one GEMM per grad */
        M *= m.batch;
        m.batch = 1;
    }
    int64_t sA = M * K, sB = m.shared_b ? 0 : K * N, sC = M * N;
    for (int64_t i = 0; i < m.batch; i++) {
        const float *Ai = A + i * sA, *Bi = B + i * sB, *dCi = dC + i * sC;
        if (dA) {
            if (!m.ta) /* dA [M,K] += dC [M,N] · op(B)ᵀ [N,K] */
                sgemm(false, !m.tb, M, K, N, dCi, N, Bi, ldb, 1.0f, dA + i * sA, K);
            else       /* dA [K,M] += op(B) [K,N] · dCᵀ [N,M] */
                sgemm(m.tb, true, K, M, N, Bi, ldb, dCi, N, 1.0f, dA + i * sA, M);
        }
        if (dB) {
            if (!m.tb) /* dB [K,N] += op(A)ᵀ [K,M] · dC [M,N] */
                sgemm(!m.ta, false, K, N, M, Ai, lda, dCi, N, 1.0f, dB + i * sB, N);
            else       /* dB [N,K] += dCᵀ [N,M] · op(A) [M,K] */
                sgemm(true, m.ta, N, K, M, dCi, N, Ai, lda, 1.0f, dB + i * sB, K);
        }
    }
}

ag_tensor *ag_matmul(ag_graph *g, ag_tensor *a, ag_tensor *b, bool ta, bool tb) {
    mm_geom m = mm_plan(a, b, ta, tb);
    int64_t shape[AG_MAX_DIMS];
    int nd = a->ndim;
    for (int i = 0; i < nd - 2; i++) shape[i] = a->shape[i];
    shape[nd - 2] = m.M;
    shape[nd - 1] = m.N;
    ag_tensor *out = ag_new(g, AG_F32, nd, shape);
    const float *A = ag_f32(a); /* [batch, M, K] or [batch, K, M] */
    const float *B = ag_f32(b); /* [(batch,) K, N] or [(batch,) N, K] */
    float *C = ag_f32(out);     /* [batch, M, N] */
    int64_t M = m.M, N = m.N, K = m.K, batch = m.batch;
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    if (m.flat) {
        M *= batch;
        batch = 1;
    }
    int64_t sA = M * K, sB = m.shared_b ? 0 : K * N, sC = M * N;
    if (M == 0 || N == 0) {
        /* empty output: nothing to compute (and BLAS rejects leading dimensions of 0) */
    } else if (K == 0) { /* empty inner dimension: the product is all zeros */
        for (int64_t i = 0; i < out->numel; i++) C[i] = 0.0f;
    } else {
        for (int64_t i = 0; i < batch; i++) sgemm(ta, tb, M, N, K, A + i * sA, lda, B + i * sB, ldb, 0.0f, C + i * sC, N);
    }
    ag_node *n = ag_record(g, AG_OP_MATMUL, matmul_backward, out, 2, (ag_tensor *[]){a, b});
    if (n) {
        n->ip[0] = ta;
        n->ip[1] = tb;
    }
    return out;
}
