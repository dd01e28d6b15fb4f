/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: what the file backend lets tests see and steer. */
#ifndef MORTAR_LIB_BACKEND_FILE_H
#define MORTAR_LIB_BACKEND_FILE_H

#include <mortar/image.h>

/* Ways of zeroing, tried in this order (punch only with MAY_TRIM). */
#define FILE_ZERO_PUNCH		(1u << 0)	/* FALLOC_FL_PUNCH_HOLE */
#define FILE_ZERO_RANGE		(1u << 1)	/* FALLOC_FL_ZERO_RANGE */
#define FILE_ZERO_BLKZEROOUT	(1u << 2)	/* ioctl on block devices */
#define FILE_ZERO_WRITE		(1u << 3)	/* write zeroes (slow) */

struct file_zero_stats {
	unsigned failed;	/* methods found unsupported, remembered */
	unsigned tried[4];	/* attempts per method, by bit index */
	unsigned used[4];	/* successes per method */
};

/* Methods to treat as unsupported, for tests of the cascade on
 * filesystems that support everything. */
void mortar_file_debug_disable(struct mortar_image *img, unsigned methods);
void mortar_file_zero_stats(struct mortar_image *img, struct file_zero_stats *st);
/* Alignment used for O_DIRECT (1 when buffered). */
unsigned mortar_file_alignment(struct mortar_image *img);

#endif
