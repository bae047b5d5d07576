/* consumer.c — links the installed libember and runs one tiny autograd step (install smoke test). */
#include <autograd/ag.h>
#include <stdio.h>

int main(void) {
    ag_graph *g = ag_graph_new(0);
    ag_tensor *x = ag_leaf(g, AG_SHAPE(3), (const float[]){1, 2, 3});
    ag_tensor *y = ag_sum(g, ag_mul(g, x, x), AG_ALL_AXES, false); /* Σ x² */
    ag_backward(g, y);
    int ok = y->numel == 1 && ag_f32(y)[0] == 14.0f && x->grad[2] == 6.0f;
    printf("consumer: sum(x^2) = %g, d/dx3 = %g: %s\n", ag_f32(y)[0], x->grad[2], ok ? "ok" : "WRONG");
    ag_graph_free(g);
    return ok ? 0 : 1;
}
