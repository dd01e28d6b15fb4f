/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the namespace around an image.
 *
 * Snapshots and temporaries live beside an image, on whatever holds it: a
 * local filesystem or a GlusterFS volume.  This is the handful of
 * namespace calls they need, with one implementation per place (POSIX
 * here, libgfapi in backend-gluster.c), so that snapshot.c and clone.c
 * are written once.
 *
 * Paths are those of the location: a local path as typed, or a path
 * inside the volume.  Operations return 0 or a negative errno and set no
 * message: callers know what they were doing and say it.
 */
#ifndef MORTAR_LIB_FS_H
#define MORTAR_LIB_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include <mortar/location.h>

struct mortar_fs_ops {
	int (*stat)(void *ctx, const char *path, struct stat *st);
	int (*mkdir)(void *ctx, const char *path, mode_t mode);
	int (*unlink)(void *ctx, const char *path);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*chmod)(void *ctx, const char *path, mode_t mode);
	/* The names in DIR except "." and "..", malloc'd, in *NAMES. */
	int (*list)(void *ctx, const char *dir, char ***names, size_t *n);
	/* Create PATH (failing if it exists when EXCL), write DATA, fsync. */
	int (*put)(void *ctx, const char *path, const void *data, size_t len, bool excl);
	/* Read PATH whole, NUL-terminated, at most MAX bytes. */
	int (*get)(void *ctx, const char *path, char **data, size_t max);
	void (*close)(void *ctx);
};

struct mortar_fs {
	const struct mortar_fs_ops *ops;
	void *ctx;
	struct mortar_location *loc;	/* the location it was opened for */
};

/* The namespace holding the image at LOCATION (file or gluster; nbd has
 * none: -ENOTSUP with a message). */
int mortar_fs_open(const char *location, struct mortar_fs **out);
void mortar_fs_close(struct mortar_fs *fs);
/* The location text (malloc'd) of PATH in the same namespace: a path for
 * local files, a gluster:// URI with the same servers for a volume. */
char *mortar_fs_location(const struct mortar_fs *fs, const char *path);
void mortar_fs_free_names(char **names, size_t n);
/* Split PATH into its folder (".", "/" or "A/B", in DIR) and *BASE (points
 * into PATH).  -ENAMETOOLONG when DIR is too small. */
int mortar_fs_split(const char *path, char *dir, size_t dlen, const char **base);

/* Temporaries are named "...tmp-TAG" with TAG = "PID@HOST", so that on a
 * volume several hosts share, each can tell its own dead temporaries from
 * another host's live ones. */
int mortar_tmp_tag(char *buf, size_t len);
/* Is the temporary tagged TAG, last modified at MTIME, abandoned?  Ours
 * (this host): its process is gone.  Another host's: untouched for a day
 * (we cannot ask that host).  Unparsable tags: as another host's. */
bool mortar_tmp_abandoned(const char *tag, time_t mtime);
/* Remove the entries of DIR named PREFIX + TAG with an abandoned TAG. */
void mortar_fs_remove_stale(struct mortar_fs *fs, const char *dir, const char *prefix);

#ifdef MORTAR_HAVE_GLUSTER
/* backend-gluster.c: the namespace of LOC's volume (a shared connection). */
int mortar_gluster_fs(const struct mortar_location *loc, const char *text,
		      const struct mortar_fs_ops **ops, void **ctx);
#endif

#endif
