/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Named snapshots of an image, kept beside it.
 *
 * A snapshot of FOLDER/IMAGE is a read-only clone FOLDER/.IMAGE.snapshots/
 * NAME.img described by NAME.json in the same folder, on whatever holds
 * the image: a local filesystem or a GlusterFS volume.  Living next to the
 * image, snapshots are seen by every host that mounts the filesystem or
 * the volume.  The JSON file is written last (temporary name, then
 * rename): a snapshot is listed only once complete, and a crash
 * mid-snapshot leaves only temporaries (named after the process and the
 * host) that the next snapshot command of that image removes.  The clone
 * shares blocks where the storage can (see clone.h: a reflink locally, a
 * copy by the bricks on a volume); otherwise it is a full copy, and info
 * says so.
 *
 * These calls do not quiesce writers: `mortar img snapshot` asks running
 * `mortar serve` processes to hold writes around them.
 */
#ifndef MORTAR_SNAPSHOT_H
#define MORTAR_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <mortar/clone.h>
#include <mortar/location.h>

struct mortar_snapshot {
	char name[65];
	char *location;		/* of the snapshot's image (read-only), as text */
	uint64_t size;
	int64_t created;	/* seconds since the epoch */
	char method[32];	/* how it was made: reflink, copy_file_range... */
	bool shared;		/* shares blocks with the image (reflink) */
};

/* Names: 1-64 of [A-Za-z0-9._-], not starting with '.'. */
int mortar_snapshot_create(const struct mortar_location *image, const char *name,
			   mortar_progress_fn progress, void *opaque,
			   struct mortar_snapshot *out);
/* Sorted by creation time, oldest first.  Free with _list_free. */
int mortar_snapshot_list(const struct mortar_location *image, struct mortar_snapshot **list, size_t *n);
void mortar_snapshot_list_free(struct mortar_snapshot *list, size_t n);
int mortar_snapshot_delete(const struct mortar_location *image, const char *name);
/* Make the image's content that of the snapshot, in place (same file, so
 * an open export sees it; the caller quiesces it). */
int mortar_snapshot_revert(const struct mortar_location *image, const char *name,
			   mortar_progress_fn progress, void *opaque);
/* The location of snapshot NAME of IMAGE, in *OUT; -ENOENT with a message
 * when there is no such snapshot. */
int mortar_snapshot_location(const struct mortar_location *image, const char *name,
			     struct mortar_location **out);

#endif
