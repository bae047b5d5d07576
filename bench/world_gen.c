/* world_gen.c — writes the chapter-world corpus (data/world.h) to a file and reports the generation rate.
 *
 * usage: bench_world_gen PATH [sentences=200000] [seed=1]
 */
#include <stdio.h>
#include <stdlib.h>

#include "autograd/ag.h"
#include "data/world.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH [sentences] [seed]\n", argv[0]);
        return 2;
    }
    long long n = argc > 2 ? atoll(argv[2]) : 200000;
    unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    double t0 = base_now_sec();
    if (data_world_write(argv[1], seed, n) != 0) {
        fprintf(stderr, "error: %s\n", base_error_msg());
        return 1;
    }
    double dt = base_now_sec() - t0;
    printf("world_gen: %lld sentences (seed %llu) -> %s in %.3f s\n", n, seed, argv[1], dt);
    return 0;
}
