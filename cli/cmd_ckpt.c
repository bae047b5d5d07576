/* cmd_ckpt.c — `ember ckpt info FILE [--json]` (tree, shapes, dtypes, parameter count, step) and
 * `ember ckpt export` (a [vocab, dim] parameter + /vocab to word2vec text/binary or projector TSV). */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/export.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ember ckpt info FILE [--json]\n"
               "       ember ckpt export FILE -o OUT [--param NAME] [--format text|binary|tsv] [--metadata META]\n\n"
               "info:   prints a checkpoint's datasets (path, dtype, shape, bytes stored), its parameter count,\n"
               "        step and epoch, after checking its integrity line and format. Exits 1 on a bad file.\n"
               "export: writes the rows of a [words, dim] parameter (default: the only one whose row count\n"
               "        equals the vocabulary size) with the words of /vocab, as word2vec.c's text (default)\n"
               "        or binary -output format, or as a projector TSV pair (OUT = vectors, META = words,\n"
               "        default OUT with .tsv replaced by _metadata.tsv).\n");
}

typedef struct {
    bool json;
    int nitems;
    int64_t param_tensors, param_count;
} info_ctx;

static void human_bytes(int64_t b, char *buf, size_t size) {
    if (b < 1024) snprintf(buf, size, "%" PRId64 " B", b);
    else if (b < 1024 * 1024) snprintf(buf, size, "%.1f KiB", (double)b / 1024);
    else if (b < 1024LL * 1024 * 1024) snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024));
    else snprintf(buf, size, "%.2f GiB", (double)b / (1024.0 * 1024 * 1024));
}

static int count_params(const char *path, const ckpt_info *info, void *vctx) {
    info_ctx *c = vctx;
    if (info && strncmp(path, "/params/", 8) == 0) {
        c->param_tensors++;
        c->param_count += info->numel;
    }
    return 0;
}

static int print_item(const char *path, const ckpt_info *info, void *vctx) {
    info_ctx *c = vctx;
    if (c->json) {
        if (!info) return 0;
        printf("%s\n    {\"path\": ", c->nitems++ ? "," : "");
        base_json_str(stdout, path);
        printf(", \"dtype\": \"%s\", \"shape\": [", ckpt_dtype_name(info->dtype));
        for (int i = 0; i < info->ndim; i++) printf("%s%" PRId64, i ? ", " : "", info->shape[i]);
        printf("], \"numel\": %" PRId64 ", \"stored_bytes\": %" PRId64 "}", info->numel, info->storage_bytes);
        return 0;
    }
    if (!info) {
        printf("%s/\n", path);
        return 0;
    }
    char shape[256], stored[32];
    size_t n = 0;
    if (info->dtype == CKPT_STRING && info->numel == 0 && info->storage_bytes > 0)
        snprintf(shape, sizeof shape, "(variable length)");
    else if (info->dtype == CKPT_STRING) snprintf(shape, sizeof shape, "(%" PRId64 " bytes)", info->numel);
    else {
        n = (size_t)snprintf(shape, sizeof shape, "[");
        for (int i = 0; i < info->ndim && n < sizeof shape; i++)
            n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%" PRId64, i ? ", " : "", info->shape[i]);
        if (n < sizeof shape) snprintf(shape + n, sizeof shape - n, "]");
    }
    human_bytes(info->storage_bytes, stored, sizeof stored);
    printf("%-44s %-8s %-20s %s\n", path, ckpt_dtype_name(info->dtype), shape, stored);
    return 0;
}

/* A "<target>.tmp.<pid>" file is what an atomic save writes before renaming it into place: say so,
 * whatever its contents (a killed save may have got as far as a complete, verified file). */
static void temp_note(FILE *f, const char *file) {
    char target[4096];
    long pid = 0;
    if (!base_temp_parse(file, target, sizeof target, &pid)) return;
    fprintf(f,
            "note: %s is not a checkpoint but the temporary file of a save to %s by process %ld (%s); "
            "the checkpoint is %s\n",
            file, target, pid,
            base_pid_alive(pid) ? "still running: a save in progress"
                                : "no longer running: a save killed before it finished, removed by the next save",
            target);
}

static int cmd_info(const char *file, bool json) {
    temp_note(json ? stderr : stdout, file);
    ckpt_reader *r = ckpt_open(file);
    if (!r) {
        fprintf(stderr, "ember ckpt info: %s\n", base_error_msg());
        return 1;
    }
    struct stat st;
    int64_t bytes = stat(file, &st) == 0 ? (int64_t)st.st_size : -1;
    info_ctx c = {.json = json};
    if (ckpt_visit(r, count_params, &c) < 0) {
        fprintf(stderr, "ember ckpt info: %s\n", base_error_msg());
        ckpt_close(r);
        return 1;
    }
    int64_t step = -1, epoch = -1;
    bool has_step = ckpt_has(r, "/state/step") && ckpt_get_i64(r, "/state/step", &step) == 0;
    bool has_epoch = ckpt_has(r, "/state/epoch") && ckpt_get_i64(r, "/state/epoch", &epoch) == 0;
    /* Word2Vec runs count progress in corpus words, not optimizer steps. */
    int64_t words_done = -1;
    bool has_words = ckpt_has(r, "/state/words_done") && ckpt_get_i64(r, "/state/words_done", &words_done) == 0;
    char okind[64] = "";
    double ostep = -1;
    bool has_optim = ckpt_get_attr_string(r, "/optim", "kind", okind, sizeof okind) == 0;
    if (has_optim) ckpt_get_attr_f64(r, "/optim", "step", &ostep);
    base_error_clear();

    if (json) {
        printf("{\n  \"file\": ");
        base_json_str(stdout, file);
        printf(",\n  \"bytes\": %" PRId64 ",\n  \"verified\": %s,\n  \"format\": \"%s\",\n  \"format_version\": %d,\n"
               "  \"ember_version\": ",
               bytes, ckpt_verified(r) ? "true" : "false", CKPT_FORMAT, ckpt_format_version(r));
        base_json_str(stdout, ckpt_ember_version(r));
        printf(",\n  \"temporary_file\": %s", base_temp_parse(file, NULL, 0, NULL) ? "true" : "false");
        printf(",\n  \"param_tensors\": %" PRId64 ",\n  \"param_count\": %" PRId64 ",\n", c.param_tensors, c.param_count);
        if (has_step) printf("  \"step\": %" PRId64 ",\n", step);
        else printf("  \"step\": null,\n");
        if (has_epoch) printf("  \"epoch\": %" PRId64 ",\n", epoch);
        else printf("  \"epoch\": null,\n");
        if (has_words) printf("  \"words_done\": %" PRId64 ",\n", words_done);
        else printf("  \"words_done\": null,\n");
        if (has_optim) printf("  \"optimizer\": {\"kind\": \"%s\", \"step\": %.0f},\n", okind, ostep);
        else printf("  \"optimizer\": null,\n");
        printf("  \"datasets\": [");
    } else {
        char hb[32];
        human_bytes(bytes, hb, sizeof hb);
        printf("file        %s (%s, %s)\n", file, hb,
               ckpt_verified(r) ? "integrity verified" : "no integrity line: not verified");
        printf("format      %s v%d, written by ember %s\n", CKPT_FORMAT, ckpt_format_version(r),
               ckpt_ember_version(r)[0] ? ckpt_ember_version(r) : "(unknown)");
        printf("parameters  %" PRId64 " tensors, %" PRId64 " values\n", c.param_tensors, c.param_count);
        if (has_step || has_epoch || has_words) {
            printf("progress   ");
            if (has_step) printf(" step %" PRId64, step);
            if (has_epoch) printf(" epoch %" PRId64, epoch);
            if (has_words) printf(" words done %" PRId64, words_done);
            printf("\n");
        }
        if (has_optim) printf("optimizer   %s, step %.0f\n", okind, ostep);
        printf("\n%-44s %-8s %-20s %s\n", "path", "dtype", "shape", "stored");
    }
    int rc = ckpt_visit(r, print_item, &c);
    if (json) printf("\n  ]\n}\n");
    if (rc < 0) {
        fprintf(stderr, "ember ckpt info: %s\n", base_error_msg());
        ckpt_close(r);
        return 1;
    }
    ckpt_close(r);
    return 0;
}

static int cmd_export(int argc, char **argv) {
    const char *file = NULL, *out = NULL, *param = NULL, *format = "text", *meta = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) out = argv[++i];
        else if (!strcmp(a, "--param") && i + 1 < argc) param = argv[++i];
        else if (!strcmp(a, "--format") && i + 1 < argc) format = argv[++i];
        else if (!strcmp(a, "--metadata") && i + 1 < argc) meta = argv[++i];
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ember ckpt export: unknown option or missing value '%s'\n", a);
            return 2;
        } else if (file) {
            fprintf(stderr, "ember ckpt export: one FILE expected, got '%s' and '%s'\n", file, a);
            return 2;
        } else file = a;
    }
    if (!file || !out) {
        fprintf(stderr, "ember ckpt export: %s missing\n", file ? "-o OUT" : "FILE");
        usage(stderr);
        return 2;
    }
    if (strcmp(format, "text") && strcmp(format, "binary") && strcmp(format, "tsv")) {
        fprintf(stderr, "ember ckpt export: --format '%s': expected text, binary or tsv\n", format);
        return 2;
    }
    ckpt_reader *r = ckpt_open(file);
    char **words = NULL;
    int64_t *counts = NULL, n = 0;
    float *vecs = NULL;
    int rc = 1;
    char path[1100], metabuf[4096];
    ckpt_info info;
    if (!r || ckpt_get_vocab(r, &words, &counts, &n) < 0) goto done;
    if (ckpt_pick_embedding(r, n, param, path, sizeof path, &info) < 0) goto done;
    vecs = malloc((size_t)(n ? n : 1) * (size_t)info.shape[1] * sizeof(float));
    if (!vecs) {
        base_error_set("%s: out of memory for %lld x %lld floats", file, (long long)n, (long long)info.shape[1]);
        goto done;
    }
    if (ckpt_get_f32_array(r, path, vecs, 2, info.shape) < 0) goto done;
    if (!strcmp(format, "tsv")) {
        if (!meta) {
            size_t l = strlen(out);
            if (l > 4 && !strcmp(out + l - 4, ".tsv")) snprintf(metabuf, sizeof metabuf, "%.*s_metadata.tsv", (int)(l - 4), out);
            else snprintf(metabuf, sizeof metabuf, "%s.metadata.tsv", out);
            meta = metabuf;
        }
        if (ckpt_export_projector_tsv(out, meta, (const char *const *)words, vecs, n, info.shape[1]) < 0) goto done;
    } else if (ckpt_export_word2vec(out, (const char *const *)words, vecs, n, info.shape[1], !strcmp(format, "binary")) < 0)
        goto done;
    fprintf(stderr, "ember ckpt export: %lld words x %lld dims of %s -> %s%s%s\n", (long long)n,
            (long long)info.shape[1], path, out, meta ? " + " : "", meta ? meta : "");
    rc = 0;
done:
    if (rc) fprintf(stderr, "ember ckpt export: %s\n", base_error_msg());
    free(vecs);
    ckpt_free_words(words, n);
    free(counts);
    ckpt_close(r);
    return rc;
}

int cli_cmd_ckpt(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "export")) return cmd_export(argc, argv);
    if (strcmp(argv[1], "info") != 0) {
        fprintf(stderr, "ember ckpt: unknown action '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    const char *file = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ember ckpt info: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (file) {
            fprintf(stderr, "ember ckpt info: one FILE expected, got '%s' and '%s'\n", file, argv[i]);
            return 2;
        } else file = argv[i];
    }
    if (!file) {
        fprintf(stderr, "ember ckpt info: FILE missing\n");
        usage(stderr);
        return 2;
    }
    return cmd_info(file, json);
}
