/* ckpt_io.c — checkpoint write/read throughput of a 100M-parameter model, uncompressed and gzip,
 * against `cp` of the resulting file and a raw write()+fsync() of the same bytes, in the same run.
 *
 * usage: bench_ckpt_io [--params N_MILLIONS] [--gzip LEVEL] [--dir DIR] [--repeat N]
 * Files are written under DIR (default $TMPDIR or /tmp) and removed afterwards. Every figure is the
 * best of N runs (default 3): the machine is shared, and the minimum is the least disturbed run. Reads run with a
 * warm page cache (the file was just written); the figures are the cost of ember's work (HDF5,
 * integrity hash, copies) on top of memory bandwidth, not of the disk.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoints/ckpt.h"

/* CPU seconds of this process (all threads), and of waited-for children (cp). The machine is
 * shared: CPU time shows the work done, wall time also shows the waiting for a core. */
static double cpu_self(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double cpu_children(void) {
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static int64_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* A transformer-ish parameter list summing to about `total` values: 12 blocks of 4 square
 * matrices + 2 MLP matrices + norms, plus an embedding table taking the remainder. */
static void build_model(nn_params *ps, int64_t total) {
    nn_params_init(ps);
    const int64_t d = 768;
    int64_t layers = (total * 85 / 100) / (8 * d * d + 2 * d); /* blocks take ~85%, like BERT-base */
    if (layers > 12) layers = 12;
    int64_t used = 0;
    char name[128];
    for (int64_t l = 0; l < layers; l++) {
        const char *sq[] = {"attn.wq", "attn.wk", "attn.wv", "attn.wo"};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "encoder.layers.%lld.%s.weight", (long long)l, sq[i]);
            nn_params_add(ps, name, AG_SHAPE(d, d), NN_INIT_NORMAL, 0.02f, 0, false);
            used += d * d;
        }
        snprintf(name, sizeof name, "encoder.layers.%lld.mlp.fc1.weight", (long long)l);
        nn_params_add(ps, name, AG_SHAPE(d, 4 * d), NN_INIT_NORMAL, 0.02f, 0, false);
        snprintf(name, sizeof name, "encoder.layers.%lld.mlp.fc2.weight", (long long)l);
        nn_params_add(ps, name, AG_SHAPE(4 * d, d), NN_INIT_NORMAL, 0.02f, 0, false);
        snprintf(name, sizeof name, "encoder.layers.%lld.norm1.weight", (long long)l);
        nn_params_add(ps, name, AG_SHAPE(d), NN_INIT_ONES, 0, 0, false);
        snprintf(name, sizeof name, "encoder.layers.%lld.norm2.weight", (long long)l);
        nn_params_add(ps, name, AG_SHAPE(d), NN_INIT_ONES, 0, 0, false);
        used += 8 * d * d + 2 * d;
    }
    int64_t rows = (total - used) / d;
    if (rows < 1) rows = 1;
    nn_params_add(ps, "tok_embed.weight", AG_SHAPE(rows, d), NN_INIT_NORMAL, 0.02f, 0, true);
    base_rng r;
    base_rng_seed(&r, 1);
    nn_params_alloc(ps, &r);
}

static int save(const char *path, const nn_params *ps, int gzip) {
    ckpt_writer_options opt = {.gzip_level = gzip};
    ckpt_writer *w = ckpt_writer_begin_opts(path, &opt);
    if (!w) return -1;
    if (ckpt_put_params(w, ps) < 0 || ckpt_put_i64(w, "/state/step", 1) < 0) {
        ckpt_writer_abort(w);
        return -1;
    }
    return ckpt_writer_commit(w);
}

/* Returns open (verify) seconds in *t_open and total seconds. */
static double load(const char *path, nn_params *ps, double *t_open) {
    double t0 = base_now_sec();
    ckpt_reader *r = ckpt_open(path);
    if (!r) {
        fprintf(stderr, "bench_ckpt_io: %s\n", base_error_msg());
        exit(1);
    }
    *t_open = base_now_sec() - t0;
    if (ckpt_load_params(r, ps, true) < 0) {
        fprintf(stderr, "bench_ckpt_io: %s\n", base_error_msg());
        exit(1);
    }
    ckpt_close(r);
    return base_now_sec() - t0;
}

static double run_cmd(const char *cmd) {
    double t0 = base_now_sec();
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_ckpt_io: '%s' failed\n", cmd);
        exit(1);
    }
    return base_now_sec() - t0;
}

int main(int argc, char **argv) {
    double millions = 100;
    int gzip = 1, repeat = 3;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--params") && i + 1 < argc) millions = atof(argv[++i]);
        else if (!strcmp(argv[i], "--gzip") && i + 1 < argc) gzip = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_ckpt_io [--params N_MILLIONS] [--gzip LEVEL] [--dir DIR] [--repeat N]\n");
            return 2;
        }
    }
    nn_params ps, back;
    build_model(&ps, (int64_t)(millions * 1e6));
    build_model(&back, (int64_t)(millions * 1e6));
    double bytes = (double)ps.total * 4;
    char path[1024], copy[1100], raw[1100], cmd[4096];
    snprintf(path, sizeof path, "%s/bench_ckpt_io.%ld.h5", dir, (long)getpid());
    snprintf(copy, sizeof copy, "%s.copy", path);
    snprintf(raw, sizeof raw, "%s.raw", path);
    printf("ckpt_io: %.1fM parameters in %d tensors (%.1f MB of float32), files in %s\n", (double)ps.total / 1e6,
           ps.n, bytes / 1e6, dir);

    if (repeat < 1) repeat = 1;
    printf("best of %d runs each\n", repeat);
    printf("%-40s %8s %9s %10s %8s\n", "operation", "seconds", "GB/s", "file MB", "cpu s");
    /* Raw peer: the parameter bytes with write() + fsync(): what any format must pay. */
    double t0, c0, t_raw = 1e30, c_raw = 0;
    for (int rep = 0; rep < repeat; rep++) {
    t0 = base_now_sec();
    c0 = cpu_self();
    int fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t left = (size_t)bytes;
    const char *p = (const char *)ps.values;
    while (left > 0) {
        ssize_t w = write(fd, p, left > (1u << 30) ? (1u << 30) : left);
        if (w <= 0) {
            perror("write");
            return 1;
        }
        p += w;
        left -= (size_t)w;
    }
    fsync(fd);
    close(fd);
    double t = base_now_sec() - t0;
    if (t < t_raw) t_raw = t, c_raw = cpu_self() - c0;
    unlink(raw);
    }
    printf("%-40s %8.3f %9.2f %10.1f %8.3f\n", "peer: raw write()+fsync of the values", t_raw, bytes / t_raw / 1e9,
           bytes / 1e6, c_raw);

    int levels[2] = {0, gzip};
    for (int li = 0; li < 2; li++) {
        int lv = levels[li];
        char label[64];
        snprintf(label, sizeof label, lv ? "gzip-%d" : "uncompressed", lv);
        double t_w = 1e30, t_r = 1e30, t_open = 1e30, t_cp = 1e30, c_w = 0, c_r = 0, c_cp = 0;
        for (int rep = 0; rep < repeat; rep++) {
            t0 = base_now_sec();
            c0 = cpu_self();
            if (save(path, &ps, lv) < 0) {
                fprintf(stderr, "bench_ckpt_io: %s\n", base_error_msg());
                return 1;
            }
            double t = base_now_sec() - t0, to;
            if (t < t_w) t_w = t, c_w = cpu_self() - c0;
            memset(back.values, 0, (size_t)bytes);
            c0 = cpu_self();
            t = load(path, &back, &to);
            if (t < t_r) t_r = t, c_r = cpu_self() - c0;
            if (to < t_open) t_open = to;
            for (int i = 0; i < ps.n; i++)
                if (memcmp(ps.items[i].t->data, back.items[i].t->data, (size_t)ps.items[i].t->numel * 4) != 0) {
                    fprintf(stderr, "bench_ckpt_io: %s read back differs\n", ps.items[i].name);
                    return 1;
                }
            snprintf(cmd, sizeof cmd, "cp '%s' '%s' && sync '%s'", path, copy, copy);
            c0 = cpu_children();
            t = run_cmd(cmd);
            if (t < t_cp) t_cp = t, c_cp = cpu_children() - c0;
            unlink(copy);
        }
        double fmb = (double)file_size(path) / 1e6;
        char l[96];
        snprintf(l, sizeof l, "ember write %s (fsync'd)", label);
        printf("%-40s %8.3f %9.2f %10.1f %8.3f\n", l, t_w, bytes / t_w / 1e9, fmb, c_w);
        snprintf(l, sizeof l, "ember read %s (warm cache)", label);
        printf("%-40s %8.3f %9.2f %10.1f %8.3f\n", l, t_r, bytes / t_r / 1e9, fmb, c_r);
        snprintf(l, sizeof l, "  of which open + verify hash");
        printf("%-40s %8.3f %9.2f\n", l, t_open, (double)file_size(path) / t_open / 1e9);
        snprintf(l, sizeof l, "peer: cp + sync of that file");
        printf("%-40s %8.3f %9.2f %10.1f %8.3f\n", l, t_cp, (double)file_size(path) / t_cp / 1e9, fmb, c_cp);
        printf("  ratio ember write / cp+sync: %.2fx the time; ember read / cp+sync: %.2fx\n", t_w / t_cp, t_r / t_cp);
        unlink(path);
    }
    nn_params_free(&ps);
    nn_params_free(&back);
    return 0;
}
