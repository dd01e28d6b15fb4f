/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the namespace around an image.
 *
 * Snapshots and temporaries live beside an image, on whatever holds it.
 * The backend that serves the image provides the handful of namespace
 * calls they need (backend.h, struct mortar_fs_ops), so that snapshot.c
 * and clone.c are written once.
 */
#ifndef MORTAR_LIB_FS_H
#define MORTAR_LIB_FS_H

#include <mortar/location.h>
#include "backend.h"

struct mortar_fs {
	const struct mortar_fs_ops *ops;
	void *ctx;
	struct mortar_location *loc;	/* a copy of the location it was opened for */
};

/* The namespace holding the image at LOC (-ENOTSUP with a message when
 * its backend has none, as for nbd://). */
int mortar_fs_open(const struct mortar_location *loc, struct mortar_fs **out);
void mortar_fs_close(struct mortar_fs *fs);
/* The location of PATH in the same namespace (0 or -ENOMEM). */
int mortar_fs_location(const struct mortar_fs *fs, const char *path,
		       struct mortar_location **out);

#endif
