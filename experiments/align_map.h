/* align_map.h — the picture of `ember eval align`: a t-SNE map of the shared space, colour = class, shape = modality. */
#ifndef EMBER_EXPERIMENTS_ALIGN_MAP_H
#define EMBER_EXPERIMENTS_ALIGN_MAP_H

#include <stdint.h>

#include "../train/align.h"

/* Embeds up to per_set items of each set present in d (Fashion-MNIST test images, MNIST held-out
 * images, FSDD test recordings, evenly over the classes) and the 20 class prompts, runs t-SNE
 * (perplexity 30) on the 256-d vectors and writes an SVG to path: fill colour = class within its
 * family (0..9), marker = modality and family (square Fashion image, circle MNIST image, triangle
 * recording, large outlined star = prompt, labelled). 0 or -1 with an error. */
int exp_align_map(const char *path, const train_align_model *m, const train_align_data *d, int64_t per_set,
                  uint64_t seed);

#endif
