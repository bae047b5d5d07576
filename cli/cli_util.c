/* cli_util.c — argument-parsing helpers shared by the subcommands (one wording for every bad number). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autograd/ag.h"
#include "train/loop.h"

int cli_parse_i64(const char *flag, const char *text, int64_t lo, int64_t hi, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || end == text || *end || errno == ERANGE || v < lo || v > hi) {
        if (hi == INT64_MAX)
            return base_error_set("%s: expected an integer >= %lld, got '%s'", flag, (long long)lo, text ? text : "");
        return base_error_set("%s: expected an integer in [%lld, %lld], got '%s'", flag, (long long)lo, (long long)hi,
                            text ? text : "");
    }
    *out = v;
    return 0;
}

int cli_error(const char *command) {
    fprintf(stderr, "ember %s: %s\n", command, base_error_msg());
    return 2;
}

int cli_parse_f64(const char *flag, const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || end == text || *end || errno == ERANGE || !(v >= lo && v <= hi))
        return base_error_set("%s: expected a number in [%g, %g], got '%s'", flag, lo, hi, text ? text : "");
    *out = v;
    return 0;
}

int cli_loop_flag(const char *a, const char *v, train_loop_config *c, int *used) {
    int64_t n = 0;
    double x = 0;
    int rc = 0;
    *used = 1;
    if (!strcmp(a, "--checkpoint") || !strcmp(a, "--resume") || !strcmp(a, "--best") || !strcmp(a, "--metrics")) {
        if (!v) return base_error_set("%s: expected a file", a), -1;
        if (!strcmp(a, "--checkpoint")) c->checkpoint = v;
        else if (!strcmp(a, "--resume")) c->resume = v;
        else if (!strcmp(a, "--best")) c->best = v;
        else c->metrics = v;
    } else if (!strcmp(a, "--freeze")) {
        if (!v) rc = base_error_set("--freeze: expected a glob");
        else if (c->nfreeze == TRAIN_LOOP_MAX_GLOBS) rc = base_error_set("--freeze: at most %d globs", TRAIN_LOOP_MAX_GLOBS);
        else c->freeze[c->nfreeze++] = v;
    } else if (!strcmp(a, "--unfreeze")) {
        /* STEP:GLOB or EPOCHSep:GLOB (e.g. 300:enc.layers.3.* or 1ep:enc.layers.2.*) */
        const char *colon = v ? strchr(v, ':') : NULL;
        char *end = NULL;
        double x2 = colon ? strtod(v, &end) : -1;
        bool ep = end && end != v && !strncmp(end, "ep", 2) && end + 2 == colon;
        if (!colon || !colon[1] || !end || end == v || (end != colon && !ep) || !(x2 >= 0) || (!ep && x2 != floor(x2)))
            rc = base_error_set("--unfreeze: expected STEP:GLOB or EPOCHSep:GLOB (e.g. 300:enc.layers.3.* or 1ep:task.*), "
                                "got '%s'", v ? v : "");
        else if (c->nunfreeze == TRAIN_LOOP_MAX_GLOBS) rc = base_error_set("--unfreeze: at most %d entries", TRAIN_LOOP_MAX_GLOBS);
        else {
            train_loop_unfreeze *u = &c->unfreeze[c->nunfreeze++];
            u->glob = colon + 1;
            u->step = ep ? 0 : (int64_t)x2;
            u->epoch = ep ? (x2 > 0 ? x2 : 0) : 0;
        }
    } else if (!strcmp(a, "--patience")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &c->patience);
    else if (!strcmp(a, "--schedule")) {
        if (v && !strcmp(v, "cosine")) c->sched = OPTIM_SCHED_WARMUP_COSINE;
        else if (v && !strcmp(v, "linear")) c->sched = OPTIM_SCHED_WARMUP_LINEAR;
        else if (v && !strcmp(v, "constant")) c->sched = OPTIM_SCHED_CONSTANT;
        else rc = base_error_set("--schedule: expected cosine, linear or constant, got '%s'", v ? v : "");
    } else if (!strcmp(a, "--accum")) {
        if (!(rc = cli_parse_i64(a, v, 1, 1 << 20, &n))) c->accum = (int)n;
    } else if (!strcmp(a, "--steps")) rc = cli_parse_i64(a, v, 1, INT64_MAX, &c->steps);
    else if (!strcmp(a, "--warmup")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &c->warmup);
    else if (!strcmp(a, "--eval-every")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &c->eval_every);
    else if (!strcmp(a, "--stop-after")) rc = cli_parse_i64(a, v, 1, INT64_MAX, &c->stop_after);
    else if (!strcmp(a, "--checkpoint-every")) rc = cli_parse_i64(a, v, 0, INT64_MAX, &c->checkpoint_every);
    else if (!strcmp(a, "--lr")) {
        if (!(rc = cli_parse_f64(a, v, 0, 10, &x))) c->lr = (float)x;
    } else if (!strcmp(a, "--lr-floor")) {
        if (!(rc = cli_parse_f64(a, v, 0, 10, &x))) c->lr_floor = (float)x;
    } else if (!strcmp(a, "--weight-decay")) {
        if (!(rc = cli_parse_f64(a, v, 0, 10, &x))) c->weight_decay = (float)x;
    } else if (!strcmp(a, "--clip")) rc = cli_parse_f64(a, v, 0, 1e9, &c->clip);
    else {
        *used = 0;
        if (!strcmp(a, "--decay-all")) c->decay_all = true;
        else if (!strcmp(a, "--lazy-adam")) c->lazy_adam = true;
        else if (!strcmp(a, "--quiet")) c->quiet = true;
        else if (!strcmp(a, "--profile")) c->profile = true;
        else return 0;
    }
    return rc ? -1 : 1;
}

/* True when the running `ember` is the one in its build tree (not an installed copy): only then is
 * the source tree's ../shared/data a sensible default. */
static bool running_from_build_tree(void) {
#ifdef EMBER_BUILD_DIR
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = '\0';
    size_t k = strlen(EMBER_BUILD_DIR);
    return !strncmp(exe, EMBER_BUILD_DIR, k) && exe[k] == '/';
#else
    return false;
#endif
}

const char *cli_data_dir(void) {
    static char buf[4096];
    struct stat st;
    const char *e = getenv("EMBER_DATA_DIR");
    if (e && *e && !stat(e, &st) && S_ISDIR(st.st_mode)) return e;
#ifdef EMBER_SOURCE_DIR
    if (running_from_build_tree()) {
        snprintf(buf, sizeof buf, "%s/../shared/data", EMBER_SOURCE_DIR);
        if (!stat(buf, &st) && S_ISDIR(st.st_mode)) return buf;
    }
#endif
    return NULL;
}

