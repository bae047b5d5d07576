/* test_word2vec_ids.c — the encoded-corpus stream (train/word2vec_ids.c): tokens of every varint
 * length round-trip in memory and through a temporary file (across read-buffer refills), the
 * block index locates positions, the temporary file never shows in the directory, and a
 * directory that cannot hold one is an error, not a crash. */
#include "support/test_util.h"

#include "train/word2vec_ids.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Token i of the test sequence: every varint length and its edges, the EOS marker, and plenty of
 * small ids (as in a real corpus), so more than 1 MiB is written. */
static uint32_t token_at(uint64_t i, base_rng *r) {
    static const uint32_t edges[] = {0,        1,         0x7F,       0x80,       0x3FFF,   0x4000,
                                     0x1FFFFF, 0x200000, 0xFFFFFFF, 0x10000000, 0xFFFFFFFE, TRAIN_W2V_IDS_EOS};
    if (i % 7 == 3) return edges[(i / 7) % (sizeof edges / sizeof *edges)];
    return (uint32_t)base_rng_below(r, i % 2 ? 128 : 70000);
}

static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void round_trip(bool in_memory) {
    char *dir = tu_tempdir();
    const int64_t n = 1500000; /* about 2.3 MB of varints: several refills of the 1 MiB window */
    train_w2v_ids *s = train_w2v_ids_new(in_memory, dir);
    assert_false(train_w2v_ids_ready(s));
    assert_int_equal(train_w2v_ids_begin(s, 1000), 0);
    assert_int_equal(dir_entries(dir), 0); /* unlinked at once: nothing to clean up, ever */
    base_rng r;
    base_rng_seed(&r, 1);
    int64_t bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t t = token_at((uint64_t)i, &r);
        bytes += train_w2v_ids_varint_len(t);
        assert_int_equal(train_w2v_ids_put(s, t), 0);
        if (train_w2v_ids_at_block(s)) train_w2v_ids_mark(s, 1000 + 10 * (i + 1)); /* offset after token i */
    }
    assert_int_equal(train_w2v_ids_finish(s, 99999999), 0);
    assert_true(train_w2v_ids_ready(s));
    assert_int_equal(train_w2v_ids_count(s), n);
    assert_int_equal(train_w2v_ids_bytes(s), bytes);
    assert_int_equal(train_w2v_ids_on_disk(s), !in_memory);
    for (int pass = 0; pass < 2; pass++) { /* two epochs */
        assert_int_equal(train_w2v_ids_rewind(s), 0);
        base_rng_seed(&r, 1);
        uint32_t t = 0;
        for (int64_t i = 0; i < n; i++) {
            assert_int_equal(train_w2v_ids_next(s, &t), 1);
            uint32_t want = token_at((uint64_t)i, &r);
            if (t != want) fail_msg("pass %d token %lld: got %u, wrote %u", pass, (long long)i, t, want);
        }
        assert_int_equal(train_w2v_ids_next(s, &t), 0);
        assert_int_equal(train_w2v_ids_pos(s), n);
    }
    /* the block index: position p starts after token p-1, at offset 1000 + 10·p in this fake text */
    const int64_t B = TRAIN_W2V_IDS_BLOCK;
    const int64_t probes[] = {0, 1, B - 1, B, B + 1, 5 * B + 17, n - 1, n};
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        int64_t off, skip, p = probes[i];
        train_w2v_ids_locate(s, p, &off, &skip);
        assert_true(skip >= 0 && skip < B);
        assert_int_equal(off + 10 * skip, 1000 + 10 * p);
    }
    assert_int_equal(train_w2v_ids_end_offset(s), 99999999);
    /* a fresh encoding replaces the old one */
    assert_int_equal(train_w2v_ids_begin(s, 5), 0);
    assert_int_equal(train_w2v_ids_put(s, 300), 0);
    assert_int_equal(train_w2v_ids_finish(s, 6), 0);
    assert_int_equal(train_w2v_ids_rewind(s), 0);
    uint32_t t = 0;
    assert_int_equal(train_w2v_ids_next(s, &t), 1);
    assert_int_equal(t, 300);
    assert_int_equal(train_w2v_ids_next(s, &t), 0);
    train_w2v_ids_free(s);
    assert_int_equal(dir_entries(dir), 0);
    tu_rmtree(dir);
    free(dir);
}

static void test_round_trip_memory(void **state) {
    (void)state;
    round_trip(true);
}

static void test_round_trip_file(void **state) {
    (void)state;
    round_trip(false);
}

static void test_no_temp_dir(void **state) {
    (void)state;
    train_w2v_ids *s = train_w2v_ids_new(false, "/nonexistent/ember-test-dir");
    assert_int_equal(train_w2v_ids_begin(s, 0), -1);
    assert_non_null(strstr(base_error_msg(), "/nonexistent/ember-test-dir"));
    assert_false(train_w2v_ids_ready(s));
    train_w2v_ids_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_memory),
        cmocka_unit_test(test_round_trip_file),
        cmocka_unit_test(test_no_temp_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
