/* cmd_contrastive.c — `ember train contrastive`: flags to train_ctr_options, then the run (train/contrastive.c). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/contrastive.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember train contrastive --init MODEL --data FILE [options]\n\n"
            "Sentence embeddings by contrastive training of a text encoder, the loss chosen by the data's shape:\n"
            "  one sentence per line                  unsupervised SimCSE (two dropout views are the positive pair)\n"
            "  anchor TAB positive [TAB negative]     InfoNCE with in-batch (and hard) negatives\n"
            "  s1 TAB s2 TAB score, STS-B or SICK      CoSENT over the batch's cosines (SICK: its TRAIN rows)\n\n"
            "model and data:\n"
            "  --init MODEL         an `ember train mlm|lm|contrastive` checkpoint (optional with --resume)\n"
            "  --data FILE          training file (plain or gzip; empty lines and WikiExtractor <doc> lines skipped)\n"
            "  --loss auto|simcse|pairs|cosent   (auto: from the file)\n"
            "  --pool mean|cls      sentence vector (mean)              --max-len N  tokens per text in training (32)\n"
            "  --proj               dense + tanh head on the pooled vector, in training only (SimCSE's MLP)\n"
            "  --dropout P          encoder dropout in training (default: the checkpoint's)\n"
            "  --temperature T      InfoNCE temperature (0.05)          --learn-temperature  learnable, clamped at 1/100\n"
            "  --symmetric          pairs: also positive → anchor        --cosent-scale F  CoSENT's lambda (20)\n"
            "  --eval FILE|none     STS file for Spearman x 100 every --eval-every steps, best kept\n"
            "                       (default: STS-B dev from the shared data when present)\n"
            "optimisation (AdamW, linear decay after warmup; no weight decay on norms, biases, embeddings):\n"
            "  --batch N (64)  --steps N (1000) | --epochs F   --lr F (3e-5)  --lr-floor F (0)  --warmup N (0)\n"
            "  --schedule cosine|linear|constant  --weight-decay F (0.01)  --clip F (1.0)  --accum N  --freeze GLOB\n"
            "run:\n"
            "  --eval-every N (125)  --checkpoint FILE  --checkpoint-every N  --resume FILE  --best FILE\n"
            "  --metrics FILE  --plot FILE.svg  --seed N (1)  --threads N (2)  --quiet  --profile  --stop-after N\n\n"
            "The checkpoint reads like the --init model's (`ember embed`, `ember eval sts`, a later --init).\n");
}

int cli_cmd_train_contrastive(int argc, char **argv) {
    const char *cmd = "train contrastive";
    train_ctr_options o = train_ctr_options_default();
    o.threads = 2;
    bool eval_given = false;
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
        } else if (!strcmp(a, "--init") || !strcmp(a, "--data") || !strcmp(a, "--plot")) {
            if (!v) rc = base_error_set("%s: expected a file", a);
            else if (!strcmp(a, "--init")) o.init = v;
            else if (!strcmp(a, "--data")) o.data = v;
            else o.plot = v;
        } else if (!strcmp(a, "--eval")) {
            if (!v) rc = base_error_set("--eval: expected a file or none");
            o.eval_set = v && strcmp(v, "none") ? v : NULL;
            eval_given = true;
        } else if (!strcmp(a, "--loss")) rc = train_ctr_loss_parse(v, &o.loss);
        else if (!strcmp(a, "--pool")) {
            rc = train_pool_parse(v, &o.pool);
            if (!rc && o.pool == TRAIN_POOL_FIRST_LAST) rc = base_error_set("--pool: training takes mean or cls");
        } else if (!strcmp(a, "--max-len")) rc = cli_parse_i64(a, v, 2, 1 << 16, &o.max_len);
        else if (!strcmp(a, "--batch")) rc = cli_parse_i64(a, v, 2, 4096, &o.batch);
        else if (!strcmp(a, "--epochs")) rc = cli_parse_f64(a, v, 1e-9, 1e6, &o.epochs);
        else if (!strcmp(a, "--temperature")) rc = cli_parse_f64(a, v, 0.01, 1, &o.temperature);
        else if (!strcmp(a, "--cosent-scale")) rc = cli_parse_f64(a, v, 1e-3, 1e3, &o.cosent_lambda);
        else if (!strcmp(a, "--dropout")) rc = cli_parse_f64(a, v, 0, 0.99, &o.dropout);
        else if (!strcmp(a, "--threads")) {
            if (!(rc = cli_parse_i64(a, v, 1, 1024, &n))) o.threads = (int)n;
        } else if (!strcmp(a, "--seed")) {
            if (!(rc = cli_parse_i64(a, v, 0, INT64_MAX, &n))) o.seed = (uint64_t)n;
        } else {
            used = 0;
            if (!strcmp(a, "--proj")) o.proj = true;
            else if (!strcmp(a, "--learn-temperature")) o.learn_temperature = true;
            else if (!strcmp(a, "--symmetric")) o.symmetric = true;
            else {
                fprintf(stderr, "ember %s: unknown flag '%s' (ember train contrastive --help)\n", cmd, a);
                return 2;
            }
        }
        if (rc) return cli_error(cmd);
        i += used;
    }
    static char dev[4096];
    const char *dd = cli_data_dir();
    if (!eval_given && dd) {
        snprintf(dev, sizeof dev, "%s/sentence-sim/stsbenchmark/sts-dev.csv", dd);
        o.eval_set = dev;
    }
    int rc = train_ctr_run(&o);
    if (rc == TRAIN_LOOP_STOPPED) return 3;
    if (rc) {
        fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
        return 1;
    }
    return 0;
}
