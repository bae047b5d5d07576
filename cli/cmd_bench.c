/* cmd_bench.c — `ember bench encoder-step`: flags and the JSON report for the timed MLM-encoder training step
 * (model in nn/models.c, step loop in train/encoder_step.c), optionally beside the PyTorch peer in the same run. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/ag.h"
#include "train/encoder_step.h"

#define MAX_FREEZE 64

typedef struct bench_opts {
    train_encoder_step_config step; /* model, threads, no_optim, profile, freeze */
    int steps, warmup;
    int rounds;       /* ember/peer alternations (the peer runs only with --peer) */
    const char *peer; /* path of torch_encoder_step.py, or NULL */
    const char *freeze[MAX_FREEZE];
} bench_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember bench encoder-step [--threads N] [--steps N] [--warmup N] [--d N] [--layers N]\n"
            "                                [--heads N] [--seq N] [--batch N] [--vocab N] [--no-optim]\n"
            "                                [--peer PATH/torch_encoder_step.py] [--rounds N] [--profile]\n"
            "                                [--freeze GLOB]...\n\n"
            "Times one training step of a BERT-style encoder with an MLM head: token + position\n"
            "embeddings, LayerNorm, `layers` pre-norm blocks (LayerNorm, attention with biases, GELU MLP\n"
            "4d, dropout 0), a Linear head over the vocabulary, mean cross-entropy on random targets,\n"
            "backward, AdamW (lr 1e-4, wd 0.01). Defaults: 2 threads, 10 steps after 2 warm-up steps,\n"
            "d 256, 4 layers, 4 heads, sequence 128, batch 32, vocab 5000 (the PyTorch peer's model).\n"
            "--peer runs the PyTorch peer with the same knobs after ember and reports the ratio;\n"
            "--rounds N alternates ember's timed steps and the peer N times (on a shared machine the\n"
            "load changes by the minute; the median of the per-round ratios is the figure to quote).\n"
            "ember's OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE, set by `ember` re-executing\n"
            "itself unless the variable is already set): spinning OpenMP threads would fight\n"
            "OpenBLAS's own threads for the cores. The peer runs with the caller's environment.\n"
            "--profile adds where the time goes: forward and backward by op (stderr table\n"
            "and a \"profile\" JSON field).\n"
            "--freeze GLOB (repeatable) freezes the parameters whose names match the fnmatch(3) glob\n"
            "(names: tok.weight, pos.weight, ln.*, enc.layers.<i>.*, head.weight, head.bias): no grads,\n"
            "no optimizer state, bytes unchanged; a glob that matches nothing is an error.\n"
            "Prints one JSON object (ms_per_step = mean over the timed steps, as the peer).\n");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs the peer and returns its ms/step (parsed from "ms/step=…"), or a negative value. */
static double run_peer(const bench_opts *o, char *line, size_t size) {
    const train_encoder_step_config *c = &o->step;
    char cmd[2048];
    /* The peer gets the caller's environment, not the wait policy ember set for itself. */
    const char *set = getenv("EMBER_SET_OMP_WAIT");
    char unset[128] = "";
    if (set)
        snprintf(unset, sizeof unset, "env %s%s-u EMBER_SET_OMP_WAIT ", strstr(set, "omp") ? "-u OMP_WAIT_POLICY " : "",
                 strstr(set, "blas") ? "-u OPENBLAS_THREAD_TIMEOUT " : "");
    snprintf(cmd, sizeof cmd, "%s/usr/bin/python3 '%s' %d %d %lld %lld %lld %lld %lld %lld 2>&1", unset, o->peer, c->threads,
             o->steps, (long long)c->d, (long long)c->layers, (long long)c->heads, (long long)c->seq,
             (long long)c->batch, (long long)c->vocab);
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

/* Times the steps (train/encoder_step.c), alternating with the peer when asked, and prints the JSON. */
static int encoder_step(const bench_opts *o) {
    train_encoder_step st;
    if (train_encoder_step_init(&st, &o->step)) {
        fprintf(stderr, "ember bench: %s\n", base_error_msg());
        return 2;
    }
    const train_encoder_step_config *c = &o->step;
    int R = o->peer ? o->rounds : 1;
    double *times = base_xmalloc((size_t)(o->steps * R) * sizeof(double));
    double round_ms[64], peer_round_ms[64];
    char peer_line[1024] = "";
    int ntimed = 0, peer_ok = 0;
    for (int round = 0; round < R; round++) {
        int first = round == 0 ? 0 : o->warmup; /* warm-up steps only before the first round */
        double round_sum = 0;
        for (int s = first; s < o->warmup + o->steps; s++) {
            double dt = train_encoder_step_run(&st, s >= o->warmup);
            if (s >= o->warmup) {
                times[ntimed++] = dt;
                round_sum += dt;
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
    int64_t nparams = nn_params_count(&st.model.ps, NULL), ntrain = nn_params_count_trainable(&st.model.ps);
    printf("{\"bench\": \"encoder-step\", \"threads\": %d, \"steps\": %d, \"d\": %lld, \"layers\": %lld, \"heads\": %lld, "
           "\"seq\": %lld, \"batch\": %lld, \"vocab\": %lld, \"params\": %lld, \"trainable_params\": %lld, "
           "\"frozen_params\": %lld, \"optimizer\": \"%s\", "
           "\"omp_wait_policy\": \"%s\",\n"
           " \"ms_per_step\": %.1f, \"median_ms\": %.1f, \"min_ms\": %.1f, \"forward_ms\": %.1f, \"backward_ms\": %.1f, "
           "\"optim_ms\": %.1f, \"tokens_per_s\": %.0f, \"loss_first\": %.4f, \"loss_last\": %.4f, \"arena_mib\": %.1f",
           c->threads, o->steps, (long long)c->d, (long long)c->layers, (long long)c->heads, (long long)c->seq,
           (long long)c->batch, (long long)c->vocab, (long long)nparams, (long long)ntrain, (long long)(nparams - ntrain),
           !c->no_optim ? "adamw" : "none (forward+backward only)", pol ? pol : "default", mean_ms, median_ms, min_ms,
           1e3 * st.fwd_s / ntimed, 1e3 * st.bwd_s / ntimed, 1e3 * st.opt_s / ntimed,
           (double)(c->batch * c->seq) / (mean_ms / 1e3), st.loss_first, st.loss_last,
           (double)ag_arena_reserved(ag_graph_arena(train_loop_graph(st.loop))) / (1 << 20));
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
            base_json_str(stdout, peer_line);
        } else {
            printf(",\n \"peer_error\": \"the peer did not run or printed no ms/step\"");
        }
    }
    if (c->profile) {
        fprintf(stderr, "profile (ms per step, mean over %d steps)\n", o->steps);
        for (int b = 0; b < 2; b++) {
            const double *sec = b ? st.bwd_op_s : st.fwd_op_s;
            const int64_t *calls = b ? st.bwd_op_calls : st.fwd_op_calls;
            fprintf(stderr, "  %s by op:\n", b ? "backward" : "forward");
            printf(b ? "}, \"backward_ms\": {" : ",\n \"profile\": {\"forward_ms\": {");
            int first = 1;
            for (int k = 0; k < AG_OP_COUNT; k++) {
                if (!calls[k]) continue;
                fprintf(stderr, "    %-28s %8.1f  (%lld calls/step)\n", ag_op_name(k), 1e3 * sec[k] / o->steps,
                        (long long)(calls[k] / o->steps));
                printf("%s\"%s\": %.1f", first ? "" : ", ", ag_op_name(k), 1e3 * sec[k] / o->steps);
                first = 0;
            }
        }
        printf("}}");
    }
    printf("}\n");
    free(times);
    train_encoder_step_free(&st);
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
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.step = train_encoder_step_config_default();
    o.step.freeze = o.freeze;
    o.steps = 10;
    o.warmup = 2;
    o.rounds = 1;
    const int64_t max = (int64_t)1 << 30;
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(f, "--no-optim")) {
            o.step.no_optim = true;
        } else if (!strcmp(f, "--profile")) {
            o.step.profile = true;
        } else if (!strcmp(f, "--peer") || !strcmp(f, "--freeze")) {
            if (!v) {
                fprintf(stderr, "ember bench: %s\n", !strcmp(f, "--peer") ? "--peer expects the path of torch_encoder_step.py"
                                                                         : "--freeze expects a glob (e.g. 'tok.*')");
                return 2;
            }
            if (!strcmp(f, "--peer")) {
                o.peer = v;
            } else if (o.step.nfreeze == MAX_FREEZE) {
                fprintf(stderr, "ember bench: --freeze: at most %d globs\n", MAX_FREEZE);
                return 2;
            } else {
                o.freeze[o.step.nfreeze++] = v;
            }
            i++;
        } else {
            int64_t *dst = !strcmp(f, "--d") ? &o.step.d : !strcmp(f, "--layers") ? &o.step.layers
                         : !strcmp(f, "--heads") ? &o.step.heads : !strcmp(f, "--seq") ? &o.step.seq
                         : !strcmp(f, "--batch") ? &o.step.batch : !strcmp(f, "--vocab") ? &o.step.vocab : NULL;
            bool is_int = !strcmp(f, "--threads") || !strcmp(f, "--steps") || !strcmp(f, "--warmup") || !strcmp(f, "--rounds");
            if (!dst && !is_int) {
                fprintf(stderr, "ember bench: unknown flag '%s'\n\n", f);
                usage(stderr);
                return 2;
            }
            if (cli_parse_i64(f, v, !strcmp(f, "--warmup") ? 0 : 1, max, &n) != 0) return cli_error("bench");
            if (dst) *dst = n;
            else if (!strcmp(f, "--threads")) o.step.threads = (int)n;
            else if (!strcmp(f, "--steps")) o.steps = (int)n;
            else if (!strcmp(f, "--rounds")) o.rounds = n > 64 ? 64 : (int)n;
            else o.warmup = (int)n;
            i++;
        }
    }
    return encoder_step(&o);
}
