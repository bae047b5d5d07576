/* chapter.c — runs the chapter's sections, shares trained models between them, and writes the text, JSON and HTML report. */
#include "chapter.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "autograd/ag.h"
#include "checkpoints/export.h"
#include "experiments/svg.h"
#include "data/tokenizer.h"
#include "train/eval.h"
#include "train/word2vec.h"

void exp_chapter_options_default(exp_chapter_options *o) {
    memset(o, 0, sizeof *o);
    o->out_dir = "ember-chapter";
    o->threads = 2;
    o->seed = 42;
    o->log = stderr;
}

void exp_log(const exp_chapter_options *o, const char *fmt, ...) {
    if (!o->log) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(o->log, "[chapter] ");
    vfprintf(o->log, fmt, ap);
    fputc('\n', o->log);
    fflush(o->log);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------------
 * Paths
 * ------------------------------------------------------------------------------------------ */
static char *rot_buf(void) {
    static _Thread_local char bufs[8][4096];
    static _Thread_local int k;
    return bufs[k++ & 7];
}

static bool file_exists(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *exp_data(const exp_chapter_options *o, const char *rel) {
    if (!o->data_dir) return NULL;
    char *b = rot_buf();
    snprintf(b, 4096, "%s/%s", o->data_dir, rel);
    return file_exists(b) ? b : NULL;
}

const char *exp_out(const exp_chapter_options *o, const char *name) {
    char *b = rot_buf();
    snprintf(b, 4096, "%s/%s", o->out_dir, name);
    return b;
}

const char *exp_model(const exp_chapter_options *o, const char *name) {
    if (!o->models_dir) return NULL;
    char *b = rot_buf();
    snprintf(b, 4096, "%s/%s", o->models_dir, name);
    return file_exists(b) ? b : NULL;
}

const char *exp_cut_corpus(const exp_chapter_options *o, const char *src, int64_t max_bytes, const char *name) {
    const char *dst = exp_out(o, name);
    struct stat st;
    if (stat(dst, &st) == 0 && st.st_size > 0 && st.st_size <= max_bytes && st.st_size > max_bytes - 4096) return dst;
    gzFile in = gzopen(src, "rb");
    if (!in) {
        base_error_set("%s: cannot open", src);
        return NULL;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        gzclose(in);
        base_error_set("%s: cannot create: %s", tmp, strerror(errno));
        return NULL;
    }
    char *buf = base_xmalloc(1 << 20);
    int64_t left = max_bytes;
    while (left > 0) {
        int want = left < (1 << 20) ? (int)left : (1 << 20);
        int got = gzread(in, buf, (unsigned)want);
        if (got <= 0) break;
        /* cut the last block back to a space or newline so no word is split */
        if (got == want && left == want) {
            int k = got;
            while (k > 0 && buf[k - 1] != ' ' && buf[k - 1] != '\n') k--;
            if (k > 0) got = k;
        }
        fwrite(buf, 1, (size_t)got, out);
        left -= got;
    }
    free(buf);
    gzclose(in);
    if (fclose(out) != 0 || rename(tmp, dst) != 0) {
        base_error_set("%s: cannot write: %s", dst, strerror(errno));
        return NULL;
    }
    return dst;
}

/* ---------------------------------------------------------------------------------------------
 * Word2Vec shared by basics, words, eval, context and tips
 * ------------------------------------------------------------------------------------------ */
int exp_chapter_w2v(exp_chapter *c, const exp_chapter_options *o) {
    if (c->w2v) return 0;
    const char *reuse = exp_model(o, "w2v.bin");
    if (!reuse) reuse = exp_model(o, "w2v.txt");
    if (reuse) {
        if (train_vectors_load(&c->w2v, reuse, NULL) != 0) return -1;
        snprintf(c->w2v_source, sizeof c->w2v_source, "Word2Vec vectors reused from %s (%s words x %lld)", reuse,
                 exp_commas(c->w2v->n), (long long)c->w2v->dim);
        return 0;
    }
    if (o->no_train) return base_error_set("Word2Vec vectors needed: training is off (--no-train) and --models has no w2v.bin");
    const char *src = exp_data(o, "corpus/enwiki_text8style_1e8.txt.gz");
    if (!src) return base_error_set("the Wikipedia corpus corpus/enwiki_text8style_1e8.txt.gz is not in the data directory");
    const char *corpus = src;
    int64_t cut = o->quick ? 8000000 : 0;
    if (cut && !(corpus = exp_cut_corpus(o, src, cut, "enwiki_8MB.txt"))) return -1;
    train_w2v_options w;
    train_w2v_options_default(&w);
    w.train = corpus;
    w.cbow = 0;
    w.size = 100;
    w.window = 5;
    w.negative = 5;
    w.sample = 1e-4;
    w.iter = o->quick ? 2 : 5;
    w.min_count = 5;
    w.threads = o->threads;
    w.seed = o->seed;
    w.debug = 0;
    w.progress = false;
    exp_log(o, "training Word2Vec skip-gram 100-d on %s (%d epochs, %d threads)", corpus, w.iter, w.threads);
    double t0 = base_now_sec();
    train_w2v_model *m = NULL;
    if (train_w2v_run(&w, &m) < 0) return -1;
    double secs = base_now_sec() - t0;
    c->w2v = train_vectors_from(m->vocab->n, m->dim, m->vocab->words, m->syn0);
    snprintf(c->w2v_source, sizeof c->w2v_source,
             "Word2Vec skip-gram trained here: %s (%s words), 100-d, window 5, 5 negatives, sample 1e-4, min-count 5, "
             "%d epochs, %d threads, %.0f s; vocabulary %s; saved as %s",
             corpus == src ? "the whole Wikipedia corpus" : "the first 8 MB of the Wikipedia corpus", exp_commas(m->words_done / w.iter),
             w.iter, m->threads, secs, exp_commas(m->vocab->n), exp_out(o, "w2v.bin"));
    int rc = ckpt_export_word2vec(exp_out(o, "w2v.bin"), (const char *const *)m->vocab->words, m->syn0, m->vocab->n,
                                  m->dim, true);
    train_w2v_model_free(m);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Sections
 * ------------------------------------------------------------------------------------------ */
typedef int (*section_fn)(exp_chapter *, exp_section *, const exp_chapter_options *);
static const struct {
    const char *name, *title;
    section_fn fn;
    bool trains; /* needs models trained in the run (or --models) */
} SECTIONS[] = {
    {"basics", "Basics: one-hot vs dense, cosine, parameter counts, μOmni's sizes, the chapter's code", exp_section_basics, false},
    {"positional", "Positional embeddings: sinusoidal, 2-D patches, RoPE, ALiBi, word order", exp_section_positional, false},
    {"multimodal", "Multimodal embeddings: a real image through the ViT path, a real recording through the audio path",
     exp_section_multimodal, false},
    {"tokens", "Token embeddings: a 5,000-piece BPE and out-of-vocabulary words", exp_section_tokens, true},
    {"words", "A real corpus: Word2Vec on Wikipedia, neighbours before and after training, t-SNE", exp_section_words, true},
    {"eval", "Evaluating embeddings: word similarity, SST-2, frozen vs fine-tuned, the dimension trade-off", exp_section_eval,
     true},
    {"context", "Contextual embeddings: \"bank\" by the river and at the bank", exp_section_context, true},
    {"tips", "The practical tips, measured: initialisation, embedding dropout, normalised neighbours", exp_section_tips, true},
    {"align", "One shared 256-d space: cross-modal retrieval before and after alignment", exp_section_align, true},
};
#define NSECTIONS ((int)(sizeof SECTIONS / sizeof SECTIONS[0]))

const char *const exp_chapter_sections[] = {"basics", "positional", "multimodal", "tokens", "words",
                                            "eval",   "context",    "tips",       "align"};
const int exp_chapter_nsections = NSECTIONS;

exp_section *exp_section_new(exp_chapter *c, const char *id, const char *title) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->s = base_xrealloc(c->s, (size_t)c->cap * sizeof *c->s);
    }
    exp_section *s = &c->s[c->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->title, sizeof s->title, "%s", title);
    return s;
}

void exp_section_fig(exp_section *s, char *svg, const char *caption) {
    if (!svg) return;
    if (s->nfig == EXP_MAX_FIGS) {
        free(svg);
        return;
    }
    s->fig[s->nfig] = svg;
    snprintf(s->caption[s->nfig], sizeof s->caption[0], "%s", caption ? caption : "");
    s->nfig++;
}

int exp_chapter_run(exp_chapter *c, const exp_chapter_options *o, const char *name) {
    bool all = !name || !strcmp(name, "all");
    int found = -1;
    for (int k = 0; k < NSECTIONS; k++)
        if (!all && !strcmp(name, SECTIONS[k].name)) found = k;
    if (!all && found < 0) return base_error_set("unknown section '%s'", name);
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        return base_error_set("%s: cannot create directory: %s", o->out_dir, strerror(errno));
    double t0 = base_now_sec();
    for (int k = 0; k < NSECTIONS; k++) {
        if (!all && k != found) continue;
        exp_section *s = exp_section_new(c, SECTIONS[k].name, SECTIONS[k].title);
        if (SECTIONS[k].trains && o->no_train) {
            s->skipped = true;
            snprintf(s->skip_reason, sizeof s->skip_reason, "needs trained models; skipped by --no-train");
            continue;
        }
        exp_log(o, "section %s", s->id);
        double ts = base_now_sec();
        if (SECTIONS[k].fn(c, s, o) != 0) {
            s->skipped = s->r.n == 0;
            snprintf(s->skip_reason, sizeof s->skip_reason, "%s", base_error_msg());
            exp_log(o, "section %s: %s", s->id, s->skip_reason);
        }
        s->seconds = base_now_sec() - ts;
        exp_log(o, "section %s: %d items, %d figures, %.1f s", s->id, s->r.n, s->nfig, s->seconds);
    }
    c->seconds += base_now_sec() - t0;
    return 0;
}

void exp_chapter_free(exp_chapter *c) {
    for (int i = 0; i < c->n; i++) {
        exp_basics_free(&c->s[i].r);
        for (int f = 0; f < c->s[i].nfig; f++) free(c->s[i].fig[f]);
    }
    free(c->s);
    train_vectors_free(c->w2v);
    data_tokenizer_free(c->tok);
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------------------------------------
 * Text and JSON
 * ------------------------------------------------------------------------------------------ */
static int count_status(const exp_chapter *c, exp_status st) {
    int n = 0;
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->s[i].r.n; j++) n += c->s[i].r.items[j].status == st;
    return n;
}

static const char *status_json(exp_status s) {
    return s == EXP_MATCH ? "match" : s == EXP_MISMATCH ? "mismatch" : "info";
}

void exp_chapter_print(const exp_chapter *c, FILE *f, bool json) {
    if (json) {
        fprintf(f, "{\"experiment\": \"chapter\", \"seconds\": %.1f, \"mismatches\": %d, \"matches\": %d, \"sections\": [",
                c->seconds, count_status(c, EXP_MISMATCH), count_status(c, EXP_MATCH));
        for (int i = 0; i < c->n; i++) {
            const exp_section *s = &c->s[i];
            fprintf(f, "%s\n {\"id\": ", i ? "," : "");
            base_json_str(f, s->id);
            fprintf(f, ", \"title\": ");
            base_json_str(f, s->title);
            fprintf(f, ", \"source\": ");
            base_json_str(f, s->source);
            fprintf(f, ", \"seconds\": %.2f, \"skipped\": %s, \"skip_reason\": ", s->seconds, s->skipped ? "true" : "false");
            base_json_str(f, s->skip_reason);
            fprintf(f, ", \"figures\": %d, \"items\": [", s->nfig);
            for (int j = 0; j < s->r.n; j++) {
                fputs(j ? ",\n  " : "\n  ", f);
                exp_basics_item_json(&s->r.items[j], f);
            }
            fprintf(f, "]}");
        }
        fprintf(f, "\n]}\n");
        return;
    }
    fprintf(f, "Understanding Embeddings, reproduced by ember: %d sections, %d items (%d match, %d MISMATCH), %.1f s\n",
            c->n, count_status(c, EXP_MATCH) + count_status(c, EXP_MISMATCH) + count_status(c, EXP_INFO),
            count_status(c, EXP_MATCH), count_status(c, EXP_MISMATCH), c->seconds);
    for (int i = 0; i < c->n; i++) {
        const exp_section *s = &c->s[i];
        fprintf(f, "\n== %s: %s (%.1f s)\n", s->id, s->title, s->seconds);
        if (s->source[0]) fprintf(f, "   models/data: %s\n", s->source);
        if (s->skip_reason[0]) fprintf(f, "   %s: %s\n", s->skipped ? "SKIPPED" : "stopped early", s->skip_reason);
        fputc('\n', f);
        for (int j = 0; j < s->r.n; j++) {
            const exp_basics_item *it = &s->r.items[j];
            fprintf(f, "[%-8s] %s  (%s)\n", exp_status_name(it->status), it->what, it->id);
            fprintf(f, "    chapter: %s\n", it->claim);
            fprintf(f, "    ember:   %s\n\n", it->ember);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * HTML
 * ------------------------------------------------------------------------------------------ */

int exp_chapter_html(const exp_chapter *c, const exp_chapter_options *o, const char *path) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return base_error_set("%s: cannot create: %s", tmp, strerror(errno));
    int nm = count_status(c, EXP_MISMATCH), nmatch = count_status(c, EXP_MATCH), ninfo = count_status(c, EXP_INFO);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<title>Understanding Embeddings, reproduced by ember</title>\n<style>\n"
               "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}\n"
               "table{border-collapse:collapse;width:100%%;margin:1em 0;font-size:14px}\n"
               "td,th{border:1px solid #ccc;padding:6px;vertical-align:top;text-align:left}\n"
               "th{background:#f0f0f0} .v-match{background:#e3f4e3} .v-mismatch{background:#fbe0dc} .v-info{background:#eef2f8}\n"
               ".verdict{font-weight:bold;white-space:nowrap} .src{color:#555;font-size:13px} figure{margin:1em 0}\n"
               "figcaption{font-size:13px;color:#444} .skip{color:#a33} section{border-top:2px solid #ddd;margin-top:2em}\n"
               "</style></head><body>\n");
    fprintf(f, "<h1>Understanding Embeddings, reproduced by ember</h1>\n<p>Every experiment of the μOmni study guide's "
               "chapter 6 (\"Understanding Embeddings\", prskid1000/micro-Omni at ae4594a), run with ember's own layers, "
               "trainers and data. Each row gives the chapter's claim, what ember measured, and a verdict: "
               "<b>matches</b>, <b>differs</b> (with the true value and why), or <b>info</b> (a measurement the chapter "
               "has no number for).</p>\n");
    fprintf(f, "<p id=\"totals\">%d sections, %d items: %d match, %d differ, %d info. Run time %.1f s (threads %d%s%s).</p>\n",
            c->n, nm + nmatch + ninfo, nmatch, nm, ninfo, c->seconds, o->threads, o->no_train ? ", no training" : "",
            o->quick ? ", quick sizes" : "");
    fprintf(f, "<h2 id=\"summary\">Where the chapter is wrong</h2>\n<ol class=\"summary\">\n");
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->s[i].r.n; j++) {
            const exp_basics_item *it = &c->s[i].r.items[j];
            if (it->status != EXP_MISMATCH) continue;
            fprintf(f, "<li><a href=\"#sec-%s\">%s</a>: ", c->s[i].id, c->s[i].id);
            exp_xml_escape(f, it->what);
            fprintf(f, " — the chapter: <i>");
            exp_xml_escape(f, it->claim);
            fprintf(f, "</i>; ember: ");
            exp_xml_escape(f, it->ember);
            fprintf(f, "</li>\n");
        }
    fprintf(f, "</ol>\n<p>Sections:");
    for (int i = 0; i < c->n; i++) fprintf(f, " <a href=\"#sec-%s\">%s</a>", c->s[i].id, c->s[i].id);
    fprintf(f, "</p>\n");
    for (int i = 0; i < c->n; i++) {
        const exp_section *s = &c->s[i];
        fprintf(f, "<section id=\"sec-%s\" class=\"chapter-section\" data-items=\"%d\" data-figures=\"%d\">\n<h2>", s->id,
                s->r.n, s->nfig);
        exp_xml_escape(f, s->title);
        fprintf(f, "</h2>\n<p class=\"src\">%.1f s. ", s->seconds);
        exp_xml_escape(f, s->source);
        fprintf(f, "</p>\n");
        if (s->skip_reason[0]) {
            fprintf(f, "<p class=\"skip\">%s: ", s->skipped ? "Skipped" : "Stopped early");
            exp_xml_escape(f, s->skip_reason);
            fprintf(f, "</p>\n");
        }
        if (s->r.n) {
            fprintf(f, "<table><tr><th>what</th><th>the chapter</th><th>ember measured</th><th>verdict</th></tr>\n");
            for (int j = 0; j < s->r.n; j++) {
                const exp_basics_item *it = &s->r.items[j];
                const char *v = status_json(it->status);
                fprintf(f, "<tr class=\"v-%s\" id=\"item-%s\"><td>", v, it->id);
                exp_xml_escape(f, it->what);
                fprintf(f, "</td><td>");
                exp_xml_escape(f, it->claim);
                fprintf(f, "</td><td>");
                exp_xml_escape(f, it->ember);
                fprintf(f, "</td><td class=\"verdict\">%s</td></tr>\n",
                        it->status == EXP_MATCH ? "matches" : it->status == EXP_MISMATCH ? "differs" : "info");
            }
            fprintf(f, "</table>\n");
        }
        for (int k = 0; k < s->nfig; k++) {
            fprintf(f, "<figure>\n%s<figcaption>", s->fig[k]);
            exp_xml_escape(f, s->caption[k]);
            fprintf(f, "</figcaption></figure>\n");
        }
        fprintf(f, "</section>\n");
    }
    /* A self-check a browser runs on load (the test reads it back from the rendered DOM): every
     * section present, every figure laid out with a non-empty box and drawn content. */
    fprintf(f, "<script>\nwindow.addEventListener('load', function () {\n"
               "  var ok = 0, bad = 0, secs = document.querySelectorAll('section.chapter-section').length;\n"
               "  document.querySelectorAll('svg.fig').forEach(function (s) {\n"
               "    var r = s.getBoundingClientRect(), b = s.getBBox();\n"
               "    if (r.width > 0 && r.height > 0 && b.width > 0 && b.height > 0 && s.childElementCount > 1) ok++; else bad++;\n"
               "  });\n"
               "  document.body.setAttribute('data-sections', secs);\n"
               "  document.body.setAttribute('data-figures-rendered', ok);\n"
               "  document.body.setAttribute('data-figures-failed', bad);\n"
               "});\n</script>\n");
    fprintf(f, "</body></html>\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) return base_error_set("%s: cannot write: %s", path, strerror(errno));
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * basics as a section
 * ------------------------------------------------------------------------------------------ */
int exp_section_basics(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    if (!o->no_train && !c->w2v && exp_chapter_w2v(c, o) != 0) exp_log(o, "basics: no real vectors: %s", base_error_msg());
    if (o->no_train && !c->w2v) exp_chapter_w2v(c, o); /* reuse from --models only */
    if (exp_basics_run_with(&s->r, o->seed, c->w2v, c->w2v ? c->w2v_source : NULL) != 0) return -1;
    snprintf(s->source, sizeof s->source, "No training: ember's layers built at μOmni's sizes, seed %llu. %s",
             (unsigned long long)o->seed, c->w2v ? c->w2v_source : "The code items use the chapter's own vectors.");
    /* Figure: the parameter budget of μOmni's pieces as ember counts them. */
    const exp_basics_item *a = exp_basics_find(&s->r, "muomni.thinker5000"), *b = exp_basics_find(&s->r, "muomni.thinker32000"),
                          *v = exp_basics_find(&s->r, "muomni.vit_tiny"), *p = exp_basics_find(&s->r, "muomni.projectors");
    if (a && b && v && p) {
        const char *labels[6] = {"Thinker token table, vocab 5,000 (text)", "Thinker token table, vocab 32,000 (code)",
                                 "Thinker, vocab 5,000", "Thinker, vocab 32,000", "ViT-tiny (RMSNorm end)",
                                 "projectors proj_v + proj_a"};
        double vals[6] = {5000.0 * 256 / 1e6, 32000.0 * 256 / 1e6, a->value / 1e6, b->value / 1e6, v->value / 1e6, p->value / 1e6};
        int groups[6] = {0, 1, 0, 1, 2, 3};
        exp_section_fig(s, exp_fig_bars("Parameters (millions) of μOmni's pieces, counted by ember", labels, vals, groups, 6, " M"),
                        "The chapter's 5,000-token vocabulary vs the 32,000 its code uses: the token table alone grows "
                        "6.4x. Counts from nn_params_count of ember's builds (equal to PyTorch's).");
    }
    return 0;
}
