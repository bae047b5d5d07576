/* test_fuzz_regressions.c — every input a fuzz/ harness found to crash, hang or over-allocate, replayed
 * against the fixed reader (docs/FUZZING.md lists them): each must now fail cleanly with its error. */
#include "support/test_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/media.h"

/* fuzz_idx: a 20-byte IDX file whose header promises 60000 x 280 x 256 bytes (4.3 GB) made the reader
 * allocate the whole payload before finding the file truncated (libFuzzer: out-of-memory, then a
 * timeout). Now a plain file is measured first and a gzip stream's buffer grows with the data: under
 * a 1 GiB address-space limit both fail with "truncated", not "cannot allocate". */
static void test_idx_huge_header(void **s) {
    (void)s;
    const unsigned char hdr[20] = {0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 1, 0x18, 0, 0, 1, 0, 1, 2, 3, 4};
    char *plain = tu_path_join(tu_group_dir(), "huge.idx"), *gz = tu_path_join(tu_group_dir(), "huge.idx.gz");
    assert_int_equal(tu_write_file(plain, hdr, sizeof hdr), 0);
    assert_int_equal(tu_write_gz(gz, hdr, sizeof hdr, 6), 0);
    const char *paths[2] = {plain, gz};
    for (int i = 0; i < 2; i++) {
        data_idx x;
#if defined(__SANITIZE_ADDRESS__)
        /* ASan's shadow memory needs more address space than any useful limit: no limit here */
        int rc = data_idx_read(paths[i], &x);
        printf("  %s: %s\n", paths[i], base_error_msg());
        assert_int_equal(rc, -1);
        assert_non_null(strstr(base_error_msg(), "truncated"));
#else
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
            setrlimit(RLIMIT_AS, &rl);
            int rc = data_idx_read(paths[i], &x);
            printf("  %s: %s\n", paths[i], base_error_msg());
            fflush(stdout);
            _exit(rc == -1 && strstr(base_error_msg(), "truncated") ? 0 : 1);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
#endif
    }
    free(plain);
    free(gz);
}

/* fuzz_idx (second find): dimensions 0xffffffff x 0xffffffff overflowed the element count (signed
 * overflow, UBSan) before the size check saw it. Now the check comes first: a clean "more than" error. */
static void test_idx_dims_overflow(void **s) {
    (void)s;
    const unsigned char hdr[16] = {0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
    char *path = tu_path_join(tu_group_dir(), "overflow.idx");
    assert_int_equal(tu_write_file(path, hdr, sizeof hdr), 0);
    data_idx x;
    int rc = data_idx_read(path, &x);
    printf("  %s: %s\n", path, base_error_msg());
    assert_int_equal(rc, -1);
    assert_non_null(strstr(base_error_msg(), "byte 8: dimensions give more than"));
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_huge_header),
        cmocka_unit_test(test_idx_dims_overflow),
    };
    return cmocka_run_group_tests(tests, tu_group_tempdir_setup, tu_group_tempdir_teardown);
}
