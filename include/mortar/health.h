/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: how sound an image's storage is: whether its copies on a
 * replicated volume agree, and how the volume is set up for VM images.
 * Both look through the storage's own client (for GlusterFS: the changelog
 * extended attributes each brick keeps, and the client's volfile), never
 * through an administration command. */
#ifndef MORTAR_HEALTH_H
#define MORTAR_HEALTH_H

#include <stdbool.h>

#include <mortar/location.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mortar_replica_state {
	bool replicated;	/* false: one copy (or not asked: a local file) */
	unsigned copies;	/* copies of every byte: the replica count */
	unsigned files;		/* files looked at: the image, and its shards */
	unsigned unreachable;	/* bricks that could not be asked */
	unsigned pending;	/* files a self-heal has yet to copy somewhere */
	unsigned split_brain;	/* files whose copies blame each other */
	char detail[1024];	/* one line: what was found, the first files
				 * named, and the fix */
};

/* The state of the copies of LOC's image.  0, or a negative errno with a
 * message when the storage could not be asked at all. */
int mortar_replica_state(const struct mortar_location *loc, struct mortar_replica_state *out);

/* One setting of LOC's volume that does not suit VM images: SETTING (the
 * option, or what was checked), what was found and why it matters, and
 * the command that fixes it. */
typedef void (*mortar_advice_fn)(void *opaque, const char *setting, const char *finding,
				 const char *fix);

/* Review LOC's volume against the settings VM hosts use (GlusterFS: the
 * virt option group), calling FN once per deviation.  Returns how many it
 * found (0: none, or storage with nothing to review), or a negative errno
 * with a message. */
int mortar_volume_review(const struct mortar_location *loc, mortar_advice_fn fn, void *opaque);

#ifdef __cplusplus
}
#endif
#endif
