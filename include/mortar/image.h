/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: images and asynchronous requests on them.
 *
 * An image is opened from a location on a loop.  Requests are submitted
 * with the functions below: a return of 0 means the request is in flight
 * and CB will run exactly once, later, on the loop's thread; a negative
 * errno means it was refused at once (the message says why) and CB will
 * not run.  Buffers and iovec arrays are copied or pinned by the library:
 * the iovec array may be reused after the call returns, the memory it
 * points at must stay valid until CB runs.
 */
#ifndef MORTAR_IMAGE_H
#define MORTAR_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <mortar/loop.h>
#include <mortar/location.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mortar_image;

/* Open flags. */
#define MORTAR_OPEN_RDONLY	(1u << 0)
#define MORTAR_OPEN_DIRECT	(1u << 1)	/* bypass the host page cache (O_DIRECT) */

/* Request flags. */
#define MORTAR_REQ_FUA		(1u << 0)	/* write: durable before completion */
#define MORTAR_REQ_MAY_TRIM	(1u << 1)	/* zero: may deallocate the range */
#define MORTAR_REQ_FAST		(1u << 2)	/* zero: fail with -ENOTSUP rather than write zeroes */
#define MORTAR_REQ_ONE		(1u << 3)	/* extents: the first extent is enough */
#define MORTAR_REQ_SHRINK	(1u << 4)	/* resize: allow shrinking (loses data past the end) */

/* Capabilities.  The values are the NBD transmission flags of the same
 * meaning (NBD protocol, "Transmission flags"), so a server can pass them
 * through unchanged; bits above 15 have no NBD equivalent. */
#define MORTAR_CAP_READ_ONLY	(1u << 1)
#define MORTAR_CAP_FLUSH	(1u << 2)
#define MORTAR_CAP_FUA		(1u << 3)
#define MORTAR_CAP_ROTATIONAL	(1u << 4)
#define MORTAR_CAP_TRIM		(1u << 5)
#define MORTAR_CAP_ZERO		(1u << 6)
#define MORTAR_CAP_DF		(1u << 7)
#define MORTAR_CAP_MULTI_CONN	(1u << 8)
#define MORTAR_CAP_RESIZE	(1u << 9)
#define MORTAR_CAP_CACHE	(1u << 10)
#define MORTAR_CAP_FAST_ZERO	(1u << 11)
#define MORTAR_CAP_EXTENTS	(1u << 16)	/* NBD: base:allocation meta context */

/* Extent flags, equal to NBD's base:allocation states. */
#define MORTAR_EXTENT_HOLE	(1u << 0)	/* not allocated */
#define MORTAR_EXTENT_ZERO	(1u << 1)	/* reads as zeroes */

struct mortar_extent {
	uint64_t offset;
	uint64_t length;
	uint32_t flags;
};

enum mortar_prealloc {
	MORTAR_PREALLOC_OFF = 0,	/* sparse */
	MORTAR_PREALLOC_FALLOC,		/* reserve blocks (fallocate) */
	MORTAR_PREALLOC_FULL,		/* write zeroes over the whole image */
};

#define MORTAR_CREATE_FORCE	(1u << 0)	/* replace an existing image */

typedef void (*mortar_done_fn)(void *opaque, int res);
typedef void (*mortar_extents_fn)(void *opaque, int res,
				  const struct mortar_extent *extents,
				  size_t count);

/* Create an image of SIZE bytes at LOC.  Refuses (-EEXIST) to replace an
 * existing one unless MORTAR_CREATE_FORCE.  Synchronous. */
int mortar_image_create(const struct mortar_location *loc, uint64_t size,
			enum mortar_prealloc prealloc, unsigned flags);

/* Remove the image (a regular file, or a file on a volume).  Synchronous. */
int mortar_image_remove(const struct mortar_location *loc);

/* Open the image at LOC on LOOP (LOC is copied). */
int mortar_image_open(struct mortar_loop *loop, const struct mortar_location *loc,
		      unsigned flags, struct mortar_image **out);

/* The same three for a location as text: parsed (a parse error points at
 * the character, as mortar_location_parse() does), used once, freed. */
int mortar_image_create_text(const char *location, uint64_t size,
			     enum mortar_prealloc prealloc, unsigned flags);
int mortar_image_remove_text(const char *location);
int mortar_image_open_text(struct mortar_loop *loop, const char *location,
			   unsigned flags, struct mortar_image **out);

/* How long a request may wait for storage that is unreachable for now:
 * on GlusterFS, a request that fails because no brick holding its data
 * answers, or because its replica set lost quorum (ENOTCONN), is sent
 * again every second until MS milliseconds have passed since it first
 * failed, and only then fails.  Process-wide, for every image; 0 (the
 * default) fails such requests at once. */
void mortar_set_retry_timeout(unsigned ms);

/* Waits for requests in flight, then closes.  Returns 0 or the first
 * error of the final flush of a writable image. */
int mortar_image_close(struct mortar_image *img);

uint64_t mortar_image_size(const struct mortar_image *img);
uint32_t mortar_image_caps(const struct mortar_image *img);
static inline bool mortar_image_can(const struct mortar_image *img, uint32_t cap)
{
	return (mortar_image_caps(img) & cap) == cap;
}

/* Block sizes in the sense of NBD_INFO_BLOCK_SIZE. */
void mortar_image_block_size(const struct mortar_image *img, uint32_t *minimum,
			     uint32_t *preferred, uint32_t *maximum);

/* "file", "block", ... */
const char *mortar_image_backend(const struct mortar_image *img);
const struct mortar_location *mortar_image_location(const struct mortar_image *img);
struct mortar_loop *mortar_image_loop(const struct mortar_image *img);

/* Bytes the storage has allocated for the image (synchronous). */
int mortar_image_allocated(struct mortar_image *img, uint64_t *bytes);

int mortar_image_preadv(struct mortar_image *img, const struct iovec *iov,
			int iovcnt, uint64_t offset, unsigned flags,
			mortar_done_fn cb, void *opaque);
int mortar_image_pwritev(struct mortar_image *img, const struct iovec *iov,
			 int iovcnt, uint64_t offset, unsigned flags,
			 mortar_done_fn cb, void *opaque);
int mortar_image_flush(struct mortar_image *img, unsigned flags,
		       mortar_done_fn cb, void *opaque);
int mortar_image_trim(struct mortar_image *img, uint64_t offset,
		      uint64_t length, unsigned flags,
		      mortar_done_fn cb, void *opaque);
int mortar_image_zero(struct mortar_image *img, uint64_t offset,
		      uint64_t length, unsigned flags,
		      mortar_done_fn cb, void *opaque);
/* Describe [offset, offset+length) as a list of extents, merged, covering
 * at least one byte from OFFSET and at most the range asked for. */
int mortar_image_extents(struct mortar_image *img, uint64_t offset,
			 uint64_t length, unsigned flags,
			 mortar_extents_fn cb, void *opaque);
int mortar_image_resize(struct mortar_image *img, uint64_t size,
			unsigned flags, mortar_done_fn cb, void *opaque);

/* Synchronous helpers: submit, run the loop until done, return the result.
 * For tools and tests; servers use the asynchronous calls. */
int mortar_image_pread_sync(struct mortar_image *img, void *buf, size_t len,
			    uint64_t offset);
int mortar_image_pwrite_sync(struct mortar_image *img, const void *buf,
			     size_t len, uint64_t offset, unsigned flags);
int mortar_image_flush_sync(struct mortar_image *img);
int mortar_image_trim_sync(struct mortar_image *img, uint64_t offset,
			   uint64_t length, unsigned flags);
int mortar_image_zero_sync(struct mortar_image *img, uint64_t offset,
			   uint64_t length, unsigned flags);
int mortar_image_resize_sync(struct mortar_image *img, uint64_t size,
			     unsigned flags);
/* Calls FN for every extent of the whole image, in order. */
int mortar_image_map_sync(struct mortar_image *img,
			  int (*fn)(void *opaque, const struct mortar_extent *e),
			  void *opaque);

/* Parse a size such as "1G", "512MiB", "1.5T", "4096" (suffixes are
 * binary: K = 1024).  Returns 0 or -EINVAL / -ERANGE with a message. */
int mortar_parse_size(const char *text, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
