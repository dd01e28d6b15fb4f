/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image API on the file backend: create, open errors, asynchronous
 * requests and where their callbacks run, range and mode checks, extents,
 * resize, and the capability bits' NBD values. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "tap.h"
#include "testutil.h"

struct cb_state {
	int calls;
	int res;
	bool *in_submit;	/* set while the submitting call runs */
	bool ran_in_submit;
};

static void count_cb(void *opaque, int res)
{
	struct cb_state *s = opaque;

	s->calls++;
	s->res = res;
	if (s->in_submit && *s->in_submit)
		s->ran_in_submit = true;
}

static void test_caps_values(void)
{
	/* The NBD protocol's transmission flags, by their spec values. */
	tap_ok(MORTAR_CAP_READ_ONLY == 2 && MORTAR_CAP_FLUSH == 4 &&
	       MORTAR_CAP_FUA == 8 && MORTAR_CAP_ROTATIONAL == 16 &&
	       MORTAR_CAP_TRIM == 32 && MORTAR_CAP_ZERO == 64 &&
	       MORTAR_CAP_DF == 128 && MORTAR_CAP_MULTI_CONN == 256 &&
	       MORTAR_CAP_RESIZE == 512 && MORTAR_CAP_CACHE == 1024 &&
	       MORTAR_CAP_FAST_ZERO == 2048, "capability bits equal NBD flags");
	tap_ok(MORTAR_EXTENT_HOLE == 1 && MORTAR_EXTENT_ZERO == 2,
	       "extent flags equal NBD base:allocation states");
}

static void test_create(const char *dir)
{
	char path[512], cmd[600];
	struct stat st;
	int r;

	snprintf(path, sizeof path, "%s/create.img", dir);
	r = mortar_image_create_text(path, 1ull << 30, MORTAR_PREALLOC_OFF, 0);
	tap_ok(r == 0 && stat(path, &st) == 0 && st.st_size == 1ll << 30 &&
	       st.st_blocks == 0, "create makes a sparse 1 GiB file");
	r = mortar_image_create_text(path, 4096, MORTAR_PREALLOC_OFF, 0);
	tap_ok(r == -EEXIST && strstr(mortar_errmsg(), "--force"),
	       "create refuses to replace: %s", mortar_errmsg());
	tap_ok(stat(path, &st) == 0 && st.st_size == 1ll << 30,
	       "the refused create left the file alone");
	r = mortar_image_create_text(path, 1 << 20, MORTAR_PREALLOC_FALLOC, MORTAR_CREATE_FORCE);
	tap_ok(r == 0 && stat(path, &st) == 0 && st.st_size == 1 << 20 &&
	       st.st_blocks * 512 >= 1 << 20, "force + falloc replaces and allocates");
	r = mortar_image_create_text(path, 1 << 20, MORTAR_PREALLOC_FULL, MORTAR_CREATE_FORCE);
	tap_ok(r == 0 && stat(path, &st) == 0 && st.st_blocks * 512 >= 1 << 20,
	       "full preallocation allocates");
	snprintf(path, sizeof path, "%s/no/such/dir/x.img", dir);
	r = mortar_image_create_text(path, 4096, MORTAR_PREALLOC_OFF, 0);
	tap_ok(r == -ENOENT && strstr(mortar_errmsg(), "folder"),
	       "create in a missing folder says so: %s", mortar_errmsg());
	(void)cmd;
}

static void test_open_errors(struct mortar_loop *loop, const char *dir)
{
	struct mortar_image *img = NULL;
	char path[512];
	int r;

	snprintf(path, sizeof path, "%s/missing.img", dir);
	r = mortar_image_open_text(loop, path, 0, &img);
	tap_ok(r == -ENOENT && strstr(mortar_errmsg(), "does not exist") &&
	       strstr(mortar_errmsg(), "mortar img create"),
	       "missing image: %s", mortar_errmsg());
	r = mortar_image_open_text(loop, dir, MORTAR_OPEN_RDONLY, &img);
	tap_ok(r < 0 && strstr(mortar_errmsg(), "directory"),
	       "directory: %s", mortar_errmsg());
	r = mortar_image_open_text(loop, "/dev/null", MORTAR_OPEN_RDONLY, &img);
	tap_ok(r == -EINVAL && strstr(mortar_errmsg(), "neither a regular file"),
	       "character device: %s", mortar_errmsg());
}

static void test_requests(struct mortar_loop *loop, const char *dir)
{
	struct mortar_image *img;
	char path[512];
	enum { N = 16, BS = 4096 };
	static char wbuf[N][BS], rbuf[N][BS];
	struct cb_state st[N], fl = { 0 };
	bool in_submit = false;
	int r, bad = 0;

	snprintf(path, sizeof path, "%s/req.img", dir);
	if (mortar_image_create_text(path, 1 << 20, MORTAR_PREALLOC_OFF, MORTAR_CREATE_FORCE) < 0 ||
	    mortar_image_open_text(loop, path, 0, &img) < 0)
		TAP_BAIL("cannot set up %s: %s", path, mortar_errmsg());
	tap_ok(mortar_image_size(img) == 1 << 20, "size is 1 MiB");
	tap_ok(mortar_image_can(img, MORTAR_CAP_FLUSH | MORTAR_CAP_FUA | MORTAR_CAP_TRIM |
				MORTAR_CAP_ZERO | MORTAR_CAP_FAST_ZERO | MORTAR_CAP_RESIZE |
				MORTAR_CAP_EXTENTS) &&
	       !mortar_image_can(img, MORTAR_CAP_READ_ONLY), "writable file caps");

	memset(st, 0, sizeof st);
	in_submit = true;
	for (int i = 0; i < N; i++) {
		struct iovec iov[2] = { { wbuf[i], BS / 2 }, { wbuf[i] + BS / 2, BS / 2 } };

		memset(wbuf[i], 'a' + i, BS);
		st[i].in_submit = &in_submit;
		r = mortar_image_pwritev(img, iov, 2, (uint64_t)i * BS * 3,
					 i % 2 ? MORTAR_REQ_FUA : 0, count_cb, &st[i]);
		if (r < 0)
			bad++;
	}
	in_submit = false;
	tap_ok(bad == 0 && mortar_loop_in_flight(loop) == N, "%d writes in flight", N);
	for (int i = 0; i < N; i++)
		if (st[i].calls)
			bad++;
	tap_ok(bad == 0, "no callback ran inside the submitting call");
	while (mortar_loop_in_flight(loop))
		if (mortar_loop_run_once(loop, 1000) < 0)
			break;
	for (int i = 0; i < N; i++)
		if (st[i].calls != 1 || st[i].res != 0 || st[i].ran_in_submit)
			bad++;
	tap_ok(bad == 0, "every write completed once, successfully, from the loop");

	r = mortar_image_flush(img, 0, count_cb, &fl);
	tap_ok(r == 0 && fl.calls == 0, "flush queued");
	{
		bool never = false;
		r = mortar_loop_run_until(loop, &never);
		tap_ok(r == -EDEADLK, "run_until says so when it would wait forever");
	}
	tap_ok(fl.calls == 1 && fl.res == 0, "flush completed");

	for (int i = 0; i < N; i++) {
		r = mortar_image_pread_sync(img, rbuf[i], BS, (uint64_t)i * BS * 3);
		if (r < 0 || memcmp(rbuf[i], wbuf[i], BS))
			bad++;
	}
	tap_ok(bad == 0, "read back what was written");

	r = mortar_image_pread_sync(img, rbuf[0], BS, (1 << 20) - 100);
	tap_ok(r == -EINVAL && strstr(mortar_errmsg(), "past the end"),
	       "read past the end: %s", mortar_errmsg());
	r = mortar_image_pwrite_sync(img, rbuf[0], BS, 1 << 20, 0);
	tap_ok(r == -ENOSPC && strstr(mortar_errmsg(), "past the end"),
	       "write past the end is ENOSPC: %s", mortar_errmsg());
	r = mortar_image_pread_sync(img, rbuf[0], 0, 1 << 20);
	tap_ok(r == 0, "zero-length read at the end is fine");
	r = mortar_image_pread_sync(img, rbuf[0], 1, UINT64_MAX);
	tap_ok(r == -EINVAL, "offset overflow refused");

	/* Extents: 16 data blocks separated by holes. */
	{
		struct ext_list el = { 0 };
		r = collect_extents(img, &el);
		tap_ok(r == 0 && el.n == 2 * N && !(el.e[0].flags & MORTAR_EXTENT_HOLE) &&
		       el.e[0].length == BS && (el.e[1].flags & MORTAR_EXTENT_HOLE) &&
		       el.e[1].length == 2 * BS, "map: %zu extents alternate data/hole", el.n);
		free(el.e);
	}
	r = mortar_image_trim_sync(img, 0, BS, 0);
	tap_ok(r == 0, "trim");
	{
		struct ext_list el = { 0 };
		r = collect_extents(img, &el);
		tap_ok(r == 0 && (el.e[0].flags & MORTAR_EXTENT_HOLE) &&
		       el.e[0].length == 3 * BS, "trimmed block became a hole");
		free(el.e);
	}

	r = mortar_image_resize_sync(img, 1 << 19, 0);
	tap_ok(r == -EINVAL && strstr(mortar_errmsg(), "--shrink") &&
	       mortar_image_size(img) == 1 << 20, "shrink needs the flag: %s",
	       mortar_errmsg());
	r = mortar_image_resize_sync(img, 1 << 21, 0);
	tap_ok(r == 0 && mortar_image_size(img) == 1 << 21, "grow to 2 MiB");
	r = mortar_image_pread_sync(img, rbuf[0], BS, (1 << 21) - BS);
	tap_ok(r == 0 && rbuf[0][0] == 0 && rbuf[0][BS - 1] == 0, "grown tail reads zeroes");
	r = mortar_image_resize_sync(img, 1 << 19, MORTAR_REQ_SHRINK);
	tap_ok(r == 0 && mortar_image_size(img) == 1 << 19, "shrink with the flag");
	tap_ok(mortar_image_close(img) == 0, "close");

	/* Read-only. */
	if (mortar_image_open_text(loop, path, MORTAR_OPEN_RDONLY, &img) < 0)
		TAP_BAIL("reopen: %s", mortar_errmsg());
	tap_ok(mortar_image_can(img, MORTAR_CAP_READ_ONLY) &&
	       !mortar_image_can(img, MORTAR_CAP_FLUSH), "read-only caps");
	r = mortar_image_pwrite_sync(img, wbuf[0], BS, 0, 0);
	tap_ok(r == -EROFS && strstr(mortar_errmsg(), "read-only"),
	       "write refused: %s", mortar_errmsg());
	r = mortar_image_zero_sync(img, 0, BS, 0);
	tap_ok(r == -EROFS, "zero refused");
	r = mortar_image_trim_sync(img, 0, BS, 0);
	tap_ok(r == -EROFS, "trim refused");
	r = mortar_image_resize_sync(img, 1 << 20, 0);
	tap_ok(r == -EROFS, "resize refused");
	r = mortar_image_pread_sync(img, rbuf[1], BS, 3 * BS);
	tap_ok(r == 0 && memcmp(rbuf[1], wbuf[1], BS) == 0, "reads still work");
	tap_ok(mortar_image_close(img) == 0, "close read-only");
}

static void test_locations(struct mortar_loop *loop, const char *dir)
{
	struct mortar_image *img;
	char uri[600];
	int r;

	snprintf(uri, sizeof uri, "file://%s/req.img", dir);
	r = mortar_image_open_text(loop, uri, MORTAR_OPEN_RDONLY, &img);
	tap_ok(r == 0, "open by file:// URI: %s", r ? mortar_errmsg() : "ok");
	if (r == 0)
		mortar_image_close(img);
	r = mortar_image_open_text(loop, "gluster+rdma://h/vol/img", 0, &img);
	tap_ok(r < 0 && strstr(mortar_errmsg(), "rdma"), "rdma refused: %s",
	       mortar_errmsg());
	r = mortar_image_open_text(loop, "nbd://localhost/x", 0, &img);
	tap_ok(r == -ENOTSUP && strstr(mortar_errmsg(), "NBD"), "nbd:// refused: %s",
	       mortar_errmsg());
}

int main(void)
{
	struct mortar_loop *loop;
	char *dir = test_tmpdir();

	test_caps_values();
	if (mortar_loop_new(0, &loop) < 0)
		TAP_BAIL("loop: %s", mortar_errmsg());
	test_create(dir);
	test_open_errors(loop, dir);
	test_requests(loop, dir);
	test_locations(loop, dir);
	mortar_loop_free(loop);
	test_rmdir(dir);
	return tap_done();
}
