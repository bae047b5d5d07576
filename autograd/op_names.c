/* op_names.c — the op name table, kept in step with enum ag_op by a static_assert. */
#include "ag.h"

#include <assert.h>

static const char *const op_names[] = {
    "none",
    "add", "sub", "mul", "div",
    "add_scalar", "mul_scalar",
    "neg", "exp", "log", "sqrt", "pow", "tanh", "sigmoid",
    "log_sigmoid", "relu", "gelu_tanh", "gelu_erf", "silu", "clamp",
    "matmul",
    "sum", "mean", "max",
    "softmax", "log_softmax", "cross_entropy",
    "reshape", "permute", "concat", "slice",
    "gather_rows", "scatter_add",
    "layer_norm", "rms_norm", "dropout", "masked_fill",
    "l2_normalize", "cosine_similarity",
    "attention",
    "rope", "conv2d",
    "linear",
    "w2v_ns_loss", "w2v_hs_loss",
    "dropout_add",
    "cosent",
    "dist_gather",
};

static_assert(sizeof op_names / sizeof op_names[0] == AG_OP_COUNT, "op_names out of step with enum ag_op");

const char *ag_op_name(int op) { return op >= 0 && op < AG_OP_COUNT ? op_names[op] : "?"; }
