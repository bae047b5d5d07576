/* cmd_train.c — `ember train mlm|lm`: flags to train_lm_options, then the run (train/lm.c on train/loop.c); `contrastive` is cmd_contrastive.c. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/lm.h"

static void usage(FILE *f, const char *kind) {
    fprintf(f,
            "usage: ember train %s --corpus FILE [--corpus FILE ...] [options]\n\n"
            "%s\n\n"
            "data:\n"
            "  --corpus FILE        plain or gzip text (repeatable); WikiExtractor <doc>/</doc> lines are dropped\n"
            "  --max-bytes N        read at most N corpus bytes (default: all)\n"
            "  --valid FILE         held-out text (default: the last --valid-frac of the token stream)\n"
            "  --valid-frac F       default 0.005\n"
            "  --test FILE          text evaluated once after training, never used to pick a checkpoint\n"
            "                       (lm: perplexity per token and per word, e.g. WikiText-2 wiki.test.txt.gz)\n"
            "  --tokenizer FILE     an `ember tokenizer train` file (default: the checkpoint's on --resume,\n"
            "                       else a byte-level BPE of --vocab-size trained on the first --tokenizer-bytes)\n"
            "  --vocab-size N       default 8192 (specials included)      --tokenizer-bytes N  default 10 MB\n"
            "model:\n"
            "  --d N --layers N --heads N   default 256, 4, 4            --kv-heads N  (lm default heads/2)\n"
            "  --ffn N              MLP width (mlm 4d; lm 8d/3 rounded to 64, SwiGLU)\n"
            "  --seq N              sequence length = the model's positions (default 128)\n"
            "  --pos learned|sinusoidal|rope   (mlm learned, lm rope)    --tie | --untie  the output head\n"
            "  --dropout P          (mlm 0.1, lm 0)\n"
            "%s"
            "optimisation (AdamW; no weight decay on norms, biases, embeddings unless --decay-all):\n"
            "  --batch N            sequences per micro-batch (32)       --accum N  micro-batches per step (1)\n"
            "  --steps N | --epochs F   optimizer steps (1000), or passes over the training sequences\n"
            "  --lr F (mlm 5e-4, lm 6e-4)  --lr-floor F (0)  --warmup N (100)  --schedule cosine|linear|constant\n"
            "  --weight-decay F (0.01)  --clip F (1.0, 0 = off)  --freeze GLOB (repeatable)  --decay-all\n"
            "run:\n"
            "  --eval-every N       evaluate on held-out text every N steps (and at the end)\n"
            "  --eval-seqs N        held-out sequences per evaluation (64; 0 = all of the held-out text)\n"
            "  --checkpoint FILE    HDF5 checkpoint (atomic); FILE.best keeps the best evaluation, FILE.svg the loss curve\n"
            "  --checkpoint-every N   --resume FILE   --metrics FILE (JSON lines)   --plot FILE.svg\n"
            "  --seed N (1)  --threads N (2)  --quiet  --profile  --summary (print the parameter table and exit)\n"
            "  --stop-after N       stop after N steps of this process as SIGINT would (checkpoint, status 3)\n\n"
            "SIGINT/SIGTERM saves a checkpoint and exits with status 3; resume with --resume FILE --checkpoint FILE.\n",
            kind,
            !strcmp(kind, "mlm")
                ? "BERT-style masked-LM pretraining: pre-norm encoder (LayerNorm, GELU), 15% of tokens chosen,\n"
                  "80/10/10 [MASK]/random/kept, loss (and the output head) only at chosen positions.\n"
                  "Evaluation: masked-token accuracy and loss on held-out text."
                : "Next-token LM pretraining in muOmni's Thinker shape: RMSNorm, SwiGLU, grouped-query\n"
                  "attention, RoPE (half-split), causal, untied head. Evaluation: held-out perplexity, per\n"
                  "token and per word (use --valid wiki.test.txt.gz for WikiText-2 test perplexity).",
            !strcmp(kind, "mlm") ? "  --mask-prob F        (0.15)     --whole-word   mask whole words (a space-led token and its continuation)\n" : "");
}

int cli_cmd_train(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: ember train mlm|lm --corpus FILE [options]  (ember train mlm --help)\n"
                                           "       ember train contrastive --init MODEL --data FILE [options]  (--help)\n"
                                           "       ember train align [options]  (ember train align --help)\n");
        return argc < 2 ? 2 : 0;
    }
    const char *kind = argv[1];
    if (!strcmp(kind, "contrastive")) return cli_cmd_train_contrastive(argc - 1, argv + 1);
    if (!strcmp(kind, "align")) return cli_cmd_train_align(argc - 1, argv + 1);
    if (strcmp(kind, "mlm") && strcmp(kind, "lm")) {
        fprintf(stderr, "ember train: unknown trainer '%s' (known: mlm, lm, contrastive, align)\n", kind);
        return 2;
    }
    bool lm = !strcmp(kind, "lm");
    train_lm_options o = train_lm_options_default(lm ? NN_TEXT_LM : NN_TEXT_MLM);
    o.threads = 2;
    bool kv_given = false, ffn_given = false, summary = false;
    double epochs = 0;
    const char *cmd = lm ? "train lm" : "train mlm";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n = 0;
        double x = 0;
        int rc = 0, used = 1;
        int lf = cli_loop_flag(a, v, &o.loop, &used);
        if (lf < 0) return cli_error(cmd);
        if (lf > 0) {
            i += used;
            continue;
        }
        used = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, kind);
            return 0;
        } else if (!strcmp(a, "--corpus")) {
            if (!v) rc = base_error_set("--corpus: expected a file");
            else if (o.ncorpus == TRAIN_LM_MAX_CORPUS) rc = base_error_set("--corpus: at most %d files", TRAIN_LM_MAX_CORPUS);
            else o.corpus[o.ncorpus++] = v;
        } else if (!strcmp(a, "--valid")) {
            if (!v) rc = base_error_set("--valid: expected a file");
            o.valid = v;
        } else if (!strcmp(a, "--test")) {
            if (!v) rc = base_error_set("--test: expected a file");
            o.test = v;
        } else if (!strcmp(a, "--tokenizer")) {
            if (!v) rc = base_error_set("--tokenizer: expected a file");
            o.tokenizer = v;
        } else if (!strcmp(a, "--plot")) {
            if (!v) rc = base_error_set("--plot: expected a file");
            o.plot = v;
        } else if (!strcmp(a, "--pos")) {
            if (v && !strcmp(v, "learned")) o.model.pos = NN_TEXT_POS_LEARNED;
            else if (v && !strcmp(v, "sinusoidal")) o.model.pos = NN_TEXT_POS_SINUSOIDAL;
            else if (v && !strcmp(v, "rope")) o.model.pos = NN_TEXT_POS_ROPE;
            else rc = base_error_set("--pos: expected learned, sinusoidal or rope, got '%s'", v ? v : "");
        } else if (!strcmp(a, "--d")) rc = cli_parse_i64(a, v, 1, 65536, &o.model.d);
        else if (!strcmp(a, "--layers")) rc = cli_parse_i64(a, v, 1, 256, &o.model.layers);
        else if (!strcmp(a, "--heads")) rc = cli_parse_i64(a, v, 1, 1024, &o.model.heads);
        else if (!strcmp(a, "--kv-heads")) { rc = cli_parse_i64(a, v, 1, 1024, &o.model.kv_heads); kv_given = true; }
        else if (!strcmp(a, "--ffn")) { rc = cli_parse_i64(a, v, 1, 1 << 20, &o.model.ffn); ffn_given = true; }
        else if (!strcmp(a, "--seq")) rc = cli_parse_i64(a, v, 2, 1 << 16, &o.model.max_seq);
        else if (!strcmp(a, "--vocab-size")) { rc = cli_parse_i64(a, v, 262, 1 << 20, &n); o.vocab_size = (int32_t)n; }
        else if (!strcmp(a, "--tokenizer-bytes")) rc = cli_parse_i64(a, v, 1, INT64_MAX, &o.tokenizer_bytes);
        else if (!strcmp(a, "--max-bytes")) rc = cli_parse_i64(a, v, 1, INT64_MAX, &o.max_bytes);
        else if (!strcmp(a, "--batch")) rc = cli_parse_i64(a, v, 1, 65536, &o.batch);
        else if (!strcmp(a, "--epochs")) rc = cli_parse_f64(a, v, 1e-9, 1e6, &epochs);
        else if (!strcmp(a, "--eval-seqs")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &o.eval_seqs);
        else if (!strcmp(a, "--threads")) { rc = cli_parse_i64(a, v, 1, 1024, &n); o.threads = (int)n; }
        else if (!strcmp(a, "--seed")) { rc = cli_parse_i64(a, v, 0, INT64_MAX, &n); o.seed = (uint64_t)n; }
        else if (!strcmp(a, "--dropout")) { rc = cli_parse_f64(a, v, 0, 0.99, &x); o.model.dropout = (float)x; }
        else if (!strcmp(a, "--mask-prob") && !lm) rc = cli_parse_f64(a, v, 0.001, 0.999, &o.mask_prob);
        else if (!strcmp(a, "--valid-frac")) rc = cli_parse_f64(a, v, 1e-6, 0.49, &o.valid_frac);
        else {
            used = 0;
            if (!strcmp(a, "--tie")) o.model.tie_head = true;
            else if (!strcmp(a, "--untie")) o.model.tie_head = false;
            else if (!strcmp(a, "--whole-word") && !lm) o.whole_word = true;
            else if (!strcmp(a, "--summary")) summary = true;
            else {
                fprintf(stderr, "ember %s: unknown flag '%s' (ember train %s --help)\n", cmd, a, kind);
                return 2;
            }
        }
        if (rc) return cli_error(cmd);
        i += used;
    }
    /* Defaults that depend on --d / --heads come from the model's own constructors. */
    nn_text_config def = lm ? nn_text_config_lm(0, o.model.max_seq, o.model.d, o.model.layers, o.model.heads)
                            : nn_text_config_mlm(0, o.model.max_seq, o.model.d, o.model.layers, o.model.heads);
    if (!kv_given) o.model.kv_heads = def.kv_heads;
    if (!ffn_given) o.model.ffn = def.ffn;
    o.epochs = epochs;
    if (summary) {
        nn_text_config c = o.model;
        c.vocab = o.vocab_size;
        if (nn_text_config_check(&c)) return cli_error(cmd);
        nn_text_model m;
        nn_text_model_init(&m, &c, o.seed);
        for (int i = 0; i < o.loop.nfreeze; i++) nn_params_freeze(&m.ps, o.loop.freeze[i], true);
        nn_params_print(&m.ps, stdout);
        nn_text_model_free(&m);
        return 0;
    }
    int rc = train_lm_run(&o);
    if (rc == TRAIN_LOOP_STOPPED) return 3;
    if (rc) {
        fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
        return 1;
    }
    return 0;
}
