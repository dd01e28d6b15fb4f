/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: a GlusterFS client volfile (the graph of translators that
 * glusterd hands a client, glfs_get_volfile()), parsed.  Plain text work,
 * no libgfapi: the gluster backend reads the volume's options from it and
 * builds a graph without the shard translator from it. */
#ifndef MORTAR_LIB_BACKEND_GLUSTER_VOLFILE_H
#define MORTAR_LIB_BACKEND_GLUSTER_VOLFILE_H

#include <stddef.h>

struct gl_xlator {
	char *name;
	char *type;			/* e.g. "features/shard" */
	char **keys, **values;		/* its options, in order */
	size_t noptions;
	char **subvolumes;
	size_t nsubvolumes;
};

struct gl_volfile {
	struct gl_xlator *xl;		/* in the file's order: children first */
	size_t n;
};

/* Parse TEXT (LEN bytes, not necessarily NUL-terminated) into *OUT.
 * -EINVAL with a message naming the line when it is not a volfile. */
int gl_volfile_parse(const char *text, size_t len, struct gl_volfile **out);
void gl_volfile_free(struct gl_volfile *v);

/* The first translator of TYPE, or NULL. */
const struct gl_xlator *gl_volfile_find(const struct gl_volfile *v, const char *type);
/* Option KEY of X, or NULL when the volfile does not set it (the
 * translator's default applies). */
const char *gl_xlator_option(const struct gl_xlator *x, const char *key);

/* The translator named NAME, or NULL. */
const struct gl_xlator *gl_volfile_get(const struct gl_volfile *v, const char *name);
/* A volfile of the one translator NAME, which has no subvolumes (a
 * protocol/client: a graph that talks to one brick).  -ENOENT when there
 * is no such leaf. */
int gl_volfile_render_one(const struct gl_volfile *v, const char *name, char **out);

/* The volfile again, as text, without every translator of TYPE: those who
 * named one as a subvolume name its child instead.  -ENOTSUP when a
 * translator of TYPE has other than one child; *OUT is malloc'd. */
int gl_volfile_render_without(const struct gl_volfile *v, const char *type, char **out);

#endif
