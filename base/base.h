/* base.h — the plumbing every room uses: errors, aborting allocation, the RNG, JSON writing, a clock.
 *
 * How it is used (base depends on libc only; every other room may include it):
 *
 *   char *buf = base_xmalloc(n);               // never NULL: out of memory aborts with the size
 *   if (!fits) return base_error_set("%s: line %lld: expected 3 fields, got %d", path, line, got);
 *   if (read_header(f) < 0) return base_error_prefix("%s", path); // context while unwinding
 *   fprintf(stderr, "ember: %s\n", base_error_msg());              // the caller (the CLI) reports
 *
 *   base_rng r;
 *   base_rng_seed(&r, 42);                     // same seed, same stream, on every machine
 *   uint32_t k = base_rng_below(&r, n);        // unbiased draw in [0, n)
 *
 * - User-input failures (files, flags, corpora) never abort: return -1 or NULL after
 *   base_error_set(); the message lives in a thread-local buffer (DESIGN.md §6).
 * - Programming errors (a bug in the calling code) abort through BASE_CHECK with a name, a
 *   message, file and line. The engine's AG_CHECK (autograd/ag.h) is BASE_CHECK under its name.
 * - The RNG's whole state is 4 words, so checkpoints store and restore it exactly.
 */
#ifndef EMBER_BASE_H
#define EMBER_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------------
 * Errors (DESIGN.md §6), base/error.c. Library functions that can fail on user input return a
 * negative status (or NULL) and leave a message in a thread-local buffer; the CLI prints it and
 * exits non-zero.
 * --------------------------------------------------------------------------------------------- */

/* Formats a message into this thread's error buffer and returns -1 (so `return base_error_set(...)`). */
int base_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepends "prefix: " to the current message (adds context while unwinding, e.g. a file name). */
int base_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message set on this thread ("" if none). Valid until the next base_error_set. */
const char *base_error_msg(void);
void base_error_clear(void);

/* Programming-error check: prints `where` (an op or function name), the message and file:line,
 * then aborts. Never use for user input. */
#define BASE_CHECK(cond, where, ...)                                                               \
    do {                                                                                           \
        if (!(cond)) base_fatal_(where, __FILE__, __LINE__, __VA_ARGS__);                          \
    } while (0)
_Noreturn void base_fatal_(const char *where, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------------------------------------
 * Aborting allocation (base/alloc.c) for memory the program cannot run without: out of memory is
 * not a user-input error, it aborts with the size requested. Free everything with free().
 * --------------------------------------------------------------------------------------------- */
void *base_xmalloc(size_t bytes);
void *base_xcalloc(size_t n, size_t size);
void *base_xrealloc(void *p, size_t bytes);
void *base_xaligned(size_t bytes); /* 64-byte aligned */
char *base_xstrdup(const char *s);

/* ------------------------------------------------------------------------------------------------
 * Small helpers (base/util.c): JSON output, a monotonic clock, error-message tidying.
 * --------------------------------------------------------------------------------------------- */
/* Writes s as a JSON string literal ("..." with \" \\ and \u00XX escapes for control bytes). */
void base_json_str(FILE *f, const char *s);
/* Writes v as a JSON number ("%.6g"); NaN and +-Inf, which JSON lacks, are written as null. */
void base_json_num(FILE *f, double v);
/* Seconds on CLOCK_MONOTONIC (for intervals only; the origin is arbitrary). */
double base_now_sec(void);
/* msg without a leading "<path>: " (zlib's gzerror() prefixes the file name; our messages already
 * name it), else msg itself. Returns a pointer into msg. */
const char *base_strip_path_prefix(const char *msg, const char *path);

/* Atomic saves (checkpoints, exports) write "<target>.tmp.<pid>" and rename it over <target>; a
 * save killed before the rename leaves that file behind. base_temp_parse: true if path has that
 * form, with the target (at most size-1 bytes) and the pid written out. */
/* Writes this process's temp name for target, "<target>.tmp.<pid>", into out (snprintf's rules). */
void base_temp_name(char *out, size_t size, const char *target);
bool base_temp_parse(const char *path, char *target, size_t size, long *pid);
/* True if process pid exists (kill(pid, 0) did not fail with ESRCH). */
bool base_pid_alive(long pid);
/* Removes the temp files of target ("<target>.tmp.<pid>" in its directory) whose process no
 * longer exists: the remains of killed saves. Files of live processes (a save running now) and of
 * this process are kept. A pid reused by an unrelated live process keeps its file until that
 * process is gone. Returns the number removed (errors are ignored: cleaning is best effort). */
int base_remove_stale_temps(const char *target);

/* ------------------------------------------------------------------------------------------------
 * Random numbers (base/rng.c): xoshiro256**; the whole state is 4 words so checkpoints can store
 * it exactly.
 * --------------------------------------------------------------------------------------------- */
typedef struct base_rng {
    uint64_t s[4];
} base_rng;

void base_rng_seed(base_rng *r, uint64_t seed);   /* splitmix64 expansion of seed */
uint64_t base_rng_next(base_rng *r);              /* 64 random bits */
uint32_t base_rng_below(base_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
float base_rng_uniform(base_rng *r);              /* uniform in [0, 1) with 24 bits */
double base_rng_uniform_d(base_rng *r);           /* uniform in [0, 1) with 53 bits */
float base_rng_normal(base_rng *r);               /* standard normal (Box–Muller, no cache) */

#ifdef __cplusplus
}
#endif

#endif
