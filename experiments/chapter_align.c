/* chapter_align.c — `ember chapter align`: images, speech and text in one 256-d space; zero-shot and cross-modal retrieval before vs after alignment training. */
#include "chapter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "experiments/align_map.h"
#include "train/align.h"

#define SETF EXP_SETF

static void data_options(const exp_chapter_options *o, train_align_data_options *d, char buf[4][4096]) {
    static const char *const rel[4] = {"images/fashion-mnist", "images/mnist", "audio/fsdd_recordings.tar.gz",
                                       "audio/fsdd_labels.tsv"};
    for (int i = 0; i < 4; i++) snprintf(buf[i], 4096, "%s/%s", o->data_dir ? o->data_dir : ".", rel[i]);
    d->fashion_dir = buf[0];
    d->mnist_dir = buf[1];
    d->fsdd_tar = buf[2];
    d->fsdd_labels = buf[3];
}

int exp_section_align(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    (void)c;
    if (!exp_data(o, "audio/fsdd_labels.tsv") || !exp_data(o, "images/mnist/t10k-images-idx3-ubyte.gz"))
        return base_error_set("Fashion-MNIST, MNIST and FSDD are needed (data directory)");
    char buf[4][4096], how[1000];
    const char *ckpt = exp_model(o, "align.ckpt");
    train_align_options t = train_align_options_default();
    if (ckpt) {
        snprintf(how, sizeof how, "aligned model reused from %.700s", ckpt);
    } else {
        data_options(o, &t.data, buf);
        t.threads = o->threads;
        t.seed = o->seed;
        t.loop.steps = o->quick ? 10 : 600;
        t.loop.warmup = o->quick ? 2 : 100;
        t.loop.quiet = true;
        t.loop.handle_signals = false;
        t.eval_images = 200;
        t.loop.eval_every = 0;
        static char ck[4200], met[4200];
        snprintf(ck, sizeof ck, "%s", exp_out(o, "align.ckpt"));
        snprintf(met, sizeof met, "%s", exp_out(o, "align_metrics.jsonl"));
        remove(met);
        t.loop.checkpoint = ck;
        t.loop.metrics = met;
        static char plot[4200]; /* own copy: exp_out's buffers rotate */
        snprintf(plot, sizeof plot, "%s", exp_out(o, "align_loss.svg"));
        t.plot = plot;
        exp_log(o, "training the three towers into one 256-d space (%lld steps of 128 images + 32 recordings)",
                (long long)t.loop.steps);
        double t0 = base_now_sec();
        int rc = train_align_run(&t);
        if (rc != 0) return -1;
        snprintf(how, sizeof how,
                 "aligned here: `ember train align`'s towers (image ViT 28x28 patch 7, audio mel + convs + 2 blocks at 8 "
                 "kHz, text word means), symmetric InfoNCE, %lld steps x (128 images + 32 recordings), %.0f s; saved as %s",
                 (long long)t.loop.steps, base_now_sec() - t0, exp_out(o, "align.ckpt"));
        ckpt = ck;
    }
    train_align_model after, before;
    if (train_align_load(ckpt, &after) != 0) return -1;
    train_align_model_init(&before, &after.cfg, o->seed); /* the same towers, untrained */
    before.audio_mean = after.audio_mean, before.audio_std = after.audio_std;
    train_align_data_options dopt = t.data;
    data_options(o, &dopt, buf);
    dopt.mel_bins = after.cfg.mel_bins;
    dopt.test_only = true;
    train_align_data d;
    if (train_align_data_load(&dopt, &d) != 0) {
        train_align_model_free(&after);
        train_align_model_free(&before);
        return -1;
    }
    train_align_eval e0, e1;
    int64_t mf = o->quick ? 500 : 0;
    train_align_evaluate(&before, &d, mf, &e0);
    train_align_evaluate(&after, &d, mf, &e1);
    bool ok = e1.r1 > e0.r1 + 0.1 && e1.fashion_acc > e0.fashion_acc + 0.1;
    exp_basics_item *it = exp_item_add(&s->r, "align.retrieval", ok ? EXP_MATCH : EXP_MISMATCH, e1.r1);
    SETF(it->what, "cross-modal retrieval in the shared 256-d space: a held-out handwritten digit (MNIST) finds recordings "
                   "of the same spoken digit (FSDD test), %s queries x %s recordings",
         exp_commas(e1.n_queries), exp_commas(e1.n_gallery));
    SETF(it->claim, "\"All embeddings in same 256-dim space!\"; projecting every modality to 256 lets them interact");
    SETF(it->ember, "%s: R@1 %.1f%%, R@5 %.1f%% after alignment; before (same towers, untrained): R@1 %.1f%%, R@5 %.1f%% "
                    "(chance 10%%). A common width alone does not make a shared space: the projectors must be trained "
                    "against each other",
         ok ? "as claimed, once trained" : "differs", 100 * e1.r1, 100 * e1.r5, 100 * e0.r1, 100 * e0.r5);
    it = exp_item_add(&s->r, "align.zero_shot", EXP_INFO, e1.fashion_acc);
    SETF(it->what, "zero-shot classification by the nearest class prompt (\"a photo of a sneaker\", \"the number five\")");
    SETF(it->claim, "(the shared space lets text describe images and speech)");
    SETF(it->ember, "after / before alignment: Fashion-MNIST test %.1f%% / %.1f%% (%s images); MNIST held-out %.1f%% / %.1f%%; "
                    "FSDD test %.1f%% / %.1f%%; unseen speaker %.1f%% / %.1f%% (chance 10%%)",
         100 * e1.fashion_acc, 100 * e0.fashion_acc, exp_commas(e1.n_fashion), 100 * e1.mnist_acc, 100 * e0.mnist_acc,
         100 * e1.fsdd_all_acc, 100 * e0.fsdd_all_acc, 100 * e1.speaker_acc, 100 * e0.speaker_acc);
    const char *bl[8] = {"R@1 image→speech, before", "R@1 image→speech, after", "Fashion zero-shot, before",
                         "Fashion zero-shot, after", "MNIST zero-shot, before", "MNIST zero-shot, after",
                         "FSDD zero-shot, before", "FSDD zero-shot, after"};
    double bv[8] = {100 * e0.r1, 100 * e1.r1, 100 * e0.fashion_acc, 100 * e1.fashion_acc, 100 * e0.mnist_acc,
                    100 * e1.mnist_acc, 100 * e0.fsdd_all_acc, 100 * e1.fsdd_all_acc};
    int bg[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    exp_section_fig(s, exp_fig_bars("Shared 256-d space: before vs after alignment training", bl, bv, bg, 8, "%"),
                    "train_align_evaluate on held-out data; blue = untrained towers, orange = aligned.");
    const char *map = exp_out(o, "align_map.svg");
    if (exp_align_map(map, &after, &d, o->quick ? 40 : 150, o->seed) == 0)
        exp_section_fig(s, exp_fig_from_file(map),
                        "t-SNE of the shared space after training: Fashion images, MNIST digits, spoken digits and the 20 "
                        "prompts (stars) meet by class, not by modality.");
    snprintf(s->source, sizeof s->source, "%s", how);
    train_align_data_free(&d);
    train_align_model_free(&after);
    train_align_model_free(&before);
    return 0;
}
