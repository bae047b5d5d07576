/* test_shape_errors.c — programming errors abort with the op name, the shapes, file and line. */
#include "support/test_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*bad_fn)(ag_graph *g);

/* Runs fn in a child process; returns what the child wrote to stderr, and whether it aborted. */
static char *run_child(bad_fn fn, bool *aborted) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        ag_graph *g = ag_graph_new(0);
        fn(g);
        _exit(0); /* reached only if the op did not abort */
    }
    close(fds[1]);
    static char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    *aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
    return buf;
}

static void bad_add(ag_graph *g) {
    ag_tensor *a = ag_zeros(g, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *b = ag_zeros(g, AG_F32, AG_SHAPE(4, 5));
    ag_add(g, a, b);
}

static void bad_matmul(ag_graph *g) {
    ag_tensor *a = ag_zeros(g, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *b = ag_zeros(g, AG_F32, AG_SHAPE(4, 5));
    ag_matmul(g, a, b, false, false);
}

static void check(bad_fn fn, const char *op) {
    bool aborted;
    const char *err = run_child(fn, &aborted);
    printf("child stderr: %s", err);
    assert_true(aborted);
    assert_non_null(strstr(err, op));
    assert_non_null(strstr(err, "[2, 3]"));
    assert_non_null(strstr(err, ".c:")); /* file:line */
}

static void test_add_shape_mismatch_aborts(void **state) { (void)state; check(bad_add, "add"); }
static void test_matmul_shape_mismatch_aborts(void **state) { (void)state; check(bad_matmul, "matmul"); }

int main(void) {
    /* ASan intercepts abort() in the child; that is still a SIGABRT. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_shape_mismatch_aborts),
        cmocka_unit_test(test_matmul_shape_mismatch_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
