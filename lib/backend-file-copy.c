/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The file backend: copies and what the storage can do.
 *
 * Between two local files on one filesystem the cheapest correct copy
 * wins: FICLONE shares every extent (XFS reflink=1, btrfs); otherwise
 * copy_file_range keeps the data inside the kernel; otherwise the data
 * is read and written.  The last two walk the source's data extents
 * (SEEK_DATA/SEEK_HOLE) so holes stay holes, and the plain copy also
 * leaves all-zero blocks unwritten, as `cp --sparse=always` does.  A
 * source that is not a regular file (a block device) is left to the
 * image layer's copy (-ENOTSUP).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/magic.h>

#include "backend-file.h"
#include "error.h"
#include "sparse.h"
#include "temp.h"

#define COPY_CHUNK (4u << 20)	/* bytes per copy_file_range call */
/* Extents shorter than this are allocated (fallocate) before
 * copy_file_range writes them, on ext4.  Left to delayed allocation, each
 * small extent far from the last one gets a block of its own far from
 * the others (ext4 rounds a small allocation in a large file up to a
 * preallocation of MiBs and uses one block of it): the clone of a 1 TiB
 * image's 20,000 scattered 4 KiB extents went to disk as ~22,000 separate
 * writes, the device busy 0.9-1.3 s, the clone 2.2-2.7 s.  Allocated in
 * order by fallocate, which does not round small requests up, they lie
 * side by side on the disk and go out as 400-600 large writes, the device
 * busy 0.3 s, the clone 0.9-1.0 s, for one more system call per extent
 * (measured in alternation on a loaded machine).  Large extents
 * get contiguous blocks either way, and converting their unwritten
 * extents would only cost.  Not in the plain copy, which leaves zero
 * blocks unallocated; nor before copy_file_range has worked once, so that
 * a fallback finds nothing allocated.  A source that shrinks under the
 * copy leaves the rest of its last range allocated (reading as zeros). */
#define PREALLOC_MAX ((off_t)1 << 20)
#define PLAIN_CHUNK (128u << 10)	/* read/write buffer: as cp; 256k measured slower here */

/* A local copy being written front to back; END is where its data ends
 * so far. */
struct out_file {
	int fd;
	off_t end;
	bool punch;		/* skipped ranges must be punched: see punch_gap */
	bool prealloc;		/* allocate small extents before copying them */
	bool ranged;		/* copy_file_range worked here */
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
	if (o->punch)
		fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, o->end, to - o->end);
	o->end = to;
}

/* Can a range skipped by writing beyond the end of file hold blocks?
 * Not on ext4, whose preallocations stay out of the file until written,
 * nor in memory (tmpfs): there the punch is a system call per extent for
 * nothing (20,000 for an image of 20,000 extents, as many as the copies).
 * Elsewhere (XFS, and what we do not know) it may: punch. */
static bool gaps_need_punch(unsigned long f_type)
{
	return f_type != EXT4_SUPER_MAGIC && f_type != TMPFS_MAGIC;
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
		out->ranged = true;
	}
	return 0;
}

static int local_copy_data(int in, struct out_file *out, off_t size, unsigned flags,
			   mortar_progress_fn progress, void *opaque,
			   enum mortar_clone_method *used)
{
	bool try_range = !(flags & MORTAR_CLONE_COPY_ONLY);
	uint8_t *buf = NULL;
	off_t pos = 0, sync_from = 0, unsynced = 0;
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
				if (out->prealloc && out->ranged && hole - data < PREALLOC_MAX)
					fallocate(out->fd, FALLOC_FL_KEEP_SIZE, pos, chunk_end - pos);
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
			/* Start writing back each 16 MiB of data now: the fsync
			 * before the rename then finds little left (under 1 ms,
			 * traced), and a copy of many GiB does not fill the page
			 * cache with dirty pages first.  (The 1-3 s fsync that
			 * first called for it came from sizing the copy before
			 * writing it, see local_clone; since that fix, 8 paired
			 * rounds with and without this call did not differ in
			 * time.)  Counted in data, not in extents: one call per
			 * 4 KiB extent of an image with 20,000 of them made the
			 * disk write each alone (4.3 s against cp's 2.3 s). */
			unsynced += chunk_end - pos;
			if (r == 0 && unsynced >= (off_t)COPY_CHUNK * 4) {
				sync_file_range(out->fd, sync_from, chunk_end - sync_from,
						SYNC_FILE_RANGE_WRITE);
				sync_from = chunk_end;
				unsynced = 0;
			}
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
	mortar_tmp_remove_stale(&mortar_file_ns_ops, NULL, dst);
	r = mortar_tmp_name(dst, tmp, sizeof tmp);
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
		struct statfs sfs;

		if (fstatfs(out, &sfs) < 0)
			sfs.f_type = 0;
		o.punch = gaps_need_punch(sfs.f_type);
		o.prealloc = sfs.f_type == EXT4_SUPER_MAGIC;

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

int mortar_file_copy(const struct mortar_location *src, const struct mortar_location *dst,
		     unsigned flags, mortar_progress_fn progress, void *opaque,
		     enum mortar_clone_method *used)
{
	struct stat st;

	if (stat(src->path, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOTSUP;
	return local_clone(src->path, dst->path, flags, progress, opaque, used);
}

/* Share SRC's blocks again (reflink), in place: DST stays the same file.
 * -ENOTSUP when the filesystem cannot. */
int mortar_file_copy_over(const struct mortar_location *src, const struct mortar_location *dst)
{
	const char *snap = src->path, *path = dst->path;
	struct stat st;
	int in, out, r = 0;

	in = open(snap, O_RDONLY | O_CLOEXEC);
	out = open(path, O_RDWR | O_CLOEXEC);
	if (in < 0 || out < 0 || fstat(in, &st) < 0) {
		r = mortar_set_error(errno, "%s: %m", in < 0 ? snap : path);
		goto out;
	}
	{
		struct file_clone_range fcr = { .src_fd = in };
		if (ioctl(out, FICLONERANGE, &fcr) < 0) {
			r = -ENOTSUP;
			goto out;
		}
	}
	if (ftruncate(out, st.st_size) < 0 || fsync(out) < 0)
		r = mortar_set_error(errno, "%s: %m", path);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

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

int mortar_file_probe(const struct mortar_location *loc, struct mortar_storage_caps *caps)
{
	struct stat st;
	char *d;

	if (stat(loc->path, &st) == 0 && S_ISBLK(st.st_mode)) {
		caps->discard = caps->zero = true;
		snprintf(caps->how, sizeof caps->how, "block device: clones and "
			 "snapshots are full copies");
		return 0;
	}
	d = strdup(loc->path);
	if (!d)
		return mortar_set_error(ENOMEM, "out of memory");
	probe_dir(dirname(d), caps);
	free(d);
	return 0;
}
