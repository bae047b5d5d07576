/* media.h — readers for non-text training data: IDX images/labels, tar(.gz) archives, WAV audio,
 * resampling and the log-free power mel spectrogram μOmni's audio encoder uses.
 *
 * Every reader validates what it reads and never crashes on a bad file: it returns NULL (or a
 * negative status) after base_error_set("<path>: <where>: expected ..., got ..."). Buffers returned
 * are heap memory owned by the caller (free() / ag_tensor_free() / the matching *_free).
 *
 *   IDX (MNIST, Fashion-MNIST): big-endian header  00 00 <type> <ndim>, ndim × u32 dims, then the
 *       payload. Plain or gzip files (zlib gzopen reads both). Only type 0x08 (unsigned byte) is
 *       accepted; the payload must be exactly the product of the dims (no more, no less).
 *   tar: POSIX ustar / GNU tar, plain or gzip, read sequentially member by member (no extraction).
 *   WAV: RIFF/WAVE, PCM 16-bit, mono, any rate; unknown chunks are skipped.
 *   Resampling: windowed-sinc, the algorithm of torchaudio.functional.resample's default
 *       (sinc_interp_hann, lowpass_filter_width 6, rolloff 0.99), so results match torchaudio.
 *   Mel: torch.stft (centred, reflect padding, Hann window of win_length zero-padded into n_fft,
 *       power 2) followed by an HTK mel filterbank without normalisation
 *       (torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk")).
 */
#ifndef EMBER_DATA_MEDIA_H
#define EMBER_DATA_MEDIA_H

#include "../autograd/ag.h"

/* ------------------------------------------------------------------------------------------------
 * IDX files
 * --------------------------------------------------------------------------------------------- */
typedef struct data_idx {
    int ndim;                         /* 1..4 */
    int64_t dims[AG_MAX_DIMS];        /* [N, ...] */
    int64_t numel;                    /* product of dims */
    uint8_t *data;                    /* [numel] unsigned bytes, heap */
} data_idx;

/* Reads any unsigned-byte IDX file (plain or gzip). Returns 0, or -1 with the error set (the file
 * is named, with the byte offset in the uncompressed stream and the field that was wrong). */
int data_idx_read(const char *path, data_idx *out);
void data_idx_free(data_idx *x);

/* Image file (magic 0x00000803): u8 [N, H, W] heap buffer; NULL on error. */
uint8_t *data_idx_images_u8(const char *path, int64_t *n, int64_t *h, int64_t *w);
/* Image file as an f32 heap tensor [N, H, W] with values x / 255 in [0, 1]; NULL on error. */
ag_tensor *data_idx_images_f32(const char *path);
/* Label file (magic 0x00000801): u8 [N] heap buffer; NULL on error. */
uint8_t *data_idx_labels_u8(const char *path, int64_t *n);
/* Label file as an i32 heap tensor [N]; NULL on error. */
ag_tensor *data_idx_labels_i32(const char *path);

/* ------------------------------------------------------------------------------------------------
 * tar archives (.tar or .tar.gz), read forward once
 * --------------------------------------------------------------------------------------------- */
typedef struct data_tar data_tar;

/* Opens an archive; NULL (error set) if the file cannot be opened. */
data_tar *data_tar_open(const char *path);
/* Moves to the next regular-file member (directories, links and pax/GNU meta entries are passed
 * over; GNU long names and pax `path` records are honoured). Returns 1 with *name (valid until the
 * next call) and *size set, 0 at the end of the archive, -1 on a damaged archive (error set). */
int data_tar_next(data_tar *t, const char **name, int64_t *size);
/* Reads the whole data of the current member (heap, caller frees; a NUL is appended after the
 * *size bytes). Only once per member; NULL (error set) on a truncated archive. Members not read
 * are skipped by the next data_tar_next. */
void *data_tar_read(data_tar *t, int64_t *size);
void data_tar_close(data_tar *t);

/* ------------------------------------------------------------------------------------------------
 * WAV audio and resampling
 * --------------------------------------------------------------------------------------------- */
typedef struct data_audio {
    float *samples;  /* [n] heap, PCM16 / 32768 in [-1, 1) */
    int64_t n;
    int rate;        /* samples per second */
} data_audio;

/* Parses a WAV file held in memory. name is used in messages only (e.g. "x.tar.gz:recordings/a.wav").
 * Returns 0, or -1 with the error set (the chunk/field and its byte offset are named). */
int data_wav_parse(const void *buf, size_t size, const char *name, data_audio *out);
/* Reads and parses a WAV file from disk. */
int data_wav_read(const char *path, data_audio *out);
void data_audio_free(data_audio *a);

/* Windowed-sinc resampling from rate_in to rate_out (torchaudio.functional.resample's default:
 * Hann-windowed sinc, lowpass_filter_width 6, rolloff 0.99, rates reduced by their gcd).
 * x [n] → *y [ceil(n · rate_out / rate_in)] heap. Returns 0, or -1 (error set) on bad rates. */
int data_resample(const float *x, int64_t n, int rate_in, int rate_out, float **y, int64_t *ny);
/* Resamples a in place to rate (no-op if already there). */
int data_audio_resample(data_audio *a, int rate);

/* ------------------------------------------------------------------------------------------------
 * Mel spectrogram
 * --------------------------------------------------------------------------------------------- */
typedef struct data_mel_config {
    int sample_rate;  /* 16000 */
    int n_fft;        /* 1024 (a power of two) */
    int win_length;   /* 400 (Hann, periodic, centred in n_fft) */
    int hop;          /* 160 */
    int n_mels;       /* 128 */
    float f_min, f_max; /* 0, 8000 */
} data_mel_config;

/* μOmni's settings: 16 kHz, n_fft 1024, win 400, hop 160, 128 HTK mels over 0–8 kHz. */
data_mel_config data_mel_config_default(void);

typedef struct data_mel data_mel; /* FFT plan, window, filterbank and work buffers: one per thread */

/* NULL (error set) if the configuration is invalid. */
data_mel *data_mel_new(const data_mel_config *cfg);
void data_mel_free(data_mel *m);
/* Frames for n samples (centred): n / hop + 1. */
int64_t data_mel_frames(const data_mel *m, int64_t n);
/* Power mel spectrogram of x [n] into out [n_mels, frames] (torchaudio's layout: mel bins are
 * rows). Needs n > n_fft / 2 for reflect padding (as torch.stft); -1 with the error set otherwise. */
int data_mel_compute(data_mel *m, const float *x, int64_t n, float *out);
/* The filterbank [n_fft/2 + 1, n_mels] (torchaudio's layout). */
const float *data_mel_filterbank(const data_mel *m);
/* In place: v = ln(max(v, floor)) over n values (log-mel features). */
void data_mel_log(float *v, int64_t n, float floor);

/* Real FFT of power-of-two length n: x [n] → re, im [n/2 + 1]. Exposed for tests. */
typedef struct data_rfft data_rfft; /* holds work buffers: one plan per thread */
data_rfft *data_rfft_new(int n); /* NULL (error set) if n is not a power of two ≥ 4 */
void data_rfft_free(data_rfft *f);
void data_rfft_forward(const data_rfft *f, const double *x, double *re, double *im);

#endif
