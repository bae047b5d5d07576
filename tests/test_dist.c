/* test_dist.c — the dist layer in one process (every build): rank 0 of 1, collectives leave buffers as they are, ag_dist_gather is the identity with its gradient, the loop hook changes nothing; a non-MPI build refuses to run as one of several mpirun ranks. */
#include "support/test_util.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ag.h"
#include "dist/dist.h"
#include "train/dist_loop.h"

static void test_single_process(void **state) {
    (void)state;
    assert_int_equal(dist_init(false), 0); /* no launcher in the environment: one process */
    assert_false(dist_active());
    assert_int_equal(dist_rank(), 0);
    assert_int_equal(dist_size(), 1);
    assert_true(train_dist_writer());
    float x[5] = {1, 2, 3, 4, 5};
    dist_allreduce_sum_f32(x, 5);
    dist_allreduce_avg_f32(x, 5);
    for (int i = 0; i < 5; i++) assert_true(x[i] == (float)(i + 1));
    int64_t v[2] = {3, -4};
    dist_allreduce_max_i64(v, 2);
    dist_allreduce_sum_i64(v, 2);
    assert_true(v[0] == 3 && v[1] == -4);
    float y[5];
    dist_allgather(x, sizeof x, y);
    assert_memory_equal(x, y, sizeof x);
    int64_t counts[1];
    memset(y, 0, sizeof y);
    dist_allgatherv(x, 3 * sizeof(float), y, counts);
    assert_int_equal(counts[0], 3 * (int64_t)sizeof(float));
    assert_memory_equal(x, y, 3 * sizeof(float));
    dist_broadcast(x, sizeof x, 0);
    dist_barrier();
    assert_true(train_dist_any(true) && !train_dist_any(false));
    assert_int_equal(dist_bucket_elems(), 1 << 20);
    assert_true(dist_hash("ember", 5) != dist_hash("embers", 6));
}

static ag_tensor *build_gather(ag_graph *g, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    return ag_tanh(g, ag_dist_gather(g, in[0]));
}

static void test_gather_is_identity(void **state) {
    (void)state;
    ag_tensor *x = tu_param_uniform(AG_SHAPE(4, 3), 3, -1, 1);
    ag_graph *g = ag_graph_new(0);
    ag_tensor *y = ag_dist_gather(g, x);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 4);
    assert_memory_equal(y->data, x->data, 12 * sizeof(float));
    assert_string_equal(ag_op_name(AG_OP_DIST_GATHER), "dist_gather");
    ag_graph_free(g);
    tu_gradcheck("dist_gather (one process)", build_gather, NULL, 1, (ag_tensor *[]){x}, 1e-2);
    ag_tensor_free(x);
}

/* The loop hook in one process: grads, loss and token counts untouched; saves allowed. */
static void test_hook_is_noop(void **state) {
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_params_add(&ps, "w", 2, (const int64_t[]){3, 4}, NN_INIT_NORMAL, 1, 0, false);
    base_rng r;
    base_rng_seed(&r, 1);
    nn_params_alloc(&ps, &r);
    for (int64_t i = 0; i < 12; i++) ps.items[0].t->grad[i] = (float)i;
    base_rng before = r;
    train_dist_begin(&ps, &r);
    assert_memory_equal(&before, &r, sizeof r); /* rank 0 keeps the single-process dropout stream */
    double loss = 2.5;
    int64_t tokens = 110, here = 10;
    train_dist_step(&ps, &loss, 100, &tokens, &here);
    assert_true(loss == 2.5 && tokens == 110 && here == 10);
    for (int64_t i = 0; i < 12; i++) assert_true(ps.items[0].t->grad[i] == (float)i);
    bool write = false;
    assert_int_equal(train_dist_save_gate(&ps, &write), 0);
    assert_true(write);
    nn_params_free(&ps);
}

/* A build without MPI started by mpirun as one of 2 ranks must refuse (every rank would train the
 * whole run alone and overwrite the same checkpoint); --dist likewise. An MPI build is not tested
 * here (starting MPI would make this a singleton MPI program): tests/mpi covers it. */
static void test_refuses_without_mpi(void **state) {
    (void)state;
    if (dist_compiled()) {
        skip();
        return;
    }
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    assert_true(dist_launched());
    assert_int_equal(dist_init(false), -1);
    assert_non_null(strstr(base_error_msg(), "built without MPI"));
    unsetenv("OMPI_COMM_WORLD_SIZE");
    assert_int_equal(dist_init(true), -1);
    assert_non_null(strstr(base_error_msg(), "-DEMBER_MPI=ON"));
    char *out = NULL;
    assert_int_equal(tu_run_ember(&out, "version --dist"), 2);
    assert_non_null(strstr(out, "built without MPI"));
    free(out);
    assert_int_equal(tu_run_ember(&out, "version"), 0);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_process),
        cmocka_unit_test(test_gather_is_identity),
        cmocka_unit_test(test_hook_is_noop),
        cmocka_unit_test(test_refuses_without_mpi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
