/* cmd_word2vec.c — `ember word2vec`: word2vec.c's command line (same flags, same defaults) on ember's trainer. */
#include "cli.h"
#include "dist/dist.h"

#include "autograd/ag.h"
#include "checkpoints/export.h"
#include "data/vocab.h"
#include "train/word2vec.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Prints a library error once prefixed: "ember word2vec: <message>". */
static void print_error(void) {
    const char *m = base_error_msg();
    if (!strncmp(m, "word2vec: ", 10)) m += 10;
    fprintf(stderr, "ember word2vec: %s\n", m);
}

static void w2v_usage(FILE *f) {
    fprintf(f,
            "usage: ember word2vec -train FILE -output FILE [options]\n"
            "\n"
            "Trains word vectors (word2vec.c's flags, defaults and output formats).\n"
            "  -train FILE          corpus: plain or gzip text; newlines end sentences\n"
            "  -output FILE         word vectors in word2vec text (or -binary 1) format\n"
            "  -size N              vector size (100)\n"
            "  -window N            max skip length between words (5)\n"
            "  -sample F            down-sampling threshold for frequent words (1e-3; 0 = off)\n"
            "  -hs 0|1              hierarchical softmax (0)\n"
            "  -negative N          negative samples (5; 0 = off)\n"
            "  -threads N           worker threads (2)\n"
            "  -iter N              epochs (5)\n"
            "  -min-count N         discard words rarer than N (5)\n"
            "  -alpha F             starting learning rate (0.025 skip-gram, 0.05 CBOW)\n"
            "  -binary 0|1          binary output (0)\n"
            "  -cbow 0|1            CBOW (1) or skip-gram (0)\n"
            "  -save-vocab FILE     write the vocabulary\n"
            "  -read-vocab FILE     read the vocabulary instead of counting the corpus\n"
            "  -debug N             0 quiet, 1 summary, 2 progress (2)\n"
            "ember additions:\n"
            "  --seed N             random seed (1)\n"
            "  --deterministic      one worker: bit-reproducible for a given seed\n"
            "  --checkpoint FILE    checkpoint path (default OUTPUT.ckpt.h5 when checkpointing);\n"
            "                       the run's final state is saved there when it ends\n"
            "  --checkpoint-every N checkpoint every N words (0 = never)\n"
            "  --resume FILE        continue from a checkpoint (same corpus). The checkpoint's settings\n"
            "                       are kept: a flag given with a different value (-size -window -sample\n"
            "                       -hs -negative -threads -iter -min-count -alpha -cbow --seed\n"
            "                       --shared-negatives) is refused, naming both values\n"
            "  --extend             with --resume and -iter N: train the checkpoint on to N epochs\n"
            "                       (N > its -iter; also continues a finished run)\n"
            "  --trust-unverified   resume from a checkpoint without an integrity line (refused otherwise)\n"
            "  --metrics FILE       progress as JSON lines\n"
            "  --shared-negatives 0|1  one set of negatives per window (Ji et al. 2016) (1)\n"
            "  --stop-after N       stop after N words (with a checkpoint if --checkpoint is set)\n"
            "  --encode-corpus 0|1  encode the corpus to word ids in the first epoch and train\n"
            "                       later epochs from them (1)\n"
            "  --ids-memory MB      keep the ids in memory up to this size, else in temporary\n"
            "                       files in $TMPDIR, removed at exit (16)\n"
            "  --dist-syncs N       on several MPI ranks: table averagings per epoch (32; docs/DISTRIBUTED.md)\n"
            "signals: SIGINT/SIGTERM stop at the next sentence, save the checkpoint (when one is set)\n"
            "  and exit 3, printing the command that resumes; a second signal exits at once\n"
            "environment: EMBER_W2V_KERNEL=auto|blas|avx512|avx2|scalar forces the block products'\n"
            "  kernel (auto: the CPU's best SIMD kernel; sgemm for large blocks)\n");
}

/* int-typed flags through the shared parser (one error wording for every command). */
static int parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
    int64_t v = 0;
    if (cli_parse_i64(flag, s, lo, hi, &v) != 0) return -1;
    *out = (int)v;
    return 0;
}

static int parse_f64(const char *flag, const char *s, double lo, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v) || v < lo)
        return base_error_set("word2vec: %s: expected a number >= %g, got \"%s\"", flag, lo, s);
    *out = v;
    return 0;
}

/* Checks that `path` can be created or replaced without touching it: its directory must be
 * writable (the export writes a temp file there and renames it) and an existing path must not
 * be a directory. */
static int check_writable(const char *flag, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return base_error_set("word2vec: %s %s: expected a file path, got a directory", flag, path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    if (access(dir, W_OK | X_OK) != 0)
        return base_error_set("word2vec: %s %s: cannot write in directory %s: %s", flag, path, dir, strerror(errno));
    return 0;
}

int cli_cmd_word2vec(int argc, char **argv) {
    train_w2v_options o;
    train_w2v_options_default(&o);
    const char *output = NULL;
    int binary = 0, shared = 1, encode = 1;
    int64_t ids_mb = 16;
    int64_t v64 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "-help")) {
            w2v_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--deterministic")) {
            o.deterministic = true;
            o.given |= TRAIN_W2V_GIVEN_THREADS;
            continue;
        }
        if (!strcmp(a, "--extend")) {
            o.extend = true;
            continue;
        }
        if (!strcmp(a, "--trust-unverified")) {
            o.trust_unverified = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ember word2vec: %s: expected a value after the flag, got none (or unknown flag)\n", a);
            w2v_usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "-train")) o.train = v;
        else if (!strcmp(a, "-output")) output = v;
        else if (!strcmp(a, "-size")) rc = cli_parse_i64(a, v, 1, 100000, &o.size), o.given |= TRAIN_W2V_GIVEN_SIZE;
        else if (!strcmp(a, "-window")) rc = parse_int(a, v, 1, 1000, &o.window), o.given |= TRAIN_W2V_GIVEN_WINDOW;
        else if (!strcmp(a, "-sample")) rc = parse_f64(a, v, 0, &o.sample), o.given |= TRAIN_W2V_GIVEN_SAMPLE;
        else if (!strcmp(a, "-hs")) rc = parse_int(a, v, 0, 1, &o.hs), o.given |= TRAIN_W2V_GIVEN_HS;
        else if (!strcmp(a, "-negative")) rc = parse_int(a, v, 0, 1000, &o.negative), o.given |= TRAIN_W2V_GIVEN_NEGATIVE;
        else if (!strcmp(a, "-threads")) rc = parse_int(a, v, 1, 1024, &o.threads), o.given |= TRAIN_W2V_GIVEN_THREADS;
        else if (!strcmp(a, "-iter")) rc = parse_int(a, v, 1, 100000, &o.iter), o.given |= TRAIN_W2V_GIVEN_ITER;
        else if (!strcmp(a, "-min-count"))
            rc = cli_parse_i64(a, v, 1, INT64_MAX, &o.min_count), o.given |= TRAIN_W2V_GIVEN_MIN_COUNT;
        else if (!strcmp(a, "-alpha")) {
            rc = parse_f64(a, v, 0, &o.alpha);
            if (!rc && !(o.alpha > 0)) rc = base_error_set("word2vec: -alpha: expected a number > 0, got \"%s\"", v);
            o.given |= TRAIN_W2V_GIVEN_ALPHA;
        } else if (!strcmp(a, "-binary")) rc = parse_int(a, v, 0, 1, &binary);
        else if (!strcmp(a, "-cbow")) rc = parse_int(a, v, 0, 1, &o.cbow), o.given |= TRAIN_W2V_GIVEN_CBOW;
        else if (!strcmp(a, "-save-vocab")) o.save_vocab = v;
        else if (!strcmp(a, "-read-vocab")) o.read_vocab = v;
        else if (!strcmp(a, "-debug")) rc = parse_int(a, v, 0, 100, &o.debug);
        else if (!strcmp(a, "--seed")) {
            rc = cli_parse_i64(a, v, 0, INT64_MAX, &v64);
            o.seed = (uint64_t)v64;
            o.given |= TRAIN_W2V_GIVEN_SEED;
        } else if (!strcmp(a, "--checkpoint")) o.checkpoint = v;
        else if (!strcmp(a, "--checkpoint-every")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &o.checkpoint_every);
        else if (!strcmp(a, "--resume")) o.resume = v;
        else if (!strcmp(a, "--metrics")) o.metrics = v;
        else if (!strcmp(a, "--shared-negatives")) rc = parse_int(a, v, 0, 1, &shared), o.given |= TRAIN_W2V_GIVEN_SHARED;
        else if (!strcmp(a, "--stop-after")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &o.stop_after_words);
        else if (!strcmp(a, "--encode-corpus")) rc = parse_int(a, v, 0, 1, &encode);
        else if (!strcmp(a, "--ids-memory")) rc = cli_parse_i64(a, v, 0, (int64_t)1 << 40, &ids_mb);
        else if (!strcmp(a, "--dist-syncs")) rc = parse_int(a, v, 1, 1000000, &o.dist_syncs);
        else {
            fprintf(stderr, "ember word2vec: unknown flag %s\n", a);
            w2v_usage(stderr);
            return 2;
        }
        if (rc != 0) {
            print_error();
            return 2;
        }
    }
    o.shared_negatives = shared != 0;
    o.encode_corpus = encode != 0;
    o.ids_memory = ids_mb << 20;
    o.handle_signals = true;
    if (!o.train) {
        fprintf(stderr, "ember word2vec: -train: expected a corpus file, got none\n");
        w2v_usage(stderr);
        return 2;
    }
    char ckpt_default[PATH_MAX];
    if ((o.checkpoint_every > 0 || o.stop_after_words > 0) && !o.checkpoint) {
        if (!output) {
            fprintf(stderr, "ember word2vec: --checkpoint-every: expected -output or --checkpoint FILE, got neither\n");
            return 2;
        }
        snprintf(ckpt_default, sizeof ckpt_default, "%s.ckpt.h5", output);
        o.checkpoint = ckpt_default;
    }
    if (train_w2v_check_options(&o) != 0) {
        print_error();
        return 2;
    }
    /* A directory where a file is expected, and an output that would overwrite the corpus. */
    struct stat st_train, st_out;
    if (stat(o.train, &st_train) == 0 && S_ISDIR(st_train.st_mode)) {
        fprintf(stderr, "ember word2vec: -train %s: expected a corpus file (plain or gzip text), got a directory\n",
                o.train);
        return 1;
    }
    if (output && (!strcmp(output, o.train) || (stat(output, &st_out) == 0 && stat(o.train, &st_train) == 0 &&
                                                st_out.st_dev == st_train.st_dev && st_out.st_ino == st_train.st_ino))) {
        fprintf(stderr, "ember word2vec: -output %s: is the -train corpus; writing the vectors would destroy it\n",
                output);
        return 2;
    }
    /* Refuse unwritable outputs before spending the training time. */
    if ((output && check_writable("-output", output) != 0) ||
        (o.save_vocab && check_writable("-save-vocab", o.save_vocab) != 0) ||
        (o.checkpoint && check_writable("--checkpoint", o.checkpoint) != 0) ||
        (o.metrics && check_writable("--metrics", o.metrics) != 0)) {
        print_error();
        return 1;
    }
    if (!output && !o.resume && o.checkpoint_every == 0) {
        /* word2vec.c without -output: build (and save) the vocabulary only */
        data_vocab *v = NULL;
        if (o.read_vocab) {
            if (data_vocab_read(&v, o.read_vocab) != 0) goto vfail;
        } else if (data_vocab_build(&v, o.train, o.min_count, 0, o.debug ? stderr : NULL) != 0) {
            goto vfail;
        }
        if (o.save_vocab && data_vocab_save(v, o.save_vocab) != 0) {
            data_vocab_free(v);
            goto vfail;
        }
        if (o.debug) fprintf(stderr, "word2vec: vocabulary %" PRId64 " words; no -output, nothing trained\n", v->n);
        data_vocab_free(v);
        return 0;
    vfail:
        print_error();
        return 1;
    }
    /* data parallel (docs/DISTRIBUTED.md): every rank trains; rank 0 alone reports and writes */
    bool writer = dist_rank() == 0;
    if (!writer) {
        o.save_vocab = o.metrics = o.checkpoint = NULL;
        o.debug = 0;
        o.progress = false;
    }
    train_w2v_model *m = NULL;
    int trc = train_w2v_run(&o, &m);
    if (trc == TRAIN_W2V_STOPPED) {
        print_error();
        if (o.checkpoint) {
            /* the command that continues the run: the checkpoint keeps every training setting */
            fprintf(stderr, "resume with: ember word2vec -train %s --resume %s", o.train, o.checkpoint);
            if (output) fprintf(stderr, " -output %s%s", output, binary ? " -binary 1" : "");
            if (o.checkpoint_every > 0)
                fprintf(stderr, " --checkpoint %s --checkpoint-every %" PRId64, o.checkpoint, o.checkpoint_every);
            else fprintf(stderr, " --checkpoint %s", o.checkpoint);
            fprintf(stderr, "\n");
        }
        return 3;
    }
    if (trc != 0) {
        print_error();
        return 1;
    }
    int rc = 0;
    if (dist_active() && writer && o.debug >= 1) {
        dist_stats st = dist_get_stats();
        fprintf(stderr, "word2vec: %d ranks: main thread %.2f s waiting for the other ranks and %.2f s exchanging "
                        "tables (%.0f MB all-reduced, %d syncs per epoch) of %.2f s; the workers train meanwhile\n",
                dist_size(), st.wait_seconds, st.seconds, (double)st.bytes / 1e6, o.dist_syncs, m->seconds);
    }
    if (output && writer) {
        if (ckpt_export_word2vec(output, (const char *const *)m->vocab->words, m->syn0, m->vocab->n, m->dim,
                                 binary != 0) != 0) {
            print_error();
            rc = 1;
        } else if (o.debug >= 1) {
            fprintf(stderr, "word2vec: wrote %" PRId64 " vectors of size %" PRId64 " to %s\n", m->vocab->n, m->dim,
                    output);
        }
    }
    train_w2v_model_free(m);
    return rc;
}
