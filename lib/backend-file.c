/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The file backend: regular files and block devices through io_uring.
 *
 * Reads and writes go straight from the caller's buffers to the kernel.
 * With O_DIRECT, requests whose buffers, offset or length are not aligned
 * go through an aligned bounce buffer; unaligned writes become
 * read-modify-write under a range lock, so that two writes sharing a block
 * cannot undo each other.  Zeroing tries the cheapest method first and
 * remembers per image which methods the storage refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend.h"
#include "backend-file.h"
#include "error.h"

#define FILE_MAX_REQUEST (32u << 20)	/* advertised, like most NBD servers */
#define FILE_ZERO_BUF (1u << 20)
#define FILE_MAX_EXTENTS 2048		/* per extents request */
#define FILE_DEFAULT_ALIGN 4096

struct file_img {
	const char *name;		/* the image's, for messages */
	struct mortar_loop *loop;
	int fd;
	bool is_block, rdonly, direct;
	uint64_t size;
	uint32_t caps;
	uint32_t align;		/* offset/length alignment for O_DIRECT, else 1 */
	uint32_t mem_align;	/* buffer alignment for O_DIRECT, else 1 */

	unsigned zero_failed, zero_disabled;
	struct file_zero_stats zstats;
	bool trim_failed;
	void *zero_buf;

	/* Range lock, only with O_DIRECT: the file's, shared with every
	 * other handle of it (backend-file-lock.c). */
	struct file_lock *lock;
};

enum { STEP_IO, STEP_BOUNCE_READ, STEP_RMW_READ, STEP_BOUNCE_WRITE };

/* A request with this backend's state (req_size), so that the hot path
 * allocates nothing beyond the request itself. */
struct file_req {
	struct mortar_req req;
	int step;
	uint64_t off, len, done;	/* the current I/O */
	struct iovec *iov;
	int iovcnt;
	struct iovec *tmp_iov;		/* remainder after a short I/O */
	void *bounce;
	uint64_t b_lo, b_len;
	uint64_t progress;		/* multi-step requests */
	void (*then)(struct mortar_req *req, int res);
	struct file_range range;	/* with O_DIRECT, of modifying requests */
};

static inline struct file_req *fr(struct mortar_req *req)
{
	return (struct file_req *)req;
}

static struct file_img *req_handle(struct mortar_req *req)
{
	return req->handle;
}

static const char *fname(struct file_img *h)
{
	return h->name;
}

/* Record the message for a failed I/O: name the cause and what to do. */
static int file_io_error(struct file_img *h, const char *what, uint64_t off,
			 uint64_t len, int res)
{
	switch (-res) {
	case ENOSPC:
		return mortar_set_error(res, "%s: %s of %" PRIu64 " bytes at offset %"
			PRIu64 " failed: no space left on the device holding the "
			"image; free space there, or create images with "
			"--preallocation=falloc so that writes cannot run out",
			fname(h), what, len, off);
	case EDQUOT:
		return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: "
			"disk quota exceeded for this user; raise the quota or free "
			"space", fname(h), what, off);
	case EIO:
		return mortar_set_error(res, "%s: %s of %" PRIu64 " bytes at offset %"
			PRIu64 " failed with an I/O error from the storage; check the "
			"kernel log (dmesg) for disk or filesystem errors", fname(h),
			what, len, off);
	case EROFS:
		return mortar_set_error(res, "%s: %s failed: the filesystem is now "
			"read-only (remounted after an error?); check dmesg", fname(h),
			what);
	case EINVAL:
		if (h->direct)
			return mortar_set_error(res, "%s: the kernel refused a direct "
				"I/O %s at offset %" PRIu64 " (alignment %u); open the "
				"image without direct I/O", fname(h), what, off, h->align);
		break;
	}
	return mortar_set_error(res, "%s: %s of %" PRIu64 " bytes at offset %" PRIu64
		" failed: %s", fname(h), what, len, off, strerror(-res));
}

/* ---- range lock (O_DIRECT read-modify-write) ---- */

static void file_start(struct file_img *h, struct mortar_req *req);

/* The range is ours, on this loop. */
static void file_granted(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;

	(void)res;
	file_start(req_handle(req), req);
}

/* Start REQ, which modifies the image, once no overlapping request of any
 * handle of the file could undo it: with O_DIRECT it waits for the range,
 * exclusive when it is a read-modify-write. */
static void file_modify(struct file_img *h, struct mortar_req *req, bool rmw)
{
	struct file_range *r = &fr(req)->range;

	if (!h->lock) {
		file_start(h, req);
		return;
	}
	r->lo = req->offset / h->align * h->align;
	r->hi = (req->offset + req->length + h->align - 1) / h->align * h->align;
	r->excl = rmw;
	r->loop = h->loop;
	r->op = &req->op;
	req->op.fn = file_granted;
	if (file_lock_take(h->lock, r))
		file_start(h, req);
}

static void file_finish(struct mortar_req *req, int res)
{
	struct file_img *h = req_handle(req);

	free(fr(req)->bounce);
	fr(req)->bounce = NULL;
	free(fr(req)->tmp_iov);
	fr(req)->tmp_iov = NULL;
	if (h->lock)
		file_lock_release(h->lock, &fr(req)->range);
	mortar_req_complete(req, res);
}

/* ---- reads and writes, with bounce buffers and short I/O ---- */

/* Alignments are powers of two (the kernel's are): masks, not divisions. */
static bool iov_aligned(const struct iovec *iov, int n, uint32_t mem, uint32_t len)
{
	for (int i = 0; i < n; i++) {
		if (((uintptr_t)iov[i].iov_base & (mem - 1)) || (iov[i].iov_len & (len - 1)))
			return false;
	}
	return true;
}

static void iov_copy_out(const struct iovec *iov, int n, const char *src, uint64_t len)
{
	for (int i = 0; i < n && len; i++) {
		size_t c = iov[i].iov_len < len ? iov[i].iov_len : len;
		memcpy(iov[i].iov_base, src, c);
		src += c;
		len -= c;
	}
}

static void iov_copy_in(char *dst, const struct iovec *iov, int n, uint64_t len)
{
	for (int i = 0; i < n && len; i++) {
		size_t c = iov[i].iov_len < len ? iov[i].iov_len : len;
		memcpy(dst, iov[i].iov_base, c);
		dst += c;
		len -= c;
	}
}

static void iov_zero_from(const struct iovec *iov, int n, uint64_t skip)
{
	for (int i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		memset((char *)iov[i].iov_base + skip, 0, iov[i].iov_len - skip);
		skip = 0;
	}
}

/* Build in be.tmp_iov the part of be.iov that starts SKIP bytes in. */
static int iov_remainder(struct mortar_req *req, uint64_t skip)
{
	int i = 0, n;

	while (i < fr(req)->iovcnt && skip >= fr(req)->iov[i].iov_len)
		skip -= fr(req)->iov[i++].iov_len;
	n = fr(req)->iovcnt - i;
	if (!fr(req)->tmp_iov) {
		fr(req)->tmp_iov = malloc((size_t)fr(req)->iovcnt * sizeof(struct iovec));
		if (!fr(req)->tmp_iov)
			return -ENOMEM;
	}
	/* Source and destination may be the same array after one short I/O. */
	memmove(fr(req)->tmp_iov, fr(req)->iov + i, (size_t)n * sizeof(struct iovec));
	fr(req)->tmp_iov[0].iov_base = (char *)fr(req)->tmp_iov[0].iov_base + skip;
	fr(req)->tmp_iov[0].iov_len -= skip;
	fr(req)->iov = fr(req)->tmp_iov;
	fr(req)->iovcnt = n;
	return 0;
}

static void file_io_done(struct mortar_op *op, int res);

/* Submit the current I/O step: either the caller's iovec or the bounce
 * buffer, from be.done onwards. */
static void file_io_submit(struct file_img *h, struct mortar_req *req)
{
	struct io_uring_sqe *sqe;
	bool write = fr(req)->step == STEP_IO ? req->type == MORTAR_REQ_WRITE ||
		     req->type == MORTAR_REQ_ZERO : fr(req)->step == STEP_BOUNCE_WRITE;

	req->op.fn = file_io_done;
	sqe = mortar_loop_sqe(h->loop, &req->op);
	if (fr(req)->step == STEP_IO && h->direct &&
	    mortar_loop_prep_fixed(h->loop, sqe, write, h->fd, fr(req)->iov, fr(req)->iovcnt,
				   fr(req)->off + fr(req)->done)) {
		/* Registered memory (a guest's, for vhost-user): pinned once,
		 * not for each request. */
	} else if (fr(req)->step == STEP_IO && fr(req)->iovcnt == 1) {
		/* One buffer: the plain ops spare the kernel an iovec import. */
		if (write)
			io_uring_prep_write(sqe, h->fd, fr(req)->iov[0].iov_base,
					    (unsigned)fr(req)->iov[0].iov_len,
					    fr(req)->off + fr(req)->done);
		else
			io_uring_prep_read(sqe, h->fd, fr(req)->iov[0].iov_base,
					   (unsigned)fr(req)->iov[0].iov_len,
					   fr(req)->off + fr(req)->done);
	} else if (fr(req)->step == STEP_IO) {
		if (write)
			io_uring_prep_writev(sqe, h->fd, fr(req)->iov, (unsigned)fr(req)->iovcnt,
					     fr(req)->off + fr(req)->done);
		else
			io_uring_prep_readv(sqe, h->fd, fr(req)->iov, (unsigned)fr(req)->iovcnt,
					    fr(req)->off + fr(req)->done);
	} else {
		char *buf = (char *)fr(req)->bounce + fr(req)->done;
		unsigned len = (unsigned)(fr(req)->b_len - fr(req)->done);

		if (write)
			io_uring_prep_write(sqe, h->fd, buf, len, fr(req)->b_lo + fr(req)->done);
		else
			io_uring_prep_read(sqe, h->fd, buf, len, fr(req)->b_lo + fr(req)->done);
	}
	if (write && (req->flags & MORTAR_REQ_FUA))
		sqe->rw_flags = RWF_DSYNC;
}

/* Start an I/O of LEN bytes at OFF from/to IOV; THEN runs when all of it
 * is done or it failed. */
static void file_io_start(struct file_img *h, struct mortar_req *req,
			  uint64_t off, uint64_t len, struct iovec *iov, int iovcnt,
			  bool write, void (*then)(struct mortar_req *, int))
{
	fr(req)->off = off;
	fr(req)->len = len;
	fr(req)->iov = iov;
	fr(req)->iovcnt = iovcnt;
	fr(req)->done = 0;
	fr(req)->then = then;

	if (!h->direct || (((off | len) & (h->align - 1)) == 0 &&
			   iov_aligned(iov, iovcnt, h->mem_align, h->align))) {
		fr(req)->step = STEP_IO;
		file_io_submit(h, req);
		return;
	}
	fr(req)->b_lo = off / h->align * h->align;
	fr(req)->b_len = (off + len + h->align - 1) / h->align * h->align - fr(req)->b_lo;
	free(fr(req)->bounce);
	fr(req)->bounce = aligned_alloc(h->mem_align > h->align ? h->mem_align : h->align,
				       fr(req)->b_len);
	if (!fr(req)->bounce) {
		then(req, mortar_set_error(ENOMEM, "%s: out of memory for a %" PRIu64
			"-byte bounce buffer", fname(h), fr(req)->b_len));
		return;
	}
	if (!write) {
		fr(req)->step = STEP_BOUNCE_READ;
	} else if (fr(req)->b_lo == off && fr(req)->b_len == len) {
		iov_copy_in(fr(req)->bounce, iov, iovcnt, len);
		fr(req)->step = STEP_BOUNCE_WRITE;
	} else {
		fr(req)->step = STEP_RMW_READ;
	}
	file_io_submit(h, req);
}

static void file_io_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct file_img *h = req_handle(req);
	uint64_t total = fr(req)->step == STEP_IO ? fr(req)->len : fr(req)->b_len;
	bool write = fr(req)->step == STEP_IO ? req->type != MORTAR_REQ_READ :
		     fr(req)->step == STEP_BOUNCE_WRITE;

	if (res < 0) {
		fr(req)->then(req, file_io_error(h, write ? "write" : "read",
						fr(req)->off, fr(req)->len, res));
		return;
	}
	if (res == 0 && fr(req)->done < total) {
		if (write) {
			fr(req)->then(req, file_io_error(h, "write", fr(req)->off,
							fr(req)->len, -ENOSPC));
			return;
		}
		/* End of file before the image's end (the file was truncated
		 * behind our back, or an unaligned tail): reads as zeroes. */
		if (fr(req)->step == STEP_IO)
			iov_zero_from(fr(req)->iov, fr(req)->iovcnt, 0);
		else
			memset((char *)fr(req)->bounce + fr(req)->done, 0,
			       total - fr(req)->done);
		res = (int)(total - fr(req)->done);
	}
	fr(req)->done += (uint64_t)res;
	if (fr(req)->done < total) {
		/* Short transfer: go on with the rest. */
		if (fr(req)->step == STEP_IO && iov_remainder(req, (uint64_t)res) < 0) {
			fr(req)->then(req, mortar_set_error(ENOMEM, "%s: out of memory",
							   fname(h)));
			return;
		}
		file_io_submit(h, req);
		return;
	}
	switch (fr(req)->step) {
	case STEP_BOUNCE_READ:
		iov_copy_out(fr(req)->iov, fr(req)->iovcnt,
			     (char *)fr(req)->bounce + (fr(req)->off - fr(req)->b_lo),
			     fr(req)->len);
		break;
	case STEP_RMW_READ:
		iov_copy_in((char *)fr(req)->bounce + (fr(req)->off - fr(req)->b_lo),
			    fr(req)->iov, fr(req)->iovcnt, fr(req)->len);
		fr(req)->step = STEP_BOUNCE_WRITE;
		fr(req)->done = 0;
		file_io_submit(h, req);
		return;
	}
	fr(req)->then(req, 0);
}

static void file_rw_then(struct mortar_req *req, int res)
{
	file_finish(req, res);
}

static void file_preadv(void *handle, struct mortar_req *req)
{
	struct file_img *h = handle;

	file_io_start(h, req, req->offset, req->length, req->iov, req->iovcnt,
		      false, file_rw_then);
}

static void file_pwritev(void *handle, struct mortar_req *req)
{
	struct file_img *h = handle;

	file_modify(h, req, (req->offset | req->length) & (h->align - 1));
}

/* ---- flush ---- */

static void file_flush_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;

	if (res < 0)
		res = mortar_set_error(res, "%s: flush (fdatasync) failed: %s; data "
			"written since the last successful flush may be lost, check "
			"dmesg", fname(req_handle(req)), strerror(-res));
	file_finish(req, res);
}

static void file_flush(void *handle, struct mortar_req *req)
{
	struct file_img *h = handle;
	struct io_uring_sqe *sqe;

	req->op.fn = file_flush_done;
	sqe = mortar_loop_sqe(h->loop, &req->op);
	io_uring_prep_fsync(sqe, h->fd, IORING_FSYNC_DATASYNC);
}

/* After a trim or zero with FUA: make it durable before completing. */
static void file_fua_then(struct file_img *h, struct mortar_req *req)
{
	if (req->flags & MORTAR_REQ_FUA) {
		req->flags &= ~MORTAR_REQ_FUA;
		file_flush(h, req);
		return;
	}
	file_finish(req, 0);
}

/* ---- trim ---- */

static void file_trim_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct file_img *h = req_handle(req);

	if (res == -EOPNOTSUPP || res == -ENOTTY) {
		/* Trim is advisory: remember and stop trying. */
		h->trim_failed = true;
		res = 0;
	}
	if (res < 0) {
		file_finish(req, file_io_error(h, "trim", req->offset, req->length, res));
		return;
	}
	file_fua_then(h, req);
}

static void file_trim_run(struct file_img *h, struct mortar_req *req)
{
	struct io_uring_sqe *sqe;

	req->op.fn = file_trim_done;
	if (h->trim_failed) {
		mortar_loop_defer(h->loop, &req->op, 0);
	} else if (h->is_block) {
		uint64_t range[2] = { req->offset, req->length };
		int r = ioctl(h->fd, BLKDISCARD, range) < 0 ? -errno : 0;
		mortar_loop_defer(h->loop, &req->op, r);
	} else {
		sqe = mortar_loop_sqe(h->loop, &req->op);
		io_uring_prep_fallocate(sqe, h->fd,
			FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)req->offset, (off_t)req->length);
	}
}

static void file_trim(void *handle, struct mortar_req *req)
{
	file_modify(handle, req, false);
}

/* ---- zero: the cascade ---- */

static int zbit(unsigned m)
{
	return __builtin_ctz(m);
}

static void file_zero_next(struct file_img *h, struct mortar_req *req);

static void file_zero_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct file_img *h = req_handle(req);
	unsigned m = (unsigned)fr(req)->step;

	if (res == -EOPNOTSUPP || res == -ENOTTY ||
	    (res == -EINVAL && m != FILE_ZERO_WRITE)) {
		/* Not supported here: never try this method again on this
		 * image, go on with the next one. */
		h->zero_failed |= m;
		file_zero_next(h, req);
		return;
	}
	if (res < 0) {
		file_finish(req, file_io_error(h, "zero", req->offset, req->length, res));
		return;
	}
	h->zstats.used[zbit(m)]++;
	file_fua_then(h, req);
}

static void file_zero_write_then(struct mortar_req *req, int res);

/* Write zeroes in chunks of the shared zero buffer; be.progress counts
 * the bytes done. */
static void file_zero_write_chunk(struct file_img *h, struct mortar_req *req)
{
	uint64_t left = req->length - fr(req)->progress;
	uint64_t n = left < FILE_ZERO_BUF ? left : FILE_ZERO_BUF;

	req->iov_inline[0].iov_base = h->zero_buf;
	req->iov_inline[0].iov_len = n;
	file_io_start(h, req, req->offset + fr(req)->progress, n, req->iov_inline, 1,
		      true, file_zero_write_then);
}

static void file_zero_write_then(struct mortar_req *req, int res)
{
	struct file_img *h = req_handle(req);

	if (res < 0) {
		file_finish(req, res);
		return;
	}
	fr(req)->progress += fr(req)->len;
	if (fr(req)->progress < req->length) {
		file_zero_write_chunk(h, req);
		return;
	}
	h->zstats.used[zbit(FILE_ZERO_WRITE)]++;
	file_fua_then(h, req);
}

static void file_zero_next(struct file_img *h, struct mortar_req *req)
{
	unsigned skip = h->zero_failed;
	struct io_uring_sqe *sqe;
	unsigned m;

	if ((req->flags & MORTAR_REQ_MAY_TRIM) && !(skip & FILE_ZERO_PUNCH) &&
	    fr(req)->step < (int)FILE_ZERO_PUNCH)
		m = FILE_ZERO_PUNCH;
	else if (!(skip & FILE_ZERO_RANGE) && fr(req)->step < (int)FILE_ZERO_RANGE)
		m = FILE_ZERO_RANGE;
	else if (h->is_block && !(req->flags & MORTAR_REQ_FAST) &&
		 !(skip & FILE_ZERO_BLKZEROOUT) && fr(req)->step < (int)FILE_ZERO_BLKZEROOUT)
		/* The device may write every zero itself: not fast. */
		m = FILE_ZERO_BLKZEROOUT;
	else
		m = FILE_ZERO_WRITE;

	if (m == FILE_ZERO_WRITE && (req->flags & MORTAR_REQ_FAST)) {
		file_finish(req, mortar_set_error(ENOTSUP, "%s: no fast way to zero "
			"here (the storage supports neither punching holes nor "
			"zero ranges), and the caller asked not to write zeroes",
			fname(h)));
		return;
	}
	fr(req)->step = (int)m;
	h->zstats.tried[zbit(m)]++;
	req->op.fn = file_zero_done;
	if (m != FILE_ZERO_WRITE && (h->zero_disabled & m)) {
		/* A test made this method unsupported: fail as the storage would. */
		mortar_loop_defer(h->loop, &req->op, -EOPNOTSUPP);
		return;
	}
	switch (m) {
	case FILE_ZERO_PUNCH:
	case FILE_ZERO_RANGE:
		sqe = mortar_loop_sqe(h->loop, &req->op);
		io_uring_prep_fallocate(sqe, h->fd, m == FILE_ZERO_PUNCH ?
			FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
			FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			(off_t)req->offset, (off_t)req->length);
		break;
	case FILE_ZERO_BLKZEROOUT: {
		uint64_t range[2] = { req->offset, req->length };
		int r = ioctl(h->fd, BLKZEROOUT, range) < 0 ? -errno : 0;
		mortar_loop_defer(h->loop, &req->op, r);
		break;
	}
	default:
		if (!h->zero_buf) {
			h->zero_buf = aligned_alloc(h->mem_align > 4096 ? h->mem_align : 4096,
						    FILE_ZERO_BUF);
			if (!h->zero_buf) {
				file_finish(req, mortar_set_error(ENOMEM, "%s: out of memory",
								  fname(h)));
				return;
			}
			memset(h->zero_buf, 0, FILE_ZERO_BUF);
		}
		fr(req)->progress = 0;
		file_zero_write_chunk(h, req);
		break;
	}
}

static void file_zero_run(struct file_img *h, struct mortar_req *req)
{
	fr(req)->step = 0;
	file_zero_next(h, req);
}

static void file_zero(void *handle, struct mortar_req *req)
{
	struct file_img *h = handle;

	file_modify(h, req, (req->offset | req->length) & (h->align - 1));
}

/* Start a modifying request once it holds its range (file_modify). */
static void file_start(struct file_img *h, struct mortar_req *req)
{
	switch (req->type) {
	case MORTAR_REQ_WRITE:
		file_io_start(h, req, req->offset, req->length, req->iov, req->iovcnt,
			      true, file_rw_then);
		break;
	case MORTAR_REQ_TRIM:
		file_trim_run(h, req);
		break;
	case MORTAR_REQ_ZERO:
		file_zero_run(h, req);
		break;
	default:
		abort();
	}
}

/* ---- extents ---- */

static void file_extents_done(struct mortar_op *op, int res)
{
	file_finish((struct mortar_req *)op, res);
}

static void file_extents(void *handle, struct mortar_req *req)
{
	struct file_img *h = handle;
	uint64_t pos = req->offset, end = req->offset + req->length;
	size_t cap = 0;
	int r = 0;

	if (end > h->size)
		end = h->size;
	while (pos < end && req->nextents < FILE_MAX_EXTENTS) {
		off_t data, hole;
		uint64_t stop;

		if (h->is_block) {
			r = mortar_req_add_extent(req, &cap, pos, end - pos, 0);
			break;
		}
		data = lseek(h->fd, (off_t)pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO) {
			/* No data from here on: a hole to the end. */
			r = mortar_req_add_extent(req, &cap, pos, end - pos,
				    MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO);
			break;
		}
		if (data < 0 || (uint64_t)data < pos) {
			/* No SEEK_DATA here (or nonsense): say "data". */
			r = mortar_req_add_extent(req, &cap, pos, end - pos, 0);
			break;
		}
		if ((uint64_t)data > pos) {
			stop = (uint64_t)data < end ? (uint64_t)data : end;
			r = mortar_req_add_extent(req, &cap, pos, stop - pos,
				    MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO);
			pos = stop;
			if (r < 0 || (req->flags & MORTAR_REQ_ONE))
				break;
			continue;
		}
		hole = lseek(h->fd, (off_t)pos, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole <= pos)
			hole = (off_t)end;
		stop = (uint64_t)hole < end ? (uint64_t)hole : end;
		r = mortar_req_add_extent(req, &cap, pos, stop - pos, 0);
		pos = stop;
		if (r < 0 || (req->flags & MORTAR_REQ_ONE))
			break;
	}
	if (r == 0 && req->nextents == 0)
		/* Past the file's end (the image was resized): zeroes. */
		r = mortar_req_add_extent(req, &cap, req->offset, req->length,
			    MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO);
	if (r < 0)
		r = mortar_set_error(ENOMEM, "%s: out of memory listing extents", fname(h));
	req->op.fn = file_extents_done;
	mortar_loop_defer(h->loop, &req->op, r);
}

/* ---- resize ---- */

static void file_resize_done(struct mortar_op *op, int res)
{
	file_finish((struct mortar_req *)op, res);
}

static void file_resize(void *handle, struct mortar_req *req)
{
	struct file_img *h = handle;
	uint64_t size = req->offset;
	int r = 0;

	if (h->direct && size % h->align)
		r = mortar_set_error(EINVAL, "%s: with direct I/O the size must be "
			"a multiple of %u bytes; round the size up or reopen without "
			"direct I/O", fname(h), h->align);
	else if (size > INT64_MAX)
		r = mortar_set_error(EFBIG, "%s: %" PRIu64 " bytes is too large",
				     fname(h), size);
	else if (ftruncate(h->fd, (off_t)size) < 0)
		r = errno == EFBIG ?
			mortar_set_error(EFBIG, "%s: the filesystem cannot hold a file "
				"of %" PRIu64 " bytes", fname(h), size) :
			file_io_error(h, "resize", size, 0, -errno);
	else
		h->size = size;
	req->op.fn = file_resize_done;
	mortar_loop_defer(h->loop, &req->op, r);
}

/* ---- open, close, create ---- */

static int file_sysfs_flag(dev_t dev, const char *attr)
{
	char path[128], buf[32];
	FILE *f;
	int v = -1;

	/* A partition's queue/ is its disk's: try the device, then its parent. */
	for (int up = 0; up < 2 && v < 0; up++) {
		snprintf(path, sizeof path, "/sys/dev/block/%u:%u/%s%s", major(dev),
			 minor(dev), up ? "../" : "", attr);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof buf, f))
			v = atoi(buf);
		fclose(f);
	}
	return v;
}

static int file_open_error(const char *path, int err, unsigned flags)
{
	switch (err) {
	case ENOENT:
		return mortar_set_error(err, "%s does not exist; create it with "
			"'mortar img create %s SIZE' or check the path", path, path);
	case EACCES:
	case EPERM:
		/* Facts and the fix that always applies; commands that can
		 * open read-only add that hint themselves. */
		return mortar_set_error(err, "permission denied opening %s for %s; "
			"check the owner and mode of the file and its folders", path,
			(flags & MORTAR_OPEN_RDONLY) ? "reading" : "writing");
	case EROFS:
		return mortar_set_error(err, "%s is on a read-only filesystem; "
			"remount it read-write to change it", path);
	case EISDIR:
		return mortar_set_error(err, "%s is a directory, not an image", path);
	case EINVAL:
		if (flags & MORTAR_OPEN_DIRECT)
			return mortar_set_error(err, "the filesystem holding %s does not "
				"support direct I/O (tmpfs, for one); open it without "
				"direct I/O", path);
		break;
	case EBUSY:
		return mortar_set_error(err, "%s is busy (mounted, or held "
			"exclusively by another program)", path);
	}
	return mortar_set_error(err, "cannot open %s: %s", path, strerror(err));
}

static void file_probe_align(struct file_img *h, const char *path)
{
	struct statx stx;
	int lbs;

	h->align = h->mem_align = 1;
	if (!h->direct)
		return;
	h->align = h->mem_align = FILE_DEFAULT_ALIGN;
	if (h->is_block && ioctl(h->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
		h->align = (uint32_t)lbs;
		h->mem_align = (uint32_t)lbs;
		return;
	}
	if (statx(h->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		h->align = stx.stx_dio_offset_align;
		h->mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : 1;
	}
	/* The fast paths use masks: anything else falls back to a page. */
	if (h->align & (h->align - 1))
		h->align = FILE_DEFAULT_ALIGN;
	if (h->mem_align & (h->mem_align - 1))
		h->mem_align = FILE_DEFAULT_ALIGN;
	(void)path;
}

static int file_open(const struct mortar_location *loc,
		     const struct mortar_backend_args *args, void **handle)
{
	unsigned flags = args->flags;
	struct file_img *h;
	const char *path = loc->path;
	struct stat st;
	int oflags = O_CLOEXEC, r, rot;

	oflags |= (flags & MORTAR_OPEN_RDONLY) ? O_RDONLY : O_RDWR;
	if (flags & MORTAR_OPEN_DIRECT)
		oflags |= O_DIRECT;
	h = calloc(1, sizeof *h);
	if (!h)
		return mortar_set_error(ENOMEM, "out of memory opening %s", path);
	h->name = args->name;
	h->loop = args->loop;
	h->rdonly = flags & MORTAR_OPEN_RDONLY;
	h->direct = flags & MORTAR_OPEN_DIRECT;
	h->fd = open(path, oflags);
	if (h->fd < 0) {
		r = file_open_error(path, errno, flags);
		free(h);
		return r;
	}
	if (fstat(h->fd, &st) < 0) {
		r = mortar_set_error(errno, "cannot stat %s: %m", path);
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		h->is_block = true;
		if (ioctl(h->fd, BLKGETSIZE64, &h->size) < 0) {
			r = mortar_set_error(errno, "cannot read the size of block "
					     "device %s: %m", path);
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		h->size = (uint64_t)st.st_size;
	} else if (S_ISDIR(st.st_mode)) {
		r = mortar_set_error(EISDIR, "%s is a directory, not an image", path);
		goto fail;
	} else {
		r = mortar_set_error(EINVAL, "%s is neither a regular file nor a "
				     "block device", path);
		goto fail;
	}
	file_probe_align(h, path);
	if (h->direct && h->size % h->align) {
		r = mortar_set_error(EINVAL, "%s: its size (%" PRIu64 ") is not a "
			"multiple of the direct I/O alignment (%u); open it without "
			"direct I/O or resize it", path, h->size, h->align);
		goto fail;
	}
	if (h->direct && !h->rdonly && (r = file_lock_get(&st, &h->lock)) < 0)
		goto fail;

	h->caps = MORTAR_CAP_MULTI_CONN | MORTAR_CAP_EXTENTS;
	if (h->rdonly)
		h->caps |= MORTAR_CAP_READ_ONLY;
	else
		h->caps |= MORTAR_CAP_FLUSH | MORTAR_CAP_FUA | MORTAR_CAP_TRIM |
			   MORTAR_CAP_ZERO | MORTAR_CAP_FAST_ZERO |
			   (h->is_block ? 0 : MORTAR_CAP_RESIZE);
	rot = file_sysfs_flag(h->is_block ? st.st_rdev : st.st_dev, "queue/rotational");
	if (rot > 0)
		h->caps |= MORTAR_CAP_ROTATIONAL;
	if (h->is_block && !h->rdonly &&
	    file_sysfs_flag(st.st_rdev, "queue/discard_max_bytes") == 0)
		h->trim_failed = true;
	*handle = h;
	return 0;
fail:
	close(h->fd);
	free(h);
	return r;
}

static int file_close(void *handle)
{
	struct file_img *h = handle;
	int r = 0;

	if (close(h->fd) < 0 && errno != EINTR)
		r = mortar_set_error(errno, "closing %s failed: %m", fname(h));
	file_lock_put(h->lock);
	free(h->zero_buf);
	free(h);
	return r;
}

static const char *file_kind(void *handle)
{
	return ((struct file_img *)handle)->is_block ? "block" : "file";
}

static uint64_t file_size(void *handle)
{
	return ((struct file_img *)handle)->size;
}

static uint32_t file_caps(void *handle)
{
	return ((struct file_img *)handle)->caps;
}

static void file_block_size(void *handle, uint32_t *min, uint32_t *pref, uint32_t *max)
{
	struct file_img *h = handle;

	*min = h->align;
	*pref = h->align > 4096 ? h->align : 4096;
	*max = FILE_MAX_REQUEST;
}

static int file_allocated(void *handle, uint64_t *bytes)
{
	struct file_img *h = handle;
	struct stat st;

	if (h->is_block) {
		*bytes = h->size;
		return 0;
	}
	if (fstat(h->fd, &st) < 0)
		return mortar_set_error(errno, "cannot stat %s: %m", fname(h));
	*bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int file_fill_zeroes(int fd, uint64_t size, const char *path)
{
	char *buf = calloc(1, FILE_ZERO_BUF);
	uint64_t pos = 0;

	if (!buf)
		return mortar_set_error(ENOMEM, "out of memory");
	while (pos < size) {
		size_t n = size - pos < FILE_ZERO_BUF ? size - pos : FILE_ZERO_BUF;
		ssize_t w = pwrite(fd, buf, n, (off_t)pos);
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;
			free(buf);
			return mortar_set_error(e, "preallocating %s failed after %" PRIu64
				" bytes: %s", path, pos, strerror(e));
		}
		pos += (uint64_t)w;
	}
	free(buf);
	return 0;
}

static int file_create(const struct mortar_location *loc, uint64_t size,
		       enum mortar_prealloc prealloc, unsigned flags)
{
	const char *path = loc->path;
	struct stat st;
	int fd, r = 0;

	if (stat(path, &st) == 0) {
		if (S_ISBLK(st.st_mode))
			return mortar_set_error(EEXIST, "%s is a block device: it exists "
				"already and has a fixed size; use it directly", path);
		if (!S_ISREG(st.st_mode))
			return mortar_set_error(EEXIST, "%s exists and is not a regular "
				"file", path);
		if (!(flags & MORTAR_CREATE_FORCE))
			return mortar_set_error(EEXIST, "%s already exists; pass --force "
				"to replace it (its data will be lost)", path);
	}
	if (size > INT64_MAX)
		return mortar_set_error(EFBIG, "%" PRIu64 " bytes is too large for a "
			"file", size);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
		  ((flags & MORTAR_CREATE_FORCE) ? O_TRUNC : O_EXCL), 0644);
	if (fd < 0) {
		if (errno == ENOENT)
			return mortar_set_error(ENOENT, "cannot create %s: its folder "
				"does not exist", path);
		return file_open_error(path, errno, 0);
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		r = errno == EFBIG ?
			mortar_set_error(EFBIG, "the filesystem holding %s cannot hold "
				"a file of %" PRIu64 " bytes", path, size) :
			mortar_set_error(errno, "cannot size %s: %m", path);
	} else if (prealloc == MORTAR_PREALLOC_FALLOC && size &&
		   fallocate(fd, 0, 0, (off_t)size) < 0) {
		r = errno == EOPNOTSUPP ?
			mortar_set_error(EOPNOTSUPP, "the filesystem holding %s cannot "
				"preallocate; use --preallocation=full (writes zeroes)", path) :
			errno == ENOSPC ?
			mortar_set_error(ENOSPC, "not enough free space to preallocate "
				"%" PRIu64 " bytes for %s", size, path) :
			mortar_set_error(errno, "preallocating %s failed: %m", path);
	} else if (prealloc == MORTAR_PREALLOC_FULL) {
		r = file_fill_zeroes(fd, size, path);
	}
	if (r == 0 && fsync(fd) < 0)
		r = mortar_set_error(errno, "cannot sync %s: %m", path);
	close(fd);
	if (r < 0)
		unlink(path);
	return r;
}

/* ---- test hooks (backend-file.h) ---- */

void mortar_file_debug_disable_handle(void *handle, unsigned methods)
{
	struct file_img *h = handle;

	h->zero_disabled = methods;
}

void mortar_file_zero_stats_handle(void *handle, struct file_zero_stats *st)
{
	struct file_img *h = handle;

	*st = h->zstats;
	st->failed = h->zero_failed;
}

unsigned mortar_file_alignment_handle(void *handle)
{
	return ((struct file_img *)handle)->align;
}

static int file_remove(const struct mortar_location *loc)
{
	struct stat st;

	if (lstat(loc->path, &st) < 0)
		return mortar_set_error(errno, "%s: %m", loc->path);
	if (!S_ISREG(st.st_mode))
		return mortar_set_error(EINVAL, "%s: not a regular file; not removed",
					loc->path);
	if (unlink(loc->path) < 0)
		return mortar_set_error(errno, "%s: cannot remove: %m", loc->path);
	return 0;
}

const struct mortar_backend mortar_backend_file = {
	.name = "file",
	.scheme = MORTAR_SCHEME_FILE,
	.req_size = sizeof(struct file_req),
	.create = file_create,
	.remove = file_remove,
	.open = file_open,
	.close = file_close,
	.kind = file_kind,
	.size = file_size,
	.caps = file_caps,
	.block_size = file_block_size,
	.allocated = file_allocated,
	.preadv = file_preadv,
	.pwritev = file_pwritev,
	.flush = file_flush,
	.trim = file_trim,
	.zero = file_zero,
	.extents = file_extents,
	.resize = file_resize,
	.copy = mortar_file_copy,
	.copy_over = mortar_file_copy_over,
	.probe = mortar_file_probe,
	.ns_open = mortar_file_ns_open,
};
