/* chapter_tokens.c — `ember chapter tokens`: a 5,000-piece BPE on Wikipedia, the pieces of rare words, word-vocabulary OOV vs BPE on WikiText-2 test. */
#include "chapter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "data/evalsets.h"
#include "data/tokenizer.h"

#define SETF EXP_SETF

int exp_chapter_tokenizer(exp_chapter *c, const exp_chapter_options *o) {
    if (c->tok) return 0;
    const char *reuse = exp_model(o, "bpe5000.tok");
    if (reuse) {
        if (data_tokenizer_load(&c->tok, reuse) != 0) return -1;
        snprintf(c->tok_source, sizeof c->tok_source, "BPE reused from %s (%d tokens)", reuse, c->tok->vocab_size);
        return 0;
    }
    if (o->no_train) return base_error_set("a BPE tokenizer is needed: training is off and --models has no bpe5000.tok");
    const char *src = exp_data(o, "corpus/enwiki_wikiextractor_AA-AB.txt.gz");
    if (!src) return base_error_set("the raw Wikipedia corpus corpus/enwiki_wikiextractor_AA-AB.txt.gz is not in the data directory");
    int64_t bytes = o->quick ? 2000000 : 20000000;
    double t0 = base_now_sec();
    /* 5,000 in all, as μOmni's text says: 256 bytes + 4,739 merges + 5 special tokens */
    if (data_tokenizer_train(&c->tok, &src, 1, bytes, 5000, NULL) != 0) return -1;
    snprintf(c->tok_source, sizeof c->tok_source,
             "byte-level BPE trained here on the first %s bytes of raw Wikipedia (%s): %d tokens = 256 bytes + %lld merges "
             "+ 5 specials, %.1f s; saved as %s",
             exp_commas(bytes), src, c->tok->vocab_size, (long long)data_bpe_n_merges(c->tok->bpe), base_now_sec() - t0,
             exp_out(o, "bpe5000.tok"));
    return data_tokenizer_save(c->tok, exp_out(o, "bpe5000.tok"));
}

/* "[" un"|"happ"|"iness"]" — the pieces of text as the tokenizer cuts it. Returns the piece count. */
static int pieces(const data_tokenizer *t, const char *text, char *buf, size_t n) {
    int32_t *ids = NULL;
    int64_t k = 0;
    buf[0] = 0;
    if (data_tokenizer_encode(t, (const uint8_t *)text, strlen(text), &ids, &k, 1) != 0) return -1;
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int64_t i = 0; i < k && o < n; i++) {
        int32_t len;
        const uint8_t *b = data_bpe_token_bytes(t->bpe, ids[i], &len);
        char *q = data_tokenizer_quote(b, (size_t)len); /* "..." with \xHH for a byte that is not whole UTF-8 */
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", q);
        free(q);
    }
    if (o < n) snprintf(buf + o, n - o, "]");
    free(ids);
    return (int)k;
}

/* Word counts of whitespace-separated words in a text (simple open addressing). */
typedef struct {
    char **w;
    int64_t *cnt;
    int64_t cap, n;
} wtab;

static uint64_t hstr(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int64_t wt_slot(const wtab *t, const char *s, size_t n) {
    uint64_t h = hstr(s, n);
    for (int64_t i = (int64_t)(h & (uint64_t)(t->cap - 1));; i = (i + 1) & (t->cap - 1))
        if (!t->w[i] || (strlen(t->w[i]) == n && !memcmp(t->w[i], s, n))) return i;
}

static void wt_add(wtab *t, const char *s, size_t n) {
    if (2 * (t->n + 1) > t->cap) {
        wtab u = {base_xcalloc((size_t)t->cap * 2, sizeof(char *)), base_xcalloc((size_t)t->cap * 2, sizeof(int64_t)), t->cap * 2, 0};
        for (int64_t i = 0; i < t->cap; i++)
            if (t->w[i]) {
                int64_t j = wt_slot(&u, t->w[i], strlen(t->w[i]));
                u.w[j] = t->w[i], u.cnt[j] = t->cnt[i], u.n++;
            }
        free(t->w), free(t->cnt);
        *t = u;
    }
    int64_t i = wt_slot(t, s, n);
    if (!t->w[i]) {
        t->w[i] = base_xmalloc(n + 1);
        memcpy(t->w[i], s, n);
        t->w[i][n] = 0;
        t->n++;
    }
    t->cnt[i]++;
}

static void wt_free(wtab *t) {
    for (int64_t i = 0; i < t->cap; i++) free(t->w[i]);
    free(t->w), free(t->cnt);
}

static void wt_words(wtab *t, const char *text, size_t len) {
    for (size_t i = 0; i < len;) {
        while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r')) i++;
        size_t j = i;
        while (j < len && text[j] != ' ' && text[j] != '\n' && text[j] != '\t' && text[j] != '\r') j++;
        if (j > i) wt_add(t, text + i, j - i);
        i = j;
    }
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

int exp_section_tokens(exp_chapter *c, exp_section *s, const exp_chapter_options *o) {
    if (exp_chapter_tokenizer(c, o) != 0) return -1;
    const data_tokenizer *t = c->tok;
    char buf[600];
    int k = pieces(t, " unhappiness", buf, sizeof buf);
    bool two = k == 2 && strstr(buf, "\"happiness\"");
    exp_basics_item *it = exp_item_add(&s->r, "tokens.unhappiness", two ? EXP_MATCH : EXP_MISMATCH, k);
    SETF(it->what, "the pieces of \"unhappiness\" (as a word in running text, with its leading space)");
    SETF(it->claim, "\"unhappiness\" → [\"un\", \"happiness\"] → [token_15, token_234]");
    SETF(it->ember, "%s: %s (%d pieces). BPE keeps the merges frequent in its training text; the morphological split "
                    "the chapter draws is not what a 5,000-piece BPE learns",
         two ? "as claimed" : "differs", buf, k);
    static const char *const rare[] = {" unhappiness", " embeddings", " tokenization", " antidisestablishmentarianism",
                                       " Kolmogorov", " μOmni", " unbelievably", " cat"};
    char all[1000];
    size_t ao = 0;
    for (size_t i = 0; i < sizeof rare / sizeof rare[0]; i++) {
        pieces(t, rare[i], buf, sizeof buf);
        if (ao < sizeof all) ao += (size_t)snprintf(all + ao, sizeof all - ao, "%s%s → %s", i ? "; " : "", rare[i] + 1, buf);
    }
    it = exp_item_add(&s->r, "tokens.rare_words", EXP_MATCH, 0);
    SETF(it->what, "rare and new words cut into known pieces");
    SETF(it->claim, "token embeddings \"handle rare/new words\"; a word vocabulary maps them to [UNK]");
    SETF(it->ember, "every word gets pieces, none is unknown (byte-level: the 256 bytes are tokens): %s", all);

    /* OOV: a word vocabulary from the same Wikipedia text vs the BPE, on WikiText-2 test */
    const char *src = exp_data(o, "corpus/enwiki_wikiextractor_AA-AB.txt.gz"), *test = exp_data(o, "corpus/wikitext-2/wiki.test.txt.gz");
    if (!src || !test) return base_error_set("raw Wikipedia or WikiText-2 test is not in the data directory");
    size_t tl = 0, sl = 0;
    char *tt = data_slurp(test, &tl);
    if (!tt) return -1;
    const char *cut = exp_cut_corpus(o, src, o->quick ? 2000000 : 20000000, o->quick ? "wiki_raw_2MB.txt" : "wiki_raw_20MB.txt");
    char *st = cut ? data_slurp(cut, &sl) : NULL;
    if (!st) {
        free(tt);
        return -1;
    }
    wtab tr = {base_xcalloc(1 << 16, sizeof(char *)), base_xcalloc(1 << 16, sizeof(int64_t)), 1 << 16, 0};
    wt_words(&tr, st, sl);
    int64_t *counts = base_xmalloc((size_t)tr.n * sizeof *counts), m = 0;
    for (int64_t i = 0; i < tr.cap; i++)
        if (tr.w[i]) counts[m++] = tr.cnt[i];
    qsort(counts, (size_t)m, sizeof *counts, cmp_desc);
    const int64_t sizes[3] = {5000, 50000, 100000};
    double oov[3];
    int64_t ntest = 0, unk = 0;
    for (int v = 0; v < 3; v++) {
        int64_t cut_count = sizes[v] <= m ? counts[sizes[v] - 1] : 0; /* in the vocabulary: count >= the K-th count (ties at the edge are kept) */
        int64_t miss = 0;
        ntest = 0, unk = 0;
        for (size_t i = 0; i < tl;) {
            while (i < tl && (tt[i] == ' ' || tt[i] == '\n')) i++;
            size_t j = i;
            while (j < tl && tt[j] != ' ' && tt[j] != '\n') j++;
            if (j > i) {
                ntest++;
                if (j - i == 5 && !memcmp(tt + i, "<unk>", 5)) unk++;
                int64_t sl2 = wt_slot(&tr, tt + i, j - i);
                if (!tr.w[sl2] || tr.cnt[sl2] < cut_count) miss++;
            }
            i = j;
        }
        oov[v] = 100.0 * (double)miss / (double)ntest;
    }
    /* BPE on the same test text: every byte sequence encodes; count tokens per word */
    int32_t *ids = NULL;
    int64_t nids = 0;
    data_tokenizer_encode(t, (const uint8_t *)tt, tl, &ids, &nids, o->threads);
    int64_t unk_id = 0;
    for (int64_t i = 0; i < nids; i++) unk_id += ids[i] == t->special[DATA_TOK_UNK];
    free(ids);
    it = exp_item_add(&s->r, "tokens.oov", oov[1] > 0 && unk_id == 0 ? EXP_MATCH : EXP_MISMATCH, oov[1]);
    SETF(it->what, "out-of-vocabulary rate on WikiText-2 test (%s tokens, %s of them already <unk>): word vocabularies "
                   "from %s of Wikipedia vs the 5,000-piece BPE",
         exp_commas(ntest), exp_commas(unk), o->quick ? "2 MB" : "20 MB");
    SETF(it->claim, "Traditional: [UNK] (unknown word); token-based: handle any word");
    SETF(it->ember, "word vocabulary of the 5,000 / 50,000 / 100,000 most frequent words (%s types in the text): %.2f%% / "
                    "%.2f%% / %.2f%% of test tokens unknown (case and punctuation kept, as the BPE sees them); BPE: 0 "
                    "unknown (%s tokens, %.2f per word; [UNK] never produced)",
         exp_commas(m), oov[0], oov[1], oov[2], exp_commas(nids), (double)nids / (double)ntest);
    it = exp_item_add(&s->r, "tokens.vocab_sizes", m > 100000 ? EXP_MATCH : EXP_MISMATCH, (double)m);
    SETF(it->what, "how many distinct words real text has");
    SETF(it->claim, "\"Smaller vocabulary (5K-50K tokens vs 100K+ words)\"");
    int64_t ge5 = 0;
    for (int64_t i = 0; i < m; i++) ge5 += counts[i] >= 5;
    SETF(it->ember, "%s of Wikipedia holds %s distinct whitespace words (%s with count >= 5); the BPE covers all of it "
                    "with %d tokens",
         o->quick ? "2 MB" : "20 MB", exp_commas(m), exp_commas(ge5), t->vocab_size);
    it = exp_item_add(&s->r, "tokens.muomni_vocab", EXP_MISMATCH, 32000);
    SETF(it->what, "the tokenizer μOmni's code trains");
    SETF(it->claim, "\"μOmni uses BPE (Byte-Pair Encoding) with 5000 tokens\"");
    SETF(it->ember, "differs: omni/tokenizer.py trains a SentencePiece BPE with vocab_size 32,000 (thinker_tiny.json); "
                    "this section uses 5,000 to reproduce the text's figure");
    const char *labels[4] = {"words: top 5,000", "words: top 50,000", "words: top 100,000", "BPE 5,000 pieces"};
    double vals[4] = {oov[0], oov[1], oov[2], 0.0};
    int groups[4] = {0, 0, 0, 1};
    exp_section_fig(s, exp_fig_bars("WikiText-2 test: tokens not covered by the vocabulary", labels, vals, groups, 4, "%"),
                    "Word vocabularies are the most frequent whitespace words of the same Wikipedia text the BPE was "
                    "trained on. WikiText's own <unk> tokens count as unknown for the word vocabularies.");
    snprintf(s->source, sizeof s->source, "%s. OOV measured on %s.", c->tok_source, test);
    free(counts);
    wt_free(&tr);
    free(st);
    free(tt);
    return 0;
}
