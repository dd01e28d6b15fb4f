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
#include "registry.h"

struct mortar_image {
	struct mortar_loop *loop;
	const struct mortar_backend *be;
	void *handle;
	struct mortar_location *loc;
	char *name;		/* canonical location text, for messages */
	unsigned flags;
	bool dirty;		/* written since open: close flushes */
	struct mortar_req_pool pool;
};

/* Whole-image operations that need no open image: find LOC's backend,
 * run OP (which that backend may lack: -ENOTSUP). */
enum image_op { IMAGE_CREATE, IMAGE_REMOVE };

static int image_op(const struct mortar_location *loc, enum image_op op, uint64_t size,
		    enum mortar_prealloc prealloc, unsigned flags)
{
	const struct mortar_backend *be;
	char *text = mortar_location_format(loc);
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	r = mortar_backend_find(loc, text, &be);
	if (r == 0 && !(op == IMAGE_CREATE ? be->create != NULL : be->remove != NULL))
		r = mortar_set_error(ENOTSUP, "%s: the %s backend cannot %s images",
				     text, be->name, op == IMAGE_CREATE ? "create" : "remove");
	else if (r == 0)
		r = op == IMAGE_CREATE ? be->create(loc, size, prealloc, flags) : be->remove(loc);
	free(text);
	return r;
}

int mortar_image_create(const struct mortar_location *loc, uint64_t size,
			enum mortar_prealloc prealloc, unsigned flags)
{
	return image_op(loc, IMAGE_CREATE, size, prealloc, flags);
}

int mortar_image_remove(const struct mortar_location *loc)
{
	return image_op(loc, IMAGE_REMOVE, 0, MORTAR_PREALLOC_OFF, 0);
}

int mortar_image_open(struct mortar_loop *loop, const struct mortar_location *loc,
		      unsigned flags, struct mortar_image **out)
{
	struct mortar_image *img;
	int r;

	img = calloc(1, sizeof *img);
	if (!img)
		return mortar_set_error(ENOMEM, "out of memory opening an image");
	img->loop = loop;
	img->flags = flags;
	r = mortar_location_dup(loc, &img->loc);
	if (r < 0)
		goto fail;
	img->name = mortar_location_format(img->loc);
	if (!img->name) {
		r = mortar_set_error(ENOMEM, "out of memory opening an image");
		goto fail;
	}
	r = mortar_backend_find(img->loc, img->name, &img->be);
	if (r < 0)
		goto fail;
	r = img->be->open(img->loc, &(struct mortar_backend_args){ loop, img->name, flags },
			  &img->handle);
	if (r < 0)
		goto fail;
	img->pool = (struct mortar_req_pool){
		.size = img->be->req_size > sizeof(struct mortar_req) ?
			img->be->req_size : sizeof(struct mortar_req),
		.handle = img->handle,
		.name = img->name,
	};
	*out = img;
	return 0;
fail:
	mortar_location_free(img->loc);
	free(img->name);
	free(img);
	return r;
}

static void image_flushed(void *opaque, int res)
{
	int *r = opaque;

	*r = res;
}

/* The final flush of a written image (sync.c's helper is a layer above). */
static int image_final_flush(struct mortar_image *img)
{
	int res = 1, r;

	r = mortar_image_flush(img, 0, image_flushed, &res);
	while (r == 0 && res == 1)
		r = mortar_loop_run_once(img->loop, -1) < 0 ? -EIO : 0;
	return r < 0 ? r : res;
}

int mortar_image_close(struct mortar_image *img)
{
	int r = 0, r2;

	if (!img)
		return 0;
	while (img->pool.in_flight) {
		r2 = mortar_loop_run_once(img->loop, -1);
		if (r2 < 0) {
			r = r2;
			break;
		}
	}
	if (r == 0 && img->dirty &&
	    (img->be->caps(img->handle) & MORTAR_CAP_FLUSH))
		r = image_final_flush(img);
	r2 = img->be->close(img->handle);
	if (r == 0)
		r = r2;
	mortar_req_pool_drain(&img->pool);
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

int mortar_image_allocated(struct mortar_image *img, uint64_t *bytes)
{
	return img->be->allocated(img->handle, bytes);
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
			"file and filesystem are writable)", img->name, mortar_req_verb(type));
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
			mortar_req_verb(type), length, offset, size);
	return 0;
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
	req = mortar_req_new(&img->pool, type, offset, length, flags, iov, iovcnt);
	if (!req)
		return -ENOMEM;
	if (type != MORTAR_REQ_READ && type != MORTAR_REQ_EXTENTS &&
	    type != MORTAR_REQ_FLUSH)
		img->dirty = true;
	req->cb = cb;
	req->ecb = ecb;
	req->opaque = opaque;

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
