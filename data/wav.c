/* wav.c — RIFF/WAVE PCM16 mono reader (strict, with byte-offset errors) and windowed-sinc resampling. */
#include "media.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Printable form of a 4-byte chunk id for messages: "fmt " or "\x00\x12.." style. */
static const char *fourcc(const uint8_t *p, char *buf) {
    char *o = buf;
    for (int i = 0; i < 4; i++) {
        if (p[i] >= 32 && p[i] < 127 && p[i] != '\'') *o++ = (char)p[i];
        else o += sprintf(o, "\\x%02x", p[i]);
    }
    *o = 0;
    return buf;
}

static const char *format_name(unsigned tag) {
    switch (tag) {
    case 1: return "PCM";
    case 2: return "MS ADPCM";
    case 3: return "IEEE float";
    case 6: return "A-law";
    case 7: return "mu-law";
    case 0x11: return "IMA ADPCM";
    case 0x55: return "MP3";
    case 0xFFFE: return "extensible";
    default: return "unknown";
    }
}

int data_wav_parse(const void *buf, size_t size, const char *name, data_audio *out) {
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    char cc[20];
    if (size == 0) return base_error_set("%s: byte 0: expected a RIFF/WAVE header, got an empty file", name);
    if (size < 12)
        return base_error_set("%s: byte %zu: truncated: expected a 12-byte RIFF/WAVE header, file has %zu bytes", name,
                            size, size);
    if (memcmp(b, "RIFF", 4) != 0) {
        if (memcmp(b, "RIFX", 4) == 0 || memcmp(b, "RF64", 4) == 0)
            return base_error_set("%s: byte 0: expected 'RIFF', got '%s' (big-endian/64-bit WAV is not supported)", name,
                                fourcc(b, cc));
        return base_error_set("%s: byte 0: expected 'RIFF' (a WAV file), got '%s'", name, fourcc(b, cc));
    }
    if (memcmp(b + 8, "WAVE", 4) != 0)
        return base_error_set("%s: byte 8: expected 'WAVE' form type, got '%s'", name, fourcc(b + 8, cc));
    uint64_t riff = le32(b + 4);
    if (riff + 8 > size)
        return base_error_set("%s: byte 4: RIFF size field says %llu bytes follow, file has only %zu (truncated?)", name,
                            (unsigned long long)riff, size - 8);
    if (riff < 4) return base_error_set("%s: byte 4: RIFF size field %llu is too small", name, (unsigned long long)riff);
    size_t end = (size_t)riff + 8, pos = 12;
    bool have_fmt = false;
    unsigned rate = 0;
    size_t data_off = 0, data_size = 0;
    bool have_data = false;
    while (pos < end) {
        if (end - pos < 8) {
            if (end - pos == 1) break; /* a stray pad byte */
            return base_error_set("%s: byte %zu: truncated chunk header: expected 8 bytes, %zu remain", name, pos,
                                end - pos);
        }
        const uint8_t *ck = b + pos;
        uint64_t csz = le32(ck + 4);
        if (csz > end - pos - 8)
            return base_error_set("%s: byte %zu: chunk '%s' says %llu bytes, only %zu remain (truncated?)", name,
                                pos + 4, fourcc(ck, cc), (unsigned long long)csz, end - pos - 8);
        const uint8_t *body = ck + 8;
        size_t boff = pos + 8;
        if (memcmp(ck, "fmt ", 4) == 0) {
            if (have_fmt) return base_error_set("%s: byte %zu: second 'fmt ' chunk", name, pos);
            if (csz < 16)
                return base_error_set("%s: byte %zu: 'fmt ' chunk of %llu bytes, expected at least 16", name, pos + 4,
                                    (unsigned long long)csz);
            unsigned tag = le16(body);
            if (tag == 0xFFFE) { /* WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag */
                if (csz < 40 || le16(body + 24) != 1)
                    return base_error_set("%s: byte %zu: extensible format tag without a PCM sub-format; expected "
                                        "PCM 16-bit",
                                        name, boff);
                tag = 1;
            }
            if (tag != 1)
                return base_error_set("%s: byte %zu: format tag: expected 1 (PCM), got %u (%s)", name, boff, tag,
                                    format_name(tag));
            unsigned ch = le16(body + 2);
            if (ch != 1)
                return base_error_set("%s: byte %zu: channels: expected 1 (mono), got %u%s", name, boff + 2, ch,
                                    ch == 2 ? " (stereo)" : "");
            rate = le32(body + 4);
            if (rate == 0 || rate > 1000000)
                return base_error_set("%s: byte %zu: sample rate: expected 1..1000000 Hz, got %u", name, boff + 4, rate);
            unsigned align = le16(body + 12), bits = le16(body + 14);
            if (bits != 16)
                return base_error_set("%s: byte %zu: bits per sample: expected 16, got %u", name, boff + 14, bits);
            if (align != 2)
                return base_error_set("%s: byte %zu: block align: expected 2 (mono 16-bit), got %u", name, boff + 12,
                                    align);
            have_fmt = true;
        } else if (memcmp(ck, "data", 4) == 0) {
            if (!have_fmt) return base_error_set("%s: byte %zu: 'data' chunk before the 'fmt ' chunk", name, pos);
            if (!have_data) {
                if (csz % 2)
                    return base_error_set("%s: byte %zu: data chunk of %llu bytes is not a whole number of 16-bit "
                                        "samples",
                                        name, pos + 4, (unsigned long long)csz);
                data_off = boff;
                data_size = (size_t)csz;
                have_data = true;
            }
        }
        /* Any other chunk (LIST, fact, cue , ...) is skipped. Chunks are padded to even sizes. */
        pos = boff + (size_t)csz + (size_t)(csz & 1);
    }
    if (!have_fmt) return base_error_set("%s: byte %zu: no 'fmt ' chunk before the end of the RIFF data", name, end);
    if (!have_data) return base_error_set("%s: byte %zu: no 'data' chunk before the end of the RIFF data", name, end);
    int64_t n = (int64_t)(data_size / 2);
    out->samples = base_xmalloc((size_t)(n ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) out->samples[i] = (float)(int16_t)le16(b + data_off + 2 * i) / 32768.0f;
    out->n = n;
    out->rate = (int)rate;
    return 0;
}

int data_wav_read(const char *path, data_audio *out) {
    memset(out, 0, sizeof *out);
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return base_error_set("%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0, r;
    uint8_t *buf = base_xmalloc(cap);
    while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) buf = base_xrealloc(buf, cap *= 2);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return base_error_set("%s: byte %zu: read error", path, len);
    }
    int rc = data_wav_parse(buf, len, path, out);
    free(buf);
    return rc;
}

void data_audio_free(data_audio *a) {
    if (!a) return;
    free(a->samples);
    memset(a, 0, sizeof *a);
}

/* ---- resampling: a port of torchaudio.functional.resample (sinc_interp_hann) --------------------
 * Rates are reduced by their gcd to orig:new. Output sample n = j·new + i sits at input time
 * n·orig/new; it is Σ_m x[j·orig + m - width] · K_i[m] over m in [0, 2·width + orig), with
 *   t = (m - width)/orig - i/new) · base,   base = min(orig, new) · 0.99,
 *   K_i[m] = sinc(π t') · cos²(π t' / 12) · base/orig,   t' = clamp(t, -6, 6),
 * and width = ceil(6 · orig / base): a Hann-windowed ideal low-pass at 0.99 of the lower Nyquist.
 */
#define RS_LPW 6.0
#define RS_ROLLOFF 0.99
#define RS_MAX_TABLE ((int64_t)1 << 22)

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int data_resample(const float *x, int64_t n, int rate_in, int rate_out, float **y, int64_t *ny) {
    *y = NULL;
    *ny = 0;
    if (rate_in <= 0 || rate_out <= 0)
        return base_error_set("resample: expected positive sample rates, got %d → %d", rate_in, rate_out);
    int64_t g = gcd64(rate_in, rate_out), orig = rate_in / g, nw = rate_out / g;
    if (orig == nw) {
        *y = base_xmalloc((size_t)(n ? n : 1) * sizeof(float));
        if (n) memcpy(*y, x, (size_t)n * sizeof(float));
        *ny = n;
        return 0;
    }
    double base = (double)(orig < nw ? orig : nw) * RS_ROLLOFF;
    int64_t width = (int64_t)ceil(RS_LPW * (double)orig / base);
    int64_t taps = 2 * width + orig;
    if (nw * taps > RS_MAX_TABLE)
        return base_error_set("resample: rates %d → %d reduce to %lld:%lld, a filter table of %lld taps (limit %lld); "
                            "resample through an intermediate rate",
                            rate_in, rate_out, (long long)orig, (long long)nw, (long long)(nw * taps),
                            (long long)RS_MAX_TABLE);
    float *K = base_xmalloc((size_t)(nw * taps) * sizeof(float)); /* [nw, taps] */
    for (int64_t i = 0; i < nw; i++)
        for (int64_t m = 0; m < taps; m++) {
            double t = (-(double)i / (double)nw + (double)(m - width) / (double)orig) * base;
            if (t < -RS_LPW) t = -RS_LPW;
            if (t > RS_LPW) t = RS_LPW;
            double c = cos(t * M_PI / RS_LPW / 2.0), window = c * c;
            double pt = t * M_PI;
            double s = pt == 0.0 ? 1.0 : sin(pt) / pt;
            K[i * taps + m] = (float)(s * window * base / (double)orig);
        }
    int64_t out_n = (nw * n + orig - 1) / orig; /* ceil(new · n / orig) */
    float *o = base_xmalloc((size_t)(out_n ? out_n : 1) * sizeof(float));
    for (int64_t k = 0; k < out_n; k++) {
        int64_t j = k / nw, i = k % nw, start = j * orig - width;
        const float *ki = K + i * taps;
        float acc = 0.0f;
        int64_t m0 = start < 0 ? -start : 0, m1 = taps;
        if (start + m1 > n) m1 = n - start;
        for (int64_t m = m0; m < m1; m++) acc += x[start + m] * ki[m];
        o[k] = acc;
    }
    free(K);
    *y = o;
    *ny = out_n;
    return 0;
}

int data_audio_resample(data_audio *a, int rate) {
    if (a->rate == rate) return 0;
    float *y;
    int64_t ny;
    if (data_resample(a->samples, a->n, a->rate, rate, &y, &ny) != 0) return -1;
    free(a->samples);
    a->samples = y;
    a->n = ny;
    a->rate = rate;
    return 0;
}
