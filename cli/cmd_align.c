/* cmd_align.c — `ember train align` (flags to train_align_options, then the run) and `ember eval align MODEL`. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <omp.h>

#include "experiments/align_map.h"
#include "train/align.h"


/* Data paths from --data DIR (the shared layout) unless given one by one. */
typedef struct data_flags {
    const char *data, *fashion, *mnist, *fsdd_tar, *fsdd_labels;
    bool no_fashion, no_mnist, no_fsdd;
    char buf[4][4096];
} data_flags;

static void resolve_data(data_flags *f, train_align_data_options *o) {
    const char *dir = f->data ? f->data : cli_data_dir();
    static const char *const rel[4] = {"images/fashion-mnist", "images/mnist", "audio/fsdd_recordings.tar.gz",
                                       "audio/fsdd_labels.tsv"};
    for (int i = 0; dir && i < 4; i++)
        if (snprintf(f->buf[i], sizeof f->buf[i], "%s/%s", dir, rel[i]) >= (int)sizeof f->buf[i]) f->buf[i][0] = 0;
    o->fashion_dir = f->no_fashion ? NULL : f->fashion ? f->fashion : dir ? f->buf[0] : NULL;
    o->mnist_dir = f->no_mnist ? NULL : f->mnist ? f->mnist : dir ? f->buf[1] : NULL;
    o->fsdd_tar = f->no_fsdd ? NULL : f->fsdd_tar ? f->fsdd_tar : dir ? f->buf[2] : NULL;
    o->fsdd_labels = f->no_fsdd ? NULL : f->fsdd_labels ? f->fsdd_labels : dir ? f->buf[3] : NULL;
}

/* Handles a data flag; returns 1 (value used), 0 (a switch), -1 not a data flag, -2 error. */
static int data_flag(data_flags *f, train_align_data_options *o, const char *a, const char *v) {
    const char **dst = !strcmp(a, "--data") ? &f->data : !strcmp(a, "--fashion") ? &f->fashion
                     : !strcmp(a, "--mnist") ? &f->mnist : !strcmp(a, "--fsdd-tar") ? &f->fsdd_tar
                     : !strcmp(a, "--fsdd-labels") ? &f->fsdd_labels : NULL;
    if (dst) {
        if (!v) return base_error_set("%s: expected a path", a), -2;
        *dst = v;
        return 1;
    }
    if (!strcmp(a, "--holdout-speaker")) {
        if (!v) return base_error_set("%s: expected a speaker name or 'none'", a), -2;
        o->holdout_speaker = strcmp(v, "none") ? v : NULL;
        return 1;
    }
    if (!strcmp(a, "--mnist-train")) return cli_parse_i64(a, v, 0, 10000, &o->mnist_train) ? -2 : 1;
    if (!strcmp(a, "--max-fashion")) return cli_parse_i64(a, v, 0, INT64_MAX, &o->max_fashion) ? -2 : 1;
    if (!strcmp(a, "--max-clips")) return cli_parse_i64(a, v, 0, INT64_MAX, &o->max_clips) ? -2 : 1;
    if (!strcmp(a, "--no-fashion")) return f->no_fashion = true, 0;
    if (!strcmp(a, "--no-mnist")) return f->no_mnist = true, 0;
    if (!strcmp(a, "--no-fsdd")) return f->no_fsdd = true, 0;
    return -1;
}

static const char DATA_HELP[] =
    "data (default: the shared layout under --data DIR, $EMBER_DATA_DIR or ../shared/data):\n"
    "  --data DIR           images/fashion-mnist, images/mnist, audio/fsdd_recordings.tar.gz, audio/fsdd_labels.tsv\n"
    "  --fashion DIR --mnist DIR --fsdd-tar FILE --fsdd-labels FILE   each set on its own\n"
    "  --no-fashion --no-mnist --no-fsdd   leave a set out\n"
    "  --mnist-train N      the first N MNIST test images train, the rest are held out (8000)\n"
    "  --holdout-speaker S  an FSDD speaker never trained on, evaluated on all its clips (theo; 'none')\n"
    "  --max-fashion N      use the first N Fashion-MNIST train images (and N/6 test)   --max-clips N  ~N FSDD clips\n";

static void usage_train(FILE *f) {
    fprintf(f,
            "usage: ember train align [options]\n\n"
            "CLIP-style alignment of images, speech and text in one 256-d space: a ViT image tower, a\n"
            "conv + transformer audio tower on 8 kHz log-mel, a word-embedding text tower; symmetric InfoNCE\n"
            "(image<->prompt, recording<->prompt) with a learnable temperature (ln(1/0.07), clamped to [0, ln 100])\n"
            "and same-label pairs masked out of the negatives.\n\n%s"
            "model:\n"
            "  --embed N (256)  --patch N (7)  --img-d N (96)  --img-layers N (3)  --img-heads N (4)\n"
            "  --mel-bins N (40)  --frames N (96)  --aud-ch N (32)  --aud-d N (96)  --aud-layers N (2)  --aud-heads N (4)\n"
            "  --txt-d N (64)   --text-init VECTORS  word2vec vectors (dims = --txt-d) for the prompt words\n"
            "  --init CKPT      start from an align checkpoint's parameters\n"
            "  --lock-image --lock-text --lock-audio   freeze a tower (image.*, text.*, audio.*); --freeze GLOB (repeatable)\n"
            "optimisation (AdamW; no weight decay on norms, biases, embeddings, logit_scale):\n"
            "  --img-batch N (128)  --aud-batch N (32)  --audio-weight F (1)  --no-augment\n"
            "  --steps N (3000)  --lr F (1e-3)  --lr-floor F (0)  --warmup N (200)  --weight-decay F (0.05)  --clip F (1)\n"
            "run:\n"
            "  --eval-every N   --eval-images N (1000)  --checkpoint FILE  --checkpoint-every N  --resume FILE\n"
            "  --metrics FILE  --plot FILE.svg  --seed N (1)  --threads N (2)  --quiet  --profile  --stop-after N\n"
            "  --summary        print the towers' shapes and parameter counts and exit\n",
            DATA_HELP);
}

int cli_cmd_train_align(int argc, char **argv) {
    train_align_options o = train_align_options_default();
    data_flags df;
    memset(&df, 0, sizeof df);
    bool summary = false;
    const char *cmd = "train align";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n = 0;
        int rc = 0, used = 1;
        int d = data_flag(&df, &o.data, a, v);
        if (d == -2) return cli_error(cmd);
        if (d >= 0) {
            i += d;
            continue;
        }
        int lf = cli_loop_flag(a, v, &o.loop, &used);
        if (lf < 0) return cli_error(cmd);
        if (lf > 0) {
            i += used;
            continue;
        }
        used = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_train(stdout);
            return 0;
        } else if (!strcmp(a, "--plot")) {
            if (!v) rc = base_error_set("--plot: expected a file");
            o.plot = v;
        } else if (!strcmp(a, "--text-init")) {
            if (!v) rc = base_error_set("--text-init: expected a vectors file");
            o.text_init = v;
        } else if (!strcmp(a, "--init")) {
            if (!v) rc = base_error_set("--init: expected an align checkpoint");
            o.init = v;
        } else if (!strcmp(a, "--embed")) rc = cli_parse_i64(a, v, 2, 4096, &o.model.embed);
        else if (!strcmp(a, "--patch")) rc = cli_parse_i64(a, v, 1, 28, &o.model.img_patch);
        else if (!strcmp(a, "--img-d")) rc = cli_parse_i64(a, v, 4, 4096, &o.model.img_d);
        else if (!strcmp(a, "--img-layers")) rc = cli_parse_i64(a, v, 0, 64, &o.model.img_layers);
        else if (!strcmp(a, "--img-heads")) rc = cli_parse_i64(a, v, 1, 256, &o.model.img_heads);
        else if (!strcmp(a, "--mel-bins")) rc = cli_parse_i64(a, v, 8, 128, &o.model.mel_bins);
        else if (!strcmp(a, "--frames")) rc = cli_parse_i64(a, v, 8, 4096, &o.model.frames);
        else if (!strcmp(a, "--aud-ch")) rc = cli_parse_i64(a, v, 1, 1024, &o.model.aud_ch);
        else if (!strcmp(a, "--aud-d")) rc = cli_parse_i64(a, v, 4, 4096, &o.model.aud_d);
        else if (!strcmp(a, "--aud-layers")) rc = cli_parse_i64(a, v, 0, 64, &o.model.aud_layers);
        else if (!strcmp(a, "--aud-heads")) rc = cli_parse_i64(a, v, 1, 256, &o.model.aud_heads);
        else if (!strcmp(a, "--txt-d")) rc = cli_parse_i64(a, v, 2, 4096, &o.model.txt_d);
        else if (!strcmp(a, "--img-batch")) rc = cli_parse_i64(a, v, 0, 65536, &o.img_batch);
        else if (!strcmp(a, "--aud-batch")) rc = cli_parse_i64(a, v, 0, 65536, &o.aud_batch);
        else if (!strcmp(a, "--audio-weight")) rc = cli_parse_f64(a, v, 0, 100, &o.audio_weight);
        else if (!strcmp(a, "--eval-images")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &o.eval_images);
        else if (!strcmp(a, "--threads")) { rc = cli_parse_i64(a, v, 1, 1024, &n); o.threads = (int)n; }
        else if (!strcmp(a, "--seed")) { rc = cli_parse_i64(a, v, 0, INT64_MAX, &n); o.seed = (uint64_t)n; }
        else {
            used = 0;
            if (!strcmp(a, "--lock-image")) o.lock_image = true;
            else if (!strcmp(a, "--lock-text")) o.lock_text = true;
            else if (!strcmp(a, "--lock-audio")) o.lock_audio = true;
            else if (!strcmp(a, "--no-augment")) o.augment = false;
            else if (!strcmp(a, "--summary")) summary = true;
            else {
                fprintf(stderr, "ember %s: unknown flag '%s' (ember train align --help)\n", cmd, a);
                return 2;
            }
        }
        if (rc) return cli_error(cmd);
        i += used;
    }
    resolve_data(&df, &o.data);
    if (summary) {
        if (train_align_config_check(&o.model)) return cli_error(cmd);
        train_align_model m;
        train_align_model_init(&m, &o.model, o.seed);
        if (o.lock_image) nn_params_freeze(&m.ps, "image.*", true);
        if (o.lock_text) nn_params_freeze(&m.ps, "text.*", true);
        if (o.lock_audio) nn_params_freeze(&m.ps, "audio.*", true);
        for (int i = 0; i < o.loop.nfreeze; i++) nn_params_freeze(&m.ps, o.loop.freeze[i], true);
        train_align_summary(&m, stdout, NULL, NULL, 0);
        printf("\n");
        nn_params_print(&m.ps, stdout);
        train_align_model_free(&m);
        return 0;
    }
    int rc = train_align_run(&o);
    if (rc == TRAIN_LOOP_STOPPED) return 3;
    if (rc) {
        fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
        return 1;
    }
    return 0;
}

/* ---- ember eval align ------------------------------------------------------------------------------ */

static void usage_eval(FILE *f) {
    fprintf(f,
            "usage: ember eval align MODEL [options]\n\n"
            "Zero-shot classification (nearest class prompt) on Fashion-MNIST test, MNIST held-out, FSDD test and\n"
            "the held-out speaker; MNIST image -> FSDD recording retrieval (recall@1/@5 of the same digit; images and\n"
            "speech never met in training); optionally a t-SNE map of the shared space and the shape walk.\n\n%s"
            "output:\n"
            "  --svg FILE        t-SNE map (colour = class, marker = modality)   --map-per-set N (150)\n"
            "  --walk            print the shape walk with a real image and a real recording\n"
            "  --json            one JSON object with every figure\n"
            "  --threads N (2)\n",
            DATA_HELP);
}

static void put_num(FILE *f, const char *k, double v, bool last) {
    if (isnan(v)) fprintf(f, "\"%s\":null%s", k, last ? "" : ",");
    else fprintf(f, "\"%s\":%.6g%s", k, v, last ? "" : ",");
}

int cli_cmd_eval_align(int argc, char **argv) {
    const char *cmd = "eval align", *model = NULL, *svg = NULL;
    train_align_options o = train_align_options_default();
    data_flags df;
    memset(&df, 0, sizeof df);
    bool json = false, walk = false;
    int64_t per_set = 150, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int d = data_flag(&df, &o.data, a, v);
        if (d == -2) return cli_error(cmd);
        if (d >= 0) {
            i += d;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_eval(stdout);
            return 0;
        } else if (!strcmp(a, "--svg")) {
            if (!v) return base_error_set("--svg: expected a file"), cli_error(cmd);
            svg = v;
            i++;
        } else if (!strcmp(a, "--map-per-set")) {
            if (cli_parse_i64(a, v, 1, 5000, &per_set)) return cli_error(cmd);
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (cli_parse_i64(a, v, 1, 1024, &threads)) return cli_error(cmd);
            i++;
        } else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--walk")) walk = true;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ember %s: unknown flag '%s' (ember eval align --help)\n", cmd, a);
            return 2;
        } else if (!model) model = a;
        else {
            fprintf(stderr, "ember %s: one model expected, got '%s' and '%s'\n", cmd, model, a);
            return 2;
        }
    }
    if (!model) {
        usage_eval(stderr);
        return 2;
    }
    train_set_threads((int)threads);
    resolve_data(&df, &o.data);
    train_align_model m;
    if (train_align_load(model, &m)) {
        fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
        return 1;
    }
    o.data.mel_bins = m.cfg.mel_bins;
    o.data.test_only = true;
    train_align_data d;
    double t0 = base_now_sec();
    if (train_align_data_load(&o.data, &d)) {
        fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
        train_align_model_free(&m);
        return 1;
    }
    train_align_eval e;
    train_align_evaluate(&m, &d, 0, &e);
    double dt = base_now_sec() - t0;
    int rc = 0;
    if (json) {
        printf("{");
        put_num(stdout, "fashion_acc", e.fashion_acc, false); printf("\"n_fashion\":%lld,", (long long)e.n_fashion);
        put_num(stdout, "mnist_acc", e.mnist_acc, false); printf("\"n_mnist\":%lld,", (long long)e.n_mnist);
        put_num(stdout, "fsdd_acc", e.fsdd_acc, false); printf("\"n_fsdd\":%lld,", (long long)e.n_fsdd);
        put_num(stdout, "fsdd_official_acc", e.fsdd_all_acc, false); printf("\"n_fsdd_official\":%lld,", (long long)e.n_fsdd_all);
        put_num(stdout, "speaker_acc", e.speaker_acc, false); printf("\"n_speaker\":%lld,", (long long)e.n_speaker);
        printf("\"holdout_speaker\":\"%s\",", d.holdout >= 0 ? d.speakers[d.holdout] : "");
        put_num(stdout, "mnist_to_fsdd_r1", e.r1, false); put_num(stdout, "mnist_to_fsdd_r5", e.r5, false);
        printf("\"n_queries\":%lld,\"n_gallery\":%lld,", (long long)e.n_queries, (long long)e.n_gallery);
        put_num(stdout, "logit_scale", (double)ag_f32(m.logit_scale)[0], false);
        put_num(stdout, "seconds", dt, true);
        printf("}\n");
    } else {
        printf("ember eval align %s (logit_scale %.3f, temperature %.4f)\n", model, (double)ag_f32(m.logit_scale)[0],
               exp(-(double)ag_f32(m.logit_scale)[0]));
        printf("zero-shot classification (nearest of the 10 class prompts):\n");
        printf("  Fashion-MNIST test          %6.2f %%  of %lld images     (target >= 85 %%)\n", 100 * e.fashion_acc, (long long)e.n_fashion);
        printf("  MNIST held-out              %6.2f %%  of %lld images\n", 100 * e.mnist_acc, (long long)e.n_mnist);
        printf("  FSDD test (index 0-4)       %6.2f %%  of %lld recordings of the training speakers (target >= 90 %%)\n",
               100 * e.fsdd_acc, (long long)e.n_fsdd);
        printf("  FSDD official test          %6.2f %%  of %lld recordings (all speakers)\n", 100 * e.fsdd_all_acc, (long long)e.n_fsdd_all);
        printf("  held-out speaker %-10s %6.2f %%  of %lld recordings (never trained on)\n",
               d.holdout >= 0 ? d.speakers[d.holdout] : "(none)", 100 * e.speaker_acc, (long long)e.n_speaker);
        printf("retrieval, MNIST held-out image -> FSDD test recording of the same digit (no image-speech pairs in training):\n");
        printf("  recall@1 %6.2f %%   recall@5 %6.2f %%   (%lld queries, %lld recordings; target R@1 >= 80 %%)\n",
               100 * e.r1, 100 * e.r5, (long long)e.n_queries, (long long)e.n_gallery);
        printf("(%.1f s)\n", dt);
    }
    if (walk) {
        float img[784];
        const float *ip = NULL, *mp = NULL;
        int64_t mf = 0;
        if (d.n_mn > d.mnist_train) { /* the first held-out five */
            for (int64_t i = d.mnist_train; i < d.n_mn && !ip; i++)
                if (d.mn_y[i] == 15) {
                    for (int k = 0; k < 784; k++) img[k] = d.mn[i * 784 + k] / 255.0f;
                    ip = img;
                }
        }
        for (int64_t i = 0; i < d.nclips && !mp; i++)
            if (d.clips[i].test && d.clips[i].label == 15) {
                mp = d.clips[i].mel;
                mf = d.clips[i].frames;
                printf("\nrecording: %s (%lld mel frames of 10 ms)\n", d.clips[i].name, (long long)mf);
            }
        printf("\n");
        train_align_summary(&m, stdout, ip, mp, mf);
    }
    if (svg) {
        if (exp_align_map(svg, &m, &d, per_set, 1)) {
            fprintf(stderr, "ember %s: %s\n", cmd, base_error_msg());
            rc = 1;
        } else if (!json) printf("map: %s\n", svg);
    }
    train_align_data_free(&d);
    train_align_model_free(&m);
    return rc;
}
