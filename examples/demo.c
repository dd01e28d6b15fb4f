/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar-demo: a tour of libmortar in one short program.
 *
 * Usage: mortar-demo IMAGE
 *
 * IMAGE is any location libmortar can open (a path, file:///path,
 * gluster://host/VOLUME/PATH in a build with the GlusterFS backend) of an
 * existing image of at least 16 MiB, e.g. one made by
 * `mortar img create disk.img 1G`.  The program overwrites the first
 * 16 MiB of it.
 *
 * It shows the three ideas of the library:
 *   - a loop belongs to one thread and delivers every completion on it;
 *   - requests are asynchronous: submit several, then run the loop until
 *     their callbacks have all run (here 8 writes, then 8 reads, at once);
 *   - every failure returns a negative errno and leaves a message for
 *     humans in mortar_errmsg().
 *
 * Build: it is part of the meson build (examples/mortar-demo); outside the
 * tree, `cc demo.c $(pkg-config --cflags --libs mortar)`.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>

#define NREQ	8		/* requests in flight at once (queue depth) */
#define REQ_LEN	(64u << 10)	/* 64 KiB each */
#define STRIDE	(1u << 20)	/* request i goes to offset i MiB */
#define SPAN	(16u << 20)	/* the part of the image the demo touches */

/* Progress of a batch of requests: each completion callback decrements
 * `pending` and records the first error; the batch is done at zero. */
struct batch {
	unsigned pending;
	bool done;
	int error;		/* first negative result, 0 if none */
	char errmsg[512];	/* its message, copied in the callback */
};

static void batch_start(struct batch *b)
{
	memset(b, 0, sizeof *b);
}

/* The completion callback (mortar_done_fn).  It runs on the loop's thread,
 * from inside mortar_loop_run_until(), never from inside the call that
 * submitted the request.  RES is 0 or a negative errno. */
static void request_done(void *opaque, int res)
{
	struct batch *b = opaque;

	if (res < 0 && b->error == 0) {
		b->error = res;
		/* The library records the message on this thread just before
		 * calling us; copy it, the next failure would replace it. */
		snprintf(b->errmsg, sizeof b->errmsg, "%s", mortar_errmsg());
	}
	if (--b->pending == 0)
		b->done = true;
}

/* Run the loop until every request of the batch has completed. */
static int batch_wait(struct mortar_loop *loop, struct batch *b)
{
	int r;

	if (b->pending == 0)
		return 0;
	r = mortar_loop_run_until(loop, &b->done);
	if (r < 0)
		return r;
	if (b->error < 0) {
		fprintf(stderr, "mortar-demo: %s\n", b->errmsg);
		return b->error;
	}
	return 0;
}

static void die(const char *what)
{
	fprintf(stderr, "mortar-demo: %s: %s\n", what, mortar_errmsg());
	exit(1);
}

/* The extents callback (mortar_extents_fn): the array is only valid
 * during the call, so print it here. */
static void print_extents(void *opaque, int res,
			  const struct mortar_extent *ext, size_t count)
{
	struct batch *b = opaque;

	if (res >= 0) {
		for (size_t i = 0; i < count; i++)
			printf("  offset %8" PRIu64 " KiB  length %8" PRIu64 " KiB  %s\n",
			       ext[i].offset >> 10, ext[i].length >> 10,
			       ext[i].flags & MORTAR_EXTENT_HOLE ? "hole" :
			       ext[i].flags & MORTAR_EXTENT_ZERO ? "data (reads as zeroes)" :
			       "data");
	}
	request_done(b, res);
}

int main(int argc, char **argv)
{
	static unsigned char wbuf[NREQ][REQ_LEN], rbuf[NREQ][REQ_LEN];
	struct mortar_loop *loop;
	struct mortar_image *img;
	struct batch b;
	uint64_t size;

	if (argc != 2) {
		fprintf(stderr, "Usage: mortar-demo IMAGE\n");
		return 2;
	}

	/* 1. A loop for this thread, and the image opened read-write on it. */
	if (mortar_loop_new(0, &loop) < 0)
		die("creating the loop");
	if (mortar_image_open_text(loop, argv[1], 0, &img) < 0)
		die("opening the image");
	size = mortar_image_size(img);
	printf("opened %s: %s backend, %" PRIu64 " bytes, %s\n", argv[1],
	       mortar_image_backend(img), size,
	       mortar_image_can(img, MORTAR_CAP_TRIM | MORTAR_CAP_ZERO) ?
	       "can trim and zero" : "cannot trim or zero");
	if (size < SPAN) {
		fprintf(stderr, "mortar-demo: %s is smaller than %u MiB\n",
			argv[1], SPAN >> 20);
		return 1;
	}

	/* 2. Eight writes in flight at once.  Each buffer holds its own byte
	 * so that the read-back can tell them apart.  The iovec may live on
	 * the stack (the library copies it); the buffer it points at must
	 * stay valid until the callback has run. */
	batch_start(&b);
	for (unsigned i = 0; i < NREQ; i++) {
		struct iovec iov = { wbuf[i], REQ_LEN };

		memset(wbuf[i], 0xa0 + i, REQ_LEN);
		if (mortar_image_pwritev(img, &iov, 1, (uint64_t)i * STRIDE, 0,
					 request_done, &b) < 0)
			die("submitting a write");	/* refused: no callback */
		b.pending++;
	}
	printf("submitted %u writes of %u KiB, %u in flight\n", NREQ,
	       REQ_LEN >> 10, mortar_loop_in_flight(loop));
	if (batch_wait(loop, &b) < 0)
		return 1;
	printf("all %u writes completed\n", NREQ);

	/* 3. Flush: make what was written durable.  The _sync helpers submit
	 * one request and run the loop until it completes. */
	if (mortar_image_flush_sync(img) < 0)
		die("flush");
	printf("flushed\n");

	/* 4. Read everything back, again eight requests at once, and
	 * compare with what was written. */
	batch_start(&b);
	for (unsigned i = 0; i < NREQ; i++) {
		struct iovec iov = { rbuf[i], REQ_LEN };

		if (mortar_image_preadv(img, &iov, 1, (uint64_t)i * STRIDE, 0,
					request_done, &b) < 0)
			die("submitting a read");
		b.pending++;
	}
	if (batch_wait(loop, &b) < 0)
		return 1;
	for (unsigned i = 0; i < NREQ; i++) {
		if (memcmp(rbuf[i], wbuf[i], REQ_LEN)) {
			fprintf(stderr, "mortar-demo: read-back of request %u differs "
				"from what was written\n", i);
			return 1;
		}
	}
	printf("read back %u x %u KiB: every byte matches\n", NREQ, REQ_LEN >> 10);

	/* 5. Trim the first write: the storage may deallocate the range
	 * (reads of a trimmed range return unspecified data). */
	if (mortar_image_trim_sync(img, 0, REQ_LEN, 0) < 0)
		die("trim");
	printf("trimmed %u KiB at offset 0\n", REQ_LEN >> 10);

	/* 6. Zero the second write.  MAY_TRIM lets the backend punch a hole
	 * instead of writing zeroes; either way the range reads as zeroes. */
	if (mortar_image_zero_sync(img, STRIDE, REQ_LEN, MORTAR_REQ_MAY_TRIM) < 0)
		die("zero");
	if (mortar_image_pread_sync(img, rbuf[0], REQ_LEN, STRIDE) < 0)
		die("read after zero");
	for (size_t k = 0; k < REQ_LEN; k++) {
		if (rbuf[0][k] != 0) {
			fprintf(stderr, "mortar-demo: byte %zu of the zeroed range is "
				"0x%02x\n", k, rbuf[0][k]);
			return 1;
		}
	}
	printf("zeroed %u KiB at offset %u KiB, and it reads as zeroes\n",
	       REQ_LEN >> 10, STRIDE >> 10);

	/* 7. Ask which parts of the touched span hold data.  One request may
	 * describe less than was asked for; a map of a whole image loops (or
	 * uses mortar_image_map_sync()). */
	printf("extents of the first %u MiB:\n", SPAN >> 20);
	batch_start(&b);
	if (mortar_image_extents(img, 0, SPAN, 0, print_extents, &b) < 0)
		die("extents");
	b.pending++;
	if (batch_wait(loop, &b) < 0)
		return 1;

	/* 8. Close: waits for anything still in flight and flushes. */
	if (mortar_image_close(img) < 0)
		die("close");
	mortar_loop_free(loop);
	printf("closed\n");
	return 0;
}
