/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the GlusterFS backend, on libgfapi.
 *
 * backend-gluster-conn.c holds the shared connections and explains their
 * failures, backend-gluster.c the I/O (the backend's table),
 * backend-gluster-copy.c the copies made by the bricks and the probe of
 * what a volume can do, backend-gluster-ns.c the namespace of a volume.
 */
#ifndef MORTAR_LIB_BACKEND_GLUSTER_H
#define MORTAR_LIB_BACKEND_GLUSTER_H

#include <stdbool.h>
#include <glusterfs/api/glfs.h>

#include "backend.h"

extern const struct mortar_backend mortar_backend_gluster;

/* One client per (volfile servers in order, volume), shared by every user
 * in the process and reference counted (backend-gluster-conn.c). */
struct gl_conn {
	char *key;
	glfs_t *fs;
	unsigned refs;
	char *logfile;
	struct gl_conn *next;
};

/* The connection to LOC's volume (TEXT names it in messages): 0, or a
 * negative errno with a message that names the cause. */
int gl_conn_get(const struct mortar_location *loc, const char *text, struct gl_conn **out);
/* The same, LOC's canonical text naming it. */
int gl_conn_get_loc(const struct mortar_location *loc, struct gl_conn **out);
void gl_conn_put(struct gl_conn *c);
/* The message for a failed glfs_open/creat/stat of LOC's path. */
int gl_open_error(const char *text, const struct mortar_location *loc, int err,
		  unsigned flags);

/* backend-gluster-copy.c: the table's copy and probe. */
int mortar_gluster_copy(const struct mortar_location *src, const struct mortar_location *dst,
			unsigned flags, mortar_progress_fn progress, void *opaque,
			enum mortar_clone_method *used);
int mortar_gluster_probe(const struct mortar_location *loc, struct mortar_storage_caps *caps);

/* backend-gluster-ns.c: the table's ns_open. */
int mortar_gluster_ns_open(const struct mortar_location *loc, const struct mortar_fs_ops **ops,
			   void **ctx);

#endif
