/* ckpt.h — HDF5 checkpoints: everything a run needs to resume, written atomically, read with checks.
 *
 * One checkpoint is one HDF5 file (DESIGN.md §5), readable with h5py and h5dump:
 *
 *     /                         attrs: format = "ember-checkpoint", format_version = 1, ember_version
 *     /config                   JSON string (fixed-length string dataset)
 *     /params/<dotted.name>     float32, one dataset per parameter, shape as in the model
 *     /optim                    attrs: kind ("adam", ...), step, lr, momentum, dampening, nesterov,
 *                                      beta1, beta2, eps, weight_decay
 *     /optim/<dotted.name>/<slot>   float32 optimizer buffers ("exp_avg", "exp_avg_sq",
 *                                   "momentum_buffer", per-row "step"); parameter shape when the
 *                                   buffer has the parameter's size, else 1-D
 *     /vocab/words              uint8 [total bytes]: every word followed by one NUL byte, in id order
 *     /vocab/counts             int64 [n]
 *     /tokenizer/file           the tokenizer's text file (data/tokenizer.h), a string
 *     /tokenizer/merges         int32 [M, 2] (the same merges, for readers without a parser)
 *     /state/...                whatever the trainer saves; the conventional names are
 *                                 /state/step, /state/epoch, /state/words_done (int64 scalars),
 *                                 /state/schedule_step (int64), /state/lr (float64),
 *                                 /state/rng/<name> (uint64 [4], an base_rng),
 *                                 /state/data_cursor (int64 [workers], byte offset per worker);
 *                               a trainer's other fields go by name in a group of its own
 *                               (/state/word2vec/..., train/word2vec.h)
 *
 * Integrity: the file starts with a 512-byte HDF5 user block (HDF5 skips it; h5py and h5dump read
 * the file normally) holding one text line
 *     "EMBER-CHECKPOINT 1 <file size> <64-bit hash of bytes 512..end, 16 hex digits>\n"
 * ckpt_open verifies size and hash before HDF5 parses a single byte, so a truncated or bit-flipped
 * checkpoint is reported as such instead of reaching HDF5's parser (which is not hardened against
 * corrupt input). Files without the line (written by other tools following this layout, or an ember
 * file whose user block was zeroed) get no integrity check; since HDF5 1.10 can crash on a damaged
 * one, ckpt_open first has a forked child read such a file whole (every object, attribute and
 * dataset) and opens it only if the child finished: a crash, an HDF5 error or a hang there is an
 * error. They are then accepted if their root attributes are right.
 *
 * Atomic save: the writer creates "<path>.tmp.<pid>", and ckpt_writer_commit flushes it, writes the
 * user block, fsyncs, renames it over <path> and fsyncs the directory. A crash or SIGKILL at any
 * moment leaves either the previous checkpoint or the new one at <path>, never a mix; a failed
 * save leaves <path> untouched.
 *
 * Errors: every function that can fail on user input returns a negative status (or NULL) and sets
 * base_error_msg() to a message naming the file, the dataset and what differs, e.g.
 *     "run/ckpt.h5: /params/enc.w: shape [4, 8] in file, [4, 16] in model"
 * HDF5's own error printing is switched off; its innermost message is appended in parentheses.
 *
 * Threads: HDF5 (serial build) is not thread-safe: use checkpoints from one thread at a time.
 * This header does not include hdf5.h.
 */
#ifndef EMBER_CKPT_H
#define EMBER_CKPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../autograd/ag.h"
#include "../data/tokenizer.h"
#include "../nn/params.h"
#include "../optim/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_FORMAT "ember-checkpoint"
#define CKPT_FORMAT_VERSION 1 /* readers accept versions <= this */

/* ------------------------------------------------------------------------------------------------
 * Writing
 * --------------------------------------------------------------------------------------------- */
typedef struct ckpt_writer ckpt_writer;

typedef struct ckpt_writer_options {
    int gzip_level;     /* 0 = no compression (default); 1..9 = shuffle + deflate on chunked datasets
                           of at least 4 KiB */
    bool no_fsync;      /* skip fsync of the file and directory (tests, benchmarks); rename stays */
} ckpt_writer_options;

/* Starts a checkpoint that will replace `path` on commit. Creates "<path>.tmp.<pid>" and writes the
 * root attributes. Returns NULL (error set) if the temp file cannot be created. opt may be NULL. */
ckpt_writer *ckpt_writer_begin(const char *path);
ckpt_writer *ckpt_writer_begin_opts(const char *path, const ckpt_writer_options *opt);

/* Each put returns 0, or -1 with an error (I/O failure, a name containing '/', a path written
 * twice). After a failed put the writer can only be aborted. Data is copied into the file at once:
 * the caller's buffers may change after the call returns. */

/* /params/<name> for every parameter of ps (frozen ones too), shape as in the model. */
int ckpt_put_params(ckpt_writer *w, const nn_params *ps);
/* /optim attrs (kind, step, hyper-parameters) and every existing state buffer. */
int ckpt_put_optim(ckpt_writer *w, const optim *o);
/* /vocab/words, /vocab/counts. words: [n] NUL-terminated; counts: [n]. */
int ckpt_put_vocab(ckpt_writer *w, const char *const *words, const int64_t *counts, int64_t n);
/* /tokenizer/merges. merges: [m, 2] pairs of token ids, in merge order. */
int ckpt_put_merges(ckpt_writer *w, const int32_t *merges, int64_t m);
/* /tokenizer/file (data_tokenizer_to_text) and /tokenizer/merges (checkpoints/ckpt_tokenizer.c). */
int ckpt_put_tokenizer(ckpt_writer *w, const data_tokenizer *t);
/* /config: a JSON document (not validated). */
int ckpt_put_config_json(ckpt_writer *w, const char *json);

/* Generic datasets at an absolute path ("/state/step"); missing groups are created. */
int ckpt_put_i64(ckpt_writer *w, const char *path, int64_t v);   /* int64 scalar */
int ckpt_put_f64(ckpt_writer *w, const char *path, double v);    /* float64 scalar */
int ckpt_put_string(ckpt_writer *w, const char *path, const char *s);
int ckpt_put_i64_array(ckpt_writer *w, const char *path, const int64_t *v, int64_t n); /* [n] */
int ckpt_put_u64_array(ckpt_writer *w, const char *path, const uint64_t *v, int64_t n); /* [n] */
int ckpt_put_f64_array(ckpt_writer *w, const char *path, const double *v, int64_t n);   /* [n] */
int ckpt_put_f32_array(ckpt_writer *w, const char *path, const float *v, int ndim,
                       const int64_t *shape);
int ckpt_put_i32_array(ckpt_writer *w, const char *path, const int32_t *v, int ndim,
                       const int64_t *shape);
int ckpt_put_rng(ckpt_writer *w, const char *path, const base_rng *r); /* uint64 [4] */

/* Finishes the file and renames it over the target (see "Atomic save" above). Frees w in every
 * case. Returns 0, or -1 with an error; on failure the temp file is removed and the previous
 * checkpoint at the target path is untouched. */
int ckpt_writer_commit(ckpt_writer *w);
/* Discards the temp file and frees w (NULL is fine). The target path is untouched. */
void ckpt_writer_abort(ckpt_writer *w);

/* ------------------------------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------------------------------- */
typedef struct ckpt_reader ckpt_reader;

/* Opens a checkpoint for reading: verifies the integrity line (size and hash) when present, then
 * the root attributes format == "ember-checkpoint" and format_version <= CKPT_FORMAT_VERSION.
 * Returns NULL with an error such as "x.h5: truncated: 1000 bytes, header says 4096".
 * A file without the line is first read whole by a forked child process (never for a verified
 * file), so a damaged one that crashes HDF5 fails here instead: "x.h5: no integrity line, and
 * HDF5's parser crashed (SIGSEGV) reading attribute 'format' of /: the file is damaged; nothing was
 * loaded from it", or "... HDF5 cannot read it: <object> (HDF5: <message>) ...", or "... did not
 * finish reading <object> within 300 s (time limit) ..." (5 min plus 1 s per 8 MiB of file; the
 * environment variable EMBER_CKPT_PROBE_TIMEOUT_MS, for tests, can only lower it). Costs a fork and
 * one extra read of the file (docs/CHECKPOINTS.md); values that are wrong but well-formed still
 * load, which is why training refuses such files. */
ckpt_reader *ckpt_open(const char *path);
void ckpt_close(ckpt_reader *r); /* NULL is fine */
const char *ckpt_reader_path(const ckpt_reader *r);
int ckpt_format_version(const ckpt_reader *r);
const char *ckpt_ember_version(const ckpt_reader *r); /* "" if absent */
bool ckpt_verified(const ckpt_reader *r);             /* true if the integrity line was checked */
/* Where ckpt_open reports a checkpoint it opened without an integrity line ("warning: <path>: no
 * integrity line: its contents are not verified ..."); NULL (the default) reports nothing. The
 * `ember` command sets stderr, so every read-only tool (similar, eval, export, embed) warns;
 * training refuses such a file for --resume unless told to trust it. Not thread-safe: set once. */
void ckpt_set_unverified_warnings(FILE *f);
/* The integrity check ckpt_open starts with, alone (no HDF5 call, no child process): 1 if the
 * integrity line is there and size and hash match, 0 if there is no line but an HDF5 signature
 * (ckpt_open would read such a file in a child first, then open it unverified), -1 with an error
 * otherwise (truncated, corrupt, not a checkpoint). */
int ckpt_check_integrity(const char *path);

typedef enum ckpt_dtype {
    CKPT_OTHER = 0, CKPT_F32, CKPT_F64, CKPT_I32, CKPT_I64, CKPT_U64, CKPT_U8, CKPT_STRING
} ckpt_dtype;
const char *ckpt_dtype_name(ckpt_dtype d); /* "float32", "int64", "string", ... */

#define CKPT_MAX_DIMS 8
typedef struct ckpt_info {
    ckpt_dtype dtype;
    int ndim;                      /* 0 for scalars and strings */
    int64_t shape[CKPT_MAX_DIMS];
    int64_t numel;                 /* 1 for scalars; for strings, the length in bytes */
    int64_t storage_bytes;         /* bytes used in the file (after compression) */
} ckpt_info;

/* True if a dataset exists at path. */
bool ckpt_has(ckpt_reader *r, const char *path);
/* Dtype and shape of the dataset at path; -1 with "x.h5: /state/step: missing in file". */
int ckpt_get_info(ckpt_reader *r, const char *path, ckpt_info *info);

/* Typed getters: fail (error set, *out untouched) when the dataset is missing or its dtype or
 * shape differ from what is asked. Scalars accept shape [] or [1]. */
int ckpt_get_i64(ckpt_reader *r, const char *path, int64_t *out);
int ckpt_get_f64(ckpt_reader *r, const char *path, double *out);
int ckpt_get_string(ckpt_reader *r, const char *path, char **out); /* heap, caller frees */
int ckpt_get_i64_array(ckpt_reader *r, const char *path, int64_t *out, int64_t n);
int ckpt_get_u64_array(ckpt_reader *r, const char *path, uint64_t *out, int64_t n);
int ckpt_get_f64_array(ckpt_reader *r, const char *path, double *out, int64_t n);
int ckpt_get_f32_array(ckpt_reader *r, const char *path, float *out, int ndim, const int64_t *shape);
int ckpt_get_i32_array(ckpt_reader *r, const char *path, int32_t *out, int ndim, const int64_t *shape);
int ckpt_get_rng(ckpt_reader *r, const char *path, base_rng *out);
int ckpt_get_config_json(ckpt_reader *r, char **out); /* heap, caller frees */

/* /vocab: *words is a heap array of n heap strings (free with ckpt_free_words), *counts heap [n]. */
int ckpt_get_vocab(ckpt_reader *r, char ***words, int64_t **counts, int64_t *n);
void ckpt_free_words(char **words, int64_t n);
/* /tokenizer/merges: *merges heap [m, 2]. */
int ckpt_get_merges(ckpt_reader *r, int32_t **merges, int64_t *m);

/* Parses /tokenizer/file (errors name "<path>:/tokenizer/file:<line>") into *out (free with
 * data_tokenizer_free) and checks /tokenizer/merges against it when present. -1 with
 * "<path>: no tokenizer in checkpoint (/tokenizer/file missing)" when the file has none. */
int ckpt_get_tokenizer(ckpt_reader *r, data_tokenizer **out);

/* Strict load (strict = true): every parameter of ps must be in the file with the same shape and
 * dtype float32, and the file may hold no parameter that ps lacks. All differences are listed in
 * the error ("x.h5: 2 differences: /params/b: missing in file; /params/c: unexpected in file") and
 * nothing is modified on failure. strict = false loads every parameter that matches by name and
 * shape and leaves the rest as they are (same as ckpt_load_params_glob with "*" and no report).
 * Returns the number of parameters loaded, or -1. */
int ckpt_load_params(ckpt_reader *r, nn_params *ps, bool strict);

/* What a partial load did: loaded parameter names, and skipped "name: reason" lines
 * (reasons: "not in file", "shape [..] in file, [..] in model", "dtype int64 in file, float32 in
 * model", "in file but not in model", "not selected by '<pattern>'"). */
typedef struct ckpt_load_report {
    int nloaded, nskipped;
    char **loaded;  /* [nloaded] heap strings */
    char **skipped; /* [nskipped] heap strings */
} ckpt_load_report;
void ckpt_load_report_free(ckpt_load_report *rep); /* frees the contents; the struct may be reused */
void ckpt_load_report_print(const ckpt_load_report *rep, FILE *f);

/* Partial load for fine-tuning: loads every model parameter whose name matches the fnmatch(3)
 * pattern and whose dataset exists with the same shape and dtype float32; reports (if rep != NULL,
 * zeroed by the call) what was loaded and what was skipped and why. Returns the number loaded, or
 * -1 on an I/O error. */
int ckpt_load_params_glob(ckpt_reader *r, nn_params *ps, const char *pattern, ckpt_load_report *rep);

/* Restores optimizer state: kind must match (error otherwise), step and lr are set from /optim's
 * attributes, every buffer in the file is copied into the optimizer (created via optim_state_find);
 * a buffer for a parameter or slot the optimizer does not know, or of a different size, is an
 * error. Everything is checked before anything is written. Returns 0 or -1. */
int ckpt_load_optim(ckpt_reader *r, optim *o);

/* Every group and dataset in the file, depth first, in creation order where the file records it.
 * visit returns 0 to continue, nonzero to stop. info is NULL for groups. */
typedef int (*ckpt_visit_fn)(const char *path, const ckpt_info *info, void *ctx);
int ckpt_visit(ckpt_reader *r, ckpt_visit_fn visit, void *ctx);

/* The embedding table of a checkpoint (checkpoints/pick.c), one rule for every reader (`ember
 * similar`, `ember eval`, `ember ckpt export`): a float32 [rows, dim] dataset under /params, rows =
 * the vocabulary size. With preferred (a parameter name, "/params/" optional) that dataset is
 * checked; otherwise, of the candidates, the one whose name says "input embedding" best wins:
 * syn0 / in_embed / input > *tok_emb* / *embed* (not *out*) > any name without syn1 or out > the
 * rest (syn1, syn1neg, out_embed: output tables). A tie at the top is an error listing the
 * candidates ("name one with --param"). Writes the dataset path ("/params/<name>", at most size-1
 * bytes) into out_path and its info into *info (may be NULL). Returns 0 or -1 (error set). */
int ckpt_pick_embedding(ckpt_reader *r, int64_t rows, const char *preferred, char *out_path, size_t size,
                        ckpt_info *info);

/* Reads a string attribute of an object (e.g. "/optim", "kind") into buf; -1 if absent. */
int ckpt_get_attr_string(ckpt_reader *r, const char *obj, const char *name, char *buf, size_t size);
/* Reads a numeric attribute (any integer or float type) as a double; -1 if absent. */
int ckpt_get_attr_f64(ckpt_reader *r, const char *obj, const char *name, double *out);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_CKPT_H */
