/* fuzz_wav.c — WAV files (RIFF chunks, PCM16), from memory as the FSDD loader reads tar members, then
 * resampling to 8 kHz as the audio tower does. */
#include "fuzz.h"

#include "data/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    data_audio a;
    if (data_wav_parse(data, size, "fuzz.wav", &a) != 0) return 0;
    if (a.n < 100000) (void)data_audio_resample(&a, 8000); /* bounded: resampling cost grows with n */
    data_audio_free(&a);
    return 0;
}
