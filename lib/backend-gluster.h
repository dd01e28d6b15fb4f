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
#include <stdint.h>
#include <sys/types.h>
#include <glusterfs/api/glfs.h>

#include "backend.h"

extern const struct mortar_backend mortar_backend_gluster;

/* One client per (volfile servers in order, volume), shared by every user
 * in the process and reference counted (backend-gluster-conn.c). */
struct gl_conn {
	char *key;
	char *volume;
	struct mortar_location *loc;	/* its volfile servers, in the user's order */
	/* The client.  Replaced by a client of another volfile server when
	 * the one in use is gone (backend-gluster-failover.c): GEN counts
	 * the replacements, and each image moves its descriptor over at its
	 * next request.  An old client is never freed. */
	glfs_t *fs;
	unsigned gen;
	size_t first;			/* index in loc of the server it asks first */
	unsigned down_checks;
	unsigned refs;
	char *logfile;
	/* The graph without the shard translator, for block status on
	 * sharded volumes (backend-gluster-shard.c): made on first use;
	 * raw_err < 0 once making it failed. */
	glfs_t *raw;
	int raw_err;
	struct gl_helper *helper;	/* made on first use (backend-gluster-helper.c) */
	/* One client per brick, made on the first look at the replicas
	 * (backend-gluster-health.c). */
	struct gl_bricks *bricks;
	struct gl_conn *next;
};

/* Most extents one block status request gathers: with SEEK_DATA and
 * SEEK_HOLE, two round trips to the bricks each. */
#define GL_MAX_EXTENTS 1024

static inline bool gl_extents_full(const struct mortar_req *req)
{
	return req->nextents >= GL_MAX_EXTENTS;
}

/* backend-gluster-helper.c: C's helper thread runs JOB->run(JOB) there,
 * after the jobs submitted before it; 0, or a negative errno (no thread:
 * the caller does the work itself). */
struct gl_job {
	void (*run)(struct gl_job *job);
	struct gl_job *next;
};
int gl_helper_submit(struct gl_conn *c, struct gl_job *job);

/* The connection to LOC's volume (TEXT names it in messages): 0, or a
 * negative errno with a message that names the cause. */
int gl_conn_get(const struct mortar_location *loc, const char *text, struct gl_conn **out);
/* The same, LOC's canonical text naming it. */
int gl_conn_get_loc(const struct mortar_location *loc, struct gl_conn **out);
void gl_conn_put(struct gl_conn *c);
/* A client of LOC's volume, not yet initialised, asking LOC's volfile
 * servers from index FIRST on (then the others, in order). */
int gl_client_new(const struct mortar_location *loc, size_t first, const char *text,
		  const char *logfile, glfs_t **out);
/* backend-gluster-failover.c: watch C's volfile server (when its location
 * names more than one) and move C to the next one when it is gone; once
 * per connection, however often asked. */
void gl_failover_watch(struct gl_conn *c);
/* glfs_init(FS), given up after MORTAR_GLUSTER_TIMEOUT: -1 with errno. */
int gl_init_bounded(glfs_t *fs);
/* The same, given up after SECONDS. */
int gl_init_within(glfs_t *fs, int seconds);
/* The client volfile of C's volume, as glusterd gave it, parsed
 * (backend-gluster-volfile.h); 0 or a negative errno with a message. */
struct gl_volfile;
int gl_conn_volfile(struct gl_conn *c, struct gl_volfile **out);
/* Both: the connection to LOC's volume and its volfile (put the one and
 * free the other when done). */
int gl_conn_get_volfile(const struct mortar_location *loc, struct gl_conn **c,
			struct gl_volfile **v);
/* The message for a failed glfs_open/creat/stat of LOC's path. */
int gl_open_error(const char *text, const struct mortar_location *loc, int err,
		  unsigned flags);

/* backend-gluster-log.c: the path of the client log of VOLUME (NULL when
 * there is no safe place), rotated when it grew too large; *START: where
 * it ends now, so that a diagnosis reads only what the new client wrote. */
char *gl_log_open(const char *volume, long *start);
/* A line of Mortar's own in C's client log. */
__attribute__((format(printf, 2, 3)))
void gl_note(const struct gl_conn *c, const char *fmt, ...);

/* backend-gluster-fence.c: whether writes to an image must wait for an
 * fsync that succeeds, shared by every handle of the image in the process
 * (same connection, same inode).  gl_fence_up says whether the fence is
 * up and what it has seen; gl_fence_clear, after an fsync sent then
 * succeeded, lowers it for what was seen. */
struct gl_fence;
int gl_fence_get(struct gl_conn *c, ino_t ino, struct gl_fence **out);
void gl_fence_put(struct gl_fence *f);
void gl_fence_fail(struct gl_fence *f);
bool gl_fence_up(struct gl_fence *f, unsigned *seen);
void gl_fence_clear(struct gl_fence *f, unsigned seen);

/* backend-gluster-copy.c: the table's copy and probe. */
int mortar_gluster_copy(const struct mortar_location *src, const struct mortar_location *dst,
			unsigned flags, mortar_progress_fn progress, void *opaque,
			enum mortar_clone_method *used);
int mortar_gluster_probe(const struct mortar_location *loc, struct mortar_storage_caps *caps);

/* backend-gluster-shard.c: images on sharded volumes.
 * gl_shards_open: what block status needs for PATH on C's volume; *OUT
 * stays NULL (and 0 is returned) when the volume cannot be read without
 * its shard translator: then everything is data. */
struct gl_shards;
int gl_shards_open(struct gl_conn *c, const char *path, struct gl_shards **out);
void gl_shards_close(struct gl_shards *s);
/* Add REQ's extents over [*POS, END) (image offsets), as far as one
 * request goes; *POS moves past what was added. */
int gl_shards_extents(struct gl_shards *s, struct mortar_req *req, size_t *cap,
		      uint64_t *pos, uint64_t end, const char *name);
/* The shard size of the image, UINT64_MAX when it is not sharded (or S
 * is NULL: not known). */
uint64_t gl_shards_block(const struct gl_shards *s);
/* glfs_ftruncate(FD, NEW_SIZE) of an image of SIZE bytes, past
 * GlusterFS's loss of data on shrinks to a shard boundary; 0 or -errno
 * (no message). */
int gl_shards_truncate(glfs_fd_t *fd, const struct gl_shards *s, uint64_t size,
		       uint64_t new_size);
/* SIZE fits an image on C's volume; or -EFBIG with a message naming TEXT.
 * (A sharded file grown past 2^31 shards can no longer be deleted.) */
int gl_size_check(struct gl_conn *c, const char *text, uint64_t size);
/* The same over one file opened on the same graph: FD holds the image's
 * bytes from image offset SHIFT on, up to LIMIT.  -ENOTSUP (no message)
 * when the graph cannot seek. */
int gl_seek_extents(glfs_fd_t *fd, uint64_t shift, uint64_t limit, struct mortar_req *req,
		    size_t *cap, uint64_t *pos, uint64_t end, const char *name);

/* backend-gluster-health.c and -review.c: the table's replica and review. */
int mortar_gluster_replica(const struct mortar_location *loc, struct mortar_replica_state *out);
int mortar_gluster_review(const struct mortar_location *loc, mortar_advice_fn fn, void *opaque);
/* The GFID of PATH on FS, as text (8-4-4-4-12 hex digits). */
int gl_gfid(glfs_t *fs, const char *path, char text[static 37]);

/* backend-gluster-ns.c: the table's ns_open. */
int mortar_gluster_ns_open(const struct mortar_location *loc, const struct mortar_fs_ops **ops,
			   void **ctx);

#endif
