/* test_media.c — IDX, tar, WAV, resampling, FFT and mel readers: reference values and damaged files. */
#include "support/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/media.h"

static tu_fixture *fx;

static int setup(void **state) {
    (void)state;
    fx = tu_fixture_load("tests/fixtures/mel.txt");
    return 0;
}
static int teardown(void **state) {
    (void)state;
    tu_fixture_free(fx);
    return 0;
}

/* The call failed and its message names the file and contains `what`. */
static void expect_error(bool failed, const char *path, const char *what) {
    const char *msg = base_error_msg();
    printf("    expected error: %s\n", msg);
    if (!failed) fail_msg("no error for %s (expected '%s')", path, what);
    if (path && !strstr(msg, path)) fail_msg("message '%s' does not name %s", msg, path);
    if (!strstr(msg, what)) fail_msg("message '%s' lacks '%s'", msg, what);
    base_error_clear();
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = base_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* |a - b| <= rtol·|b| + atol_frac·max|b| for all n (relative, with a floor for near-zero bins). */
static void assert_rel(const char *label, const float *a, const float *b, int64_t n, double rtol, double atol_frac) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)b[i]));
    double worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (rtol * fabs((double)b[i]) + atol_frac * mx);
        if (!(e <= worst)) {
            worst = isnan(e) ? INFINITY : e;
            wi = i;
        }
    }
    printf("    %s: worst error %.3g of the allowance (rtol %.0e, floor %.0e·max %.3g) at [%lld]\n", label, worst, rtol,
           atol_frac, mx, (long long)wi);
    if (worst > 1.0)
        fail_msg("%s: at [%lld] got %.9g want %.9g (rtol %.1e)", label, (long long)wi, (double)a[wi], (double)b[wi], rtol);
}

/* ---- FFT, filterbank, mel against PyTorch --------------------------------------------------- */

static void test_rfft_matches_numpy(void **state) {
    (void)state;
    data_rfft *f = data_rfft_new(1024);
    assert_non_null(f);
    const float *x = tu_fixture_get(fx, "rfft.x", NULL, NULL);
    double xd[1024], re[513], im[513];
    for (int i = 0; i < 1024; i++) xd[i] = x[i];
    data_rfft_forward(f, xd, re, im);
    float r[513], m[513];
    for (int i = 0; i < 513; i++) r[i] = (float)re[i], m[i] = (float)im[i];
    tu_assert_close("rfft re", r, tu_fixture_get(fx, "rfft.re", NULL, NULL), 513, 1e-6);
    tu_assert_close("rfft im", m, tu_fixture_get(fx, "rfft.im", NULL, NULL), 513, 1e-6);
    data_rfft_free(f);
    assert_null(data_rfft_new(1000));
    expect_error(true, NULL, "power of two");
}

static void test_mel_filterbank(void **state) {
    (void)state;
    data_mel_config c = data_mel_config_default();
    data_mel *m = data_mel_new(&c);
    assert_non_null(m);
    tu_assert_close("HTK filterbank", data_mel_filterbank(m), tu_fixture_get(fx, "fb", NULL, NULL), 513 * 128, 1e-6);
    data_mel_free(m);
    c.win_length = 2048;
    assert_null(data_mel_new(&c));
    expect_error(true, NULL, "win_length");
    c = data_mel_config_default();
    c.f_max = 9000;
    assert_null(data_mel_new(&c));
    expect_error(true, NULL, "f_max");
}

static void test_mel_synthetic(void **state) {
    (void)state;
    data_mel_config c = data_mel_config_default();
    data_mel *m = data_mel_new(&c);
    int64_t shape[4];
    int nd;
    const float *x = tu_fixture_get(fx, "synth.x", NULL, NULL);
    const float *want = tu_fixture_get(fx, "synth.mel", &nd, shape);
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], 128);
    assert_int_equal(data_mel_frames(m, 4000), shape[1]);
    float *out = base_xmalloc((size_t)(128 * shape[1]) * sizeof(float));
    assert_int_equal(data_mel_compute(m, x, 4000, out), 0);
    assert_rel("synthetic mel", out, want, 128 * shape[1], 1e-4, 1e-9);
    /* Too short for reflect padding: an error, not a crash. */
    assert_int_equal(data_mel_compute(m, x, 512, out), -1);
    expect_error(true, NULL, "too few");
    free(out);
    data_mel_free(m);
}

/* Finds one member of a tar(.gz); returns its data (heap) or NULL. */
static void *tar_member(const char *path, const char *want, int64_t *size) {
    data_tar *t = data_tar_open(path);
    if (!t) return NULL;
    const char *name;
    int64_t sz;
    void *data = NULL;
    int rc;
    while ((rc = data_tar_next(t, &name, &sz)) == 1)
        if (strcmp(name, want) == 0) {
            data = data_tar_read(t, size);
            break;
        }
    data_tar_close(t);
    return data;
}

static void test_fsdd_resample_and_mel(void **state) {
    (void)state;
    const char *tgz = tu_data_path("audio/fsdd_recordings.tar.gz");
    if (!tgz) skip();
    int64_t size;
    void *wav = tar_member(tgz, "recordings/3_jackson_12.wav", &size);
    assert_non_null(wav);
    data_audio a;
    assert_int_equal(data_wav_parse(wav, (size_t)size, "3_jackson_12.wav", &a), 0);
    free(wav);
    assert_int_equal(a.rate, 8000);
    int64_t shape[4];
    const float *x8 = tu_fixture_get(fx, "fsdd.x8k", NULL, shape);
    assert_int_equal(a.n, shape[0]);
    assert_memory_equal(a.samples, x8, (size_t)a.n * sizeof(float)); /* PCM16/32768 is exact */
    assert_int_equal(data_audio_resample(&a, 16000), 0);
    const float *x16 = tu_fixture_get(fx, "fsdd.x16k", NULL, shape);
    assert_int_equal(a.n, shape[0]);
    assert_int_equal(a.rate, 16000);
    tu_assert_close("8k→16k resample vs torchaudio port", a.samples, x16, a.n, 2e-6);

    data_mel_config c = data_mel_config_default();
    data_mel *m = data_mel_new(&c);
    int nd;
    const float *want = tu_fixture_get(fx, "fsdd.mel", &nd, shape);
    int64_t frames = data_mel_frames(m, a.n);
    assert_int_equal(frames, shape[1]);
    float *out = base_xmalloc((size_t)(128 * frames) * sizeof(float));
    /* On the reference's own resampled signal: the mel alone. */
    assert_int_equal(data_mel_compute(m, x16, a.n, out), 0);
    assert_rel("FSDD mel (reference input)", out, want, 128 * frames, 1e-4, 1e-9);
    /* End to end from the WAV bytes through our resampler. */
    assert_int_equal(data_mel_compute(m, a.samples, a.n, out), 0);
    assert_rel("FSDD mel (our resampler)", out, want, 128 * frames, 1e-4, 1e-9);
    free(out);
    data_mel_free(m);
    data_audio_free(&a);
}

static void test_resample_22050_to_16000(void **state) {
    (void)state;
    int64_t shape[4];
    const float *x = tu_fixture_get(fx, "rs.x", NULL, shape);
    int64_t n = shape[0];
    const float *want = tu_fixture_get(fx, "rs.y", NULL, shape);
    float *y;
    int64_t ny;
    assert_int_equal(data_resample(x, n, 22050, 16000, &y, &ny), 0);
    assert_int_equal(ny, shape[0]);
    tu_assert_close("22050→16000 resample", y, want, ny, 2e-6);
    free(y);
    assert_int_equal(data_resample(x, n, 0, 16000, &y, &ny), -1);
    expect_error(true, NULL, "positive sample rates");
}

/* ---- IDX ------------------------------------------------------------------------------------- */

static void test_idx_real(void **state) {
    (void)state;
    const char *p = tu_data_path("images/fashion-mnist/t10k-labels-idx1-ubyte.gz");
    if (!p) skip();
    ag_tensor *lab = data_idx_labels_i32(p);
    assert_non_null(lab);
    assert_int_equal(lab->numel, 10000);
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        assert_in_range(ag_i32(lab)[i], 0, 9);
        counts[ag_i32(lab)[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 1000);
    ag_tensor_free(lab);
    p = tu_data_path("images/fashion-mnist/t10k-images-idx3-ubyte.gz");
    if (!p) skip();
    int64_t n, h, w;
    uint8_t *u = data_idx_images_u8(p, &n, &h, &w);
    assert_non_null(u);
    assert_true(n == 10000 && h == 28 && w == 28);
    ag_tensor *f = data_idx_images_f32(p);
    assert_non_null(f);
    assert_true(f->ndim == 3 && f->shape[0] == 10000 && f->shape[1] == 28 && f->shape[2] == 28);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < f->numel; i++) {
        assert_true(ag_f32(f)[i] == (float)u[i] / 255.0f);
        nonzero += u[i] != 0;
    }
    assert_true(nonzero > f->numel / 4);
    free(u);
    ag_tensor_free(f);
    /* MNIST test labels start 7 2 1 0 4 1 4 9 5 9 (the well-known first digits). */
    p = tu_data_path("images/mnist/t10k-labels-idx1-ubyte.gz");
    if (!p) skip();
    uint8_t *l = data_idx_labels_u8(p, &n);
    assert_non_null(l);
    const uint8_t first[10] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    assert_int_equal(n, 10000);
    assert_memory_equal(l, first, 10);
    free(l);
}

/* A small valid image file: 3 images of 2×4. */
static size_t make_idx_images(uint8_t *b) {
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4};
    memcpy(b, hdr, 16);
    for (int i = 0; i < 24; i++) b[16 + i] = (uint8_t)(i * 10);
    return 40;
}

static void test_idx_damaged(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    uint8_t good[64], buf[64];
    size_t n = make_idx_images(good);
    char *p = join(dir, "good.idx"), *pz = join(dir, "good.idx.gz");
    assert_int_equal(tu_write_file(p, good, n), 0);
    assert_int_equal(tu_write_gz(pz, good, n, 9), 0);
    int64_t N, H, W;
    for (int k = 0; k < 2; k++) {
        uint8_t *u = data_idx_images_u8(k ? pz : p, &N, &H, &W);
        assert_non_null(u);
        assert_true(N == 3 && H == 2 && W == 4 && u[23] == 230);
        free(u);
    }
    data_idx x;
    /* missing file, empty file */
    char *missing = join(dir, "nope.gz");
    expect_error(data_idx_read(missing, &x) != 0, missing, "cannot open");
    char *empty = join(dir, "empty.gz");
    assert_int_equal(tu_write_file(empty, "", 0), 0);
    expect_error(data_idx_read(empty, &x) != 0, empty, "empty file");
    /* truncated payload (plain and gz), truncated header */
    char *t = join(dir, "trunc.idx");
    assert_int_equal(tu_write_file(t, good, n - 5), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "truncated");
    expect_error(data_idx_read(t, &x) != 0, t, "byte 35");
    assert_int_equal(tu_write_gz(t, good, n - 5, 9), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "truncated");
    assert_int_equal(tu_write_file(t, good, 10), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "header truncated");
    /* trailing garbage */
    memcpy(buf, good, n);
    buf[n] = 1;
    assert_int_equal(tu_write_gz(t, buf, n + 1, 9), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "expected end of file");
    /* wrong magic, wrong element type, bad ndim, zero dim */
    memcpy(buf, "RIFF", 4);
    memcpy(buf + 4, good + 4, n - 4);
    assert_int_equal(tu_write_file(t, buf, n), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "not an IDX file");
    memcpy(buf, good, n);
    buf[2] = 0x0D;
    assert_int_equal(tu_write_file(t, buf, n), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "element type 0x08");
    buf[2] = 8;
    buf[3] = 9;
    assert_int_equal(tu_write_file(t, buf, n), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "byte 3");
    buf[3] = 3;
    buf[11] = 0;
    assert_int_equal(tu_write_file(t, buf, n), 0);
    expect_error(data_idx_read(t, &x) != 0, t, "dimension 1 is 0");
    /* huge dims claimed by a short file: no giant allocation, a clear error */
    memcpy(buf, good, n);
    buf[4] = 0xff;
    assert_int_equal(tu_write_file(t, buf, n), 0);
    assert_int_equal(data_idx_read(t, &x), -1);
    printf("    expected error: %s\n", base_error_msg());
    assert_non_null(strstr(base_error_msg(), t));
    /* a label file given to the image reader */
    uint8_t lab[12] = {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4};
    assert_int_equal(tu_write_file(t, lab, sizeof lab), 0);
    expect_error(data_idx_images_u8(t, &N, &H, &W) == NULL, t, "expected an image file");
    { /* but the label reader takes it */
        ag_tensor *lt = data_idx_labels_i32(t);
        assert_int_equal(ag_i32(lt)[3], 4);
        ag_tensor_free(lt);
    }

    /* From the real files: truncated .gz, and a flipped bit inside the compressed stream. */
    const char *real = tu_data_path("images/mnist/t10k-labels-idx1-ubyte.gz");
    if (real) {
        size_t rn;
        char *raw = tu_read_file(real, &rn);
        assert_non_null(raw);
        char *rt = join(dir, "labels-trunc.gz");
        assert_int_equal(tu_write_file(rt, raw, rn / 2), 0);
        expect_error(data_idx_read(rt, &x) != 0, rt, "truncated");
        char *rf = join(dir, "labels-flip.gz");
        raw[rn / 2] ^= 0x10;
        assert_int_equal(tu_write_file(rf, raw, rn), 0);
        expect_error(data_idx_read(rf, &x) != 0, rf, "byte");
        raw[rn / 2] ^= 0x10;
        /* a flip in the gzip trailer's CRC: the payload decodes, the check must still fail */
        raw[rn - 6] ^= 0x01;
        assert_int_equal(tu_write_file(rf, raw, rn), 0);
        expect_error(data_idx_read(rf, &x) != 0, rf, "damaged");
        /* every truncation of the first 300 bytes: an error each time, never a crash */
        for (size_t cut = 0; cut < 300 && cut < rn; cut += 7) {
            assert_int_equal(tu_write_file(rt, raw, cut), 0);
            assert_int_equal(data_idx_read(rt, &x), -1);
            assert_non_null(strstr(base_error_msg(), rt));
        }
        free(raw);
        free(rt);
        free(rf);
    }
    /* a WAV file given to the IDX reader */
    const char *tgz = tu_data_path("audio/fsdd_recordings.tar.gz");
    if (tgz) {
        int64_t ws;
        void *wav = tar_member(tgz, "recordings/0_george_0.wav", &ws);
        assert_non_null(wav);
        assert_int_equal(tu_write_file(t, wav, (size_t)ws), 0);
        expect_error(data_idx_labels_u8(t, &N) == NULL, t, "not an IDX file");
        free(wav);
    }
    tu_rmtree(dir);
    free(dir);
    free(p);
    free(pz);
    free(missing);
    free(empty);
    free(t);
}

/* ---- WAV ------------------------------------------------------------------------------------- */

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff), put16(p + 2, v >> 16); }

/* A mono PCM16 WAV with a LIST chunk (odd size, padded) before the data: returns the size. */
static size_t make_wav(uint8_t *b, int rate, int nsamp, bool with_list) {
    size_t o = 0;
    memcpy(b, "RIFF", 4);
    memcpy(b + 8, "WAVE", 4);
    o = 12;
    memcpy(b + o, "fmt ", 4);
    put32(b + o + 4, 16);
    put16(b + o + 8, 1);
    put16(b + o + 10, 1);
    put32(b + o + 12, (uint32_t)rate);
    put32(b + o + 16, (uint32_t)rate * 2);
    put16(b + o + 20, 2);
    put16(b + o + 22, 16);
    o += 24;
    if (with_list) {
        memcpy(b + o, "LIST", 4);
        put32(b + o + 4, 5);
        memcpy(b + o + 8, "INFOx", 5);
        b[o + 13] = 0; /* pad byte */
        o += 14;
    }
    memcpy(b + o, "data", 4);
    put32(b + o + 4, (uint32_t)nsamp * 2);
    o += 8;
    for (int i = 0; i < nsamp; i++) put16(b + o + 2 * i, (uint16_t)(int16_t)(i * 1000 - 3000));
    o += (size_t)nsamp * 2;
    put32(b + 4, (uint32_t)(o - 8));
    return o;
}

static void test_wav_parse_and_damage(void **state) {
    (void)state;
    uint8_t good[256], b[256];
    size_t n = make_wav(good, 11025, 10, true);
    data_audio a;
    assert_int_equal(data_wav_parse(good, n, "g.wav", &a), 0);
    assert_int_equal(a.n, 10);
    assert_int_equal(a.rate, 11025);
    assert_true(a.samples[0] == -3000.0f / 32768.0f && a.samples[9] == 6000.0f / 32768.0f);
    data_audio_free(&a);

    expect_error(data_wav_parse(good, 0, "e.wav", &a) != 0, "e.wav", "empty file");
    expect_error(data_wav_parse(good, 7, "s.wav", &a) != 0, "s.wav", "truncated");
    expect_error(data_wav_parse(good, n - 3, "t.wav", &a) != 0, "t.wav", "truncated");
    /* RIFF size consistent but data chunk cut short */
    memcpy(b, good, n);
    put32(b + 4, (uint32_t)(n - 8 - 4));
    expect_error(data_wav_parse(b, n - 4, "d.wav", &a) != 0, "d.wav", "chunk 'data' says 20 bytes");
#define MUTATE(off, bytes, len, nm, what)                                                                        \
    do {                                                                                                         \
        memcpy(b, good, n);                                                                                      \
        memcpy(b + (off), bytes, len);                                                                           \
        expect_error(data_wav_parse(b, n, nm, &a) != 0, nm, what);                                               \
    } while (0)
    MUTATE(0, "RIFX", 4, "be.wav", "big-endian");
    MUTATE(0, "OggS", 4, "ogg.wav", "expected 'RIFF'");
    MUTATE(8, "AVI ", 4, "avi.wav", "expected 'WAVE'");
    MUTATE(20, "\x03\x00", 2, "float.wav", "IEEE float");
    MUTATE(22, "\x02\x00", 2, "stereo.wav", "stereo");
    MUTATE(34, "\x08\x00", 2, "u8.wav", "bits per sample");
    MUTATE(32, "\x04\x00", 2, "align.wav", "block align");
    MUTATE(24, "\x00\x00\x00\x00", 4, "rate0.wav", "sample rate");
    MUTATE(50, "junk", 4, "nodata.wav", "no 'data' chunk"); /* the data chunk renamed */
    MUTATE(12, "junk", 4, "nofmt.wav", "before the 'fmt ' chunk");
#undef MUTATE
    /* odd data size */
    memcpy(b, good, n);
    put32(b + 54, 19);
    expect_error(data_wav_parse(b, n, "odd.wav", &a) != 0, "odd.wav", "16-bit samples");
    /* missing file */
    expect_error(data_wav_read("/nonexistent/dir/x.wav", &a) != 0, "/nonexistent/dir/x.wav", "cannot open");

    /* Every prefix and every single-bit flip of the header: parse or a clear error, never a crash. */
    for (size_t cut = 0; cut < n; cut++) {
        assert_int_equal(data_wav_parse(good, cut, "cut.wav", &a), -1);
        assert_non_null(strstr(base_error_msg(), "cut.wav"));
    }
    int ok = 0, bad = 0;
    for (size_t byte = 0; byte < 62; byte++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, good, n);
            b[byte] ^= (uint8_t)(1 << bit);
            if (data_wav_parse(b, n, "flip.wav", &a) == 0) {
                ok++;
                data_audio_free(&a);
            } else {
                bad++;
                assert_non_null(strstr(base_error_msg(), "flip.wav"));
            }
        }
    printf("    header bit flips: %d parsed, %d rejected with a message\n", ok, bad);
    assert_true(bad > 300);
}

static void test_wav_files_on_disk(void **state) {
    (void)state;
    const char *tgz = tu_data_path("audio/fsdd_recordings.tar.gz");
    if (!tgz) skip();
    char *dir = tu_tempdir();
    int64_t ws;
    uint8_t *wav = tar_member(tgz, "recordings/5_theo_30.wav", &ws);
    assert_non_null(wav);
    char *p = join(dir, "5_theo_30.wav");
    assert_int_equal(tu_write_file(p, wav, (size_t)ws), 0);
    data_audio a;
    assert_int_equal(data_wav_read(p, &a), 0);
    assert_int_equal(a.rate, 8000);
    assert_int_equal(a.n, (ws - 44) / 2);
    data_audio_free(&a);
    /* truncated real file */
    assert_int_equal(tu_write_file(p, wav, (size_t)ws - 101), 0);
    expect_error(data_wav_read(p, &a) != 0, p, "truncated");
    /* empty file */
    assert_int_equal(tu_write_file(p, wav, 0), 0);
    expect_error(data_wav_read(p, &a) != 0, p, "empty file");
    /* stereo flag flipped in the real header */
    wav[22] = 2;
    assert_int_equal(tu_write_file(p, wav, (size_t)ws), 0);
    expect_error(data_wav_read(p, &a) != 0, p, "stereo");
    /* an IDX file given to the WAV reader */
    const char *idx = tu_data_path("images/mnist/t10k-labels-idx1-ubyte.gz");
    if (idx) expect_error(data_wav_read(idx, &a) != 0, idx, "expected 'RIFF'");
    free(wav);
    free(p);
    tu_rmtree(dir);
    free(dir);
}

/* ---- tar ------------------------------------------------------------------------------------- */

static void test_tar_fsdd_all_members(void **state) {
    (void)state;
    const char *tgz = tu_data_path("audio/fsdd_recordings.tar.gz");
    if (!tgz) skip();
    data_tar *t = data_tar_open(tgz);
    assert_non_null(t);
    const char *name;
    int64_t size;
    int count = 0, rc;
    int64_t samples = 0;
    while ((rc = data_tar_next(t, &name, &size)) == 1) {
        assert_non_null(strstr(name, "recordings/"));
        if (count % 3 == 0) { /* read and parse every third clip; skip the others unread */
            int64_t got;
            void *buf = data_tar_read(t, &got);
            assert_non_null(buf);
            assert_int_equal(got, size);
            data_audio a;
            if (data_wav_parse(buf, (size_t)got, name, &a) != 0) fail_msg("%s", base_error_msg());
            assert_int_equal(a.rate, 8000);
            samples += a.n;
            data_audio_free(&a);
            free(buf);
        }
        count++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(count, 3000);
    printf("    FSDD: %d members, %lld samples in the parsed third (%.1f s)\n", count, (long long)samples,
           samples / 8000.0);
    data_tar_close(t);
}

/* Writes one ustar header for (prefix/name, size, type) into h [512]; prefix may be NULL. */
static void tar_header(uint8_t *h, const char *prefix, const char *name, int64_t size, char type) {
    memset(h, 0, 512);
    if (prefix) snprintf((char *)h + 345, 155, "%s", prefix);
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    char num[32];
    snprintf(num, sizeof num, "%011llo", (unsigned long long)size);
    memcpy(h + 124, num, 12);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

static void test_tar_small_and_damaged(void **state) {
    (void)state;
    char *dir = tu_tempdir();
    /* dir/ ; GNU long name for a 600-byte member ; "b.txt" of 5 bytes ; end blocks */
    static uint8_t tar[512 * 12];
    memset(tar, 0, sizeof tar);
    size_t o = 0;
    tar_header(tar + o, NULL, "d/", 0, '5');
    o += 512;
    char longname[160];
    memset(longname, 'n', 150);
    strcpy(longname + 150, ".bin");
    tar_header(tar + o, NULL, "././@LongLink", (int64_t)strlen(longname) + 1, 'L');
    o += 512;
    memcpy(tar + o, longname, strlen(longname) + 1);
    o += 512;
    tar_header(tar + o, NULL, "short-name-ignored", 600, '0');
    o += 512;
    for (int i = 0; i < 600; i++) tar[o + i] = (uint8_t)i;
    o += 1024;
    tar_header(tar + o, "some/dir", "b.txt", 5, '0');
    o += 512;
    memcpy(tar + o, "hello", 5);
    o += 512;
    o += 1024; /* two zero blocks */
    char *p = join(dir, "t.tar"), *pz = join(dir, "t.tar.gz");
    assert_int_equal(tu_write_file(p, tar, o), 0);
    assert_int_equal(tu_write_gz(pz, tar, o, 9), 0);
    for (int k = 0; k < 2; k++) {
        data_tar *t = data_tar_open(k ? pz : p);
        assert_non_null(t);
        const char *name;
        int64_t size;
        assert_int_equal(data_tar_next(t, &name, &size), 1);
        assert_string_equal(name, longname);
        assert_int_equal(size, 600);
        if (k == 0) { /* read it on the plain archive, skip it on the gz one */
            int64_t got;
            uint8_t *d = data_tar_read(t, &got);
            assert_int_equal(got, 600);
            assert_int_equal(d[599], (uint8_t)599);
            free(d);
        }
        assert_int_equal(data_tar_next(t, &name, &size), 1);
        assert_string_equal(name, "some/dir/b.txt"); /* ustar prefix + name */
        char *d = data_tar_read(t, &size);
        assert_string_equal(d, "hello");
        free(d);
        assert_int_equal(data_tar_next(t, &name, &size), 0);
        assert_int_equal(data_tar_next(t, &name, &size), 0);
        data_tar_close(t);
    }
    /* truncated inside the 600-byte member */
    char *tp = join(dir, "trunc.tar.gz");
    assert_int_equal(tu_write_gz(tp, tar, 512 * 4 + 300, 9), 0);
    data_tar *t = data_tar_open(tp);
    const char *name;
    int64_t size;
    assert_int_equal(data_tar_next(t, &name, &size), 1);
    expect_error(data_tar_read(t, &size) == NULL, tp, "truncated inside member");
    data_tar_close(t);
    t = data_tar_open(tp);
    assert_int_equal(data_tar_next(t, &name, &size), 1);
    expect_error(data_tar_next(t, &name, &size) == -1, tp, "truncated");
    data_tar_close(t);
    /* a flipped bit in a header: checksum mismatch */
    tar[512 * 4 + 1024 + 3] ^= 0x04; /* inside b.txt's header name */
    assert_int_equal(tu_write_file(p, tar, o), 0);
    t = data_tar_open(p);
    assert_int_equal(data_tar_next(t, &name, &size), 1);
    expect_error(data_tar_next(t, &name, &size) == -1, p, "checksum");
    data_tar_close(t);
    /* header cut short */
    assert_int_equal(tu_write_file(p, tar, 700), 0);
    t = data_tar_open(p);
    expect_error(data_tar_next(t, &name, &size) == -1, p, "truncated");
    data_tar_close(t);
    /* not a tar at all, and a missing file */
    uint8_t idx[16] = {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4};
    memset(tar, 0x41, 600);
    memcpy(tar, idx, sizeof idx);
    assert_int_equal(tu_write_file(p, tar, 600), 0);
    t = data_tar_open(p);
    expect_error(data_tar_next(t, &name, &size) == -1, p, "not a tar archive");
    data_tar_close(t);
    char *missing = join(dir, "missing.tar.gz");
    expect_error(data_tar_open(missing) == NULL, missing, "cannot open");
    /* the real archive, truncated half way through its compressed bytes */
    const char *tgz = tu_data_path("audio/fsdd_recordings.tar.gz");
    if (tgz) {
        FILE *src = fopen(tgz, "rb");
        assert_non_null(src);
        static char chunk[1 << 16];
        size_t r = fread(chunk, 1, sizeof chunk, src);
        fclose(src);
        assert_int_equal(tu_write_file(tp, chunk, r), 0);
        t = data_tar_open(tp);
        int rc, members = 0;
        while ((rc = data_tar_next(t, &name, &size)) == 1) members++;
        assert_int_equal(rc, -1);
        expect_error(true, tp, "truncated");
        printf("    truncated FSDD archive: %d members before the error\n", members);
        data_tar_close(t);
    }
    free(p);
    free(pz);
    free(tp);
    free(missing);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfft_matches_numpy),
        cmocka_unit_test(test_mel_filterbank),
        cmocka_unit_test(test_mel_synthetic),
        cmocka_unit_test(test_fsdd_resample_and_mel),
        cmocka_unit_test(test_resample_22050_to_16000),
        cmocka_unit_test(test_idx_real),
        cmocka_unit_test(test_idx_damaged),
        cmocka_unit_test(test_wav_parse_and_damage),
        cmocka_unit_test(test_wav_files_on_disk),
        cmocka_unit_test(test_tar_fsdd_all_members),
        cmocka_unit_test(test_tar_small_and_damaged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
