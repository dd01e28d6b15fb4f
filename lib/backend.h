/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the backend interface.
 *
 * A backend is one file that fills a `struct mortar_backend` table, in the
 * manner of nbdkit's plugin struct.  The image layer has already checked
 * ranges, read-only state and capabilities before calling a request
 * callback; a backend only does the I/O.  Request callbacks never complete
 * the request inline: they arrange for mortar_req_complete() to be called
 * on the loop thread later (io_uring completion, mortar_loop_defer(), or
 * mortar_loop_post() from a foreign thread).
 */
#ifndef MORTAR_LIB_BACKEND_H
#define MORTAR_LIB_BACKEND_H

#include <stdint.h>
#include <sys/uio.h>

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

struct mortar_req {
	struct mortar_op op;		/* the backend's current step */
	struct mortar_image *img;
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

	struct mortar_req *next;	/* for backend queues */
	void *priv;			/* backend's per-request state */

	/* Scratch space for the backend that runs the request, so that the
	 * hot path allocates nothing beyond the request itself. */
	struct {
		int step;
		uint64_t off, len, done;	/* the current I/O */
		struct iovec *iov;
		int iovcnt;
		struct iovec *tmp_iov;		/* remainder after a short I/O */
		void *bounce;
		uint64_t b_lo, b_len;
		uint64_t progress;		/* multi-step requests */
		void (*then)(struct mortar_req *req, int res);
		uint64_t lock_lo, lock_hi;	/* range held, aligned */
		bool lock_excl, locked;
		struct mortar_req *lock_next;
	} be;
};

struct mortar_backend {
	const char *name;

	int (*create)(const struct mortar_location *loc, uint64_t size,
		      enum mortar_prealloc prealloc, unsigned flags);
	int (*remove)(const struct mortar_location *loc);
	/* Open LOC; store the handle, size and capabilities. */
	int (*open)(struct mortar_image *img, const struct mortar_location *loc,
		    unsigned flags, void **handle);
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
};

extern const struct mortar_backend mortar_backend_file;
#ifdef MORTAR_HAVE_GLUSTER
extern const struct mortar_backend mortar_backend_gluster;
#endif

/* Finish REQ with RES (0 or a negative errno).  When RES < 0 the backend
 * must have recorded the message with mortar_set_error() on the loop
 * thread just before.  Frees REQ. */
void mortar_req_complete(struct mortar_req *req, int res);

/* Helpers for backends. */
/* Append an extent to REQ's result, merged with the last one when they
 * touch and agree; *CAP is the array's capacity.  0 or -ENOMEM. */
int mortar_req_add_extent(struct mortar_req *req, size_t *cap, uint64_t off,
			  uint64_t len, uint32_t flags);
void *mortar_image_handle(const struct mortar_image *img);
struct mortar_loop *mortar_req_loop(const struct mortar_req *req);
/* Display name of the image's location (for messages). */
const char *mortar_image_name(const struct mortar_image *img);

#ifdef MORTAR_HAVE_GLUSTER
/* A copy made by the bricks within one volume (backend-gluster.c):
 * -ENOTSUP without a message when the volume or the pair cannot.
 * *SHARED (optional): the volume's free space barely moved, so the bricks
 * shared blocks (reflink) rather than copying them. */
int mortar_gluster_copy(const struct mortar_location *src, const struct mortar_location *dst,
			bool force, uint64_t *size, bool *shared);
/* Are A and B on one volume, reached through the same volfile servers
 * (the condition for a copy made by the bricks)? */
bool mortar_gluster_same_volume(const struct mortar_location *a, const struct mortar_location *b);
/* The volume's UUID, as 36 characters and a NUL in BUF (>= 37 bytes). */
int mortar_gluster_volume_id(const struct mortar_location *loc, char *buf, size_t len);
#endif

#endif
