/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the backend interface.
 *
 * A backend is a `struct mortar_backend` table, in the manner of nbdkit's
 * plugin struct or QEMU's BlockDriver, registered in registry.c (the only
 * place that knows which backends a build has).  Generic code reaches a
 * backend through its table only.
 *
 * Requests: the image layer has already checked ranges, read-only state
 * and capabilities before calling a request callback; a backend only does
 * the I/O.  Request callbacks never complete the request inline: they
 * arrange for mortar_req_complete() to be called on the loop thread later
 * (io_uring completion, mortar_loop_defer(), or mortar_loop_post() from a
 * foreign thread).  A backend that needs state per request declares a
 * struct that starts with `struct mortar_req` and sets req_size: the
 * request is then one allocation, zeroed, of that size.
 */
#ifndef MORTAR_LIB_BACKEND_H
#define MORTAR_LIB_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <mortar/clone.h>
#include <mortar/health.h>
#include <mortar/image.h>
#include "loop.h"

enum mortar_req_type {
	MORTAR_REQ_READ,
	MORTAR_REQ_WRITE,
	MORTAR_REQ_FLUSH,
	MORTAR_REQ_TRIM,
	MORTAR_REQ_ZERO,
	MORTAR_REQ_EXTENTS,
	MORTAR_REQ_RESIZE,
};

#define MORTAR_REQ_INLINE_IOV 4

struct mortar_req_pool;

struct mortar_req {
	struct mortar_op op;		/* the backend's current step */
	struct mortar_req_pool *pool;	/* the image's (request.c) */
	void *handle;			/* the image's backend handle */
	enum mortar_req_type type;
	unsigned flags;
	uint64_t offset;
	uint64_t length;		/* bytes; for resize the new size */

	struct iovec *iov;		/* the caller's buffers (a private copy) */
	int iovcnt;
	struct iovec iov_inline[MORTAR_REQ_INLINE_IOV];

	/* Results of an extents request, filled by the backend. */
	struct mortar_extent *extents;
	size_t nextents;

	mortar_done_fn cb;
	mortar_extents_fn ecb;
	void *opaque;

	struct mortar_req *next;	/* the pool's free list */
};

/* The namespace beside an image (fs.h): snapshots and temporaries.  Paths
 * are those of the location (a local path as typed, or a path inside the
 * volume).  0 or a negative errno, no message: callers say what they were
 * doing. */
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

static inline void mortar_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* What open is given besides the location. */
struct mortar_backend_args {
	struct mortar_loop *loop;	/* completions are delivered there */
	const char *name;		/* for messages; valid until close */
	unsigned flags;			/* MORTAR_OPEN_* */
};

struct mortar_backend {
	const char *name;
	enum mortar_scheme scheme;	/* the locations it serves */
	size_t req_size;		/* >= sizeof(struct mortar_req) */

	int (*create)(const struct mortar_location *loc, uint64_t size,
		      enum mortar_prealloc prealloc, unsigned flags);
	int (*remove)(const struct mortar_location *loc);
	/* Open LOC; store the handle, size and capabilities. */
	int (*open)(const struct mortar_location *loc,
		    const struct mortar_backend_args *args, void **handle);
	/* All requests have completed when close is called. */
	int (*close)(void *handle);
	const char *(*kind)(void *handle);	/* e.g. "file" or "block" */
	uint64_t (*size)(void *handle);
	uint32_t (*caps)(void *handle);
	void (*block_size)(void *handle, uint32_t *min, uint32_t *pref, uint32_t *max);
	int (*allocated)(void *handle, uint64_t *bytes);

	void (*preadv)(void *handle, struct mortar_req *req);
	void (*pwritev)(void *handle, struct mortar_req *req);
	void (*flush)(void *handle, struct mortar_req *req);
	void (*trim)(void *handle, struct mortar_req *req);
	void (*zero)(void *handle, struct mortar_req *req);
	void (*extents)(void *handle, struct mortar_req *req);
	void (*resize)(void *handle, struct mortar_req *req);

	/* Whole-image operations, all optional.
	 *
	 * copy: make DST (not existing, unless MORTAR_CLONE_FORCE) a copy of
	 * SRC, both served by this backend, the cheapest way the storage
	 * offers; *USED says which.  -ENOTSUP without a message when the
	 * storage offers none for this pair: the caller copies through the
	 * image layer. */
	int (*copy)(const struct mortar_location *src, const struct mortar_location *dst,
		    unsigned flags, mortar_progress_fn progress, void *opaque,
		    enum mortar_clone_method *used);
	/* copy_over: make DST's content that of SRC in place (same file),
	 * sharing blocks; -ENOTSUP without a message when it cannot. */
	int (*copy_over)(const struct mortar_location *src, const struct mortar_location *dst);
	/* probe: what the storage under LOC can do, found by trying. */
	int (*probe)(const struct mortar_location *loc, struct mortar_storage_caps *caps);
	/* ns_open: the namespace holding LOC's image. */
	int (*ns_open)(const struct mortar_location *loc, const struct mortar_fs_ops **ops,
		       void **ctx);
	/* replica: the state of the copies of LOC's image (health.h). */
	int (*replica)(const struct mortar_location *loc, struct mortar_replica_state *out);
	/* review: the settings of LOC's volume that do not suit VM images. */
	int (*review)(const struct mortar_location *loc, mortar_advice_fn fn, void *opaque);
};

/* ---- request.c: the request pool of an image ---- */

struct mortar_req_pool {
	struct mortar_req *free;	/* finished requests kept for reuse */
	unsigned nfree;
	unsigned in_flight;
	size_t size;			/* bytes per request: the backend's */
	void *handle;			/* the backend's */
	const char *name;		/* the image's, for messages */
};

/* A zeroed request of POOL->size bytes, counted in flight; NULL with a
 * message when out of memory.  IOV is copied. */
struct mortar_req *mortar_req_new(struct mortar_req_pool *pool, enum mortar_req_type type,
				  uint64_t offset, uint64_t length, unsigned flags,
				  const struct iovec *iov, int iovcnt);
/* Finish REQ with RES (0 or a negative errno): run its callback, then
 * free it.  When RES < 0 the backend must have recorded the message with
 * mortar_set_error() on the loop thread just before. */
void mortar_req_complete(struct mortar_req *req, int res);
/* "read", "write", ... */
const char *mortar_req_verb(enum mortar_req_type type);
/* Free the requests kept for reuse (the pool is idle). */
void mortar_req_pool_drain(struct mortar_req_pool *pool);
/* Append an extent to REQ's result, merged with the last one when they
 * touch and agree; *CAP is the array's capacity.  0 or -ENOMEM. */
int mortar_req_add_extent(struct mortar_req *req, size_t *cap, uint64_t off,
			  uint64_t len, uint32_t flags);

/* mortar_set_retry_timeout()'s value, in milliseconds (retry.c). */
unsigned mortar_retry_timeout_ms(void);

/* For tests (image.c): the backend handle of an open image. */
void *mortar_image_handle(const struct mortar_image *img);

#endif
