/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A started virtqueue on a worker: it waits for the driver's kicks on
 * the worker's loop, turns each chain into one virtio-blk request on the
 * worker's image of the export (the iovecs point into guest memory: no
 * copy), and completes it on the same thread.  Completions of one loop
 * turn reach the used ring together, with at most one interrupt.
 *
 * A request's state lives in an array indexed by its head descriptor,
 * which the driver cannot reuse before the request is used.  Requests
 * that change the image pass the export's quiesce gate; refused ones
 * wait on the queue and run again (their chain walked anew) on resume.
 *
 * Stopping (GET_VRING_BASE, the connection's end, the server's stop):
 * take nothing more, wake the pending kick read by writing to the kick
 * eventfd, let what is in flight complete and reach the used ring, then
 * detach and tell the connection thread, which frees the queue.
 *
 * A handover to a new process (server.h, freeze) is a pause: take
 * nothing more, complete what is in flight, and report the queue frozen
 * but not carried: the new process cannot inherit a guest's memory
 * table, so the front-end reconnects to it (QEMU's reconnect=) and the
 * inflight region covers the rest. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "internal.h"

struct vhost_req {
	struct vhost_queue *q;
	uint16_t head;
	uint8_t *status;
	uint32_t in_len;	/* bytes written for the driver, status included */
	unsigned pending;	/* parts in flight (ranges of a discard) */
	int err;		/* the first failure among them */
	bool busy, counted;
	bool slow;		/* a flush, discard or write zeroes (queue_take_all) */
	struct iovec *wiov;	/* a migration: what we write, to log */
	unsigned nwiov;
};

struct vhost_queue {
	struct srv_unit u;	/* first: the worker sees only this */
	struct vhost_dev *dev;
	struct srv_worker *w;	/* where it runs, chosen at start */
	unsigned index;
	struct vhost_vring vr;
	struct mortar_image *img;
	bool read_only;
	int kick_fd, call_fd, err_fd;

	uint64_t kick_val;
	struct mortar_op kick_op;
	struct mortar_op flush_op;	/* publish the used ring, interrupt */
	struct mortar_op call_op;	/* a new call descriptor */
	int new_call_fd;
	bool kick_armed, flush_pending, stopping, broken, done;
	bool freezing, frozen;		/* a handover: paused */
	unsigned in_flight;
	unsigned slow;			/* of them, flushes, discards, write zeroes */
	uint64_t served, kicks;		/* requests and kicks, for the log */
	/* Coalesced kicks: the timer that bounds how long the ring goes
	 * unread while requests are in flight (queue_lull_*), whether the
	 * ring was read with notifications left off since its last tick,
	 * and how often the bound was reached. */
	struct mortar_op lull_op;
	struct __kernel_timespec lull_ts;
	bool lull_armed, looked;
	uint64_t lulls;
	struct vhost_req *reqs;		/* by head */
	uint16_t *parked;		/* heads held by a quiesce, in order */
	unsigned nparked;
	uint16_t *resubmit;
	struct vring_chain chain;	/* scratch: the chain being started */
	/* The guest's regions registered with the worker's ring while the
	 * queue runs (--pin-guest-memory), and the ring's count of I/Os
	 * through registered memory when the queue started. */
	bool pinned[VHOST_MAX_REGIONS];
	uint64_t fixed_ios0;
};

static struct srv_ratelimit broken_rl;

static void queue_process(struct vhost_queue *q);
static void queue_lull_arm(struct vhost_queue *q);
static void queue_maybe_done(struct vhost_queue *q);
static void queue_maybe_frozen(struct vhost_queue *q);

static struct srv *queue_srv(const struct vhost_queue *q)
{
	return q->dev->vs->core;
}

/* ---- completion ---- */

static void queue_flush_done(struct mortar_op *op, int res)
{
	struct vhost_queue *q = (struct vhost_queue *)((char *)op -
		offsetof(struct vhost_queue, flush_op));
	static const uint64_t one = 1;

	(void)res;
	q->flush_pending = false;
	if (vring_publish(&q->vr) && q->call_fd >= 0 && write(q->call_fd, &one, sizeof one) < 0) {
		/* The front-end went away; the connection thread sees it. */
	}
	/* Coalescing kicks: a completion is when the ring is looked at. */
	if (q->dev->vs->coalesce_kicks)
		queue_process(q);
	queue_maybe_frozen(q);
	queue_maybe_done(q);
}

static void queue_flush_soon(struct vhost_queue *q)
{
	if (q->flush_pending)
		return;
	q->flush_pending = true;
	q->flush_op.fn = queue_flush_done;
	mortar_loop_defer(srv_worker_loop(q->u.w), &q->flush_op, 0);
}

/* A migration copies the pages we wrote again: say which. */
static void req_log(struct vhost_req *r)
{
	struct vhost_vring *vr = &r->q->vr;

	for (unsigned i = 0; i < r->nwiov; i++)
		vhost_log_host(&vr->log, vr->mem, r->wiov[i].iov_base, r->wiov[i].iov_len);
	if (r->status)
		vhost_log_host(&vr->log, vr->mem, r->status, 1);
	free(r->wiov);
	r->wiov = NULL;
	r->nwiov = 0;
}

static void req_finish(struct vhost_req *r, uint8_t status)
{
	struct vhost_queue *q = r->q;

	if (r->status)
		*r->status = status;
	if (q->vr.log.bits)
		req_log(r);
	if (r->counted) {
		r->counted = false;
		srv_quiesce_leave(&q->u.e->q);
	}
	if (r->slow) {
		r->slow = false;
		q->slow--;
	}
	r->busy = false;
	vring_push(&q->vr, r->head, r->in_len);
	q->in_flight--;
	queue_flush_soon(q);
}

static uint8_t status_of(int err)
{
	return err == 0 ? VIRTIO_BLK_S_OK : err == -ENOTSUP || err == -EOPNOTSUPP ?
		VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

static void req_fail(struct vhost_req *r, int err, const char *why)
{
	srv_debug(queue_srv(r->q), "%s: queue %u: request %u failed: %s", r->q->dev->peer,
		  r->q->index, r->head, why);
	req_finish(r, status_of(err));
}

static void req_part_done(void *opaque, int res)
{
	struct vhost_req *r = opaque;

	if (res < 0 && !r->err) {
		r->err = res;
		srv_debug(queue_srv(r->q), "%s: queue %u: request %u: %s", r->q->dev->peer,
			  r->q->index, r->head, mortar_errmsg());
	}
	if (--r->pending == 0)
		req_finish(r, status_of(r->err));
}

/* ---- the segments of a chain ---- */

/* Copy LEN bytes at offset OFF of the readable segments into BUF. */
static bool chain_read(const struct vring_chain *c, size_t off, void *buf, size_t len)
{
	for (unsigned i = 0; i < c->nout && len; i++) {
		size_t n = c->iov[i].iov_len;

		if (off >= n) {
			off -= n;
			continue;
		}
		n -= off;
		if (n > len)
			n = len;
		memcpy(buf, (char *)c->iov[i].iov_base + off, n);
		buf = (char *)buf + n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

/* Drop the first SKIP bytes of the readable segments; returns the index
 * of the first one left (the data of a write). */
static unsigned chain_skip(struct vring_chain *c, size_t skip)
{
	unsigned i = 0;

	while (i < c->nout && skip >= c->iov[i].iov_len)
		skip -= c->iov[i++].iov_len;
	if (i < c->nout) {
		c->iov[i].iov_base = (char *)c->iov[i].iov_base + skip;
		c->iov[i].iov_len -= skip;
	}
	return i;
}

/* The status byte is the last writable one: take it off the segments. */
static uint8_t *chain_take_status(struct vring_chain *c)
{
	struct iovec *last;
	uint8_t *s;

	if (c->nin == 0)
		return NULL;
	last = &c->iov[c->nout + c->nin - 1];
	s = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		c->nin--;
	c->in_len--;
	return s;
}

/* ---- requests ---- */

/* [SECTOR, +LEN bytes) lies in the image: its byte offset, or -1. */
static int64_t req_range(const struct vhost_queue *q, uint64_t sector, uint64_t len)
{
	uint64_t size = mortar_image_size(q->img);

	if (sector > size / VIRTIO_BLK_SECTOR || len > size - sector * VIRTIO_BLK_SECTOR)
		return -1;
	return (int64_t)(sector * VIRTIO_BLK_SECTOR);
}

static void req_rw(struct vhost_req *r, struct vring_chain *c, bool write, uint64_t sector)
{
	struct vhost_queue *q = r->q;
	unsigned first = write ? chain_skip(c, sizeof(struct virtio_blk_outhdr)) : c->nout;
	unsigned n = write ? c->nout - first : c->nin;
	uint64_t len = write ? c->out_len - sizeof(struct virtio_blk_outhdr) : c->in_len;
	int64_t off = req_range(q, sector, len);
	int res;

	if (len % VIRTIO_BLK_SECTOR || off < 0) {
		req_fail(r, -EINVAL, "not whole sectors, or past the end of the disk");
		return;
	}
	r->pending = 1;
	if (write) {
		res = mortar_image_pwritev(q->img, c->iov + first, (int)n, (uint64_t)off, 0,
					   req_part_done, r);
	} else {
		r->in_len += (uint32_t)len;
		res = mortar_image_preadv(q->img, c->iov + first, (int)n, (uint64_t)off, 0,
					  req_part_done, r);
	}
	if (res < 0)
		req_fail(r, res, mortar_errmsg());
}

/* DISCARD and WRITE_ZEROES: every range to the image, done when all are. */
static void req_ranges(struct vhost_req *r, struct vring_chain *c, uint32_t type)
{
	struct virtio_blk_discard_write_zeroes seg[VHOST_BLK_MAX_SEG];
	uint64_t bytes = c->out_len - sizeof(struct virtio_blk_outhdr);
	unsigned n = (unsigned)(bytes / sizeof seg[0]);

	if (bytes % sizeof seg[0] || n == 0 || n > VHOST_BLK_MAX_SEG ||
	    !chain_read(c, sizeof(struct virtio_blk_outhdr), seg, bytes)) {
		req_fail(r, -EINVAL, "malformed ranges");
		return;
	}
	r->pending = n + 1;	/* held until every range is submitted */
	for (unsigned i = 0; i < n; i++) {
		uint32_t flags = le32toh(seg[i].flags);
		uint64_t len = (uint64_t)le32toh(seg[i].num_sectors) * VIRTIO_BLK_SECTOR;
		int64_t off = req_range(r->q, le64toh(seg[i].sector), len);
		int res;

		if (flags & ~(type == VIRTIO_BLK_T_WRITE_ZEROES ? VIRTIO_BLK_WZ_F_UNMAP : 0))
			res = -ENOTSUP;
		else if (off < 0)
			res = -EINVAL;
		else if (type == VIRTIO_BLK_T_DISCARD)
			res = mortar_image_trim(r->q->img, (uint64_t)off, len, 0, req_part_done, r);
		else
			res = mortar_image_zero(r->q->img, (uint64_t)off, len,
						(flags & VIRTIO_BLK_WZ_F_UNMAP) ? MORTAR_REQ_MAY_TRIM : 0,
						req_part_done, r);
		if (res < 0)
			req_part_done(r, res);
	}
	req_part_done(r, 0);
}

static void req_get_id(struct vhost_req *r, struct vring_chain *c)
{
	char id[VIRTIO_BLK_ID_BYTES] = { 0 };
	size_t left = sizeof id;
	const char *name = r->q->u.e->name;

	/* Not NUL-terminated when it fills all 20 bytes (virtio 1.2, 5.2.6). */
	memcpy(id, name, strnlen(name, sizeof id));
	for (unsigned i = c->nout; i < c->nout + c->nin && left; i++) {
		size_t n = c->iov[i].iov_len < left ? c->iov[i].iov_len : left;

		memcpy(c->iov[i].iov_base, id + sizeof id - left, n);
		left -= n;
		r->in_len += (uint32_t)n;
	}
	req_finish(r, VIRTIO_BLK_S_OK);
}

static bool type_modifies(uint32_t type)
{
	return type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
	       type == VIRTIO_BLK_T_WRITE_ZEROES;
}

/* Run the request of chain C (walked, status not taken yet). */
static void req_run(struct vhost_queue *q, struct vhost_req *r, struct vring_chain *c)
{
	struct virtio_blk_outhdr h;
	uint32_t type;

	r->status = chain_take_status(c);
	r->in_len = r->status ? 1 : 0;
	r->err = 0;
	if (q->vr.log.bits && c->nin) {
		free(r->wiov);
		r->wiov = malloc(c->nin * sizeof *r->wiov);
		r->nwiov = r->wiov ? c->nin : 0;
		if (r->wiov)
			memcpy(r->wiov, c->iov + c->nout, c->nin * sizeof *r->wiov);
	}
	if (!r->status || !chain_read(c, 0, &h, sizeof h)) {
		req_fail(r, -EINVAL, "no status byte or no header");
		return;
	}
	type = le32toh(h.type);
	if (type_modifies(type) && q->read_only) {
		req_fail(r, -EROFS, "the export is read-only");
		return;
	}
	if (type_modifies(type) && !r->counted) {
		if (!srv_quiesce_enter(&q->u.e->q)) {
			/* A snapshot is being taken: the head waits for resume. */
			q->parked[q->nparked++] = r->head;
			return;
		}
		r->counted = true;
	}
	if (type == VIRTIO_BLK_T_FLUSH || type == VIRTIO_BLK_T_DISCARD ||
	    type == VIRTIO_BLK_T_WRITE_ZEROES) {
		r->slow = true;
		q->slow++;
	}
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		req_rw(r, c, type == VIRTIO_BLK_T_OUT, le64toh(h.sector));
		break;
	case VIRTIO_BLK_T_FLUSH: {
		int res;

		/* Nothing cached, nothing to flush. */
		if (!mortar_image_can(q->img, MORTAR_CAP_FLUSH)) {
			req_finish(r, VIRTIO_BLK_S_OK);
			break;
		}
		r->pending = 1;
		res = mortar_image_flush(q->img, 0, req_part_done, r);
		if (res < 0)
			req_fail(r, res, mortar_errmsg());
		break;
	}
	case VIRTIO_BLK_T_GET_ID:
		req_get_id(r, c);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		req_ranges(r, c, type);
		break;
	default:
		req_fail(r, -ENOTSUP, "unknown request type");
		break;
	}
}

/* ---- taking chains ---- */

static void queue_break(struct vhost_queue *q, const char *why)
{
	static const uint64_t one = 1;

	if (!q->broken)
		srv_log_limited(queue_srv(q), &broken_rl, "%s: queue %u: %s; the queue stops "
				"until the guest resets the device", q->dev->peer, q->index, why);
	q->broken = true;
	if (q->err_fd >= 0 && write(q->err_fd, &one, sizeof one) < 0) {
		/* Nobody listens: the log line says it. */
	}
}

/* Take head HEAD (its chain in q->chain) as a new request. */
static void queue_take(struct vhost_queue *q, uint16_t head)
{
	struct vhost_req *r = &q->reqs[head];

	if (r->busy) {
		queue_break(q, "the driver made a buffer available twice");
		return;
	}
	r->busy = true;
	r->head = head;
	q->in_flight++;
	q->served++;
	req_run(q, r, &q->chain);
}

/* Take what the driver made available.  COALESCE: leave notifications
 * off while requests are in flight (--coalesce-kicks). */
static void queue_take_all(struct vhost_queue *q, bool coalesce)
{
	static const uint64_t one = 1;
	unsigned taken = 0;

	do {
		for (;;) {
			int r;

			if (q->stopping || q->broken || q->freezing)
				return;
			/* A ring's worth per turn: a driver that keeps adding
			 * (or reuses heads it never saw used) cannot keep the
			 * worker from its other queues.  The kick we give
			 * ourselves brings us back after them. */
			if (taken++ == q->vr.num) {
				if (write(q->kick_fd, &one, sizeof one) < 0) {
					/* at its limit: a kick is pending anyway */
				}
				return;
			}
			r = vring_pop(&q->vr, &q->chain);
			if (r == 0)
				break;
			if (r < 0) {
				queue_break(q, q->chain.why);
				return;
			}
			queue_take(q, q->chain.head);
		}
		/* Coalescing kicks: notifications stay off while a request
		 * that will complete is in flight (parked ones wait for a
		 * resume, not for I/O); its completion brings us back here,
		 * or the lull timer if none comes soon.  With EVENT_IDX the
		 * driver then kicks once at most.  Not while a flush,
		 * discard or write zeroes is in flight: those may take many
		 * times what a read takes, and a read made behind them
		 * should not wait for their completion or the timer. */
		if (coalesce && q->in_flight > q->nparked && !q->slow) {
			q->looked = true;
			if (!q->lull_armed)
				queue_lull_arm(q);
			return;
		}
	} while (vring_kicks_on(&q->vr));
}

static void queue_process(struct vhost_queue *q)
{
	/* Without EVENT_IDX the driver kicks for every request anyway. */
	queue_take_all(q, q->dev->vs->coalesce_kicks && q->vr.event_idx);
}

/* ---- coalesced kicks: the lull ---- */

/* With notifications off, a request the driver adds is seen at the next
 * completion of the queue.  When every request in flight is slow (reads
 * or writes of data on a brick that is away), the next completion may
 * be far off: a timer that ticks every QUEUE_LULL_NS while the queue
 * coalesces turns notifications back on at a tick that finds the ring
 * unread since the tick before, so such a request waits two ticks at
 * most.  (A flag, not a clock read per batch of completions.)
 * The timer is not moved at each completion: arming a timer costs a
 * virtualized clock a VM exit, and re-arming it at every batch of
 * completions (an io_uring timeout with a count of 1) took 15-25 % more
 * server CPU per request than coalescing without a bound
 * (docs/benchmarks.md); ticks cost one timer a millisecond. */
#define QUEUE_LULL_NS 1000000ull	/* 1 ms */

static void queue_lull_done(struct mortar_op *op, int res)
{
	struct vhost_queue *q = (struct vhost_queue *)((char *)op -
		offsetof(struct vhost_queue, lull_op));
	(void)res;	/* -ETIME */
	q->lull_armed = false;
	if (q->stopping) {
		queue_maybe_done(q);
		return;
	}
	if (q->freezing || q->broken || q->in_flight <= q->nparked)
		return;	/* thaw reads the ring; or notifications are on */
	if (q->looked) {
		q->looked = false;
		queue_lull_arm(q);
		return;
	}
	q->lulls++;
	queue_take_all(q, false);
}

static void queue_lull_arm(struct vhost_queue *q)
{
	struct io_uring_sqe *sqe;

	q->lull_ts.tv_sec = (long long)(QUEUE_LULL_NS / 1000000000ull);
	q->lull_ts.tv_nsec = (long long)(QUEUE_LULL_NS % 1000000000ull);
	q->lull_armed = true;
	q->lull_op.fn = queue_lull_done;
	sqe = mortar_loop_sqe(srv_worker_loop(q->u.w), &q->lull_op);
	io_uring_prep_timeout(sqe, &q->lull_ts, 0, 0);
}

static void queue_kick_arm(struct vhost_queue *q);

static void queue_kick_done(struct mortar_op *op, int res)
{
	struct vhost_queue *q = (struct vhost_queue *)((char *)op -
		offsetof(struct vhost_queue, kick_op));

	q->kick_armed = false;
	if (q->stopping) {
		queue_maybe_done(q);
		return;
	}
	if (q->freezing)
		return;		/* thaw looks at the ring and re-arms */
	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		queue_break(q, "cannot read its kick eventfd");
		return;
	}
	if (res > 0)
		q->kicks += q->kick_val;
	queue_process(q);
	if (!q->broken)
		queue_kick_arm(q);
}

static void queue_kick_arm(struct vhost_queue *q)
{
	struct io_uring_sqe *sqe;

	q->kick_armed = true;
	q->kick_op.fn = queue_kick_done;
	sqe = mortar_loop_sqe(srv_worker_loop(q->u.w), &q->kick_op);
	io_uring_prep_read(sqe, q->kick_fd, &q->kick_val, sizeof q->kick_val, 0);
}

/* ---- registered guest memory ---- */

static atomic_bool pin_failed_logged;

/* Pin the guest's memory for the worker's ring: O_DIRECT requests into it
 * then skip the kernel's per-request page pinning.  Queues only run
 * while the memory table stays as it is (device.c stops them first). */
static void queue_mem_pin(struct vhost_queue *q)
{
	struct mortar_loop *loop = srv_worker_loop(q->u.w);
	const struct vhost_mem *m = &q->dev->mem;
	unsigned n = 0;

	if (!q->dev->vs->pin_memory)
		return;
	for (unsigned i = 0; i < m->n; i++) {
		if (mortar_loop_mem_register(loop, m->r[i].host, m->r[i].size) == 0) {
			q->pinned[i] = true;
			n++;
		} else if (!atomic_exchange(&pin_failed_logged, true)) {
			srv_debug(queue_srv(q), "%s: queue %u: guest memory stays unregistered, "
				  "requests take the plain path: %s", q->dev->peer, q->index,
				  mortar_errmsg());
		}
	}
	q->fixed_ios0 = mortar_loop_fixed_ios(loop);
	if (n)
		srv_debug(queue_srv(q), "%s: queue %u: %u of %u guest memory region(s) "
			  "registered with the worker's ring", q->dev->peer, q->index, n, m->n);
}

/* Unpin before the connection thread may unmap (a DIMM unplugged, a new
 * table, the end): no pinned page of removed memory stays behind. */
static void queue_mem_unpin(struct vhost_queue *q)
{
	struct mortar_loop *loop = srv_worker_loop(q->u.w);
	const struct vhost_mem *m = &q->dev->mem;
	bool any = false;

	for (unsigned i = 0; i < m->n; i++) {
		if (!q->pinned[i])
			continue;
		mortar_loop_mem_unregister(loop, m->r[i].host, m->r[i].size);
		q->pinned[i] = false;
		any = true;
	}
	if (any)
		srv_debug(queue_srv(q), "%s: queue %u: guest memory unregistered; %" PRIu64
			  " I/O(s) of the worker's ring used it meanwhile", q->dev->peer,
			  q->index, mortar_loop_fixed_ios(loop) - q->fixed_ios0);
}

/* ---- the queue as a unit of the worker ---- */

static void queue_maybe_done(struct vhost_queue *q)
{
	struct vhost_dev *dev = q->dev;

	if (!q->stopping || q->done || q->kick_armed || q->in_flight || q->flush_pending ||
	    q->lull_armed)
		return;
	srv_debug(queue_srv(q), "%s: queue %u stopped after %" PRIu64 " requests (%" PRIu64
		  " kicks) at index %u; notifications back on after a lull: %" PRIu64,
		  dev->peer, q->index, q->served, q->kicks, q->vr.last_avail, q->lulls);
	queue_mem_unpin(q);
	srv_unit_detach(&q->u);
	pthread_mutex_lock(&dev->lock);
	q->done = true;
	pthread_cond_broadcast(&dev->cond);
	pthread_mutex_unlock(&dev->lock);
	/* The connection thread frees Q from here on. */
}

static void queue_begin_stop(struct vhost_queue *q)
{
	static const uint64_t one = 1;

	if (q->stopping)
		return;
	q->stopping = true;
	/* Wake the kick read so that it lets go of the descriptor. */
	if (q->kick_armed && write(q->kick_fd, &one, sizeof one) < 0) {
		/* An eventfd write fails only at its limit: the read
		 * completes anyway. */
	}
	queue_maybe_done(q);
}

static void unit_resume(struct srv_unit *u)
{
	struct vhost_queue *q = (struct vhost_queue *)u;
	unsigned n = q->nparked;

	/* Those parked again (the quiesce still on) go back to the start
	 * of the array, behind the ones taken out: order is kept. */
	q->nparked = 0;
	for (unsigned i = 0; i < n; i++) {
		struct vhost_req *r = &q->reqs[q->parked[i]];

		/* Walked again: the chain is the driver's until it is used. */
		if (vring_walk(&q->vr, r->head, &q->chain) < 0) {
			r->status = NULL;
			req_fail(r, -EINVAL, q->chain.why);
			continue;
		}
		req_run(q, r, &q->chain);
	}
}

static void unit_stop(struct srv_unit *u)
{
	queue_begin_stop((struct vhost_queue *)u);
}

static void queue_maybe_frozen(struct vhost_queue *q)
{
	if (!q->freezing || q->frozen || q->in_flight || q->flush_pending)
		return;
	q->frozen = true;
	srv_unit_frozen(&q->u, -1, NULL);
}

static void unit_freeze(struct srv_unit *u)
{
	struct vhost_queue *q = (struct vhost_queue *)u;

	q->freezing = true;
	q->frozen = false;
	queue_maybe_frozen(q);
}

static void unit_thaw(struct srv_unit *u)
{
	struct vhost_queue *q = (struct vhost_queue *)u;

	q->freezing = q->frozen = false;
	if (q->stopping || q->broken)
		return;
	queue_process(q);
	if (!q->kick_armed && !q->broken)
		queue_kick_arm(q);
}

static void unit_wake(struct srv_unit *u)
{
	(void)u;	/* requests take no server memory: nothing waits for it */
}

static const struct srv_unit_ops queue_unit_ops = {
	.resume = unit_resume,
	.stop = unit_stop,
	.wake = unit_wake,
	.freeze = unit_freeze,
	.thaw = unit_thaw,
};

/* ---- jobs from the connection thread ---- */

static void job_attach(struct srv_worker *w, void *arg)
{
	struct vhost_queue *q = arg;
	unsigned n;

	q->img = srv_worker_image(w, q->u.e);
	atomic_fetch_add(&srv_worker_server(w)->nconns, 1);	/* detach takes it */
	srv_unit_attach(w, &q->u);
	if (srv_worker_stopping(w)) {
		q->stopping = true;
		queue_maybe_done(q);
		return;
	}
	queue_mem_pin(q);
	n = vring_inflight_start(&q->vr, q->resubmit);
	srv_debug(queue_srv(q), "%s: queue %u (%u entries) started on worker thread %d at "
		  "index %u", q->dev->peer, q->index, q->vr.num, (int)gettid(), q->vr.last_avail);
	if (n)
		srv_log(queue_srv(q), "%s: queue %u: %u request(s) were in flight when the "
			"last server stopped; running them again", q->dev->peer, q->index, n);
	for (unsigned i = 0; i < n && !q->broken; i++) {
		if (vring_walk(&q->vr, q->resubmit[i], &q->chain) < 0)
			queue_break(q, q->chain.why);
		else
			queue_take(q, q->resubmit[i]);
	}
	queue_process(q);
	if (!q->broken)
		queue_kick_arm(q);
}

static void job_stop(struct srv_worker *w, void *arg)
{
	(void)w;
	queue_begin_stop(arg);
}

static void job_set_call(struct srv_worker *w, void *arg)
{
	struct vhost_queue *q = arg;
	struct vhost_dev *dev = q->dev;
	static const uint64_t one = 1;

	(void)w;
	pthread_mutex_lock(&dev->lock);
	q->call_fd = q->new_call_fd;
	q->new_call_fd = -2;		/* done */
	pthread_cond_broadcast(&dev->cond);
	pthread_mutex_unlock(&dev->lock);
	/* An interrupt may have gone to the old descriptor: a spare one is
	 * harmless. */
	if (q->call_fd >= 0 && write(q->call_fd, &one, sizeof one) < 0) {
		/* the front-end left */
	}
}

/* Post FN to Q's worker; the loop's job memory is tiny, so retry rather
 * than leave a queue that cannot be stopped. */
static void queue_post(struct srv_worker *w, void (*fn)(struct srv_worker *, void *),
		       struct vhost_queue *q)
{
	while (srv_worker_post(w, fn, q) < 0)
		usleep(1000);
}

/* ---- the connection thread's side ---- */

static void queue_free(struct vhost_queue *q)
{
	if (!q)
		return;
	for (unsigned i = 0; q->reqs && i < q->vr.num; i++)
		free(q->reqs[i].wiov);
	free(q->reqs);
	free(q->parked);
	free(q->resubmit);
	free(q->vr.batch);
	free(q);
}

/* The ring's addresses here, checked against the memory table. */
static int queue_map(struct vhost_dev *dev, const struct vhost_ring_cfg *rc, struct vhost_vring *vr)
{
	vr->mem = &dev->mem;
	vr->num = rc->num;
	vr->desc = vhost_mem_uva(&dev->mem, rc->addr.desc_user_addr, vring_desc_bytes(rc->num));
	vr->avail = vhost_mem_uva(&dev->mem, rc->addr.avail_user_addr, vring_avail_bytes(rc->num));
	vr->used = vhost_mem_uva(&dev->mem, rc->addr.used_user_addr, vring_used_bytes(rc->num));
	if (!vr->desc || !vr->avail || !vr->used)
		return mortar_set_error(EINVAL, "a ring of %u entries lies outside the guest "
					"memory the front-end shared", rc->num);
	if (((uintptr_t)vr->desc & 15) || ((uintptr_t)vr->avail & 1) || ((uintptr_t)vr->used & 3))
		return mortar_set_error(EINVAL, "a ring is misaligned");
	return 0;
}

int vhost_queue_start(struct vhost_dev *dev, unsigned i)
{
	struct vhost_ring_cfg *rc = &dev->ring[i];
	struct vhost_queue *q = calloc(1, sizeof *q);
	int r;

	if (!q)
		return mortar_set_error(ENOMEM, "out of memory");
	q->reqs = calloc(rc->num, sizeof *q->reqs);
	q->parked = calloc(rc->num, sizeof *q->parked);
	q->resubmit = calloc(rc->num, sizeof *q->resubmit);
	q->vr.batch = calloc(rc->num, sizeof *q->vr.batch);
	if (!q->reqs || !q->parked || !q->resubmit || !q->vr.batch) {
		queue_free(q);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	r = queue_map(dev, rc, &q->vr);
	if (r < 0) {
		queue_free(q);
		return r;
	}
	for (unsigned k = 0; k < rc->num; k++)
		q->reqs[k].q = q;
	q->u.ops = &queue_unit_ops;
	q->u.e = dev->e;
	q->dev = dev;
	q->index = i;
	q->read_only = dev->e->caps & MORTAR_CAP_READ_ONLY;
	q->kick_fd = rc->kick_fd;
	q->call_fd = rc->call_fd;
	q->err_fd = rc->err_fd;
	q->vr.last_avail = rc->base;
	q->vr.event_idx = dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	q->vr.indirect = dev->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	if (dev->features & (1ull << VHOST_F_LOG_ALL)) {
		q->vr.log = dev->log;
		q->vr.log_used = rc->addr.flags & VHOST_VRING_F_LOG;
		q->vr.used_gpa = rc->addr.log_guest_addr;
	}
	if (dev->inflight && i < dev->inflight_queues && rc->num <= dev->inflight_qsize)
		q->vr.inflight = (struct vhost_inflight_split *)((char *)dev->inflight +
			i * vhost_inflight_queue_bytes(dev->inflight_qsize));
	rc->run = q;
	/* Queues spread over the workers like connections do. */
	q->w = srv_worker_next(dev->vs->core);
	queue_post(q->w, job_attach, q);
	return 0;
}

void vhost_queue_stop(struct vhost_dev *dev, unsigned i)
{
	struct vhost_ring_cfg *rc = &dev->ring[i];
	struct vhost_queue *q = rc->run;

	bool done;

	if (!q)
		return;
	/* Jobs run in order: the attach job runs before this one.  A queue
	 * the worker stopped itself (the server stopping) is done already,
	 * and the worker runs no more jobs. */
	pthread_mutex_lock(&dev->lock);
	done = q->done;
	pthread_mutex_unlock(&dev->lock);
	if (!done)
		queue_post(q->w, job_stop, q);
	pthread_mutex_lock(&dev->lock);
	while (!q->done)
		pthread_cond_wait(&dev->cond, &dev->lock);
	pthread_mutex_unlock(&dev->lock);
	rc->base = q->vr.last_avail;
	rc->run = NULL;
	queue_free(q);
}

void vhost_queue_set_call(struct vhost_dev *dev, unsigned i, int fd)
{
	struct vhost_ring_cfg *rc = &dev->ring[i];
	struct vhost_queue *q = rc->run;
	int old = rc->call_fd;

	rc->call_fd = fd;
	if (q) {
		pthread_mutex_lock(&dev->lock);
		q->new_call_fd = fd;
		pthread_mutex_unlock(&dev->lock);
		queue_post(q->w, job_set_call, q);
		pthread_mutex_lock(&dev->lock);
		while (q->new_call_fd != -2)
			pthread_cond_wait(&dev->cond, &dev->lock);
		pthread_mutex_unlock(&dev->lock);
	}
	if (old >= 0)
		close(old);
}
