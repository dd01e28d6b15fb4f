/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zeroing cascade of the file backend: punch hole (with may-trim),
 * then FALLOC_FL_ZERO_RANGE, then writing zeroes; fast zero fails rather
 * than write; a method that failed once is never tried again on that
 * image.  Failures are injected (ext4 supports everything) and, where
 * /dev/shm is tmpfs, met for real (tmpfs has no ZERO_RANGE). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "backend-file.h"
#include "tap.h"
#include "testutil.h"

#define SZ (4u << 20)
#define TMPFS_MAGIC_ 0x01021994

static char buf[SZ];

static bool range_is(struct mortar_image *img, uint64_t off, uint64_t len, int byte)
{
	if (mortar_image_pread_sync(img, buf, len, off) < 0)
		return false;
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != (char)byte)
			return false;
	return true;
}

static bool is_hole(struct mortar_image *img, uint64_t off, uint64_t len)
{
	struct ext_list el;
	bool hole = false;

	if (collect_extents(img, &el) < 0)
		return false;
	for (size_t i = 0; i < el.n; i++)
		if (el.e[i].offset <= off && el.e[i].offset + el.e[i].length >= off + len)
			hole = el.e[i].flags & MORTAR_EXTENT_HOLE;
	free(el.e);
	return hole;
}

static struct mortar_image *setup(struct mortar_loop *loop, const char *path,
				  unsigned flags)
{
	struct mortar_image *img;

	if (mortar_image_create_text(path, SZ, MORTAR_PREALLOC_OFF, MORTAR_CREATE_FORCE) < 0 ||
	    mortar_image_open_text(loop, path, flags, &img) < 0)
		TAP_BAIL("setup %s: %s", path, mortar_errmsg());
	memset(buf, 0xaa, SZ);
	if (mortar_image_pwrite_sync(img, buf, SZ, 0, 0) < 0)
		TAP_BAIL("fill: %s", mortar_errmsg());
	return img;
}

#define IDX(m) (__builtin_ctz(m))

static void test_cascade(struct mortar_loop *loop, const char *dir, unsigned oflags,
			 const char *mode)
{
	struct file_zero_stats st;
	struct mortar_image *img;
	char path[512];
	int r;

	snprintf(path, sizeof path, "%s/cascade.img", dir);
	img = setup(loop, path, oflags);

	r = mortar_image_zero_sync(img, 0, 65536, MORTAR_REQ_MAY_TRIM);
	mortar_file_zero_stats(img, &st);
	tap_ok(r == 0 && st.used[IDX(FILE_ZERO_PUNCH)] == 1 && range_is(img, 0, 65536, 0) &&
	       is_hole(img, 0, 65536), "%s: may-trim zero punches a hole", mode);

	r = mortar_image_zero_sync(img, 65536, 65536, 0);
	mortar_file_zero_stats(img, &st);
	tap_ok(r == 0 && st.used[IDX(FILE_ZERO_RANGE)] == 1 &&
	       st.tried[IDX(FILE_ZERO_PUNCH)] == 1 && range_is(img, 65536, 65536, 0),
	       "%s: zero without may-trim uses ZERO_RANGE, not punch", mode);
	tap_ok(range_is(img, 131072, 4096, 0xaa), "%s: bytes after the range kept", mode);

	/* The storage refuses punch: may-trim falls back to ZERO_RANGE. */
	mortar_file_debug_disable(img, FILE_ZERO_PUNCH);
	r = mortar_image_zero_sync(img, 1 << 20, 8192, MORTAR_REQ_MAY_TRIM);
	mortar_file_zero_stats(img, &st);
	tap_ok(r == 0 && (st.failed & FILE_ZERO_PUNCH) && st.used[IDX(FILE_ZERO_RANGE)] == 2 &&
	       range_is(img, 1 << 20, 8192, 0), "%s: punch refused -> ZERO_RANGE", mode);
	r = mortar_image_zero_sync(img, 2 << 20, 8192, MORTAR_REQ_MAY_TRIM);
	mortar_file_zero_stats(img, &st);
	tap_ok(r == 0 && st.tried[IDX(FILE_ZERO_PUNCH)] == 2,
	       "%s: a refused method is remembered (punch tried %u times)", mode,
	       st.tried[IDX(FILE_ZERO_PUNCH)]);

	/* ZERO_RANGE refused too: fast zero fails fast and touches nothing. */
	mortar_file_debug_disable(img, FILE_ZERO_PUNCH | FILE_ZERO_RANGE);
	r = mortar_image_zero_sync(img, 3 << 20, 12288, MORTAR_REQ_FAST | MORTAR_REQ_MAY_TRIM);
	mortar_file_zero_stats(img, &st);
	tap_ok(r == -ENOTSUP && strstr(mortar_errmsg(), "fast") &&
	       range_is(img, 3 << 20, 12288, 0xaa),
	       "%s: fast zero with no fast method -> ENOTSUP, data untouched: %s",
	       mode, mortar_errmsg());
	tap_ok(st.used[IDX(FILE_ZERO_WRITE)] == 0, "%s: and wrote nothing", mode);

	/* Slow path: write zeroes, unaligned, across the zero buffer size. */
	r = mortar_image_zero_sync(img, (3 << 20) + 1, (1 << 20) - 2, 0);
	mortar_file_zero_stats(img, &st);
	tap_ok(r == 0 && st.used[IDX(FILE_ZERO_WRITE)] == 1 &&
	       range_is(img, (3 << 20) + 1, (1 << 20) - 2, 0) &&
	       range_is(img, 3 << 20, 1, 0xaa) && range_is(img, SZ - 1, 1, 0xaa),
	       "%s: write-zeroes fallback exact to the byte", mode);
	{
		unsigned before = st.tried[IDX(FILE_ZERO_RANGE)];

		r = mortar_image_zero_sync(img, (2 << 20) + 20005, 10, MORTAR_REQ_FUA);
		mortar_file_zero_stats(img, &st);
		tap_ok(r == 0 && (st.failed & FILE_ZERO_RANGE) &&
		       st.tried[IDX(FILE_ZERO_RANGE)] == before &&
		       st.used[IDX(FILE_ZERO_WRITE)] == 2 && range_is(img, (2 << 20) + 20005, 10, 0) &&
		       range_is(img, (2 << 20) + 20004, 1, 0xaa) &&
		       range_is(img, (2 << 20) + 20015, 1, 0xaa),
		       "%s: ZERO_RANGE refused once, not tried again", mode);
	}
	mortar_image_close(img);
}

static void test_tmpfs(struct mortar_loop *loop)
{
	struct file_zero_stats st;
	struct mortar_image *img;
	struct statfs sfs;
	char path[] = "/dev/shm/mortar-zero-XXXXXX";
	int fd, r;

	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC_) {
		tap_diag("no tmpfs at /dev/shm: natural ZERO_RANGE failure not checked");
		return;
	}
	fd = mkstemp(path);
	if (fd < 0)
		return;
	close(fd);
	img = setup(loop, path, 0);
	r = mortar_image_zero_sync(img, 4096, 8192, 0);
	mortar_file_zero_stats(img, &st);
	tap_ok(r == 0 && (st.failed & FILE_ZERO_RANGE) && st.used[IDX(FILE_ZERO_WRITE)] == 1 &&
	       range_is(img, 4096, 8192, 0) && range_is(img, 0, 4096, 0xaa),
	       "tmpfs: ZERO_RANGE unsupported for real -> written zeroes");
	r = mortar_image_zero_sync(img, 65536, 8192, MORTAR_REQ_MAY_TRIM | MORTAR_REQ_FAST);
	tap_ok(r == 0 && range_is(img, 65536, 8192, 0),
	       "tmpfs: fast zero with may-trim works by punching");
	r = mortar_image_zero_sync(img, 131072, 8192, MORTAR_REQ_FAST);
	tap_ok(r == -ENOTSUP && range_is(img, 131072, 8192, 0xaa),
	       "tmpfs: fast zero without may-trim fails fast");
	mortar_image_close(img);
	unlink(path);
}

int main(void)
{
	struct mortar_loop *loop;
	char *dir = test_tmpdir();

	if (mortar_loop_new(0, &loop) < 0)
		TAP_BAIL("loop: %s", mortar_errmsg());
	test_cascade(loop, dir, 0, "buffered");
	test_cascade(loop, dir, MORTAR_OPEN_DIRECT, "direct");
	test_tmpfs(loop);
	mortar_loop_free(loop);
	test_rmdir(dir);
	return tap_done();
}
