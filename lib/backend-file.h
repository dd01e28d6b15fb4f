/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the file backend (regular files and block devices).
 *
 * backend-file.c does the I/O, backend-file-copy.c copies and probes,
 * backend-file-ns.c is the namespace beside an image, backend-file-lock.c
 * the range lock of direct read-modify-writes.  Tests also steer
 * the zeroing cascade through the hooks at the end.
 */
#ifndef MORTAR_LIB_BACKEND_FILE_H
#define MORTAR_LIB_BACKEND_FILE_H

#include <mortar/image.h>
#include "backend.h"

extern const struct mortar_backend mortar_backend_file;

/* backend-file-copy.c: the table's copy, copy_over and probe. */
int mortar_file_copy(const struct mortar_location *src, const struct mortar_location *dst,
		     unsigned flags, mortar_progress_fn progress, void *opaque,
		     enum mortar_clone_method *used);
int mortar_file_copy_over(const struct mortar_location *src, const struct mortar_location *dst);
int mortar_file_probe(const struct mortar_location *loc, struct mortar_storage_caps *caps);

/* backend-file-ns.c: the table's ns_open, and its operations. */
extern const struct mortar_fs_ops mortar_file_ns_ops;
int mortar_file_ns_open(const struct mortar_location *loc, const struct mortar_fs_ops **ops,
			void **ctx);

/* backend-file-lock.c: the range lock of O_DIRECT read-modify-writes,
 * shared by every handle of one file in the process.  A range is part of
 * a request; while it waits, its loop is held, and once granted OP is
 * posted to LOOP with 0. */
struct file_range {
	uint64_t lo, hi;		/* aligned */
	bool excl, locked;
	struct file_range *next;	/* the lock's lists */
	struct file_range *granted_next;
	struct mortar_loop *loop;
	struct mortar_op *op;
};

struct file_lock;
/* The lock of the file ST describes (a reference); 0 or -ENOMEM. */
int file_lock_get(const struct stat *st, struct file_lock **out);
void file_lock_put(struct file_lock *l);
/* True when R holds its range now; false when it waits (see above). */
bool file_lock_take(struct file_lock *l, struct file_range *r);
/* Give R's range back (nothing when R does not hold one). */
void file_lock_release(struct file_lock *l, struct file_range *r);

/* ---- test hooks ---- */

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

/* On the backend handle of an image (mortar_image_handle()). */
void mortar_file_debug_disable_handle(void *handle, unsigned methods);
void mortar_file_zero_stats_handle(void *handle, struct file_zero_stats *st);
unsigned mortar_file_alignment_handle(void *handle);

/* Methods to treat as unsupported, for tests of the cascade on
 * filesystems that support everything. */
static inline void mortar_file_debug_disable(struct mortar_image *img, unsigned methods)
{
	mortar_file_debug_disable_handle(mortar_image_handle(img), methods);
}

static inline void mortar_file_zero_stats(struct mortar_image *img, struct file_zero_stats *st)
{
	mortar_file_zero_stats_handle(mortar_image_handle(img), st);
}

/* Alignment used for O_DIRECT (1 when buffered). */
static inline unsigned mortar_file_alignment(struct mortar_image *img)
{
	return mortar_file_alignment_handle(mortar_image_handle(img));
}

#endif
