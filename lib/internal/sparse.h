/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: sparse writes, which leave all-zero blocks unwritten. */
#ifndef MORTAR_LIB_SPARSE_H
#define MORTAR_LIB_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include <mortar/image.h>

/* Write BUF[0, N), which belongs at OFF, through WRITE, skipping the
 * 4 KiB granules that are all zero (the destination reads as zeroes
 * there): holes stay holes and zero-filled blocks become holes, as with
 * `cp --sparse=always`.  Runs of non-zero granules go in one write. */
typedef int (*mortar_write_fn)(void *dst, const uint8_t *buf, size_t len, uint64_t off);
int mortar_write_data_runs(const uint8_t *buf, size_t n, uint64_t off,
			   mortar_write_fn write, void *dst);

/* A mortar_write_fn for a struct mortar_image (synchronous write). */
static inline int mortar_image_write_fn(void *img, const uint8_t *buf, size_t len,
					uint64_t off)
{
	return mortar_image_pwrite_sync(img, buf, len, off, 0);
}

#endif
