/* mel.c — radix-2 real FFT and the power mel spectrogram (torch.stft + HTK mel filterbank). */
#include "media.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- real FFT ---------------------------------------------------------------------------------
 * A length-n real transform through one complex transform of length h = n/2:
 *   z[k] = x[2k] + i·x[2k+1];  Z = FFT_h(z);
 *   X[k] = ½(Z[k] + conj Z[h-k]) - ½i·e^{-2πik/n}(Z[k] - conj Z[h-k]),  k = 0..h  (Z[h] = Z[0]).
 * The complex FFT is iterative radix-2 decimation in time (bit-reversed input order), in double. */
struct data_rfft {
    int n, h;
    int *rev;           /* [h] bit reversal permutation */
    double *tw_re, *tw_im; /* [h/2] e^{-2πik/h} for the complex stages */
    double *sp_re, *sp_im; /* [h+1] e^{-2πik/n} for the real split */
    double *zr, *zi;       /* [h] work buffers (a plan is used by one thread at a time) */
};

data_rfft *data_rfft_new(int n) {
    if (n < 4 || (n & (n - 1)) != 0) {
        base_error_set("rfft: length must be a power of two >= 4, got %d", n);
        return NULL;
    }
    data_rfft *f = base_xcalloc(1, sizeof *f);
    f->n = n;
    f->h = n / 2;
    int h = f->h, bits = 0;
    while ((1 << bits) < h) bits++;
    f->rev = base_xmalloc((size_t)h * sizeof(int));
    for (int i = 0; i < h; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++)
            if (i & (1 << b)) r |= 1 << (bits - 1 - b);
        f->rev[i] = r;
    }
    f->tw_re = base_xmalloc((size_t)(h / 2 + 1) * sizeof(double));
    f->tw_im = base_xmalloc((size_t)(h / 2 + 1) * sizeof(double));
    for (int k = 0; k <= h / 2; k++) {
        f->tw_re[k] = cos(-2.0 * M_PI * k / h);
        f->tw_im[k] = sin(-2.0 * M_PI * k / h);
    }
    f->sp_re = base_xmalloc((size_t)(h + 1) * sizeof(double));
    f->sp_im = base_xmalloc((size_t)(h + 1) * sizeof(double));
    for (int k = 0; k <= h; k++) {
        f->sp_re[k] = cos(-2.0 * M_PI * k / n);
        f->sp_im[k] = sin(-2.0 * M_PI * k / n);
    }
    f->zr = base_xmalloc((size_t)h * sizeof(double));
    f->zi = base_xmalloc((size_t)h * sizeof(double));
    return f;
}

void data_rfft_free(data_rfft *f) {
    if (!f) return;
    free(f->rev);
    free(f->tw_re);
    free(f->tw_im);
    free(f->sp_re);
    free(f->sp_im);
    free(f->zr);
    free(f->zi);
    free(f);
}

/* In-place complex FFT of length h on (zr, zi), input already in bit-reversed order. */
static void cfft(const data_rfft *f, double *zr, double *zi) {
    int h = f->h;
    for (int len = 2; len <= h; len <<= 1) {
        int half = len / 2, step = h / len;
        for (int s = 0; s < h; s += len)
            for (int k = 0; k < half; k++) {
                double wr = f->tw_re[k * step], wi = f->tw_im[k * step];
                int a = s + k, b = a + half;
                double tr = zr[b] * wr - zi[b] * wi, ti = zr[b] * wi + zi[b] * wr;
                zr[b] = zr[a] - tr;
                zi[b] = zi[a] - ti;
                zr[a] += tr;
                zi[a] += ti;
            }
    }
}

/* x [n] → re, im [n/2 + 1]. */
void data_rfft_forward(const data_rfft *f, const double *x, double *re, double *im) {
    int h = f->h;
    double *zr = f->zr, *zi = f->zi;
    for (int k = 0; k < h; k++) {
        zr[f->rev[k]] = x[2 * k];
        zi[f->rev[k]] = x[2 * k + 1];
    }
    cfft(f, zr, zi);
    for (int k = 0; k <= h; k++) {
        int a = k % h, b = (h - k) % h;
        double ar = zr[a], ai = zi[a], br = zr[b], bi = -zi[b]; /* Z[k], conj Z[h-k] */
        double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);      /* even part */
        double orr = 0.5 * (ar - br), oi = 0.5 * (ai - bi);     /* odd part · i */
        /* X = E + e^{-2πik/n} · (O / i), with O/i = (oi, -orr) */
        double qr = oi, qi = -orr;
        double wr = f->sp_re[k], wi = f->sp_im[k];
        re[k] = er + wr * qr - wi * qi;
        im[k] = ei + wr * qi + wi * qr;
    }
}

/* ---- mel spectrogram ------------------------------------------------------------------------- */
struct data_mel {
    data_mel_config cfg;
    int n_freqs;
    data_rfft *fft;
    double *window;   /* [n_fft] Hann(win_length), periodic, centred, zeros outside */
    float *fb;        /* [n_freqs, n_mels] HTK triangular filters, torchaudio layout */
    int *band_lo, *band_hi; /* [n_mels] nonzero frequency range [lo, hi) of each filter */
    double *frame;    /* [n_fft] windowed frame (double: the reference is float64) */
    double *re, *im;  /* [n_freqs] */
    double *power;    /* [n_freqs] */
};

data_mel_config data_mel_config_default(void) {
    return (data_mel_config){.sample_rate = 16000, .n_fft = 1024, .win_length = 400, .hop = 160, .n_mels = 128,
                             .f_min = 0.0f, .f_max = 8000.0f};
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

data_mel *data_mel_new(const data_mel_config *c) {
    if (c->sample_rate <= 0 || c->hop <= 0 || c->n_mels <= 0) {
        base_error_set("mel: expected positive sample_rate, hop and n_mels, got %d, %d, %d", c->sample_rate, c->hop,
                     c->n_mels);
        return NULL;
    }
    if (c->win_length <= 0 || c->win_length > c->n_fft) {
        base_error_set("mel: win_length must be in [1, n_fft = %d], got %d", c->n_fft, c->win_length);
        return NULL;
    }
    if (!(c->f_min >= 0.0f && c->f_min < c->f_max && c->f_max <= c->sample_rate / 2.0f)) {
        base_error_set("mel: expected 0 <= f_min < f_max <= sample_rate/2 = %g, got %g, %g", c->sample_rate / 2.0,
                     (double)c->f_min, (double)c->f_max);
        return NULL;
    }
    data_rfft *fft = data_rfft_new(c->n_fft);
    if (!fft) {
        base_error_prefix("mel: n_fft");
        return NULL;
    }
    data_mel *m = base_xcalloc(1, sizeof *m);
    m->cfg = *c;
    m->fft = fft;
    int nf = m->n_freqs = c->n_fft / 2 + 1, nm = c->n_mels;
    /* torch.stft pads a shorter window with zeros on both sides: left = (n_fft - win) / 2. */
    m->window = base_xcalloc((size_t)c->n_fft, sizeof(double));
    int left = (c->n_fft - c->win_length) / 2;
    for (int i = 0; i < c->win_length; i++)
        m->window[left + i] = 0.5 - 0.5 * cos(2.0 * M_PI * i / c->win_length); /* periodic Hann */
    /* torchaudio.functional.melscale_fbanks(n_freqs, f_min, f_max, n_mels, sr, norm=None, "htk") */
    m->fb = base_xmalloc((size_t)nf * nm * sizeof(float));
    double *fpts = base_xmalloc((size_t)(nm + 2) * sizeof(double));
    double mmin = hz_to_mel(c->f_min), mmax = hz_to_mel(c->f_max);
    for (int i = 0; i < nm + 2; i++) fpts[i] = mel_to_hz(mmin + (mmax - mmin) * i / (nm + 1));
    double nyq = (double)(c->sample_rate / 2); /* sample_rate // 2, as torchaudio */
    for (int f = 0; f < nf; f++) {
        double freq = nyq * f / (nf - 1);
        for (int j = 0; j < nm; j++) {
            double down = -(fpts[j] - freq) / (fpts[j + 1] - fpts[j]);
            double up = (fpts[j + 2] - freq) / (fpts[j + 2] - fpts[j + 1]);
            double v = down < up ? down : up;
            m->fb[(size_t)f * nm + j] = (float)(v > 0.0 ? v : 0.0);
        }
    }
    free(fpts);
    m->band_lo = base_xmalloc((size_t)nm * sizeof(int));
    m->band_hi = base_xmalloc((size_t)nm * sizeof(int));
    for (int j = 0; j < nm; j++) {
        int lo = nf, hi = 0;
        for (int f = 0; f < nf; f++)
            if (m->fb[(size_t)f * nm + j] != 0.0f) {
                if (f < lo) lo = f;
                hi = f + 1;
            }
        m->band_lo[j] = lo < hi ? lo : 0;
        m->band_hi[j] = hi;
    }
    m->frame = base_xmalloc((size_t)c->n_fft * sizeof(double));
    m->re = base_xmalloc((size_t)nf * sizeof(double));
    m->im = base_xmalloc((size_t)nf * sizeof(double));
    m->power = base_xmalloc((size_t)nf * sizeof(double));
    return m;
}

void data_mel_free(data_mel *m) {
    if (!m) return;
    data_rfft_free(m->fft);
    free(m->window);
    free(m->fb);
    free(m->band_lo);
    free(m->band_hi);
    free(m->frame);
    free(m->re);
    free(m->im);
    free(m->power);
    free(m);
}

int64_t data_mel_frames(const data_mel *m, int64_t n) { return n / m->cfg.hop + 1; }

const float *data_mel_filterbank(const data_mel *m) { return m->fb; }

/* Index into x [n] of padded position i with reflect padding of p on each side (no edge repeat). */
static inline int64_t reflect(int64_t i, int64_t p, int64_t n) {
    int64_t k = i - p;
    if (k < 0) k = -k;
    if (k >= n) k = 2 * (n - 1) - k;
    return k;
}

int data_mel_compute(data_mel *m, const float *x, int64_t n, float *out) {
    int nfft = m->cfg.n_fft, nf = m->n_freqs, nm = m->cfg.n_mels, hop = m->cfg.hop;
    int64_t p = nfft / 2;
    if (n <= p)
        return base_error_set("mel: %lld samples are too few: reflect padding by n_fft/2 = %lld needs at least %lld",
                            (long long)n, (long long)p, (long long)(p + 1));
    int64_t frames = data_mel_frames(m, n);
    /* Only the window's nonzero span of each frame is gathered; the rest stays zero. */
    int wlo = (nfft - m->cfg.win_length) / 2, whi = wlo + m->cfg.win_length;
    memset(m->frame, 0, (size_t)nfft * sizeof(double));
    for (int64_t t = 0; t < frames; t++) {
        int64_t start = t * hop; /* in padded coordinates */
        for (int i = wlo; i < whi; i++)
            m->frame[i] = (double)x[reflect(start + i, p, n)] * m->window[i];
        data_rfft_forward(m->fft, m->frame, m->re, m->im);
        for (int f = 0; f < nf; f++) m->power[f] = m->re[f] * m->re[f] + m->im[f] * m->im[f];
        for (int j = 0; j < nm; j++) {
            double acc = 0.0;
            for (int f = m->band_lo[j]; f < m->band_hi[j]; f++) acc += (double)m->fb[(size_t)f * nm + j] * m->power[f];
            out[(int64_t)j * frames + t] = (float)acc;
        }
    }
    return 0;
}

void data_mel_log(float *v, int64_t n, float floor_v) {
    for (int64_t i = 0; i < n; i++) v[i] = logf(v[i] > floor_v ? v[i] : floor_v);
}
