/* cmd_bench.c — `ember bench encoder-step`: one training step (forward, backward, AdamW) of a
 * BERT-style MLM encoder, timed, optionally beside the PyTorch peer in the same run. */
#include "cli.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autograd/ag.h"
#include "nn/nn.h"
#include "optim/optim.h"

/* OpenBLAS's thread control (declared in its cblas.h on Debian; repeated here for other builds). */
void openblas_set_num_threads(int num_threads);

typedef struct bench_opts {
    int threads, steps, warmup;
    int64_t d, layers, heads, seq, batch, vocab;
    int rounds;       /* ember/peer alternations (the peer runs only with --peer) */
    bool no_optim, profile;
    const char *peer; /* path of torch_encoder_step.py, or NULL */
} bench_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember bench encoder-step [--threads N] [--steps N] [--warmup N] [--d N] [--layers N]\n"
            "                                [--heads N] [--seq N] [--batch N] [--vocab N] [--no-optim]\n"
            "                                [--peer PATH/torch_encoder_step.py] [--rounds N] [--profile]\n\n"
            "Times one training step of a BERT-style encoder with an MLM head: token + position\n"
            "embeddings, LayerNorm, `layers` pre-norm blocks (LayerNorm, attention with biases, GELU MLP\n"
            "4d, dropout 0), a Linear head over the vocabulary, mean cross-entropy on random targets,\n"
            "backward, AdamW (lr 1e-4, wd 0.01). Defaults: 2 threads, 10 steps after 2 warm-up steps,\n"
            "d 256, 4 layers, 4 heads, sequence 128, batch 32, vocab 5000 (the PyTorch peer's model).\n"
            "--peer runs the PyTorch peer with the same knobs after ember and reports the ratio;\n"
            "--rounds N alternates ember's timed steps and the peer N times (on a shared machine the\n"
            "load changes by the minute; the median of the per-round ratios is the figure to quote).\n"
            "ember's OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE, set by re-executing\n"
            "itself unless the variable is already set): spinning OpenMP threads would fight\n"
            "OpenBLAS's own threads for the cores. The peer runs with the caller's environment.\n"
            "--profile adds where the time goes: forward by layer part, backward by op (stderr table\n"
            "and a \"profile\" JSON field).\n"
            "Prints one JSON object (ms_per_step = mean over the timed steps, as the peer).\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_pos(const char *flag, const char *s, int64_t *out) {
    char *end = NULL;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || end == s || *end || v <= 0 || v > (1LL << 30)) {
        fprintf(stderr, "ember bench: %s expects a positive integer, got '%s'\n", flag, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The peer's model: tok, pos, ln; encoder (no final norm); head. */
typedef struct enc_model {
    nn_params ps;
    nn_embedding tok, pos;
    nn_layer_norm ln;
    nn_encoder enc;
    nn_linear head;
} enc_model;

static void model_init(enc_model *m, const bench_opts *o) {
    nn_params_init(&m->ps);
    nn_embedding_config tc = nn_embedding_config_default(o->vocab, o->d);
    tc.a = 1.0f; /* PyTorch's nn.Embedding init N(0, 1) */
    nn_embedding_init(&m->tok, &m->ps, "tok", tc);
    nn_embedding_config pc = nn_embedding_config_default(o->seq, o->d);
    pc.a = 1.0f;
    nn_embedding_init(&m->pos, &m->ps, "pos", pc);
    nn_layer_norm_init(&m->ln, &m->ps, "ln", o->d, 1e-5f, true);
    nn_block_config bc = nn_block_config_default(o->d, o->heads, 4 * o->d);
    nn_encoder_init(&m->enc, &m->ps, "enc", (int)o->layers, bc, false);
    nn_linear_init(&m->head, &m->ps, "head", o->d, o->vocab, true);
    ag_rng rng;
    ag_rng_seed(&rng, 0);
    nn_params_alloc(&m->ps, &rng);
}

/* Profile accumulators (seconds over the timed steps). Forward parts; backward per op id. */
enum { FP_EMBED, FP_NORM, FP_ATTN, FP_MLP, FP_HEAD, FP_LOSS, FP_COUNT };
static const char *const FP_NAME[FP_COUNT] = {"embeddings+ln", "block norms", "attention+residual", "mlp+residual",
                                              "head linear", "cross-entropy"};
typedef struct profile {
    bool on, record;
    double fwd[FP_COUNT];
    double bwd[AG_OP_COUNT];
    int64_t bwd_calls[AG_OP_COUNT];
} profile;

#define TIMED(P, part, expr)                                                                       \
    do {                                                                                           \
        double t0_ = (P)->on ? now_s() : 0;                                                        \
        expr;                                                                                      \
        if ((P)->on && (P)->record) (P)->fwd[part] += now_s() - t0_;                               \
    } while (0)

/* Forward to the scalar loss. x, y: i32 [B, T]; pos_ids: i32 [T]. The encoder's blocks are run
 * part by part (the same calls nn_block_forward makes, pre-norm, no dropout) so a profile can time each. */
static ag_tensor *model_loss(ag_graph *g, enc_model *m, ag_tensor *x, ag_tensor *y, ag_tensor *pos_ids, profile *pf) {
    ag_tensor *h, *a, *logits, *loss;
    TIMED(pf, FP_EMBED, h = nn_layer_norm_forward(g, &m->ln, ag_add(g, nn_embedding_forward(g, &m->tok, x),
                                                                       nn_embedding_forward(g, &m->pos, pos_ids))));
    for (int l = 0; l < m->enc.n_layers; l++) {
        const nn_block *b = &m->enc.layers[l];
        TIMED(pf, FP_NORM, a = nn_norm_forward(g, &b->norm1, h));
        TIMED(pf, FP_ATTN, h = nn_attention_forward_residual(g, &b->attn, a, NULL, 0, h));
        TIMED(pf, FP_NORM, a = nn_norm_forward(g, &b->norm2, h));
        TIMED(pf, FP_MLP, h = nn_mlp_forward_residual(g, &b->mlp, a, h));
    }
    TIMED(pf, FP_HEAD, logits = nn_linear_forward(g, &m->head, h)); /* [B, T, V] */
    TIMED(pf, FP_LOSS, loss = ag_cross_entropy(g, logits, y, -1, AG_MEAN));
    return loss;
}

/* ag_backward's walk (autograd/core.c), timing each node's kernel by op id. The loss is the last
 * node recorded, so its node is the tape's tail. */
static void backward_profiled(ag_graph *g, ag_tensor *loss, profile *pf) {
    for (ag_node *n = loss->node; n; n = n->prev)
        if (!(n->out->flags & AG_HEAP)) n->out->grad = NULL;
    ag_grad(g, loss)[0] += 1.0f;
    for (ag_node *n = loss->node; n; n = n->prev) {
        if (!n->out->grad) continue;
        double t0 = now_s();
        n->backward(g, n);
        if (pf->record) {
            pf->bwd[n->op] += now_s() - t0;
            pf->bwd_calls[n->op]++;
        }
    }
}

/* Runs the peer and returns its ms/step (parsed from "ms/step=…"), or a negative value. */
static double run_peer(const bench_opts *o, char *line, size_t size) {
    char cmd[2048];
    /* The peer gets the caller's environment, not the wait policy ember set for itself. */
    const char *unset = getenv("EMBER_BENCH_SET_OMP") ? "env -u OMP_WAIT_POLICY " : "";
    snprintf(cmd, sizeof cmd, "%s/usr/bin/python3 '%s' %d %d %lld %lld %lld %lld %lld %lld 2>&1", unset, o->peer, o->threads,
             o->steps, (long long)o->d, (long long)o->layers, (long long)o->heads, (long long)o->seq,
             (long long)o->batch, (long long)o->vocab);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double ms = -1;
    line[0] = 0;
    char buf[1024];
    while (fgets(buf, sizeof buf, p)) {
        const char *k = strstr(buf, "ms/step=");
        if (k) {
            ms = atof(k + 8);
            snprintf(line, size, "%s", buf);
            line[strcspn(line, "\n")] = 0;
        }
    }
    int st = pclose(p);
    return st == 0 ? ms : -1;
}

static void json_str(const char *s) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if (*c < 0x20) printf("\\u%04x", *c);
        else putchar(*c);
    }
    putchar('"');
}

static int encoder_step(const bench_opts *o) {
    if (o->d % o->heads) {
        fprintf(stderr, "ember bench: --d %lld is not a multiple of --heads %lld\n", (long long)o->d, (long long)o->heads);
        return 2;
    }
    omp_set_num_threads(o->threads);
    openblas_set_num_threads(o->threads);
    enc_model m;
    model_init(&m, o);
    optim *opt = o->no_optim ? NULL : optim_new(&m.ps, optim_config_default(OPTIM_ADAMW, 1e-4f));
    ag_graph *g = ag_graph_new((size_t)256 << 20);
    /* Random ids and targets, fixed seed: the data costs nothing inside the timed loop. */
    int64_t B = o->batch, T = o->seq;
    int32_t *xv = ag_xmalloc((size_t)(B * T) * sizeof(int32_t)), *yv = ag_xmalloc((size_t)(B * T) * sizeof(int32_t));
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    for (int64_t i = 0; i < B * T; i++) {
        xv[i] = (int32_t)ag_rng_below(&rng, (uint32_t)o->vocab);
        yv[i] = (int32_t)ag_rng_below(&rng, (uint32_t)o->vocab);
    }
    int R = o->peer ? o->rounds : 1;
    double *times = ag_xmalloc((size_t)(o->steps * R) * sizeof(double));
    double round_ms[64], peer_round_ms[64];
    char peer_line[1024] = "";
    profile pf;
    memset(&pf, 0, sizeof pf);
    pf.on = o->profile;
    double fwd_total = 0, bwd_total = 0, opt_total = 0, loss0 = 0, loss_last = 0;
    int ntimed = 0, peer_ok = 0;
    for (int round = 0; round < R; round++) {
        int first = round == 0 ? 0 : o->warmup; /* warm-up steps only before the first round */
        double round_sum = 0;
        for (int s = first; s < o->warmup + o->steps; s++) {
            double t0 = now_s();
            nn_params_zero_grad(&m.ps);
            ag_tensor *x = ag_from_i32(g, AG_SHAPE(B, T), xv), *y = ag_from_i32(g, AG_SHAPE(B * T), yv);
            ag_tensor *pos = ag_new(g, AG_I32, AG_SHAPE(T));
            for (int64_t t = 0; t < T; t++) ag_i32(pos)[t] = (int32_t)t;
            pf.record = s >= o->warmup;
            ag_tensor *loss = model_loss(g, &m, x, y, pos, &pf);
            double t1 = now_s();
            if (pf.on) backward_profiled(g, loss, &pf);
            else ag_backward(g, loss);
            double t2 = now_s();
            if (round == 0 && s == 0) loss0 = ag_f32(loss)[0];
            loss_last = ag_f32(loss)[0]; /* read before the reset frees the arena */
            if (opt) optim_step(opt);
            ag_graph_reset(g);
            double t3 = now_s();
            if (s >= o->warmup) {
                times[ntimed++] = t3 - t0;
                round_sum += t3 - t0;
                fwd_total += t1 - t0;
                bwd_total += t2 - t1;
                opt_total += t3 - t2;
            }
        }
        round_ms[round] = 1e3 * round_sum / o->steps;
        if (o->peer) {
            peer_round_ms[round] = run_peer(o, peer_line, sizeof peer_line);
            peer_ok += peer_round_ms[round] > 0;
            fprintf(stderr, "round %d: ember %.1f ms/step, peer %.1f ms/step, ratio %.3f\n", round + 1, round_ms[round],
                    peer_round_ms[round], round_ms[round] / peer_round_ms[round]);
        }
    }
    double sum = 0;
    for (int s = 0; s < ntimed; s++) sum += times[s];
    double mean_ms = 1e3 * sum / ntimed;
    qsort(times, (size_t)ntimed, sizeof(double), cmp_double);
    double median_ms = 1e3 * times[ntimed / 2], min_ms = 1e3 * times[0];
    const char *pol = getenv("OMP_WAIT_POLICY");
    printf("{\"bench\": \"encoder-step\", \"threads\": %d, \"steps\": %d, \"d\": %lld, \"layers\": %lld, \"heads\": %lld, "
           "\"seq\": %lld, \"batch\": %lld, \"vocab\": %lld, \"params\": %lld, \"optimizer\": \"%s\", "
           "\"omp_wait_policy\": \"%s\",\n"
           " \"ms_per_step\": %.1f, \"median_ms\": %.1f, \"min_ms\": %.1f, \"forward_ms\": %.1f, \"backward_ms\": %.1f, "
           "\"optim_ms\": %.1f, \"tokens_per_s\": %.0f, \"loss_first\": %.4f, \"loss_last\": %.4f, \"arena_mib\": %.1f",
           o->threads, o->steps, (long long)o->d, (long long)o->layers, (long long)o->heads, (long long)o->seq,
           (long long)o->batch, (long long)o->vocab, (long long)nn_params_count(&m.ps, NULL),
           opt ? "adamw" : "none (forward+backward only)", pol ? pol : "default", mean_ms, median_ms, min_ms,
           1e3 * fwd_total / ntimed, 1e3 * bwd_total / ntimed, 1e3 * opt_total / ntimed,
           (double)(B * T) / (mean_ms / 1e3), loss0, loss_last, (double)ag_arena_reserved(ag_graph_arena(g)) / (1 << 20));
    if (o->peer) {
        if (peer_ok == R) {
            double ratios[64], pm[64], em[64];
            for (int k = 0; k < R; k++) {
                ratios[k] = round_ms[k] / peer_round_ms[k];
                pm[k] = peer_round_ms[k];
                em[k] = round_ms[k];
            }
            qsort(ratios, (size_t)R, sizeof(double), cmp_double);
            qsort(pm, (size_t)R, sizeof(double), cmp_double);
            qsort(em, (size_t)R, sizeof(double), cmp_double);
            printf(",\n \"rounds\": %d, \"round_ms\": [", R);
            for (int k = 0; k < R; k++) printf("%s%.1f", k ? ", " : "", round_ms[k]);
            printf("], \"peer_round_ms\": [");
            for (int k = 0; k < R; k++) printf("%s%.1f", k ? ", " : "", peer_round_ms[k]);
            printf("],\n \"peer_ms_per_step\": %.1f, \"ratio_ember_over_peer\": %.3f, \"ratio_of_medians\": %.3f, \"peer\": ",
                   pm[R / 2], ratios[R / 2], em[R / 2] / pm[R / 2]);
            json_str(peer_line);
        } else {
            printf(",\n \"peer_error\": \"the peer did not run or printed no ms/step\"");
        }
    }
    if (pf.on) {
        fprintf(stderr, "profile (ms per step, mean over %d steps)\n  forward:\n", o->steps);
        printf(",\n \"profile\": {\"forward_ms\": {");
        for (int k = 0; k < FP_COUNT; k++) {
            fprintf(stderr, "    %-28s %8.1f\n", FP_NAME[k], 1e3 * pf.fwd[k] / o->steps);
            printf("%s\"%s\": %.1f", k ? ", " : "", FP_NAME[k], 1e3 * pf.fwd[k] / o->steps);
        }
        fprintf(stderr, "  backward by op:\n");
        printf("}, \"backward_ms\": {");
        int first = 1;
        for (int k = 0; k < AG_OP_COUNT; k++) {
            if (!pf.bwd_calls[k]) continue;
            fprintf(stderr, "    %-28s %8.1f  (%lld calls/step)\n", ag_op_name(k), 1e3 * pf.bwd[k] / o->steps,
                    (long long)(pf.bwd_calls[k] / o->steps));
            printf("%s\"%s\": %.1f", first ? "" : ", ", ag_op_name(k), 1e3 * pf.bwd[k] / o->steps);
            first = 0;
        }
        printf("}}");
    }
    printf("}\n");
    free(times);
    free(xv);
    free(yv);
    ag_graph_free(g);
    optim_free(opt);
    nn_encoder_free(&m.enc);
    nn_params_free(&m.ps);
    return o->peer && peer_ok < R ? 1 : 0;
}

int cli_cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "encoder-step") != 0) {
        fprintf(stderr, "ember bench: unknown benchmark '%s' (known: encoder-step)\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    if (!getenv("OMP_WAIT_POLICY")) {
        /* libgomp reads the policy once at start-up: re-execute with it set (argv[-1] is the
         * program name: main passes argv + 1). On failure, carry on with the default. */
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        setenv("EMBER_BENCH_SET_OMP", "1", 1);
        char **av = ag_xcalloc((size_t)argc + 2, sizeof *av);
        av[0] = argv[-1];
        for (int i = 0; i < argc; i++) av[i + 1] = argv[i];
        execv("/proc/self/exe", av);
        free(av);
        unsetenv("OMP_WAIT_POLICY");
        unsetenv("EMBER_BENCH_SET_OMP");
    }
    bench_opts o = {2, 10, 2, 256, 4, 4, 128, 32, 5000, 1, false, false, NULL};
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(f, "--no-optim")) {
            o.no_optim = true;
        } else if (!strcmp(f, "--profile")) {
            o.profile = true;
        } else if (!strcmp(f, "--peer")) {
            if (!v) {
                fprintf(stderr, "ember bench: --peer expects the path of torch_encoder_step.py\n");
                return 2;
            }
            o.peer = v;
            i++;
        } else {
            int64_t *dst = !strcmp(f, "--d") ? &o.d : !strcmp(f, "--layers") ? &o.layers : !strcmp(f, "--heads") ? &o.heads
                         : !strcmp(f, "--seq") ? &o.seq : !strcmp(f, "--batch") ? &o.batch : !strcmp(f, "--vocab") ? &o.vocab
                                                                                                           : NULL;
            bool is_int = !strcmp(f, "--threads") || !strcmp(f, "--steps") || !strcmp(f, "--warmup") || !strcmp(f, "--rounds");
            if (!dst && !is_int) {
                fprintf(stderr, "ember bench: unknown flag '%s'\n\n", f);
                usage(stderr);
                return 2;
            }
            if (!strcmp(f, "--warmup") && v && !strcmp(v, "0")) {
                o.warmup = 0;
                i++;
                continue;
            }
            if (parse_pos(f, v, &n) != 0) return 2;
            if (dst) *dst = n;
            else if (!strcmp(f, "--threads")) o.threads = (int)n;
            else if (!strcmp(f, "--steps")) o.steps = (int)n;
            else if (!strcmp(f, "--rounds")) o.rounds = n > 64 ? 64 : (int)n;
            else o.warmup = (int)n;
            i++;
        }
    }
    return encoder_step(&o);
}
