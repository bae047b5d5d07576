/* cli_util.c — argument-parsing helpers shared by the subcommands (one wording for every bad number). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "autograd/ag.h"

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
