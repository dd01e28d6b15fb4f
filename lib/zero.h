/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: is a buffer all zeroes?  Used where zeroes become holes
 * (NBD read replies, sparse copies).  Inline: it runs on every read. */
#ifndef MORTAR_LIB_ZERO_H
#define MORTAR_LIB_ZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool mortar_all_zero(const uint8_t *p, size_t n)
{
	/* Compare the buffer with itself shifted by 16 bytes once those are
	 * known to be zero: memcmp is vectorised, and the first non-zero
	 * byte stops it. */
	if (n < 16)
		return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
	for (size_t i = 0; i < 16; i++)
		if (p[i])
			return false;
	return !memcmp(p, p + 16, n - 16);
}

/* Write BUF[0, N), which belongs at OFF, through WRITE, skipping the
 * 4 KiB granules that are all zero (the destination reads as zeroes
 * there): holes stay holes and zero-filled blocks become holes, as with
 * `cp --sparse=always`.  Runs of non-zero granules go in one write.
 * (clone.c) */
typedef int (*mortar_write_fn)(void *dst, const uint8_t *buf, size_t len, uint64_t off);
int mortar_write_data_runs(const uint8_t *buf, size_t n, uint64_t off,
			   mortar_write_fn write, void *dst);
/* A mortar_write_fn for a struct mortar_image (synchronous write). */
int mortar_image_write_fn(void *img, const uint8_t *buf, size_t len, uint64_t off);

#endif
