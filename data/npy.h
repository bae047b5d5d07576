/* npy.h — writes NumPy .npy files (format 1.0, little-endian float32 / int32), readable by numpy.load. */
#ifndef EMBER_DATA_NPY_H
#define EMBER_DATA_NPY_H

#include <stdint.h>

/* Writes an array of ndim (1..4) dims, C order, via a temp file renamed into place. descr is "<f4"
 * (float32) or "<i4" (int32); data holds the product of shape elements. 0, or -1 with an error
 * naming the file. */
int data_npy_write(const char *path, const char *descr, int ndim, const int64_t *shape, const void *data);

#endif
