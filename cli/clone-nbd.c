/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img clone SRC nbd://...: the destination is an NBD export that
 * exists already (mortar serve, qemu-nbd, nbdkit...), so nothing can be
 * created, renamed or shared: SRC is streamed into it with libnbd.  The
 * export may hold old data, so every byte of SRC's size is written:
 * data as data, holes and zero runs as NBD zero requests (which the
 * server may turn into holes), then one flush. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#include <mortar/mortar.h>
#include "clone-nbd.h"
#include "error.h"

#define CHUNK (4u << 20)		/* per read and NBD write */
#define ZERO_CHUNK (1ull << 30)		/* per NBD zero request (32-bit length) */

struct nbd_dst {
	struct nbd_handle *h;
	struct mortar_image *in;
	const char *uri;
	uint8_t *buf;
	uint64_t size;
	mortar_progress_fn progress;
	void *opaque;
};

static int nbd_fail(const struct nbd_dst *d, const char *what)
{
	int err = nbd_get_errno();

	return mortar_set_error(err > 0 ? err : EIO, "%s: %s: %s", d->uri, what,
				nbd_get_error() ? nbd_get_error() : "failed");
}

static int zero_range(struct nbd_dst *d, uint64_t off, uint64_t len)
{
	while (len) {
		uint64_t n = len < ZERO_CHUNK ? len : ZERO_CHUNK;

		if (nbd_can_zero(d->h) > 0) {
			if (nbd_zero(d->h, n, off, 0) < 0)
				return nbd_fail(d, "zero");
		} else {
			/* no WRITE_ZEROES: plain zeroes, a chunk at a time */
			n = n < CHUNK ? n : CHUNK;
			memset(d->buf, 0, (size_t)n);
			if (nbd_pwrite(d->h, d->buf, (size_t)n, off, 0) < 0)
				return nbd_fail(d, "write");
		}
		off += n;
		len -= n;
		if (d->progress)
			d->progress(d->opaque, off, d->size);
	}
	return 0;
}

static int copy_extent(void *opaque, const struct mortar_extent *e)
{
	struct nbd_dst *d = opaque;

	if (e->flags & (MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO))
		return zero_range(d, e->offset, e->length);
	for (uint64_t off = e->offset; off < e->offset + e->length;) {
		size_t n = e->offset + e->length - off < CHUNK ?
			(size_t)(e->offset + e->length - off) : CHUNK;
		int r = mortar_image_pread_sync(d->in, d->buf, n, off);

		if (r < 0)
			return r;
		if (nbd_pwrite(d->h, d->buf, n, off, 0) < 0)
			return nbd_fail(d, "write");
		off += n;
		if (d->progress)
			d->progress(d->opaque, off, d->size);
	}
	return 0;
}

bool clone_dst_is_nbd(const char *dst)
{
	return !strncmp(dst, "nbd://", 6) || !strncmp(dst, "nbds://", 7) ||
	       !strncmp(dst, "nbd+", 4) || !strncmp(dst, "nbds+", 5);
}

int clone_to_nbd(const char *src, const char *uri, bool force, mortar_progress_fn progress,
		 void *opaque)
{
	struct mortar_loop *loop = NULL;
	struct nbd_dst d = { .uri = uri, .progress = progress, .opaque = opaque };
	int64_t dsize;
	int r;

	if (!force)
		return mortar_set_error(EEXIST, "%s: an NBD export always exists, and its "
					"contents would be replaced; pass --force", uri);
	r = mortar_loop_new(0, &loop);
	if (r < 0)
		return r;
	r = mortar_image_open_text(loop, src, MORTAR_OPEN_RDONLY, &d.in);
	if (r < 0)
		goto out;
	d.size = mortar_image_size(d.in);
	d.h = nbd_create();
	if (!d.h) {
		r = mortar_set_error(ENOMEM, "%s: %s", uri, nbd_get_error());
		goto out;
	}
	/* (nbds:// wants TLS; libnbd takes the credentials from the URI) */
	if (nbd_connect_uri(d.h, uri) < 0) {
		r = nbd_fail(&d, "cannot connect");
		goto out;
	}
	if (nbd_is_read_only(d.h) > 0) {
		r = mortar_set_error(EROFS, "%s: the export is read-only", uri);
		goto out;
	}
	dsize = nbd_get_size(d.h);
	if (dsize < 0) {
		r = nbd_fail(&d, "size");
		goto out;
	}
	if ((uint64_t)dsize < d.size) {
		r = mortar_set_error(ENOSPC, "%s: the export has %" PRId64 " bytes, fewer "
				     "than the %" PRIu64 " of %s; make it at least that large",
				     uri, dsize, d.size, src);
		goto out;
	}
	d.buf = malloc(CHUNK);
	if (!d.buf) {
		r = mortar_set_error(ENOMEM, "out of memory");
		goto out;
	}
	r = mortar_image_map_sync(d.in, copy_extent, &d);
	if (r == 0 && nbd_can_flush(d.h) > 0 && nbd_flush(d.h, 0) < 0)
		r = nbd_fail(&d, "flush");
	if (r == 0 && progress)
		progress(opaque, d.size, d.size);
out:
	if (d.h) {
		if (r == 0 && nbd_shutdown(d.h, 0) < 0)
			r = nbd_fail(&d, "disconnect");
		nbd_close(d.h);
	}
	if (d.in)
		mortar_image_close(d.in);
	free(d.buf);
	mortar_loop_free(loop);
	return r;
}
