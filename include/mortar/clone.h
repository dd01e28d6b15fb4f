/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copies that storage can make cheaply: clones, snapshots' building block,
 * and what a location's storage is able to do.
 *
 * What the GlusterFS BD translator once promised (thin images, server-side
 * copy and snapshot, a capability query), rebuilt on what exists today:
 * reflinks (FICLONE on XFS with reflink=1, btrfs), copy_file_range, and a
 * sparse copy through libmortar when neither applies.
 */
#ifndef MORTAR_CLONE_H
#define MORTAR_CLONE_H

#include <stdbool.h>
#include <stdint.h>

#include <mortar/location.h>

/* What the storage under a location can do, detected by trying it on a
 * scratch file beside the image (never guessed from names). */
struct mortar_storage_caps {
	bool thin;		/* holes: space is allocated on write */
	bool offload_copy;	/* a copy shares blocks instead of moving data */
	bool offload_snapshot;	/* ...so snapshots are instant and small */
	bool discard;		/* punching holes frees space */
	bool zero;		/* zeroing a range without writing zeroes */
	char how[160];		/* one line: how copies are made here */
};

int mortar_storage_caps(const struct mortar_location *loc, struct mortar_storage_caps *caps);

enum mortar_clone_method {
	MORTAR_CLONE_REFLINK,		/* shares extents: instant, no space */
	MORTAR_CLONE_COPY_RANGE,	/* copy_file_range: data stays in the kernel */
	MORTAR_CLONE_SPARSE_COPY,	/* read and write the data, holes kept */
	MORTAR_CLONE_SERVER_COPY,	/* GlusterFS: the bricks copy (copy_file_range) */
	MORTAR_CLONE_SERVER_REFLINK,	/* ...and their filesystem shared the blocks */
};

const char *mortar_clone_method_name(enum mortar_clone_method m);
/* Does a copy made this way share blocks with its source? */
static inline bool mortar_clone_method_shares(enum mortar_clone_method m)
{
	return m == MORTAR_CLONE_REFLINK || m == MORTAR_CLONE_SERVER_REFLINK;
}

#define MORTAR_CLONE_FORCE	(1u << 0)	/* replace an existing DST */
#define MORTAR_CLONE_NO_REFLINK	(1u << 1)	/* skip reflink (benchmarks, tests) */
#define MORTAR_CLONE_COPY_ONLY	(1u << 2)	/* skip reflink and copy_file_range */

/* Progress: DONE of TOTAL bytes of the source considered so far. */
typedef void (*mortar_progress_fn)(void *opaque, uint64_t done, uint64_t total);

/* Copy the image SRC to DST, which must not exist unless
 * MORTAR_CLONE_FORCE.  Holes stay holes.  Between local files the copy is
 * made under a temporary name in DST's directory and renamed into place
 * only when complete and synced, so that a crash never leaves a partial
 * DST (the temporary file is removed by the next clone to that name).
 * *USED (optional) says how it was done.  Synchronous. */
int mortar_image_clone(const struct mortar_location *src, const struct mortar_location *dst,
		       unsigned flags,
		       mortar_progress_fn progress, void *opaque,
		       enum mortar_clone_method *used);

/* Make DST's content that of SRC in place: the same file (so an open
 * export of it sees the change), resized to SRC's size, SRC's holes
 * zeroed and deallocated where the storage can (or SRC's blocks shared
 * again, where the storage can: a reflink).  Synchronous. */
int mortar_image_copy_over(const struct mortar_location *src,
			   const struct mortar_location *dst,
			   mortar_progress_fn progress, void *opaque);

#endif
