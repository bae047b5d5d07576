/* evalsets.h — readers for evaluation sets: analogy questions, word-similarity pairs, TSV sentence pairs.
 *
 * Every reader takes a path (plain or gzip, read through zlib), returns 0 and a heap object the
 * caller frees with the matching *_free, or returns -1 with base_error_msg() saying
 * "<path>:<line>: expected ..., got ..." for the first bad line. CRLF line ends, a UTF-8 BOM and
 * a missing final newline are accepted everywhere; blank lines are skipped.
 *
 * Formats:
 *   analogy    word2vec's questions-words.txt: ": section" header lines, then "a b c d" lines
 *              (whitespace-separated, exactly 4 words). Questions before the first header go
 *              into a section named "(unnamed)".
 *   wordsim    "word1<TAB>word2<TAB>score" (tabs or spaces), exactly 3 fields, score a number.
 *   pairs      sentence-pair TSVs, TAB only, no quoting:
 *                STS Benchmark: no header; 7 or 9 fields; score (0-5) in field 4, sentences in
 *                               fields 5 and 6 (0-based).
 *                SICK:          header line; relatedness_score in field 4, sentences in 1 and 2.
 *   labeled    SST-2 style: header line; "label<TAB>sentence", integer label.
 */
#ifndef EMBER_DATA_EVALSETS_H
#define EMBER_DATA_EVALSETS_H

#include <stddef.h>
#include <stdint.h>

/* ---- analogy questions ----------------------------------------------------------------------- */
typedef struct data_analogy_set {
    int64_t n;             /* number of questions */
    char **words;          /* [n * 4] words of question i at words[4i .. 4i+3] (a b c d), as written */
    int32_t *section;      /* [n] index into section_names */
    int32_t n_sections;
    char **section_names;  /* [n_sections] header text after ": " */
    char *pool;            /* owns every string above */
} data_analogy_set;

int data_analogy_read(data_analogy_set **out, const char *path);
void data_analogy_free(data_analogy_set *s);

/* ---- word similarity ------------------------------------------------------------------------- */
typedef struct data_wordsim_set {
    int64_t n;             /* number of pairs */
    char **w1, **w2;       /* [n] each, strings in pool */
    float *score;          /* [n] human score */
    char *name;            /* file name without directory and ".txt" (e.g. "EN-WS-353-ALL") */
    char *pool;
} data_wordsim_set;

int data_wordsim_read(data_wordsim_set **out, const char *path);
void data_wordsim_free(data_wordsim_set *s);

/* Reads a whole (possibly gzip) text file into a NUL-terminated heap buffer (*len excludes the
 * NUL). NULL with an error naming the file (cannot open, read error, a NUL byte and its offset). */
char *data_slurp(const char *path, size_t *len);

/* ---- sentence pairs -------------------------------------------------------------------------- */
typedef enum {
    DATA_PAIRS_AUTO = 0, /* SICK if the first line starts with "pair_ID", plain if it has 3 fields, else STS Benchmark */
    DATA_PAIRS_STSB,
    DATA_PAIRS_SICK,
    DATA_PAIRS_PLAIN,    /* sentence1 TAB sentence2 TAB score, no header */
} data_pairs_format;

typedef struct data_sentence_pairs {
    int64_t n;
    char **a, **b;   /* [n] sentences, strings in pool */
    float *score;    /* [n] gold similarity / relatedness */
    char **split;    /* [n] SICK's SemEval_set ("TRAIN", "TRIAL", "TEST"); NULL entries for STS-B */
    char *pool;
} data_sentence_pairs;

int data_pairs_read(data_sentence_pairs **out, const char *path, data_pairs_format fmt);
void data_pairs_free(data_sentence_pairs *s);

/* ---- labelled sentences (SST-2) -------------------------------------------------------------- */
typedef struct data_labeled_sentences {
    int64_t n;
    char **text;     /* [n] strings in pool */
    int32_t *label;  /* [n] */
    int64_t *line;   /* [n] 1-based line of each row in the file (for errors about a row) */
    char *pool;
} data_labeled_sentences;

int data_labeled_read(data_labeled_sentences **out, const char *path);
void data_labeled_free(data_labeled_sentences *s);

#endif
