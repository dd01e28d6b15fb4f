/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clones and storage capabilities (include/mortar/clone.h).
 *
 * The backend that serves both ends copies first, the cheapest way its
 * storage offers (a reflink, copy_file_range, a copy made by GlusterFS
 * bricks); any other pair, or a backend that cannot, is copied through
 * libmortar's image layer, extent by extent, holes kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include <mortar/clone.h>
#include "error.h"
#include "registry.h"
#include "sparse.h"

#define COPY_CHUNK (4u << 20)	/* bytes per read and write */

const char *mortar_clone_method_name(enum mortar_clone_method m)
{
	switch (m) {
	case MORTAR_CLONE_REFLINK: return "reflink";
	case MORTAR_CLONE_COPY_RANGE: return "copy_file_range";
	case MORTAR_CLONE_SPARSE_COPY: return "sparse copy";
	case MORTAR_CLONE_SERVER_COPY: return "server-side copy";
	case MORTAR_CLONE_SERVER_REFLINK: return "server-side reflink";
	}
	return "?";
}

/* ---- any backends, through the image layer ---- */

struct gcopy {
	struct mortar_image *in, *out;
	uint8_t *buf;
	uint64_t size;
	mortar_progress_fn progress;
	void *opaque;
	bool overwrite;		/* DST has content of its own */
};

static int gcopy_extent(void *opaque, const struct mortar_extent *e)
{
	struct gcopy *g = opaque;

	if (e->flags & (MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO)) {
		/* A new image reads as zeroes there already; an old one is
		 * zeroed, deallocated where it can be. */
		int r = g->overwrite ? mortar_image_zero_sync(g->out, e->offset, e->length,
							      MORTAR_REQ_MAY_TRIM) : 0;
		if (r == 0 && g->progress)
			g->progress(g->opaque, e->offset + e->length, g->size);
		return r;
	}
	for (uint64_t off = e->offset; off < e->offset + e->length;) {
		size_t n = e->offset + e->length - off < COPY_CHUNK ?
			(size_t)(e->offset + e->length - off) : COPY_CHUNK;
		int r = mortar_image_pread_sync(g->in, g->buf, n, off);

		if (r < 0)
			return r;
		r = g->overwrite ? mortar_image_pwrite_sync(g->out, g->buf, n, off, 0) :
			mortar_write_data_runs(g->buf, n, off, mortar_image_write_fn, g->out);
		if (r < 0)
			return r;
		off += n;
		if (g->progress)
			g->progress(g->opaque, off, g->size);
	}
	return 0;
}

/* A new image at DST, a copy of SRC through the image layer. */
static int generic_clone(const struct mortar_location *src, const struct mortar_location *dst,
			 unsigned flags, mortar_progress_fn progress, void *opaque)
{
	struct mortar_loop *loop = NULL;
	struct gcopy g = { .progress = progress, .opaque = opaque };
	bool created = false;
	int r, r2;

	r = mortar_loop_new(0, &loop);
	if (r < 0)
		return r;
	r = mortar_image_open(loop, src, MORTAR_OPEN_RDONLY, &g.in);
	if (r < 0)
		goto out;
	g.size = mortar_image_size(g.in);
	r = mortar_image_create(dst, g.size, MORTAR_PREALLOC_OFF,
				(flags & MORTAR_CLONE_FORCE) ? MORTAR_CREATE_FORCE : 0);
	if (r == -EEXIST) {
		char *text = mortar_location_format(dst);

		r = mortar_set_error(EEXIST, "%s already exists; pass --force to "
				     "replace it", text ? text : dst->path);
		free(text);
	}
	if (r < 0)
		goto out;
	created = true;
	r = mortar_image_open(loop, dst, 0, &g.out);
	if (r < 0)
		goto out;
	g.buf = aligned_alloc(4096, COPY_CHUNK);
	if (!g.buf) {
		r = mortar_set_error(ENOMEM, "out of memory");
		goto out;
	}
	r = mortar_image_map_sync(g.in, gcopy_extent, &g);
	if (r == 0)
		r = mortar_image_flush_sync(g.out);
	if (r == 0 && progress)
		progress(opaque, g.size, g.size);
out:
	if (g.out && (r2 = mortar_image_close(g.out)) < 0 && r == 0)
		r = r2;
	if (g.in)
		mortar_image_close(g.in);
	if (r < 0 && created) {
		/* No half copy stays behind (keep the first error's message). */
		char msg[512];
		int err = mortar_errno();

		snprintf(msg, sizeof msg, "%s", mortar_errmsg());
		mortar_image_remove(dst);
		mortar_set_error(err, "%s", msg);
	}
	free(g.buf);
	mortar_loop_free(loop);
	return r;
}

/* DST's content made SRC's through the image layer. */
static int generic_copy_over(const struct mortar_location *src,
			     const struct mortar_location *dst,
			     mortar_progress_fn progress, void *opaque)
{
	struct gcopy g = { .progress = progress, .opaque = opaque, .overwrite = true };
	struct mortar_loop *loop = NULL;
	int r, r2;

	r = mortar_loop_new(0, &loop);
	if (r < 0)
		return r;
	r = mortar_image_open(loop, src, MORTAR_OPEN_RDONLY, &g.in);
	if (r == 0)
		r = mortar_image_open(loop, dst, 0, &g.out);
	if (r < 0)
		goto out;
	g.size = mortar_image_size(g.in);
	g.buf = aligned_alloc(4096, COPY_CHUNK);
	if (!g.buf) {
		r = mortar_set_error(ENOMEM, "out of memory");
		goto out;
	}
	if (mortar_image_size(g.out) != g.size)
		r = mortar_image_resize_sync(g.out, g.size, MORTAR_REQ_SHRINK);
	if (r == 0)
		r = mortar_image_map_sync(g.in, gcopy_extent, &g);
	if (r == 0)
		r = mortar_image_flush_sync(g.out);
	if (r == 0 && progress)
		progress(opaque, g.size, g.size);
out:
	if (g.out && (r2 = mortar_image_close(g.out)) < 0 && r == 0)
		r = r2;
	if (g.in)
		mortar_image_close(g.in);
	free(g.buf);
	mortar_loop_free(loop);
	return r;
}

/* The backend serving both SRC and DST, or NULL (two backends, or none:
 * the image layer then says why when it opens them). */
static const struct mortar_backend *clone_backend(const struct mortar_location *src,
						  const struct mortar_location *dst)
{
	const struct mortar_backend *be = mortar_backend_lookup(src);

	return be == mortar_backend_lookup(dst) ? be : NULL;
}

int mortar_image_clone(const struct mortar_location *src, const struct mortar_location *dst,
		       unsigned flags, mortar_progress_fn progress, void *opaque,
		       enum mortar_clone_method *used)
{
	const struct mortar_backend *be = clone_backend(src, dst);
	enum mortar_clone_method dummy;
	int r;

	if (!used)
		used = &dummy;
	if (be && be->copy) {
		r = be->copy(src, dst, flags, progress, opaque, used);
		if (r != -ENOTSUP)
			return r;
	}
	*used = MORTAR_CLONE_SPARSE_COPY;
	return generic_clone(src, dst, flags, progress, opaque);
}

int mortar_image_copy_over(const struct mortar_location *src,
			   const struct mortar_location *dst,
			   mortar_progress_fn progress, void *opaque)
{
	const struct mortar_backend *be = clone_backend(src, dst);
	int r;

	if (be && be->copy_over) {
		r = be->copy_over(src, dst);
		if (r == 0 && progress)
			progress(opaque, 1, 1);
		if (r != -ENOTSUP)
			return r;
	}
	return generic_copy_over(src, dst, progress, opaque);
}

/* ---- capabilities ---- */

/* What an image open through the image layer says, for a backend that
 * cannot probe its storage. */
static void caps_from_image(const struct mortar_location *loc, struct mortar_storage_caps *caps)
{
	struct mortar_loop *loop;
	struct mortar_image *img;
	uint64_t alloc;

	if (mortar_loop_new(0, &loop) < 0)
		return;
	if (mortar_image_open(loop, loc, MORTAR_OPEN_RDONLY, &img) == 0) {
		uint32_t c = mortar_image_caps(img);

		caps->discard = c & MORTAR_CAP_TRIM;
		caps->zero = c & MORTAR_CAP_ZERO;
		caps->thin = mortar_image_allocated(img, &alloc) == 0 &&
			     alloc < mortar_image_size(img);
		mortar_image_close(img);
	}
	mortar_loop_free(loop);
}

int mortar_storage_caps(const struct mortar_location *loc, struct mortar_storage_caps *caps)
{
	const struct mortar_backend *be = clone_backend(loc, loc);

	memset(caps, 0, sizeof *caps);
	if (be && be->probe)
		return be->probe(loc, caps);
	snprintf(caps->how, sizeof caps->how, "%s: clones and snapshots are full "
		 "sparse copies through the client", mortar_scheme_name(loc->scheme));
	caps_from_image(loc, caps);
	return 0;
}
