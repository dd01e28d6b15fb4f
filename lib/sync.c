/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Synchronous wrappers: submit one request and turn the loop until it is
 * done.  Other requests in flight on the same loop progress meanwhile. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "error.h"

/* Requests carry no more than this per submission in the helpers, so that
 * a whole-image map does not build one giant extent list. */
#define SYNC_MAP_CHUNK (1ull << 30)

struct sync_wait {
	bool done;
	int res;
	/* Extents: the caller's copy of the result. */
	struct mortar_extent *ext;
	size_t n;
};

static void sync_done(void *opaque, int res)
{
	struct sync_wait *w = opaque;

	w->res = res;
	w->done = true;
}

static int sync_wait(struct mortar_image *img, struct sync_wait *w, int submitted)
{
	int r;

	if (submitted < 0)
		return submitted;
	r = mortar_loop_run_until(mortar_image_loop(img), &w->done);
	return r < 0 ? r : w->res;
}

int mortar_image_pread_sync(struct mortar_image *img, void *buf, size_t len,
			    uint64_t offset)
{
	struct iovec iov = { buf, len };
	struct sync_wait w = { 0 };

	return sync_wait(img, &w, mortar_image_preadv(img, &iov, 1, offset, 0,
						      sync_done, &w));
}

int mortar_image_pwrite_sync(struct mortar_image *img, const void *buf,
			     size_t len, uint64_t offset, unsigned flags)
{
	struct iovec iov = { (void *)buf, len };
	struct sync_wait w = { 0 };

	return sync_wait(img, &w, mortar_image_pwritev(img, &iov, 1, offset, flags,
						       sync_done, &w));
}

int mortar_image_flush_sync(struct mortar_image *img)
{
	struct sync_wait w = { 0 };

	return sync_wait(img, &w, mortar_image_flush(img, 0, sync_done, &w));
}

int mortar_image_trim_sync(struct mortar_image *img, uint64_t offset,
			   uint64_t length, unsigned flags)
{
	struct sync_wait w = { 0 };

	return sync_wait(img, &w, mortar_image_trim(img, offset, length, flags,
						    sync_done, &w));
}

int mortar_image_zero_sync(struct mortar_image *img, uint64_t offset,
			   uint64_t length, unsigned flags)
{
	struct sync_wait w = { 0 };

	return sync_wait(img, &w, mortar_image_zero(img, offset, length, flags,
						    sync_done, &w));
}

int mortar_image_resize_sync(struct mortar_image *img, uint64_t size,
			     unsigned flags)
{
	struct sync_wait w = { 0 };

	return sync_wait(img, &w, mortar_image_resize(img, size, flags,
						      sync_done, &w));
}

static void sync_extents_done(void *opaque, int res,
			      const struct mortar_extent *ext, size_t n)
{
	struct sync_wait *w = opaque;

	w->res = res;
	w->done = true;
	if (res < 0 || n == 0)
		return;
	w->ext = malloc(n * sizeof *ext);
	if (!w->ext) {
		w->res = mortar_set_error(ENOMEM, "out of memory mapping the image");
		return;
	}
	memcpy(w->ext, ext, n * sizeof *ext);
	w->n = n;
}

int mortar_image_map_sync(struct mortar_image *img,
			  int (*fn)(void *opaque, const struct mortar_extent *e),
			  void *opaque)
{
	uint64_t size = mortar_image_size(img), off = 0;
	struct mortar_extent pending = { 0 };
	bool have = false;
	int r = 0;

	while (off < size) {
		struct sync_wait w = { 0 };
		uint64_t len = size - off;

		if (len > SYNC_MAP_CHUNK)
			len = SYNC_MAP_CHUNK;
		r = sync_wait(img, &w, mortar_image_extents(img, off, len, 0,
							    sync_extents_done, &w));
		if (r < 0)
			return r;
		if (w.n == 0) {
			free(w.ext);
			return mortar_set_error(EIO, "internal error: the backend "
						"returned no extent at %llu",
						(unsigned long long)off);
		}
		/* Merge across chunk boundaries so the caller sees each run once. */
		for (size_t i = 0; i < w.n && r == 0; i++) {
			if (have && pending.flags == w.ext[i].flags &&
			    pending.offset + pending.length == w.ext[i].offset) {
				pending.length += w.ext[i].length;
				continue;
			}
			if (have)
				r = fn(opaque, &pending);
			pending = w.ext[i];
			have = true;
		}
		off = w.ext[w.n - 1].offset + w.ext[w.n - 1].length;
		free(w.ext);
		if (r < 0)
			return r;
	}
	if (have)
		r = fn(opaque, &pending);
	return r;
}
