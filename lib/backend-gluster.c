/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend, on libgfapi.
 *
 * Connections are shared per volume (backend-gluster-conn.c).
 *
 * I/O: the *_async calls complete on GlusterFS's own threads; completions
 * are posted to the image's loop (eventfd), so callers see them on their
 * thread as with every backend.
 *
 * Flush safety: write-behind's resync-failed-syncs-after-fsync is set, as
 * QEMU does, so writes it acknowledged and could not deliver are kept and
 * sent again at the next fsync; a failed write or fsync raises the
 * image's fence, and later writes first need an fsync that succeeds
 * (gl_recover): nothing is lost silently, and service comes back by itself
 * when the bricks do.  The fence is the image's in the process, shared by
 * every handle of it (backend-gluster-fence.c).
 *
 * Outages: a request that fails because no brick holding its data
 * answers, or its replica set lost quorum, is sent again every second for
 * up to mortar_set_retry_timeout() (gl_retry) before it fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glusterfs/api/glfs.h>
#include <liburing.h>

#include "backend-gluster.h"
#include "dirty.h"
#include "error.h"

#define GL_MAX_CHUNK (512u << 20)	/* larger transfers failed on some versions */
#define GL_MAX_REQUEST (32u << 20)
#define GL_RETRY_EVERY_NS 1000000000ull	/* between tries while bricks are out */

/* ---- images ---- */

struct gl_img {
	const char *name;		/* the image's, for messages */
	struct mortar_loop *loop;
	struct gl_conn *conn;
	glfs_fd_t *fd;
	char *path;
	uint64_t size;
	uint32_t caps;
	struct gl_fence *fence;	/* up after a failed write or fsync: gl_recover */
	bool seek_unsupported;	/* sharded volumes: see shards */
	bool shards_tried;
	struct gl_shards *shards;	/* NULL: everything is data */
	pthread_mutex_t shards_mu;	/* for the two above */
	/* The helper thread's own descriptor for SEEK_DATA/SEEK_HOLE: gfapi
	 * answers a seek with the descriptor's offset, which every read or
	 * write completing on it moves meanwhile. */
	glfs_fd_t *seek_fd;
	glfs_t *seek_fs;		/* the client it belongs to */
	struct dirty_map dirty;	/* written since the last flush */
	/* Moving to the connection's newer client (gl_move). */
	glfs_t *fs;		/* the client fd belongs to */
	unsigned gen;		/* the connection's generation of that client */
	int oflags;
	unsigned busy;		/* requests entered and not finished */
	bool moving;		/* requests wait in held until busy is 0 */
	struct mortar_req *held, **held_tail;
	/* An outage (gl_retry): when its first request failed (0: none),
	 * how many requests waited through it; for the client log's notes. */
	uint64_t outage_since;
	unsigned outage_reqs;
};

/* A request with this backend's state (req_size). */
struct gl_req {
	struct mortar_req req;
	uint64_t done;			/* bytes of a read or write done */
	struct iovec *tmp_iov;		/* the piece in flight */
	uint32_t epoch;			/* of a flush (dirty.c) */
	unsigned fence_seen;		/* failures a recovery fsync covers */
	struct gl_job job;		/* a block status on the helper thread */
	uint32_t flushed;		/* dirty.c's, when that began */
	uint64_t end;			/* where it stops at most */
	char *errmsg;			/* its failure, said on the helper thread */
	void (*resume)(void *handle, struct mortar_req *req);	/* after gl_recover */
	bool synced;			/* a trim's or zero's FUA sync was sent */
	uint64_t retry_until;		/* CLOCK_MONOTONIC ns; 0: never failed */
	struct __kernel_timespec retry_ts;	/* the wait before the next try */
};

static inline struct gl_req *gr(struct mortar_req *req)
{
	return (struct gl_req *)req;
}

static struct gl_img *gl_handle(struct mortar_req *req)
{
	return req->handle;
}

static const char *gname(struct gl_img *h)
{
	return h->name;
}

/* RETRIED: the request was sent again until the retry timeout (gl_retry). */
static int gl_io_error(struct gl_img *h, const char *what, uint64_t off, int res,
		       bool retried)
{
	switch (-res) {
	case ENOSPC:
		return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: the "
			"volume is full; free space on its bricks or add bricks",
			gname(h), what, off);
	case ENOTCONN:
		return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: no "
			"brick holding this data is reachable, or its replica set lost "
			"quorum (bricks down or volume stopped)%s; check 'gluster volume "
			"status' (log: %s)", gname(h), what, off,
			retried ? ", and still so when the retry timeout passed" : "",
			h->conn->logfile ? h->conn->logfile : "none");
	case EROFS:
		return mortar_set_error(res, "%s: %s failed: the volume refused writes "
			"(quorum lost, or read-only volume); check 'gluster volume "
			"status' and its quorum options", gname(h), what);
	case EIO:
		return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: "
			"input/output error; on a replicated volume, copies of the image "
			"in split-brain fail so ('mortar doctor %s' looks) (log: %s)",
			gname(h), what, off, gname(h),
			h->conn->logfile ? h->conn->logfile : "none");
	case EACCES:
	case EPERM:
		return mortar_set_error(res, "%s: %s failed: permission denied on the "
			"volume (an open may succeed and only the first I/O fail: "
			"open-behind); check the image's owner and mode", gname(h), what);
	}
	return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: %s "
		"(log: %s)", gname(h), what, off, strerror(-res),
		h->conn->logfile ? h->conn->logfile : "none");
}

static void gl_move(struct gl_img *h);

static uint64_t gl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void gl_finish(struct mortar_req *req, int res)
{
	struct gl_img *h = gl_handle(req);

	if (gr(req)->retry_until && h->outage_since) {
		/* The first request that waited ends the outage's story. */
		gl_note(h->conn, "%s: %s %.1f s after the first failure; %u request(s) "
			"waited", gname(h), res >= 0 ? "the bricks answer again" :
			"a request gave up (retry timeout)",
			(double)(gl_now_ns() - h->outage_since) / 1e9, h->outage_reqs);
		h->outage_since = 0;
		h->outage_reqs = 0;
	}
	free(gr(req)->tmp_iov);
	gr(req)->tmp_iov = NULL;
	if (--h->busy == 0 && h->moving)
		gl_move(h);
	mortar_req_complete(req, res);
}

/* Completion from a GlusterFS thread: hand it to the loop thread. */
static void gl_cbk(glfs_fd_t *fd, ssize_t ret, struct glfs_stat *pre,
		   struct glfs_stat *post, void *data)
{
	struct mortar_req *req = data;
	int res = ret < 0 ? -(errno ? errno : EIO) : (int)(ret > INT32_MAX ? INT32_MAX : ret);

	(void)fd; (void)pre; (void)post;
	mortar_loop_post(gl_handle(req)->loop, &req->op, res);
}

static void gl_rw_step(struct gl_img *h, struct mortar_req *req);
static void gl_preadv_do(void *handle, struct mortar_req *req);
static void gl_pwritev_do(void *handle, struct mortar_req *req);
static void gl_flush_do(void *handle, struct mortar_req *req);
static void gl_trim_do(void *handle, struct mortar_req *req);
static void gl_zero_do(void *handle, struct mortar_req *req);

static void gl_retry_fire(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;

	(void)res;	/* -ETIME: the wait is over */
	gr(req)->resume(gl_handle(req), req);
}

/* True when REQ, failed with RES, will be sent again through ENTRY, its
 * own start, a second from now, instead of failing.  That is while no
 * brick holding its data answers or its replica set lacks quorum
 * (ENOTCONN), for up to mortar_set_retry_timeout() from its first
 * failure.  Such outages often end by themselves within seconds: a node
 * back from a reboot; glusterd restarted on every node, which under
 * server quorum stops the bricks until the peers see each other again.
 * A guest's request that waits for that is better off than one that
 * fails and turns its filesystem read-only.  Reads, writes, flushes,
 * trims and zeroes can all be sent again whole: the same bytes land at
 * the same place, and a write's or flush's failure raised the fence
 * first, so the next try begins with the fsync that recovers what
 * write-behind kept (gl_recover). */
static bool gl_retry(struct gl_img *h, struct mortar_req *req, int res,
		     void (*entry)(void *handle, struct mortar_req *req))
{
	uint64_t ms = mortar_retry_timeout_ms(), now, wait;
	struct io_uring_sqe *sqe;

	if (res != -ENOTCONN || ms == 0)
		return false;
	now = gl_now_ns();
	if (!gr(req)->retry_until) {
		gr(req)->retry_until = now + ms * 1000000ull;
		if (!h->outage_since) {
			h->outage_since = now;
			gl_note(h->conn, "%s: a %s failed: no brick holding its data "
				"answers, or its replica set lost quorum; requests are "
				"sent again every second for up to %.1f s", gname(h),
				mortar_req_verb(req->type), (double)ms / 1e3);
		}
		h->outage_reqs++;
	} else if (now >= gr(req)->retry_until) {
		return false;
	}
	wait = gr(req)->retry_until - now;
	if (wait > GL_RETRY_EVERY_NS)
		wait = GL_RETRY_EVERY_NS;
	gr(req)->retry_ts.tv_sec = (long long)(wait / 1000000000ull);
	gr(req)->retry_ts.tv_nsec = (long long)(wait % 1000000000ull);
	gr(req)->resume = entry;
	req->op.fn = gl_retry_fire;
	sqe = mortar_loop_sqe(h->loop, &req->op);
	io_uring_prep_timeout(sqe, &gr(req)->retry_ts, 0, 0);
	return true;
}

static void gl_fua_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res < 0) {
		gl_fence_fail(h->fence);
		if (gl_retry(h, req, res, gl_pwritev_do))
			return;
		res = gl_io_error(h, "write (sync for FUA)", req->offset, res,
				  gr(req)->retry_until);
	}
	gl_finish(req, res);
}

/* After a glfs_*_async call: when gfapi refuses a request, its callback
 * never runs, so the failure is posted to the loop in its place (which
 * also releases the loop hold taken before the call). */
static void gl_submitted(struct gl_img *h, struct mortar_req *req, int ret)
{
	if (ret < 0)
		mortar_loop_post(h->loop, &req->op, -(errno ? errno : EIO));
}

static void gl_rw_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);
	bool write = req->type == MORTAR_REQ_WRITE;

	if (res < 0) {
		/* With write-behind, a write's error may belong to an earlier
		 * write that was already acknowledged: fence the image. */
		if (write)
			gl_fence_fail(h->fence);
		if (gl_retry(h, req, res, write ? gl_pwritev_do : gl_preadv_do))
			return;
		gl_finish(req, gl_io_error(h, write ? "write" : "read",
					   req->offset + gr(req)->done, res, gr(req)->retry_until));
		return;
	}
	if (res == 0 && gr(req)->done < req->length) {
		if (write) {
			gl_finish(req, gl_io_error(h, "write", req->offset + gr(req)->done,
						   -EIO, false));
			return;
		}
		/* End of file before the image's end: zeroes. */
		uint64_t skip = gr(req)->done;
		for (int i = 0; i < req->iovcnt; i++) {
			if (skip >= req->iov[i].iov_len) {
				skip -= req->iov[i].iov_len;
				continue;
			}
			memset((char *)req->iov[i].iov_base + skip, 0, req->iov[i].iov_len - skip);
			skip = 0;
		}
		res = (int)(req->length - gr(req)->done);
	}
	gr(req)->done += (uint64_t)res;
	if (gr(req)->done < req->length) {
		gl_rw_step(h, req);
		return;
	}
	if (write && (req->flags & MORTAR_REQ_FUA)) {
		/* No FUA in gfapi: write, then make it durable. */
		mortar_loop_hold(h->loop);
		req->op.fn = gl_fua_done;
		gl_submitted(h, req, glfs_fdatasync_async(h->fd, gl_cbk, req));
		return;
	}
	gl_finish(req, 0);
}

/* Submit the next piece (from be.done) of a read or write. */
static void gl_rw_step(struct gl_img *h, struct mortar_req *req)
{
	struct iovec *iov;
	uint64_t skip = gr(req)->done, left = req->length - gr(req)->done;
	int i = 0, n, r;

	while (i < req->iovcnt && skip >= req->iov[i].iov_len)
		skip -= req->iov[i++].iov_len;
	/* The rest of the caller's iovec, capped at GL_MAX_CHUNK. */
	free(gr(req)->tmp_iov);
	gr(req)->tmp_iov = iov = malloc((size_t)(req->iovcnt - i) * sizeof *iov);
	if (!iov) {
		gl_finish(req, mortar_set_error(ENOMEM, "%s: out of memory", gname(h)));
		return;
	}
	if (left > GL_MAX_CHUNK)
		left = GL_MAX_CHUNK;
	for (n = 0; i < req->iovcnt && left; i++, n++) {
		size_t len = req->iov[i].iov_len - skip;
		if (len > left)
			len = left;
		iov[n].iov_base = (char *)req->iov[i].iov_base + skip;
		iov[n].iov_len = len;
		left -= len;
		skip = 0;
	}
	req->op.fn = gl_rw_done;
	mortar_loop_hold(h->loop);
	if (req->type == MORTAR_REQ_WRITE)
		r = glfs_pwritev_async(h->fd, iov, n, (off_t)(req->offset + gr(req)->done), 0,
				       gl_cbk, req);
	else
		r = glfs_preadv_async(h->fd, iov, n, (off_t)(req->offset + gr(req)->done), 0,
				      gl_cbk, req);
	gl_submitted(h, req, r);
}

/* After a failed write or flush, write-behind keeps the writes it had
 * acknowledged and could not deliver (resync-failed-syncs-after-fsync),
 * and retries them at the next fsync: an fsync that succeeds means they
 * are on the bricks.  So a write, flush, trim or zero arriving while the
 * image is fenced first asks for one; if it succeeds the image
 * takes writes again (a node that came back brings service back without
 * reopening), if not the request fails and says why. */
static void gl_recovered(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res < 0) {
		if (gl_retry(h, req, res, gr(req)->resume))
			return;
		gl_finish(req, mortar_set_error(EIO, "%s: an earlier write or flush "
			"failed, and the writes kept since still do not reach the bricks "
			"(fsync: %s); writes fail until they do (check 'gluster volume "
			"status') (log: %s)", gname(h), strerror(-res),
			h->conn->logfile ? h->conn->logfile : "none"));
		return;
	}
	gl_fence_clear(h->fence, gr(req)->fence_seen);
	gr(req)->resume(h, req);
}

/* True when REQ waits for gl_recover, which calls RESUME (REQ's own
 * callback) once writes are safe again. */
static bool gl_recover(struct gl_img *h, struct mortar_req *req,
		       void (*resume)(void *handle, struct mortar_req *req))
{
	if (!gl_fence_up(h->fence, &gr(req)->fence_seen))
		return false;
	gr(req)->resume = resume;
	req->op.fn = gl_recovered;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_fsync_async(h->fd, gl_cbk, req));
	return true;
}

static void gl_preadv_do(void *handle, struct mortar_req *req)
{
	gr(req)->done = 0;
	gl_rw_step(handle, req);
}

static void gl_deferred_fail(struct mortar_op *op, int res)
{
	gl_finish((struct mortar_req *)op, res);
}

static void gl_pwritev_do(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;

	if (gl_recover(h, req, gl_pwritev_do))
		return;
	dirty_map_mark(&h->dirty, req->offset, req->length);
	gr(req)->done = 0;
	gl_rw_step(h, req);
}

static void gl_flush_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res < 0) {
		gl_fence_fail(h->fence);
		if (gl_retry(h, req, res, gl_flush_do))
			return;
		res = mortar_set_error(res, "%s: flush (fsync) failed: %s; the "
			"writes since the last good flush are kept and sent again at "
			"the next flush, and writes fail until one succeeds (log: %s)", gname(h),
			strerror(-res), h->conn->logfile ? h->conn->logfile : "none");
	} else {
		dirty_map_flush_done(&h->dirty, gr(req)->epoch);
	}
	gl_finish(req, res);
}

static void gl_flush_do(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;

	if (gl_recover(h, req, gl_flush_do))
		return;
	req->op.fn = gl_flush_done;
	gr(req)->epoch = dirty_map_flush_begin(&h->dirty);
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_fsync_async(h->fd, gl_cbk, req));
}

static void gl_simple_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res < 0) {
		if (req->type == MORTAR_REQ_TRIM && (res == -EOPNOTSUPP || res == -ENOSYS)) {
			/* Trim is advisory. */
			res = 0;
		} else {
			gl_fence_fail(h->fence);	/* as for writes */
			if (gl_retry(h, req, res, req->type == MORTAR_REQ_TRIM ?
				     gl_trim_do : gl_zero_do))
				return;
			gl_finish(req, gl_io_error(h, req->type == MORTAR_REQ_TRIM ?
						   "trim" : "zero", req->offset, res,
						   gr(req)->retry_until));
			return;
		}
	}
	if ((req->flags & MORTAR_REQ_FUA) && !gr(req)->synced) {
		gr(req)->synced = true;
		req->op.fn = gl_simple_done;
		mortar_loop_hold(h->loop);
		gl_submitted(h, req, glfs_fdatasync_async(h->fd, gl_cbk, req));
		return;
	}
	gl_finish(req, 0);
}

static void gl_trim_do(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;

	if (gl_recover(h, req, gl_trim_do))
		return;
	gr(req)->synced = false;
	req->op.fn = gl_simple_done;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_discard_async(h->fd, (off_t)req->offset,
						(size_t)req->length, gl_cbk, req));
}

static void gl_zerofill(struct gl_img *h, struct mortar_req *req)
{
	req->op.fn = gl_simple_done;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_zerofill_async(h->fd, (off_t)req->offset,
						 (off_t)req->length, gl_cbk, req));
}

/* A zero that may deallocate went to discard first.  Bricks punch a hole
 * for it (posix: fallocate PUNCH_HOLE), which reads back as zeroes; a
 * brick whose filesystem cannot punch says so, and then the zeroes are
 * written after all, unless the caller wanted only a fast zero. */
static void gl_zero_discarded(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res != -EOPNOTSUPP && res != -ENOSYS && res != -EINVAL) {
		gl_simple_done(op, res);
	} else if (req->flags & MORTAR_REQ_FAST) {
		gl_finish(req, mortar_set_error(ENOTSUP, "%s: the bricks cannot punch "
						"holes, so a zero is not fast", gname(h)));
	} else {
		gl_zerofill(h, req);
	}
}

static void gl_zero_do(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;

	if ((req->flags & (MORTAR_REQ_FAST | MORTAR_REQ_MAY_TRIM)) == MORTAR_REQ_FAST) {
		/* zerofill may write every zero on the bricks: not fast. */
		req->op.fn = gl_deferred_fail;
		mortar_loop_defer(h->loop, &req->op, mortar_set_error(ENOTSUP, "%s: "
			"GlusterFS cannot promise a fast zero that keeps the range "
			"allocated", gname(h)));
		return;
	}
	if (gl_recover(h, req, gl_zero_do))
		return;
	gr(req)->synced = false;
	if (!(req->flags & MORTAR_REQ_MAY_TRIM)) {
		gl_zerofill(h, req);
		return;
	}
	req->op.fn = gl_zero_discarded;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_discard_async(h->fd, (off_t)req->offset,
						(size_t)req->length, gl_cbk, req));
}

/* What the graph without the shard translator tells of a sharded image
 * (backend-gluster-shard.c): where its data is, its shard size.  Block
 * status asks on the helper thread, a resize on the loop's. */
static void gl_shards_need(struct gl_img *h)
{
	pthread_mutex_lock(&h->shards_mu);
	if (!h->shards_tried) {
		h->shards_tried = true;
		if (gl_shards_open(h->conn, h->path, &h->shards) < 0)
			h->shards = NULL;	/* (then the image is treated as unsharded) */
	}
	pthread_mutex_unlock(&h->shards_mu);
}

/* Where [POS, STOP) has data as the bricks hold it (on the helper
 * thread): they say through SEEK_DATA/SEEK_HOLE, or on a sharded volume
 * through the graph without the shard translator; where neither can,
 * everything is data.  *POS ends where one request's worth stopped. */
static int gl_extents_settled(struct gl_img *h, struct mortar_req *req, size_t *cap,
			      uint64_t *pos, uint64_t stop)
{
	int r;

	if (!h->seek_unsupported) {
		if (h->seek_fs != h->fs) {	/* (first use, or moved: gl_move) */
			if (h->seek_fd)
				glfs_close(h->seek_fd);
			h->seek_fs = h->fs;
			h->seek_fd = glfs_open(h->fs, h->path, O_RDONLY);
		}
		if (!h->seek_fd)
			return mortar_set_error(errno ? errno : EIO, "%s: cannot open the "
				"image for block status: %m", gname(h));
		r = gl_seek_extents(h->seek_fd, 0, stop, req, cap, pos, stop, gname(h));
		if (r != -ENOTSUP)
			return r;
		h->seek_unsupported = true;
	}
	gl_shards_need(h);
	if (h->shards)
		return gl_shards_extents(h->shards, req, cap, pos, stop, gname(h));
	r = mortar_req_add_extent(req, cap, *pos, stop - *pos, 0);
	*pos = stop;
	return r;
}

/* Block status runs on the connection's helper thread (the bricks are
 * asked synchronously, up to GL_MAX_EXTENTS extents), the loop going on
 * meanwhile.  Writes not yet flushed are data whatever the bricks say:
 * dirty.c is the loop thread's, so it is laid over the answer when it
 * comes back, as of the flushes done when the look began (a flush that
 * succeeded meanwhile may have come after the bricks were asked). */
static void gl_extents_job(struct gl_job *job)
{
	struct mortar_req *req = (struct mortar_req *)((char *)job - offsetof(struct gl_req, job));
	struct gl_img *h = gl_handle(req);
	uint64_t pos = req->offset;
	size_t cap = 0;
	int r;

	r = gl_extents_settled(h, req, &cap, &pos, gr(req)->end);
	if (r < 0 && r != -ENOMEM)
		gr(req)->errmsg = strdup(mortar_errmsg());
	mortar_loop_post(h->loop, &req->op, r);
}

/* Each extent the bricks gave, as data where dirty.c says so. */
static int gl_extents_overlay(struct gl_img *h, struct mortar_req *req)
{
	struct mortar_extent *settled = req->extents;
	size_t n = req->nextents, cap = 0;
	int r = 0;

	req->extents = NULL;
	req->nextents = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		uint64_t pos = settled[i].offset, end = pos + settled[i].length, stop;

		for (; pos < end && r == 0; pos = stop) {
			bool dirty = dirty_map_at_since(&h->dirty, gr(req)->flushed, pos,
							end, &stop);
			r = mortar_req_add_extent(req, &cap, pos, stop - pos,
						  dirty ? 0 : settled[i].flags);
		}
	}
	free(settled);
	return r;
}

static void gl_extents_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);
	size_t cap = 0;
	int r = res;

	if (r < 0 && r != -ENOMEM)
		r = gr(req)->errmsg ? mortar_set_error(r, "%s", gr(req)->errmsg) :
		    mortar_set_error(r, "%s: block status failed: %s", gname(h), strerror(-r));
	free(gr(req)->errmsg);
	gr(req)->errmsg = NULL;
	if (r == 0)
		r = gl_extents_overlay(h, req);
	if (r == 0 && req->nextents == 0)
		r = mortar_req_add_extent(req, &cap, req->offset, req->length,
			       MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO);
	if (r == -ENOMEM)
		r = mortar_set_error(ENOMEM, "%s: out of memory", gname(h));
	gl_finish(req, r);
}

static void gl_extents_do(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;

	gr(req)->end = req->offset + req->length < h->size ? req->offset + req->length :
		       h->size;
	gr(req)->flushed = h->dirty.flushed;
	gr(req)->job.run = gl_extents_job;
	req->op.fn = gl_extents_done;
	mortar_loop_hold(h->loop);
	if (gl_helper_submit(h->conn, &gr(req)->job) < 0)
		gl_extents_job(&gr(req)->job);	/* (no thread: here, then) */
}

static void gl_resize_do(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;
	unsigned seen;
	int r = 0;

	if (gl_fence_up(h->fence, &seen)) {	/* (see gl_recover) */
		if (glfs_fsync(h->fd, NULL, NULL) < 0)
			r = mortar_set_error(EIO, "%s: an earlier write or flush failed, "
				"and the writes kept since still do not reach the bricks "
				"(fsync: %m); resize once they do", gname(h));
		else
			gl_fence_clear(h->fence, seen);
	}

	if (r == 0)
		r = gl_size_check(h->conn, gname(h), req->offset);
	if (r == 0 && req->offset < h->size)
		gl_shards_need(h);
	if (r == 0 && (r = gl_shards_truncate(h->fd, h->shards, h->size, req->offset)) < 0)
		r = gl_io_error(h, "resize", req->offset, r, false);
	if (r == 0)
		h->size = req->offset;
	req->op.fn = gl_deferred_fail;
	mortar_loop_defer(h->loop, &req->op, r);
}

static const char *gl_path(const struct mortar_location *loc)
{
	return loc->path;
}

static int gl_open(const struct mortar_location *loc,
		   const struct mortar_backend_args *args, void **handle)
{
	const char *text = args->name;
	unsigned flags = args->flags;
	struct gl_img *h;
	struct stat st;
	int r;

	h = calloc(1, sizeof *h);
	if (!h)
		return mortar_set_error(ENOMEM, "out of memory");
	h->name = args->name;
	h->loop = args->loop;
	if (!(h->path = strdup(gl_path(loc)))) {
		free(h);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	r = gl_conn_get(loc, text, &h->conn);
	if (r < 0) {
		free(h->path);
		free(h);
		return r;
	}
	gl_failover_watch(h->conn);	/* (an image in use needs news of its volume) */
	/* open-behind lets an open pass without asking the brick: a
	 * permission problem would surface only at the first read, or at
	 * close.  Ask the brick now, with our credentials. */
	if (glfs_access(h->conn->fs, gl_path(loc),
			(flags & MORTAR_OPEN_RDONLY) ? R_OK : R_OK | W_OK) < 0 &&
	    (errno == EACCES || errno == EPERM)) {
		r = mortar_set_error(errno, "%s: permission denied %s '%s' (the "
			"volume's open-behind would let the open pass and fail the "
			"first I/O instead); check its owner and mode on the volume",
			text, (flags & MORTAR_OPEN_RDONLY) ? "reading" : "writing",
			loc->path);
		goto fail;
	}
	h->held_tail = &h->held;
	h->oflags = (flags & MORTAR_OPEN_RDONLY) ? O_RDONLY : O_RDWR;
	h->gen = __atomic_load_n(&h->conn->gen, __ATOMIC_ACQUIRE);
	h->fs = __atomic_load_n(&h->conn->fs, __ATOMIC_ACQUIRE);
	h->fd = glfs_open(h->fs, gl_path(loc), h->oflags);
	if (!h->fd) {
		r = gl_open_error(text, loc, errno ? errno : EIO, flags);
		goto fail;
	}
	if (glfs_fstat(h->fd, &st) < 0) {
		r = gl_open_error(text, loc, errno ? errno : EIO, flags);
		glfs_close(h->fd);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = mortar_set_error(EINVAL, "%s: not a regular file", text);
		glfs_close(h->fd);
		goto fail;
	}
	if ((r = gl_fence_get(h->conn, st.st_ino, &h->fence)) < 0) {
		glfs_close(h->fd);
		goto fail;
	}
	h->size = (uint64_t)st.st_size;
	h->caps = MORTAR_CAP_MULTI_CONN | MORTAR_CAP_EXTENTS;
	if (flags & MORTAR_OPEN_RDONLY)
		h->caps |= MORTAR_CAP_READ_ONLY;
	else
		/* Fast zeroes: those that may deallocate (a discard); the
		 * others fail at once with ENOTSUP (see gl_zero). */
		h->caps |= MORTAR_CAP_FLUSH | MORTAR_CAP_FUA | MORTAR_CAP_TRIM |
			   MORTAR_CAP_ZERO | MORTAR_CAP_FAST_ZERO | MORTAR_CAP_RESIZE;
	pthread_mutex_init(&h->shards_mu, NULL);
	*handle = h;
	return 0;
fail:
	gl_conn_put(h->conn);
	free(h->path);
	free(h);
	return r;
}

static int gl_close(void *handle)
{
	struct gl_img *h = handle;
	int r = 0;

	/* glfs_close flushes write-behind for this fd. */
	if (glfs_close(h->fd) < 0)
		r = mortar_set_error(errno, "%s: closing failed: %m; data written "
				     "since the last flush may be lost", gname(h));
	gl_shards_close(h->shards);
	if (h->seek_fd)
		glfs_close(h->seek_fd);
	pthread_mutex_destroy(&h->shards_mu);
	dirty_map_free(&h->dirty);
	gl_fence_put(h->fence);
	gl_conn_put(h->conn);
	free(h->path);
	free(h);
	return r;
}

static const char *gl_kind(void *handle)
{
	(void)handle;
	return "gluster";
}

static uint64_t gl_size(void *handle)
{
	return ((struct gl_img *)handle)->size;
}

static uint32_t gl_caps(void *handle)
{
	return ((struct gl_img *)handle)->caps;
}

static void gl_block_size(void *handle, uint32_t *min, uint32_t *pref, uint32_t *max)
{
	(void)handle;
	*min = 1;
	*pref = 64 << 10;
	*max = GL_MAX_REQUEST;
}

static int gl_allocated(void *handle, uint64_t *bytes)
{
	struct gl_img *h = handle;
	struct stat st;

	if (glfs_fstat(h->fd, &st) < 0)
		return gl_io_error(h, "stat", 0, -errno, false);
	*bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int gl_create(const struct mortar_location *loc, uint64_t size,
		     enum mortar_prealloc prealloc, unsigned flags)
{
	char *text = mortar_location_format(loc);
	struct gl_conn *c;
	struct stat st;
	glfs_fd_t *fd;
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	r = gl_conn_get(loc, text, &c);
	if (r < 0)
		goto out;
	if ((r = gl_size_check(c, text, size)) < 0)
		goto put;
	if (glfs_stat(c->fs, loc->path, &st) == 0 && !(flags & MORTAR_CREATE_FORCE)) {
		r = mortar_set_error(EEXIST, "%s already exists; pass --force to "
				     "replace it (its data will be lost)", text);
		goto put;
	}
	fd = glfs_creat(c->fs, loc->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!fd) {
		r = gl_open_error(text, loc, errno ? errno : EIO, 0);
		if (r == -ENOENT)
			r = mortar_set_error(ENOENT, "%s: cannot create '%s': its folder "
					     "does not exist in volume '%s'", text,
					     loc->path, loc->volume);
		goto put;
	}
	if (glfs_ftruncate(fd, (off_t)size, NULL, NULL) < 0)
		r = mortar_set_error(errno, "%s: cannot size the image: %m", text);
	else if (prealloc == MORTAR_PREALLOC_FALLOC && size &&
		 glfs_fallocate(fd, 0, 0, (size_t)size) < 0)
		r = mortar_set_error(errno, "%s: preallocation failed: %m", text);
	else if (prealloc == MORTAR_PREALLOC_FULL && size &&
		 glfs_zerofill(fd, 0, (off_t)size) < 0)
		r = mortar_set_error(errno, "%s: writing zeroes failed: %m", text);
	if (r == 0 && glfs_fsync(fd, NULL, NULL) < 0)
		r = mortar_set_error(errno, "%s: fsync failed: %m", text);
	if (glfs_close(fd) < 0 && r == 0)
		r = mortar_set_error(errno, "%s: close failed: %m", text);
	if (r < 0)
		glfs_unlink(c->fs, loc->path);
put:
	gl_conn_put(c);
out:
	free(text);
	return r;
}

static int gl_remove(const struct mortar_location *loc)
{
	char *text = mortar_location_format(loc);
	struct gl_conn *c;
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	r = gl_conn_get(loc, text, &c);
	if (r == 0) {
		if (glfs_unlink(c->fs, loc->path) < 0)
			r = mortar_set_error(errno, "%s: cannot remove: %m", text);
		gl_conn_put(c);
	}
	free(text);
	return r;
}

/* ---- moving to a client of another volfile server ---- */

/* The connection has a newer client (backend-gluster-failover.c: the
 * volfile server in use is gone), and nothing of this image is in flight
 * on the old one: flush what the old client's write-behind holds, open
 * the image on the new client, run the requests that waited.  If the old
 * client cannot flush (bricks unreachable too), the image stays on it:
 * it still reaches the bricks when they return, only without news of the
 * volume's graph. */
static void gl_move(struct gl_img *h)
{
	glfs_t *fs = __atomic_load_n(&h->conn->fs, __ATOMIC_ACQUIRE);
	struct mortar_req *list = h->held;
	glfs_fd_t *fd;

	h->gen = __atomic_load_n(&h->conn->gen, __ATOMIC_ACQUIRE);
	if (fs != h->fs && glfs_fsync(h->fd, NULL, NULL) == 0 &&
	    (fd = glfs_open(fs, h->path, h->oflags))) {
		glfs_close(h->fd);
		h->fd = fd;
		h->fs = fs;
	}
	h->moving = false;
	h->held = NULL;
	h->held_tail = &h->held;
	while (list) {
		struct mortar_req *req = list;

		list = req->next;
		req->next = NULL;
		gr(req)->resume(h, req);
	}
}

/* Every request enters here: false when it goes ahead (counted busy),
 * true when it waits for gl_move, which then runs ENTRY for it. */
static bool gl_held(struct gl_img *h, struct mortar_req *req,
		    void (*entry)(void *handle, struct mortar_req *req))
{
	if (!h->moving && h->gen == __atomic_load_n(&h->conn->gen, __ATOMIC_ACQUIRE)) {
		h->busy++;
		return false;
	}
	gr(req)->resume = entry;
	req->next = NULL;
	*h->held_tail = req;
	h->held_tail = &req->next;
	if (!h->moving) {
		h->moving = true;
		if (h->busy == 0)
			gl_move(h);
	}
	return true;
}

#define GL_ENTRY(name) \
	static void name(void *handle, struct mortar_req *req) \
	{ \
		if (!gl_held(handle, req, name)) \
			name##_do(handle, req); \
	}
GL_ENTRY(gl_preadv)
GL_ENTRY(gl_pwritev)
GL_ENTRY(gl_flush)
GL_ENTRY(gl_trim)
GL_ENTRY(gl_zero)
GL_ENTRY(gl_extents)
GL_ENTRY(gl_resize)

const struct mortar_backend mortar_backend_gluster = {
	.name = "gluster",
	.scheme = MORTAR_SCHEME_GLUSTER,
	.req_size = sizeof(struct gl_req),
	.create = gl_create,
	.remove = gl_remove,
	.open = gl_open,
	.close = gl_close,
	.kind = gl_kind,
	.size = gl_size,
	.caps = gl_caps,
	.block_size = gl_block_size,
	.allocated = gl_allocated,
	.preadv = gl_preadv,
	.pwritev = gl_pwritev,
	.flush = gl_flush,
	.trim = gl_trim,
	.zero = gl_zero,
	.extents = gl_extents,
	.resize = gl_resize,
	.copy = mortar_gluster_copy,
	.probe = mortar_gluster_probe,
	.ns_open = mortar_gluster_ns_open,
	.replica = mortar_gluster_replica,
	.review = mortar_gluster_review,
};
