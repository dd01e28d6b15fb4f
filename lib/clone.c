/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clones and storage capabilities (include/mortar/clone.h).
 *
 * Between two local files on one filesystem the cheapest correct copy
 * wins: FICLONE shares every extent (XFS reflink=1, btrfs); otherwise
 * copy_file_range keeps the data inside the kernel; otherwise the data
 * is read and written.  The last two walk the source's data extents
 * (SEEK_DATA/SEEK_HOLE) so holes stay holes, and the plain copy also
 * leaves all-zero blocks unwritten, as `cp --sparse=always` does.  Any
 * other pair (GlusterFS on either side) is copied through libmortar's
 * image layer, extent by extent.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/falloc.h>

#include <mortar/mortar.h>
#include <mortar/clone.h>
#include "backend.h"
#include "error.h"
#include "fs.h"
#include "runtime.h"
#include "zero.h"

#define COPY_CHUNK (4u << 20)	/* bytes per copy_file_range call */
#define PLAIN_CHUNK (128u << 10)	/* read/write buffer: as cp; 256k measured slower here */
#define PROBE_DATA (1u << 20)
#define ZERO_GRAIN 4096		/* zero detection granularity */

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

/* ---- local files ---- */

/* "DIR/.NAME.tmp-PID@HOST" for DST. */
static int temp_name(const char *dst, char *buf, size_t len)
{
	char *d1 = strdup(dst), *d2 = strdup(dst), tag[300];
	int n = -1;

	if (d1 && d2 && mortar_tmp_tag(tag, sizeof tag) == 0)
		n = snprintf(buf, len, "%s/.%s.tmp-%s", dirname(d1), basename(d2), tag);
	free(d1);
	free(d2);
	if (n < 0 || (size_t)n >= len)
		return mortar_set_error(ENAMETOOLONG, "%s: name too long", dst);
	return 0;
}

/* Remove temporaries of DST (a location) left by clones that died. */
static void remove_stale_temps(const char *dst)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 16];
	struct mortar_fs *fs;
	const char *base;

	if (mortar_fs_open(dst, &fs) < 0)
		return;
	if (mortar_fs_split(fs->loc->path, dir, sizeof dir, &base) == 0 &&
	    snprintf(prefix, sizeof prefix, ".%s.tmp-", base) < (int)sizeof prefix)
		mortar_fs_remove_stale(fs, dir, prefix);
	mortar_fs_close(fs);
}

int mortar_write_data_runs(const uint8_t *buf, size_t n, uint64_t off,
			   mortar_write_fn write, void *dst)
{
	for (size_t pos = 0; pos < n;) {
		size_t run = 0, g;

		while (pos + run < n) {
			g = n - pos - run < ZERO_GRAIN ? n - pos - run : ZERO_GRAIN;
			if (mortar_all_zero(buf + pos + run, g))
				break;
			run += g;
		}
		if (run) {
			int r = write(dst, buf + pos, run, off + pos);
			if (r < 0)
				return r;
			pos += run;
		} else {
			pos += n - pos < ZERO_GRAIN ? n - pos : ZERO_GRAIN;
		}
	}
	return 0;
}

/* A local copy being written front to back; END is where its data ends
 * so far. */
struct out_file {
	int fd;
	off_t end;
};

/* Leave [END, TO) a hole.  XFS allocates blocks past the end of a
 * growing file ahead of the writes; a range skipped by writing beyond it
 * would keep them (as unwritten extents) once the file grows over it.
 * So each skipped range is punched, as cp does.  A failure only leaves
 * blocks allocated that read as zeros: nothing to report. */
static void punch_gap(struct out_file *o, off_t to)
{
	if (to <= o->end)
		return;
	fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, o->end, to - o->end);
	o->end = to;
}

static int fd_write(void *dst, const uint8_t *buf, size_t len, uint64_t off)
{
	struct out_file *o = dst;

	punch_gap(o, (off_t)off);
	for (size_t w = 0; w < len;) {
		ssize_t k = pwrite(o->fd, buf + w, len - w, (off_t)(off + w));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return mortar_set_error(errno, "write: %m");
		w += (size_t)k;
	}
	o->end = (off_t)(off + len);
	return 0;
}

int mortar_image_write_fn(void *dst, const uint8_t *buf, size_t len, uint64_t off)
{
	return mortar_image_pwrite_sync(dst, buf, len, off, 0);
}

static int copy_plain(int in, struct out_file *out, off_t off, off_t len, uint8_t *buf)
{
	while (len > 0) {
		size_t n = len < (off_t)PLAIN_CHUNK ? (size_t)len : PLAIN_CHUNK;
		ssize_t r = pread(in, buf, n, off);
		int rc;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mortar_set_error(errno, "read: %m");
		if (r == 0)
			return 0;	/* the source shrank: the rest stays a hole */
		rc = mortar_write_data_runs(buf, (size_t)r, (uint64_t)off, fd_write, out);
		if (rc < 0)
			return rc;
		off += r;
		len -= r;
	}
	return 0;
}

/* Copy [OFF, OFF+LEN) with copy_file_range; -EXDEV/-EINVAL/-EOPNOTSUPP
 * /-ENOSYS mean "not here" (nothing is half done: the caller falls back
 * from the offset reached, which *DONE reports). */
static int copy_range(int in, struct out_file *out, off_t off, off_t len, off_t *done)
{
	*done = 0;
	punch_gap(out, off);
	while (len > 0) {
		loff_t i = off, o = off;
		ssize_t r = copy_file_range(in, &i, out->fd, &o,
					    len < (off_t)COPY_CHUNK ? (size_t)len : COPY_CHUNK, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		off += r;
		len -= r;
		*done += r;
		out->end = off;
	}
	return 0;
}

static int local_copy_data(int in, struct out_file *out, off_t size, unsigned flags,
			   mortar_progress_fn progress, void *opaque,
			   enum mortar_clone_method *used)
{
	bool try_range = !(flags & MORTAR_CLONE_COPY_ONLY);
	uint8_t *buf = NULL;
	off_t pos = 0;
	int r = 0;

	*used = try_range ? MORTAR_CLONE_COPY_RANGE : MORTAR_CLONE_SPARSE_COPY;
	while (pos < size && r == 0) {
		off_t data = lseek(in, pos, SEEK_DATA), hole, chunk_end;

		if (data < 0 && errno == ENXIO)
			break;		/* only a hole remains */
		if (data < 0) {
			/* No SEEK_DATA here: treat everything as data. */
			data = pos;
			hole = size;
		} else {
			hole = lseek(in, data, SEEK_HOLE);
			if (hole < 0 || hole > size)
				hole = size;
		}
		if (progress)
			progress(opaque, (uint64_t)data, (uint64_t)size);
		for (pos = data; pos < hole && r == 0; pos = chunk_end) {
			off_t done = 0;

			chunk_end = hole - pos > (off_t)COPY_CHUNK * 4 ? pos + (off_t)COPY_CHUNK * 4 : hole;
			if (try_range) {
				r = copy_range(in, out, pos, chunk_end - pos, &done);
				if (r == -EXDEV || r == -EINVAL || r == -EOPNOTSUPP ||
				    r == -ENOSYS) {
					try_range = false;
					*used = MORTAR_CLONE_SPARSE_COPY;
					r = 0;
				} else if (r < 0) {
					r = mortar_set_error(-r, "copy_file_range: %s", strerror(-r));
					break;
				} else {
					goto advanced;
				}
			}
			/* Page-aligned, as cp's: malloc's 128 KiB come from
			 * mmap 16 bytes past a page boundary, and the kernel's
			 * copies to and from such a buffer ran at half speed
			 * here (pread 110 us, pwrite 223 us per 128 KiB, against
			 * 47 and 100 us aligned). */
			if (!buf && !(buf = aligned_alloc(4096, PLAIN_CHUNK))) {
				r = mortar_set_error(ENOMEM, "out of memory");
				break;
			}
			r = copy_plain(in, out, pos + done, chunk_end - pos - done, buf);
advanced:
			/* Start writing each 16 MiB back now: the fsync before
			 * the rename then finds little left (under 1 ms, traced),
			 * and a copy of many GiB does not fill the page cache
			 * with dirty pages first.  (The 1-3 s fsync that first
			 * called for it came from sizing the copy before writing
			 * it, see local_clone; since that fix, 8 paired rounds
			 * with and without this call did not differ in time.) */
			if (r == 0)
				sync_file_range(out->fd, pos, chunk_end - pos, SYNC_FILE_RANGE_WRITE);
			if (progress)
				progress(opaque, (uint64_t)chunk_end, (uint64_t)size);
		}
	}
	free(buf);
	if (r == 0 && progress)
		progress(opaque, (uint64_t)size, (uint64_t)size);
	return r;
}

static int fsync_dir_of(const char *path)
{
	char *d = strdup(path);
	int fd, r = 0;

	if (!d)
		return 0;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0 && errno != EINVAL)
			r = mortar_set_error(errno, "sync the directory of %s: %m", path);
		close(fd);
	}
	free(d);
	return r;
}

static int local_clone(const char *src, const char *dst, unsigned flags,
		       mortar_progress_fn progress, void *opaque,
		       enum mortar_clone_method *used)
{
	char tmp[PATH_MAX];
	struct stat st, dst_st;
	int in, out, r = 0;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return mortar_set_error(errno, "%s: %m", src);
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return mortar_set_error(EINVAL, "%s: not a regular file; use 'mortar img "
					"convert' to copy a block device", src);
	}
	if (stat(dst, &dst_st) == 0) {
		if (!(flags & MORTAR_CLONE_FORCE)) {
			close(in);
			return mortar_set_error(EEXIST, "%s already exists; pass --force "
						"to replace it", dst);
		}
		if (dst_st.st_dev == st.st_dev && dst_st.st_ino == st.st_ino) {
			close(in);
			return mortar_set_error(EINVAL, "%s and %s are the same file",
						src, dst);
		}
	}
	remove_stale_temps(dst);
	r = temp_name(dst, tmp, sizeof tmp);
	if (r < 0) {
		close(in);
		return r;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0666);
	if (out < 0) {
		r = mortar_set_error(errno, "cannot create %s: %m", tmp);
		close(in);
		return r;
	}
	if (!(flags & (MORTAR_CLONE_NO_REFLINK | MORTAR_CLONE_COPY_ONLY)) &&
	    ioctl(out, FICLONE, in) == 0) {
		*used = MORTAR_CLONE_REFLINK;
		if (progress)
			progress(opaque, (uint64_t)st.st_size, (uint64_t)st.st_size);
	} else {
		/* The size is set after the data, not before: on XFS, data
		 * written into a hole below the end of file is allocated as
		 * unwritten extents and converted after each write-back
		 * (measured: the fsync of a 1 GiB, 60 % full copy took 2.3 s
		 * that way, 0.25 s when every write extends the file, as
		 * cp's do). */
		struct out_file o = { .fd = out };

		posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
		r = local_copy_data(in, &o, st.st_size, flags, progress, opaque, used);
		if (r == 0 && ftruncate(out, st.st_size) < 0)
			r = mortar_set_error(errno, "%s: %m", tmp);
		if (r == 0)
			punch_gap(&o, st.st_size);
	}
	if (r == 0 && fsync(out) < 0)
		r = mortar_set_error(errno, "sync %s: %m", tmp);
	close(out);
	close(in);
	if (r == 0 && rename(tmp, dst) < 0)
		r = mortar_set_error(errno, "rename %s to %s: %m", tmp, dst);
	if (r < 0) {
		int saved = mortar_errno();
		char msg[512];

		snprintf(msg, sizeof msg, "%s", mortar_errmsg());
		unlink(tmp);
		return mortar_set_error(saved, "%s", msg);
	}
	return fsync_dir_of(dst);
}

/* ---- any backends, through libmortar ---- */

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

static int generic_clone(const char *src, const char *dst, unsigned flags,
			 mortar_progress_fn progress, void *opaque)
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
	if (r == -EEXIST)
		r = mortar_set_error(EEXIST, "%s already exists; pass --force to "
				     "replace it", dst);
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

int mortar_image_copy_over(const char *src, const char *dst,
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

#ifdef MORTAR_HAVE_GLUSTER
static bool gluster_copy_caps(const struct mortar_location *loc, bool *shared);
#endif

int mortar_image_clone(const char *src, const char *dst, unsigned flags,
		       mortar_progress_fn progress, void *opaque,
		       enum mortar_clone_method *used)
{
	struct mortar_location *ls = NULL, *ld = NULL;
	enum mortar_clone_method dummy;
	int r;

	if (!used)
		used = &dummy;
	r = mortar_location_parse(src, &ls, NULL);
	if (r == 0)
		r = mortar_location_parse(dst, &ld, NULL);
	if (r < 0)
		goto out;
	if (ls->scheme == MORTAR_SCHEME_FILE && ld->scheme == MORTAR_SCHEME_FILE) {
		struct stat st;

		if (stat(ls->path, &st) == 0 && S_ISREG(st.st_mode)) {
			r = local_clone(ls->path, ld->path, flags, progress, opaque, used);
			goto out;
		}
	}
#ifdef MORTAR_HAVE_GLUSTER
	bool shared = false;

	/* Only a copy that shares blocks is left to the bricks.  GlusterFS
	 * never closes the target of a copy made by the bricks, so a full
	 * copy deleted later keeps all its blocks on them until they restart
	 * (mortar-img(1), BUGS): snapshots taken and dropped every night
	 * would fill the volume.  Through the client, the data crosses the
	 * network twice, and nothing stays behind. */
	if (ls->scheme == MORTAR_SCHEME_GLUSTER && ld->scheme == MORTAR_SCHEME_GLUSTER &&
	    !(flags & MORTAR_CLONE_COPY_ONLY) && mortar_gluster_same_volume(ls, ld) &&
	    gluster_copy_caps(ld, &shared) && shared) {
		uint64_t size = 0;

		remove_stale_temps(dst);
		r = mortar_gluster_copy(ls, ld, flags & MORTAR_CLONE_FORCE, &size, &shared);
		if (r != -ENOTSUP) {
			*used = shared ? MORTAR_CLONE_SERVER_REFLINK : MORTAR_CLONE_SERVER_COPY;
			if (r == 0 && progress)
				progress(opaque, size, size);
			goto out;
		}
	}
#endif
	*used = MORTAR_CLONE_SPARSE_COPY;
	r = generic_clone(src, dst, flags, progress, opaque);
out:
	mortar_location_free(ls);
	mortar_location_free(ld);
	return r;
}

/* ---- capabilities ---- */

/* Try each trick on two scratch files in DIR. */
static void probe_dir(const char *dir, struct mortar_storage_caps *c)
{
	char a[PATH_MAX], b[PATH_MAX];
	static const char data[4096] = { 1 };
	struct stat st;
	int fa, fb;

	snprintf(a, sizeof a, "%s/.mortar-probe-%ld-a", dir, (long)getpid());
	snprintf(b, sizeof b, "%s/.mortar-probe-%ld-b", dir, (long)getpid());
	fa = open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fb = open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fa < 0 || fb < 0) {
		snprintf(c->how, sizeof c->how, "cannot probe %s (%s): assuming full copies",
			 dir, strerror(errno));
		goto out;
	}
	/* Thin: a large truncate allocates nothing. */
	if (ftruncate(fa, 1 << 20) == 0 && fstat(fa, &st) == 0 && st.st_blocks == 0)
		c->thin = true;
	for (int i = 0; i < 16; i++)
		if (pwrite(fa, data, sizeof data, (off_t)i * 65536) != (ssize_t)sizeof data)
			break;
	fsync(fa);
	if (ioctl(fb, FICLONE, fa) == 0) {
		c->offload_copy = c->offload_snapshot = true;
		snprintf(c->how, sizeof c->how, "reflink (FICLONE): clones and snapshots "
			 "share blocks until written");
	} else {
		loff_t i = 0, o = 0;
		bool range = ftruncate(fb, 0) == 0 &&
			     copy_file_range(fa, &i, fb, &o, sizeof data, 0) > 0;
		snprintf(c->how, sizeof c->how, "no reflink here: clones and snapshots are "
			 "full copies (%s)", range ? "copy_file_range" : "sparse copy");
	}
	if (fallocate(fa, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 65536) == 0)
		c->discard = true;
	if (fallocate(fa, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 65536, 65536) == 0)
		c->zero = true;
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	unlink(a);
	unlink(b);
}

#ifdef MORTAR_HAVE_GLUSTER
/* Can the bricks copy, and do they share blocks?  Try it on two scratch
 * files beside the image; 1 MiB of data, so that a real copy shows in the
 * volume's free space and a reflink does not. */
static bool gluster_probe_copy(const struct mortar_location *loc, bool *shared)
{
	struct mortar_location a = *loc, b = *loc;
	char pa[PATH_MAX], pb[PATH_MAX], *ta = NULL, *tb = NULL;
	const char *slash = strrchr(loc->path, '/');
	int dlen = slash ? (int)(slash - loc->path) + 1 : 0;
	struct mortar_loop *lp = NULL;
	struct mortar_image *img = NULL;
	uint8_t *data = malloc(PROBE_DATA);
	bool ok = false;

	if (!data)
		return false;
	memset(data, 0x5a, PROBE_DATA);
	snprintf(pa, sizeof pa, "%.*s.mortar-probe-%ld-a", dlen, loc->path, (long)getpid());
	snprintf(pb, sizeof pb, "%.*s.mortar-probe-%ld-b", dlen, loc->path, (long)getpid());
	a.path = pa;
	b.path = pb;
	ta = mortar_location_format(&a);
	tb = mortar_location_format(&b);
	if (!ta || !tb || mortar_image_create(ta, PROBE_DATA, MORTAR_PREALLOC_OFF,
					      MORTAR_CREATE_FORCE) < 0)
		goto out;
	if (mortar_loop_new(0, &lp) == 0 && mortar_image_open(lp, ta, 0, &img) == 0) {
		ok = mortar_image_pwrite_sync(img, data, PROBE_DATA, 0, 0) == 0;
		if (mortar_image_close(img) < 0)
			ok = false;
	}
	ok = ok && mortar_gluster_copy(&a, &b, true, NULL, shared) == 0;
	mortar_image_remove(tb);
	mortar_image_remove(ta);
out:
	mortar_loop_free(lp);
	free(data);
	free(ta);
	free(tb);
	return ok;
}

/* What the probe found, remembered per volume (by its UUID) in the
 * user's runtime folder.  Each probe costs the bricks a descriptor that
 * they never close, and the blocks of the deleted scratch copy until
 * they restart (GlusterFS never releases the target of a copy_file_range:
 * mortar-img(1), BUGS), so a volume is probed once per user and host, and
 * again only after a reboot empties that folder.  Without a runtime
 * folder or a volume id, the probe runs every time. */
static bool gluster_copy_caps(const struct mortar_location *loc, bool *shared)
{
	char id[40], dir[PATH_MAX], path[PATH_MAX + 64], got[16] = "";
	bool known = false, ok;
	FILE *f;

	if (mortar_gluster_volume_id(loc, id, sizeof id) == 0 &&
	    mortar_runtime_dir("gluster-copy", dir, sizeof dir) == 0 &&
	    snprintf(path, sizeof path, "%s/%s", dir, id) < (int)sizeof path) {
		known = true;
		f = fopen(path, "re");
		if (f) {
			bool read = fgets(got, sizeof got, f) != NULL;

			fclose(f);
			if (read && (!strcmp(got, "shared\n") || !strcmp(got, "copy\n"))) {
				*shared = got[0] == 's';
				return true;
			}
		}
	}
	/* (a probe that failed is not remembered: it may have failed for
	 * this folder only, say for want of write permission) */
	ok = gluster_probe_copy(loc, shared);
	if (ok && known && (f = fopen(path, "we"))) {
		fputs(*shared ? "shared\n" : "copy\n", f);
		fclose(f);
	}
	return ok;
}
#endif

int mortar_storage_caps(const char *location, struct mortar_storage_caps *caps)
{
	struct mortar_location *loc;
	struct stat st;
	int r;

	memset(caps, 0, sizeof *caps);
	r = mortar_location_parse(location, &loc, NULL);
	if (r < 0)
		return r;
	if (loc->scheme == MORTAR_SCHEME_FILE) {
		if (stat(loc->path, &st) == 0 && S_ISBLK(st.st_mode)) {
			caps->discard = caps->zero = true;
			snprintf(caps->how, sizeof caps->how, "block device: clones and "
				 "snapshots are full copies");
		} else {
			char *d = strdup(loc->path);
			if (d)
				probe_dir(dirname(d), caps);
			free(d);
		}
	} else {
		struct mortar_loop *loop;
		struct mortar_image *img;
		uint64_t alloc;

		/* GlusterFS keeps no per-file snapshot or clone since the BD
		 * translator went (6.0); copy_file_range on the bricks is what
		 * remains (a reflink where a brick's filesystem has them). */
		snprintf(caps->how, sizeof caps->how, "%s: clones and snapshots are "
			 "full sparse copies through the client",
			 mortar_scheme_name(loc->scheme));
#ifdef MORTAR_HAVE_GLUSTER
		bool shared = false;

		if (loc->scheme == MORTAR_SCHEME_GLUSTER && gluster_copy_caps(loc, &shared)) {
			caps->offload_copy = caps->offload_snapshot = shared;
			snprintf(caps->how, sizeof caps->how, shared ?
				 "gluster: clones and snapshots within the volume are "
				 "reflinks made by the bricks (copy_file_range)" :
				 "gluster: clones and snapshots are full sparse copies "
				 "through the client, as the bricks' filesystem cannot "
				 "share blocks (see BUGS in mortar-img(1))");
		}
#endif
		if (mortar_loop_new(0, &loop) == 0) {
			if (mortar_image_open(loop, location, MORTAR_OPEN_RDONLY, &img) == 0) {
				uint32_t c = mortar_image_caps(img);
				caps->discard = c & MORTAR_CAP_TRIM;
				caps->zero = c & MORTAR_CAP_ZERO;
				caps->thin = mortar_image_allocated(img, &alloc) == 0 &&
					     alloc < mortar_image_size(img);
				mortar_image_close(img);
			}
			mortar_loop_free(loop);
		}
	}
	mortar_location_free(loc);
	return 0;
}
