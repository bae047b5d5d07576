/* plot.h — SVG line charts of training curves (loss per step), written beside checkpoints. */
#ifndef EMBER_TRAIN_PLOT_H
#define EMBER_TRAIN_PLOT_H

#include <stdint.h>

typedef struct train_plot_series {
    const char *name; /* legend entry */
    const float *xy;  /* [n, 2]: x, y pairs in x order */
    int64_t n;
} train_plot_series;

/* Writes a line chart of up to 4 series sharing the x axis (each series gets its own y range,
 * drawn on the left axis for the first and the right axis for the second) to path, via a temp
 * file renamed into place. Non-finite points are skipped. 0, or -1 with an error. */
int train_plot_lines(const char *path, const char *title, const char *xlabel, const train_plot_series *s, int ns);

#endif
