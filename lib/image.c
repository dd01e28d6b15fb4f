/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image layer: opens a location with the right backend, checks every
 * request against the image's size, mode and capabilities, and delivers
 * completions to the caller on the loop thread. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "backend.h"
#include "error.h"

struct mortar_image {
	struct mortar_loop *loop;
	const struct mortar_backend *be;
	void *handle;
	struct mortar_location *loc;
	char *name;		/* canonical location text, for messages */
	unsigned flags;
	unsigned in_flight;
	bool dirty;		/* written since open: close flushes */
	/* Finished requests kept for reuse: glibc's calloc bypasses its
	 * per-thread cache, and allocation was the largest user-space cost
	 * per I/O (callgrind, 4k random reads). Loop thread only. */
	struct mortar_req *free_reqs;
	unsigned nfree;
};

#define IMAGE_MAX_FREE_REQS 256

const char *mortar_version(void)
{
	return MORTAR_VERSION;
}

/* Which backend serves a location, or an error saying why none does. */
static int image_backend_for(const struct mortar_location *loc, const char *text,
			     const struct mortar_backend **out)
{
	switch (loc->scheme) {
	case MORTAR_SCHEME_FILE:
		*out = &mortar_backend_file;
		return 0;
	case MORTAR_SCHEME_GLUSTER:
		for (size_t i = 0; i < loc->nservers; i++)
			if (loc->servers[i].transport == MORTAR_TRANSPORT_RDMA)
				return mortar_set_error(EPROTONOSUPPORT, "%s: the rdma "
					"transport is not supported (GlusterFS itself "
					"dropped it); use gluster:// or gluster+tcp:// "
					"instead", text);
#ifdef MORTAR_HAVE_GLUSTER
		*out = &mortar_backend_gluster;
		return 0;
#else
		return mortar_set_error(ENOTSUP, "%s: this build of Mortar has no "
			"GlusterFS backend (libgfapi was not found when it was built: "
			"install libglusterfs-dev and rebuild)", text);
#endif
	case MORTAR_SCHEME_NBD:
		return mortar_set_error(ENOTSUP, "%s: nbd:// names an NBD server, which "
			"Mortar can serve to but not open as an image; use the image's "
			"own location", text);
	}
	return mortar_set_error(EINVAL, "%s: unknown location kind", text);
}

/* Whole-image operations that need no open image: parse LOCATION, find
 * its backend, run OP (which that backend may lack: -ENOTSUP). */
enum image_op { IMAGE_CREATE, IMAGE_REMOVE };

static int image_op(const char *location, enum image_op op, uint64_t size,
		    enum mortar_prealloc prealloc, unsigned flags)
{
	const struct mortar_backend *be;
	struct mortar_location *loc;
	int r;

	r = mortar_location_parse(location, &loc, NULL);
	if (r < 0)
		return r;
	r = image_backend_for(loc, location, &be);
	if (r == 0 && !(op == IMAGE_CREATE ? be->create != NULL : be->remove != NULL))
		r = mortar_set_error(ENOTSUP, "%s: the %s backend cannot %s images",
				     location, be->name, op == IMAGE_CREATE ? "create" : "remove");
	else if (r == 0)
		r = op == IMAGE_CREATE ? be->create(loc, size, prealloc, flags) : be->remove(loc);
	mortar_location_free(loc);
	return r;
}

int mortar_image_create(const char *location, uint64_t size,
			enum mortar_prealloc prealloc, unsigned flags)
{
	return image_op(location, IMAGE_CREATE, size, prealloc, flags);
}

int mortar_image_remove(const char *location)
{
	return image_op(location, IMAGE_REMOVE, 0, MORTAR_PREALLOC_OFF, 0);
}

int mortar_image_open(struct mortar_loop *loop, const char *location,
		      unsigned flags, struct mortar_image **out)
{
	struct mortar_image *img;
	int r;

	img = calloc(1, sizeof *img);
	if (!img)
		return mortar_set_error(ENOMEM, "out of memory opening %s", location);
	img->loop = loop;
	img->flags = flags;
	r = mortar_location_parse(location, &img->loc, NULL);
	if (r < 0)
		goto fail;
	img->name = mortar_location_format(img->loc);
	if (!img->name) {
		r = mortar_set_error(ENOMEM, "out of memory opening %s", location);
		goto fail;
	}
	r = image_backend_for(img->loc, location, &img->be);
	if (r < 0)
		goto fail;
	r = img->be->open(img, img->loc, flags, &img->handle);
	if (r < 0)
		goto fail;
	*out = img;
	return 0;
fail:
	mortar_location_free(img->loc);
	free(img->name);
	free(img);
	return r;
}

int mortar_image_close(struct mortar_image *img)
{
	int r = 0, r2;

	if (!img)
		return 0;
	while (img->in_flight) {
		r2 = mortar_loop_run_once(img->loop, -1);
		if (r2 < 0) {
			r = r2;
			break;
		}
	}
	if (r == 0 && img->dirty &&
	    (img->be->caps(img->handle) & MORTAR_CAP_FLUSH))
		r = mortar_image_flush_sync(img);
	r2 = img->be->close(img->handle);
	if (r == 0)
		r = r2;
	while (img->free_reqs) {
		struct mortar_req *next = img->free_reqs->next;
		free(img->free_reqs);
		img->free_reqs = next;
	}
	mortar_location_free(img->loc);
	free(img->name);
	free(img);
	return r;
}

uint64_t mortar_image_size(const struct mortar_image *img)
{
	return img->be->size(img->handle);
}

uint32_t mortar_image_caps(const struct mortar_image *img)
{
	return img->be->caps(img->handle);
}

void mortar_image_block_size(const struct mortar_image *img, uint32_t *minimum,
			     uint32_t *preferred, uint32_t *maximum)
{
	img->be->block_size(img->handle, minimum, preferred, maximum);
}

const char *mortar_image_backend(const struct mortar_image *img)
{
	return img->be->kind ? img->be->kind(img->handle) : img->be->name;
}

const struct mortar_location *mortar_image_location(const struct mortar_image *img)
{
	return img->loc;
}

struct mortar_loop *mortar_image_loop(const struct mortar_image *img)
{
	return img->loop;
}

void *mortar_image_handle(const struct mortar_image *img)
{
	return img->handle;
}

const char *mortar_image_name(const struct mortar_image *img)
{
	return img->name;
}

int mortar_image_allocated(struct mortar_image *img, uint64_t *bytes)
{
	return img->be->allocated(img->handle, bytes);
}

int mortar_req_add_extent(struct mortar_req *req, size_t *cap, uint64_t off,
			  uint64_t len, uint32_t flags)
{
	struct mortar_extent *e;

	if (req->nextents) {
		e = &req->extents[req->nextents - 1];
		if (e->flags == flags && e->offset + e->length == off) {
			e->length += len;
			return 0;
		}
	}
	if (req->nextents == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		e = realloc(req->extents, ncap * sizeof *e);
		if (!e)
			return -ENOMEM;
		req->extents = e;
		*cap = ncap;
	}
	req->extents[req->nextents++] = (struct mortar_extent){ off, len, flags };
	return 0;
}

struct mortar_loop *mortar_req_loop(const struct mortar_req *req)
{
	return req->img->loop;
}

static const char *req_verb(enum mortar_req_type t)
{
	static const char *const names[] = {
		[MORTAR_REQ_READ] = "read", [MORTAR_REQ_WRITE] = "write",
		[MORTAR_REQ_FLUSH] = "flush", [MORTAR_REQ_TRIM] = "trim",
		[MORTAR_REQ_ZERO] = "zero", [MORTAR_REQ_EXTENTS] = "block status",
		[MORTAR_REQ_RESIZE] = "resize",
	};
	return names[t];
}

/* Check a request before it reaches the backend: the caller hears about
 * a bad request at once, with a message, and the backend never sees it. */
static int image_check(struct mortar_image *img, enum mortar_req_type type,
		       uint64_t offset, uint64_t length, unsigned flags)
{
	uint32_t caps = img->be->caps(img->handle);
	uint64_t size = img->be->size(img->handle);
	bool writes = type == MORTAR_REQ_WRITE || type == MORTAR_REQ_TRIM ||
		      type == MORTAR_REQ_ZERO || type == MORTAR_REQ_RESIZE;

	if (writes && (caps & MORTAR_CAP_READ_ONLY))
		return mortar_set_error(EROFS, "%s: cannot %s, the image is open "
			"read-only; open it without --read-only (and check that the "
			"file and filesystem are writable)", img->name, req_verb(type));
	if ((flags & MORTAR_REQ_FUA) && !(caps & MORTAR_CAP_FUA))
		return mortar_set_error(EINVAL, "%s: FUA was asked but the %s backend "
			"cannot honour it", img->name, img->be->name);
	if (type == MORTAR_REQ_TRIM && !(caps & MORTAR_CAP_TRIM))
		return mortar_set_error(ENOTSUP, "%s: the storage cannot trim", img->name);
	if (type == MORTAR_REQ_ZERO && !(caps & MORTAR_CAP_ZERO))
		return mortar_set_error(ENOTSUP, "%s: the storage cannot zero", img->name);
	if (type == MORTAR_REQ_RESIZE) {
		if (!(caps & MORTAR_CAP_RESIZE) && !strcmp(mortar_image_backend(img), "block"))
			return mortar_set_error(ENOTSUP, "%s: a block device cannot be "
				"resized by Mortar; resize the device itself (lvextend for "
				"a logical volume, losetup -c after growing a loop "
				"device's file)", img->name);
		if (!(caps & MORTAR_CAP_RESIZE))
			return mortar_set_error(ENOTSUP, "%s: the %s backend cannot resize "
				"images", img->name, mortar_image_backend(img));
		if (offset < size && !(flags & MORTAR_REQ_SHRINK))
			return mortar_set_error(EINVAL, "%s: shrinking from %" PRIu64
				" to %" PRIu64 " bytes discards the data past the new end; "
				"pass --shrink if that is intended",
				img->name, size, offset);
		return 0;
	}
	if (type == MORTAR_REQ_FLUSH)
		return 0;
	if (offset > size || length > size - offset)
		return mortar_set_error(type == MORTAR_REQ_WRITE ? ENOSPC : EINVAL,
			"%s: %s of %" PRIu64 " bytes at offset %" PRIu64 " goes past "
			"the end of the image (%" PRIu64 " bytes)", img->name,
			req_verb(type), length, offset, size);
	return 0;
}

static void req_free(struct mortar_req *req)
{
	struct mortar_image *img = req->img;

	if (req->iov != req->iov_inline)
		free(req->iov);
	free(req->extents);
	if (img->nfree < IMAGE_MAX_FREE_REQS) {
		req->next = img->free_reqs;
		img->free_reqs = req;
		img->nfree++;
		return;
	}
	free(req);
}

static struct mortar_req *req_new(struct mortar_image *img,
				  enum mortar_req_type type, uint64_t offset,
				  uint64_t length, unsigned flags,
				  const struct iovec *iov, int iovcnt)
{
	struct mortar_req *req = img->free_reqs;

	if (req) {
		img->free_reqs = req->next;
		img->nfree--;
		memset(req, 0, sizeof *req);
	} else {
		req = calloc(1, sizeof *req);
	}
	if (!req) {
		mortar_set_error(ENOMEM, "out of memory queueing a %s", req_verb(type));
		return NULL;
	}
	req->img = img;
	req->type = type;
	req->offset = offset;
	req->length = length;
	req->flags = flags;
	if (iovcnt > 0) {
		if (iovcnt <= MORTAR_REQ_INLINE_IOV) {
			req->iov = req->iov_inline;
		} else {
			req->iov = calloc((size_t)iovcnt, sizeof *iov);
			if (!req->iov) {
				req->iov = req->iov_inline;
				req_free(req);
				mortar_set_error(ENOMEM, "out of memory queueing a %s",
						 req_verb(type));
				return NULL;
			}
		}
		memcpy(req->iov, iov, (size_t)iovcnt * sizeof *iov);
		req->iovcnt = iovcnt;
	}
	return req;
}

void mortar_req_complete(struct mortar_req *req, int res)
{
	struct mortar_image *img = req->img;

	img->in_flight--;
	if (res < 0 && mortar_errno() != -res)
		/* A backend forgot its message: say at least what failed. */
		mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: %s",
				 img->name, req_verb(req->type), req->offset,
				 strerror(-res));
	if (req->type == MORTAR_REQ_EXTENTS)
		req->ecb(req->opaque, res, res < 0 ? NULL : req->extents,
			 res < 0 ? 0 : req->nextents);
	else
		req->cb(req->opaque, res);
	req_free(req);
}

/* A request with nothing to do (zero length) still completes later. */
static void req_noop_done(struct mortar_op *op, int res)
{
	mortar_req_complete((struct mortar_req *)op, res);
}

static int image_submit(struct mortar_image *img, enum mortar_req_type type,
			const struct iovec *iov, int iovcnt, uint64_t offset,
			uint64_t length, unsigned flags, mortar_done_fn cb,
			mortar_extents_fn ecb, void *opaque)
{
	struct mortar_req *req;
	void (*fn)(void *, struct mortar_req *) = NULL;
	int r;

	if (iovcnt < 0 || (iovcnt > 0 && !iov))
		return mortar_set_error(EINVAL, "%s: invalid iovec", img->name);
	r = image_check(img, type, offset, length, flags);
	if (r < 0)
		return r;
	req = req_new(img, type, offset, length, flags, iov, iovcnt);
	if (!req)
		return -ENOMEM;
	if (type != MORTAR_REQ_READ && type != MORTAR_REQ_EXTENTS &&
	    type != MORTAR_REQ_FLUSH)
		img->dirty = true;
	req->cb = cb;
	req->ecb = ecb;
	req->opaque = opaque;
	img->in_flight++;

	switch (type) {
	case MORTAR_REQ_READ: fn = img->be->preadv; break;
	case MORTAR_REQ_WRITE: fn = img->be->pwritev; break;
	case MORTAR_REQ_FLUSH: fn = img->be->flush; break;
	case MORTAR_REQ_TRIM: fn = img->be->trim; break;
	case MORTAR_REQ_ZERO: fn = img->be->zero; break;
	case MORTAR_REQ_EXTENTS: fn = img->be->extents; break;
	case MORTAR_REQ_RESIZE: fn = img->be->resize; break;
	}
	if (length == 0 && type != MORTAR_REQ_FLUSH && type != MORTAR_REQ_RESIZE &&
	    type != MORTAR_REQ_EXTENTS) {
		req->op.fn = req_noop_done;
		mortar_loop_defer(img->loop, &req->op, 0);
		return 0;
	}
	fn(img->handle, req);
	return 0;
}

static uint64_t iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

int mortar_image_preadv(struct mortar_image *img, const struct iovec *iov,
			int iovcnt, uint64_t offset, unsigned flags,
			mortar_done_fn cb, void *opaque)
{
	return image_submit(img, MORTAR_REQ_READ, iov, iovcnt, offset,
			    iov_total(iov, iovcnt), flags, cb, NULL, opaque);
}

int mortar_image_pwritev(struct mortar_image *img, const struct iovec *iov,
			 int iovcnt, uint64_t offset, unsigned flags,
			 mortar_done_fn cb, void *opaque)
{
	return image_submit(img, MORTAR_REQ_WRITE, iov, iovcnt, offset,
			    iov_total(iov, iovcnt), flags, cb, NULL, opaque);
}

int mortar_image_flush(struct mortar_image *img, unsigned flags,
		       mortar_done_fn cb, void *opaque)
{
	return image_submit(img, MORTAR_REQ_FLUSH, NULL, 0, 0, 0, flags, cb,
			    NULL, opaque);
}

int mortar_image_trim(struct mortar_image *img, uint64_t offset,
		      uint64_t length, unsigned flags, mortar_done_fn cb,
		      void *opaque)
{
	return image_submit(img, MORTAR_REQ_TRIM, NULL, 0, offset, length, flags,
			    cb, NULL, opaque);
}

int mortar_image_zero(struct mortar_image *img, uint64_t offset,
		      uint64_t length, unsigned flags, mortar_done_fn cb,
		      void *opaque)
{
	return image_submit(img, MORTAR_REQ_ZERO, NULL, 0, offset, length, flags,
			    cb, NULL, opaque);
}

int mortar_image_extents(struct mortar_image *img, uint64_t offset,
			 uint64_t length, unsigned flags, mortar_extents_fn cb,
			 void *opaque)
{
	if (length == 0)
		return mortar_set_error(EINVAL, "%s: block status of zero bytes",
					img->name);
	if (!(mortar_image_caps(img) & MORTAR_CAP_EXTENTS))
		return mortar_set_error(ENOTSUP, "%s: the storage cannot report "
					"allocation", img->name);
	return image_submit(img, MORTAR_REQ_EXTENTS, NULL, 0, offset, length,
			    flags, NULL, cb, opaque);
}

int mortar_image_resize(struct mortar_image *img, uint64_t size,
			unsigned flags, mortar_done_fn cb, void *opaque)
{
	return image_submit(img, MORTAR_REQ_RESIZE, NULL, 0, size, 0, flags, cb,
			    NULL, opaque);
}
