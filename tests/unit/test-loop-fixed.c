/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Registered memory of a loop (io_uring fixed buffers) under the file
 * backend with O_DIRECT: requests whose buffers lie in one registered
 * range go through it (the loop counts them) and move the right bytes;
 * those that leave it, and everything after the last unregister, take the
 * plain path with the same result; registrations are counted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "loop.h"
#include "tap.h"
#include "testutil.h"

#define MAPLEN (4u << 20)
#define BS 4096u

struct done {
	bool done;
	int res;
};

static void done_cb(void *opaque, int res)
{
	struct done *d = opaque;

	d->done = true;
	d->res = res;
}

/* One read or write of IOV[0..N) at OFF, run to its end: its result. */
static int rw(struct mortar_loop *loop, struct mortar_image *img, bool write,
	      struct iovec *iov, int n, uint64_t off)
{
	struct done d = { 0 };
	int r = write ? mortar_image_pwritev(img, iov, n, off, 0, done_cb, &d)
		      : mortar_image_preadv(img, iov, n, off, 0, done_cb, &d);

	if (r < 0)
		return r;
	r = mortar_loop_run_until(loop, &d.done);
	return r < 0 ? r : d.res;
}

/* Write a pattern from 2 segments of MEM, read it back into 3 others and
 * into one: true when the bytes match; *FIXED: I/Os that used the
 * registered memory. */
static bool round_trip(struct mortar_loop *loop, struct mortar_image *img, uint8_t *w,
		       uint8_t *r, char c, uint64_t *fixed)
{
	uint64_t before = mortar_loop_fixed_ios(loop);
	struct iovec wi[2] = { { w, BS }, { w + 3 * BS, 2 * BS } };
	struct iovec ri[3] = { { r, BS }, { r + 2 * BS, BS }, { r + 4 * BS, BS } };
	struct iovec one = { r + 8 * BS, 3 * BS };
	bool ok;

	memset(w, c, BS);
	memset(w + 3 * BS, c + 1, 2 * BS);
	memset(r, 0, 12 * BS);
	ok = rw(loop, img, true, wi, 2, 8 * BS) == 0 && rw(loop, img, false, ri, 3, 8 * BS) == 0 &&
	     rw(loop, img, false, &one, 1, 8 * BS) == 0;
	ok = ok && memcmp(r, w, BS) == 0;
	ok = ok && r[2 * BS] == c + 1 && r[4 * BS] == c + 1 && r[8 * BS] == c &&
	     r[9 * BS + BS - 1] == c + 1 && r[10 * BS] == c + 1;
	*fixed = mortar_loop_fixed_ios(loop) - before;
	return ok;
}

/* Vectored I/O on registered buffers (IORING_OP_READV_FIXED and
 * WRITEV_FIXED, 60 and 61, Linux 6.15): without them only single
 * segments go the fixed way. */
static bool vectored(struct mortar_loop *loop)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(mortar_loop_ring(loop));
	bool yes = p && io_uring_opcode_supported(p, 60) && io_uring_opcode_supported(p, 61);

	io_uring_free_probe(p);
	tap_diag("vectored fixed I/O: %s", yes ? "yes" : "no");
	return yes;
}

static void test_fixed(struct mortar_loop *loop, const char *dir)
{
	struct mortar_image *img;
	char path[512];
	uint8_t *mem, *plain;
	uint64_t fixed = 0;
	bool ok, vec = vectored(loop);
	int r;

	snprintf(path, sizeof path, "%s/fixed.img", dir);
	if (mortar_image_create_text(path, 1 << 20, MORTAR_PREALLOC_OFF, MORTAR_CREATE_FORCE) < 0 ||
	    mortar_image_open_text(loop, path, MORTAR_OPEN_DIRECT, &img) < 0)
		TAP_BAIL("cannot set up %s with O_DIRECT: %s", path, mortar_errmsg());
	/* Shared memory, as a guest's is. */
	mem = mmap(NULL, MAPLEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	plain = aligned_alloc(BS, 16 * BS);
	if (mem == MAP_FAILED || !plain)
		TAP_BAIL("out of memory");

	ok = round_trip(loop, img, mem, mem + MAPLEN / 2, 'a', &fixed);
	tap_ok(ok && fixed == 0,
	       "nothing registered: the plain path, %llu fixed I/Os", (unsigned long long)fixed);
	r = mortar_loop_mem_register(loop, mem, MAPLEN);
	if (r == -EINVAL || r == -ENOSYS || r == -EOPNOTSUPP) {
		tap_diag("this kernel has no sparse buffer table: %s", mortar_errmsg());
		ok = round_trip(loop, img, mem, mem + BS * 32, 'b', &fixed);
		tap_ok(ok && fixed == 0,
		       "the plain path after a refused registration");
		goto out;
	}
	tap_ok(r == 0, "%u bytes registered: %s", MAPLEN, r ? mortar_errmsg() : "ok");
	ok = round_trip(loop, img, mem + BS * 5, mem + MAPLEN - 16 * BS, 'c', &fixed);
	tap_ok(ok && fixed == (vec ? 3 : 1), "inside registered memory: right bytes, %llu of 3 I/Os fixed "
	       "(vectored ones need Linux 6.15)", (unsigned long long)fixed);
	ok = round_trip(loop, img, mem, plain, 'e', &fixed);
	tap_ok(ok && fixed == (vec ? 1 : 0),
	       "reads into other memory: the plain path for them (%llu fixed)",
	       (unsigned long long)fixed);
	{
		/* A vector with one segment outside: plain. */
		struct iovec mixed[2] = { { mem, BS }, { plain, BS } };
		uint64_t before = mortar_loop_fixed_ios(loop);

		memset(mem, 'g', BS);
		memset(plain, 'h', BS);
		r = rw(loop, img, true, mixed, 2, 0);
		memset(mem + BS, 0, 2 * BS);
		tap_ok(r == 0 && rw(loop, img, false, (struct iovec[]){ { mem + BS, 2 * BS } }, 1,
				  0) == 0 && mem[BS] == 'g' && mem[2 * BS] == 'h' &&
		       mortar_loop_fixed_ios(loop) - before == 1,
		       "a vector half outside: written the plain way, read back fixed");
	}
	tap_ok(mortar_loop_mem_register(loop, mem, MAPLEN) == 0, "registered a second time");
	mortar_loop_mem_unregister(loop, mem, MAPLEN);
	ok = round_trip(loop, img, mem, mem + BS * 32, 'j', &fixed);
	tap_ok(ok && fixed == (vec ? 3 : 1),
	       "still registered after one of two unregisters (%llu fixed)",
	       (unsigned long long)fixed);
	mortar_loop_mem_unregister(loop, mem, MAPLEN);
	ok = round_trip(loop, img, mem, mem + BS * 32, 'l', &fixed);
	tap_ok(ok && fixed == 0,
	       "the plain path after the last unregister (%llu fixed)", (unsigned long long)fixed);
	ok = mortar_loop_mem_register(loop, mem + MAPLEN / 2, MAPLEN / 2) == 0 &&
	     round_trip(loop, img, mem + MAPLEN / 2, mem + MAPLEN / 2 + BS * 32, 'n', &fixed);
	tap_ok(ok && fixed == (vec ? 3 : 1), "a slot used again (%llu fixed)", (unsigned long long)fixed);
	mortar_loop_mem_unregister(loop, mem + MAPLEN / 2, MAPLEN / 2);
out:
	mortar_image_close(img);
	munmap(mem, MAPLEN);
	free(plain);
	unlink(path);
}

int main(void)
{
	struct mortar_loop *loop;
	char *dir = test_tmpdir();

	/* A worker's kind of loop: the ring takes registrations from its
	 * own thread only. */
	if (mortar_loop_new_private(0, &loop) < 0)
		TAP_BAIL("loop: %s", mortar_errmsg());
	test_fixed(loop, dir);
	mortar_loop_free(loop);
	test_rmdir(dir);
	return tap_done();
}
