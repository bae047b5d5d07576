/* cmd_finetune.c — `ember finetune` (flags to train_ft_options, then train/finetune.c) and `ember eval finetune`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/finetune.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember finetune --task sst2|stsb|sick-r|classify|pairs --init MODEL [options]\n\n"
            "Supervised fine-tuning with a task head, from a pretrained encoder, word vectors or a bag of words.\n"
            "tasks:\n"
            "  sst2 | classify   'label TAB sentence' with a header; head: pooled → dropout → linear; accuracy\n"
            "  stsb | sick-r | pairs   scored sentence pairs (STS-B, SICK, s1 TAB s2 TAB score); head on [u, v, |u-v|, u*v]\n"
            "                    → dropout → linear, mean squared error on the score; Spearman x 100\n"
            "  --train FILE --dev FILE [--test FILE]   (sst2, stsb, sick-r default to the shared data's files)\n"
            "model:\n"
            "  --init MODEL       `ember train mlm|lm|contrastive` or finetune checkpoint | word vectors (text, binary,\n"
            "                     checkpoint) as a trainable bag of vectors | bow (bag-of-words logistic regression)\n"
            "  --load GLOB        parameters of MODEL to load ('*')      --skip GLOB  not these (repeatable)\n"
            "  --pool mean|cls    encoder pooling (mean)                 --max-len N  tokens / words per text (64)\n"
            "  --dropout P        before the head (0.1)                  --enc-dropout P  encoder dropout (checkpoint's)\n"
            "  --classes N        classify (default: max training label + 1)\n"
            "  --min-count N      bag models: training words need N occurrences for a row (1)\n"
            "  --new-words init|skip   bag of vectors: words missing from the vectors get N(0, sigma) rows (init) or none\n"
            "freezing and learning rates:\n"
            "  --freeze GLOB      (repeatable) e.g. 'embedding.*', 'tok.*', 'enc.layers.[01].*'\n"
            "  --unfreeze STEP:GLOB | EPOCHSep:GLOB   gradual unfreezing (repeatable), e.g. 1ep:enc.layers.3.*\n"
            "  --lr-decay F       layer-wise: block i of L gets lr x F^(L-i), token/position tables x F^(L+1)\n"
            "  --group GLOB:lr=X[:wd=Y]   a parameter group's peak lr and weight decay (repeatable)\n"
            "  --summary          print the parameter table (shape, count, trainable/frozen, lr, wd) and exit\n"
            "optimisation (AdamW, warmup then linear decay; no weight decay on norms, biases, embeddings):\n"
            "  --epochs F (3) | --steps N   --batch N (32)  --lr F (2e-5)  --warmup N  --weight-decay F (0.01)\n"
            "  --schedule cosine|linear|constant  --clip F (1.0)  --accum N  --decay-all\n"
            "run:\n"
            "  --eval-every N (half an epoch)  --patience N (early stop after N evaluations without a better dev)\n"
            "  --checkpoint FILE  --checkpoint-every N  --resume FILE  --best FILE  --metrics FILE  --plot FILE.svg\n"
            "  --predictions FILE.tsv (the best model on --test, else --dev)  --seed N (1)  --threads N (2)  --quiet\n\n"
            "ember eval finetune MODEL --data FILE [--predictions FILE.tsv]   evaluates a finetune checkpoint.\n");
}

int cli_cmd_finetune(int argc, char **argv) {
    const char *cmd = "finetune";
    train_ft_options o = train_ft_options_default();
    o.threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 0, rc = 0;
        int64_t n = 0;
        int lf = cli_loop_flag(a, v, &o.loop, &used);
        if (lf < 0) return cli_error(cmd);
        if (lf > 0) {
            i += used;
            continue;
        }
        used = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--task") || !strcmp(a, "--init") || !strcmp(a, "--train") || !strcmp(a, "--dev") ||
                   !strcmp(a, "--test") || !strcmp(a, "--load") || !strcmp(a, "--plot") || !strcmp(a, "--predictions")) {
            if (!v) rc = base_error_set("%s: expected a value", a);
            else if (!strcmp(a, "--task")) o.task = v;
            else if (!strcmp(a, "--init")) o.init = v;
            else if (!strcmp(a, "--train")) o.train = v;
            else if (!strcmp(a, "--dev")) o.dev = v;
            else if (!strcmp(a, "--test")) o.test = v;
            else if (!strcmp(a, "--load")) o.load = v;
            else if (!strcmp(a, "--plot")) o.plot = v;
            else o.predictions = v;
        } else if (!strcmp(a, "--skip") || !strcmp(a, "--group")) {
            bool skip = !strcmp(a, "--skip");
            int *cnt = skip ? &o.nskip : &o.ngroup;
            if (!v) rc = base_error_set("%s: expected %s", a, skip ? "a glob" : "GLOB:lr=X[:wd=Y]");
            else if (*cnt == TRAIN_FT_MAX_GLOBS) rc = base_error_set("%s: at most %d", a, TRAIN_FT_MAX_GLOBS);
            else (skip ? o.skip : o.group)[(*cnt)++] = v;
        } else if (!strcmp(a, "--new-words")) {
            if (v && !strcmp(v, "skip")) o.new_words_skip = true;
            else if (v && !strcmp(v, "init")) o.new_words_skip = false;
            else rc = base_error_set("--new-words: expected init or skip, got '%s'", v ? v : "");
        } else if (!strcmp(a, "--pool")) {
            rc = train_pool_parse(v, &o.pool);
            if (!rc && o.pool == TRAIN_POOL_FIRST_LAST) rc = base_error_set("--pool: fine-tuning takes mean or cls");
        } else if (!strcmp(a, "--max-len")) rc = cli_parse_i64(a, v, 1, 1 << 16, &o.max_len);
        else if (!strcmp(a, "--batch")) rc = cli_parse_i64(a, v, 1, 4096, &o.batch);
        else if (!strcmp(a, "--classes")) rc = cli_parse_i64(a, v, 2, 1 << 20, &o.classes);
        else if (!strcmp(a, "--min-count")) rc = cli_parse_i64(a, v, 1, INT64_MAX, &o.min_count);
        else if (!strcmp(a, "--epochs")) rc = cli_parse_f64(a, v, 1e-9, 1e6, &o.epochs);
        else if (!strcmp(a, "--dropout")) rc = cli_parse_f64(a, v, 0, 0.99, &o.dropout);
        else if (!strcmp(a, "--enc-dropout")) rc = cli_parse_f64(a, v, 0, 0.99, &o.enc_dropout);
        else if (!strcmp(a, "--lr-decay")) rc = cli_parse_f64(a, v, 1e-6, 1, &o.lr_decay);
        else if (!strcmp(a, "--threads")) {
            if (!(rc = cli_parse_i64(a, v, 1, 1024, &n))) o.threads = (int)n;
        } else if (!strcmp(a, "--seed")) {
            if (!(rc = cli_parse_i64(a, v, 0, INT64_MAX, &n))) o.seed = (uint64_t)n;
        } else {
            used = 0;
            if (!strcmp(a, "--summary")) o.summary = true;
            else {
                fprintf(stderr, "ember %s: unknown flag '%s' (ember finetune --help)\n", cmd, a);
                return 2;
            }
        }
        if (rc) return cli_error(cmd);
        i += used;
    }
    /* --steps given explicitly wins over the default epoch count */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--steps")) o.epochs = 0;
    static char files[3][4096];
    const char *dd = cli_data_dir();
    if ((!o.train || !o.dev || !o.test) && dd && train_ft_task_files(o.task, dd, files)) {
        if (!o.train) o.train = files[0];
        if (!o.dev) o.dev = files[1];
        if (!o.test) o.test = files[2];
    }
    int rc = train_ft_run(&o);
    if (rc == TRAIN_LOOP_STOPPED) return 3;
    if (rc) {
        fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
        return 1;
    }
    return 0;
}

int cli_eval_finetune(int argc, char **argv) {
    const char *cmd = "eval finetune", *model = NULL, *data = NULL, *pred = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: ember eval finetune MODEL --data FILE [--predictions FILE.tsv] [--json]\n"
                   "Accuracy (classify) or Spearman / Pearson x 100 (pairs) of an `ember finetune` checkpoint on a file\n"
                   "of its task; --predictions writes index, prediction, gold (and probability) per row.\n");
            return 0;
        } else if (!strcmp(a, "--data") || !strcmp(a, "--predictions")) {
            if (!v) {
                base_error_set("%s: expected a file", a);
                return cli_error(cmd);
            }
            if (!strcmp(a, "--data")) data = v;
            else pred = v;
            i++;
        } else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' || model) {
            fprintf(stderr, "ember %s: unexpected argument '%s' (ember eval finetune --help)\n", cmd, a);
            return 2;
        } else model = a;
    }
    if (!model || !data) {
        base_error_set("expected MODEL and --data FILE");
        return cli_error(cmd);
    }
    train_ft_metrics m;
    if (train_ft_evaluate(model, data, pred, &m)) {
        fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
        return 1;
    }
    if (json && m.pairs)
        printf("{\"task\":\"pairs\",\"n\":%lld,\"spearman\":%.4f,\"pearson\":%.4f,\"mse\":%.6f}\n", (long long)m.n,
               m.spearman, m.pearson, m.loss);
    else if (json)
        printf("{\"task\":\"classify\",\"n\":%lld,\"accuracy\":%.4f,\"loss\":%.6f}\n", (long long)m.n, m.accuracy, m.loss);
    else if (m.pairs)
        printf("%s on %s: Spearman x 100 = %.2f, Pearson x 100 = %.2f, MSE %.4f (%lld pairs)\n", model, data, m.spearman,
               m.pearson, m.loss, (long long)m.n);
    else
        printf("%s on %s: accuracy %.2f %% (%lld sentences), mean cross-entropy %.4f\n", model, data, m.accuracy,
               (long long)m.n, m.loss);
    return 0;
}
