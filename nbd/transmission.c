/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transmission phase: requests in, replies out, on a worker's loop.
 *
 * One path for every connection: the bytes move through a transport
 * (transport.h), a plain socket or a TLS session.  Each connection keeps
 * one receive in flight (a request header, then a
 * write's payload straight into the request's buffer), dispatches requests
 * to the image as soon as they are whole, and replies in completion order.
 * Replies leave through one sendmsg at a time per connection, batched, so
 * that replies never interleave on the wire.  The number of requests and
 * bytes in flight per connection is bounded: past the bound, the
 * connection stops reading until replies drain.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "protocol.h"
#include "request.h"
#include "server.h"
#include "transmission.h"
#include "transport.h"
#include "zero.h"

#define CONN_MAX_REQUESTS 64
#define SEND_BATCH 64			/* iovec entries per sendmsg */
#define SPARSE_MIN (64u << 10)		/* reads this large may send holes */
#define SPARSE_CHUNKS 16		/* at most this many chunks per read (+1) */
#define MAX_EXTENTS 4096		/* descriptors per block status reply */
#define RBUF_SIZE (64u << 10)		/* one receive brings many requests */
/* After a large write, the next receive takes only this much: the next
 * header, without pulling the next payload into the receive buffer only
 * to copy it out again (a copy of up to 64 KiB per 128 KiB write). */
#define RBUF_AFTER_WRITE 4096u
#define LARGE_WRITE (32u << 10)

struct nbd_req {
	struct nbd_conn *c;
	uint16_t flags, type;
	uint64_t cookie, offset;
	uint32_t len;
	uint32_t counted;		/* bytes charged to bytes_in_flight */
	bool quiesce_counted;		/* counted in the export's quiesce gate */
	void *buf;

	/* The reply: IOVs point into hdr, extra and buf. */
	uint8_t hdr[32];
	uint8_t *extra;
	struct iovec *iov;
	int iovcnt;
	struct iovec iov_inline[3];
	struct nbd_req *next;
};

struct nbd_conn {
	struct srv_unit u;		/* first: the worker sees only this */
	struct nbd_server *srv;
	struct nbd_xprt *x;
	struct nbd_session s;
	struct mortar_image *img;
	uint64_t size;
	uint32_t bmax;
	bool read_only;

	/* Receiving. */
	uint8_t *rbuf;			/* RBUF_SIZE: headers, small payloads */
	uint32_t rstart, rend;		/* unparsed bytes are rbuf[rstart, rend) */
	uint32_t rgot, rneed;		/* payload progress of rreq */
	bool large_writes;		/* the last request was a large write */
	struct nbd_req *rreq;		/* a write whose payload is arriving */
	bool recv_active, recv_paused;
	unsigned in_flight;		/* requests not yet fully replied */
	uint64_t bytes_in_flight;
	uint32_t reserved;		/* request memory taken for the next header */
	uint64_t last_ms;		/* last bytes received (--idle-timeout) */
	/* Modifying requests held while the export is quiesced; they count
	 * as in flight, so they also hold off reading more. */
	struct nbd_req *park_head, *park_tail;

	/* Sending. */
	struct nbd_req *sq_head, *sq_tail;	/* replies ready, not in a batch */
	struct nbd_req *batch[SEND_BATCH];
	int batch_n;
	struct iovec siov[SEND_BATCH];
	int siov_first, siov_n;
	bool send_active;

	unsigned guard;		/* >0 while a function still uses the conn */
	bool closing;		/* no more requests will be read */
	bool freezing;		/* handover: read no more requests for now */
	bool dead;		/* the socket failed: drop replies */
	struct nbd_conn *next;
};

/* Log lines about a connection carry its client and export (journal
 * fields with --log=journal). */
#define CONN_CTX(c) (&(struct srv_logctx){ .client = (c)->s.peer, .export = (c)->u.e->name })
#define conn_log(c, ...) srv_logx((c)->srv->core, LOG_WARNING, CONN_CTX(c), __VA_ARGS__)
#define conn_debug(c, ...) srv_logx((c)->srv->core, LOG_DEBUG, CONN_CTX(c), __VA_ARGS__)

static void conn_maybe_free(struct nbd_conn *c);
static void conn_send_kick(struct nbd_conn *c);
static void conn_reply_sent(struct nbd_conn *c, struct nbd_req *r);

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* ---- buffers ---- */

static void req_put_buf(struct nbd_req *r)
{
	srv_buf_put(srv_worker_pool(r->c->u.w), r->buf, r->len);
	r->buf = NULL;
}

/* ---- replies ---- */

static void req_free(struct nbd_req *r)
{
	if (r->iov != r->iov_inline)
		free(r->iov);
	free(r->extra);
	req_put_buf(r);
	free(r);
}

/* Hand a built reply to the send queue. */
static void req_reply_ready(struct nbd_req *r)
{
	struct nbd_conn *c = r->c;

	r->next = NULL;
	if (c->sq_tail)
		c->sq_tail->next = r;
	else
		c->sq_head = r;
	c->sq_tail = r;
	conn_send_kick(c);
}

static void put_simple(struct nbd_req *r, uint32_t err)
{
	nbd_put32(r->hdr, NBD_SIMPLE_REPLY_MAGIC);
	nbd_put32(r->hdr + 4, err);
	nbd_put64(r->hdr + 8, r->cookie);
	r->iov = r->iov_inline;
	r->iov[0] = (struct iovec){ r->hdr, NBD_SIMPLE_REPLY_SIZE };
	r->iovcnt = 1;
}

static void put_chunk_header(uint8_t *p, uint16_t flags, uint16_t type,
			     uint64_t cookie, uint32_t len)
{
	nbd_put32(p, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_put16(p + 4, flags);
	nbd_put16(p + 6, type);
	nbd_put64(p + 8, cookie);
	nbd_put32(p + 16, len);
}

/* Reply with an error: a structured error chunk carries the message. */
static void req_reply_error(struct nbd_req *r, int err, const char *msg)
{
	struct nbd_conn *c = r->c;
	size_t mlen = msg ? strnlen(msg, NBD_MAX_STRING) : 0;

	req_put_buf(r);
	if (c->srv->core->cfg.verbose) {
		char what[64];

		snprintf(what, sizeof what, "type %u at %" PRIu64 "+%u", r->type,
			 r->offset, r->len);
		srv_logx(c->srv->core, LOG_DEBUG, &(struct srv_logctx){
			 .client = c->s.peer, .export = c->u.e->name, .request = what },
			 "%s: request %s failed: %s", c->s.peer, what,
			 msg ? msg : strerror(-err));
	}
	if (!c->s.structured) {
		put_simple(r, nbd_wire_errno(err));
		req_reply_ready(r);
		return;
	}
	r->extra = malloc(6 + mlen);
	if (!r->extra)
		mlen = 0;
	put_chunk_header(r->hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR,
			 r->cookie, (uint32_t)(6 + mlen));
	r->iov = r->iov_inline;
	r->iov[0] = (struct iovec){ r->hdr, NBD_STRUCTURED_REPLY_SIZE };
	r->iovcnt = 1;
	if (r->extra) {
		nbd_put32(r->extra, nbd_wire_errno(err));
		nbd_put16(r->extra + 4, (uint16_t)mlen);
		memcpy(r->extra + 6, msg, mlen);
		r->iov[1] = (struct iovec){ r->extra, 6 + mlen };
		r->iovcnt = 2;
	} else {
		/* No memory for the payload: an error with an empty message. */
		static uint8_t eio[6] = { 0, 0, 0, NBD_EIO, 0, 0 };
		r->iov[1] = (struct iovec){ eio, sizeof eio };
		r->iovcnt = 2;
	}
	req_reply_ready(r);
}

static void req_reply_ok(struct nbd_req *r)
{
	req_put_buf(r);
	put_simple(r, 0);
	req_reply_ready(r);
}

/* A structured read reply: data chunks, and hole chunks for runs that are
 * all zeroes (the client need not receive them). */
static void req_reply_read_structured(struct nbd_req *r)
{
	uint32_t gran = 4096, nchunks = 0, pos = 0;
	bool sparse = r->len >= SPARSE_MIN && !(r->flags & NBD_CMD_FLAG_DF);
	uint8_t *p, *last = NULL;

	if (r->len == 0) {
		/* Nothing to carry: a lone NONE chunk ends the reply. */
		put_chunk_header(r->hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE,
				 r->cookie, 0);
		r->iov = r->iov_inline;
		r->iov[0] = (struct iovec){ r->hdr, NBD_STRUCTURED_REPLY_SIZE };
		r->iovcnt = 1;
		req_reply_ready(r);
		return;
	}
	if (!sparse) {
		put_chunk_header(r->hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA,
				 r->cookie, 8 + r->len);
		nbd_put64(r->hdr + 20, r->offset);
		r->iov = r->iov_inline;
		r->iov[0] = (struct iovec){ r->hdr, 28 };
		r->iov[1] = (struct iovec){ r->buf, r->len };
		r->iovcnt = 2;
		req_reply_ready(r);
		return;
	}
	while (r->len / gran > SPARSE_CHUNKS * 4)
		gran *= 2;
	/* Worst case every granule alternates: bound chunks, then merge. */
	r->extra = malloc((size_t)(SPARSE_CHUNKS + 2) * 32);
	r->iov = malloc((size_t)(SPARSE_CHUNKS + 2) * 2 * sizeof *r->iov);
	if (!r->extra || !r->iov) {
		free(r->extra);
		r->extra = NULL;
		free(r->iov);
		r->iov = NULL;
		req_reply_error(r, -ENOMEM, "out of memory building a read reply");
		return;
	}
	p = r->extra;
	r->iovcnt = 0;
	while (pos < r->len) {
		uint32_t end = pos, n;
		bool zero = mortar_all_zero((uint8_t *)r->buf + pos,
				     r->len - pos < gran ? r->len - pos : gran);

		/* Extend the run while granules keep the same kind; the last
		 * chunk allowed takes everything left as data. */
		if (nchunks == SPARSE_CHUNKS - 1 && !zero) {
			end = r->len;
		} else {
			while (end < r->len) {
				n = r->len - end < gran ? r->len - end : gran;
				if (mortar_all_zero((uint8_t *)r->buf + end, n) != zero)
					break;
				end += n;
			}
		}
		last = p;
		if (zero) {
			put_chunk_header(p, 0, NBD_REPLY_TYPE_OFFSET_HOLE, r->cookie, 12);
			nbd_put64(p + 20, r->offset + pos);
			nbd_put32(p + 28, end - pos);
			r->iov[r->iovcnt++] = (struct iovec){ p, 32 };
		} else {
			put_chunk_header(p, 0, NBD_REPLY_TYPE_OFFSET_DATA, r->cookie,
					 8 + (end - pos));
			nbd_put64(p + 20, r->offset + pos);
			r->iov[r->iovcnt++] = (struct iovec){ p, 28 };
			r->iov[r->iovcnt++] = (struct iovec){ (uint8_t *)r->buf + pos, end - pos };
		}
		p += 32;
		pos = end;
		nchunks++;
		if (nchunks == SPARSE_CHUNKS && pos < r->len) {
			/* Out of chunks: the rest goes as one data chunk. */
			last = p;
			put_chunk_header(p, 0, NBD_REPLY_TYPE_OFFSET_DATA, r->cookie,
					 8 + (r->len - pos));
			nbd_put64(p + 20, r->offset + pos);
			r->iov[r->iovcnt++] = (struct iovec){ p, 28 };
			r->iov[r->iovcnt++] = (struct iovec){ (uint8_t *)r->buf + pos, r->len - pos };
			p += 32;
			pos = r->len;
		}
	}
	/* The final chunk carries DONE. */
	nbd_put16(last + 4, NBD_REPLY_FLAG_DONE);
	req_reply_ready(r);
}

/* ---- request completions from the image ---- */

static struct srv_quiesce *conn_quiesce(const struct nbd_conn *c)
{
	return &c->u.e->q;
}

static void req_quiesce_leave(struct nbd_req *r)
{
	if (r->quiesce_counted) {
		r->quiesce_counted = false;
		srv_quiesce_leave(conn_quiesce(r->c));
	}
}

static void req_done_simple(void *opaque, int res)
{
	struct nbd_req *r = opaque;

	req_quiesce_leave(r);
	if (res < 0)
		req_reply_error(r, res, mortar_errmsg());
	else
		req_reply_ok(r);
}

static void req_done_read(void *opaque, int res)
{
	struct nbd_req *r = opaque;

	if (res < 0) {
		req_reply_error(r, res, mortar_errmsg());
		return;
	}
	if (r->c->s.structured) {
		req_reply_read_structured(r);
		return;
	}
	put_simple(r, 0);
	r->iov[1] = (struct iovec){ r->buf, r->len };
	r->iovcnt = 2;
	req_reply_ready(r);
}

static void req_done_extents(void *opaque, int res, const struct mortar_extent *e,
			     size_t n)
{
	struct nbd_req *r = opaque;
	uint64_t covered = 0;
	size_t used = 0;

	if (res < 0) {
		req_reply_error(r, res, mortar_errmsg());
		return;
	}
	if (n > MAX_EXTENTS)
		n = MAX_EXTENTS;
	if (r->flags & NBD_CMD_FLAG_REQ_ONE)
		n = n ? 1 : 0;
	r->extra = malloc(4 + 8 * (n ? n : 1));
	if (!r->extra) {
		req_reply_error(r, -ENOMEM, "out of memory building block status");
		return;
	}
	nbd_put32(r->extra, r->c->s.meta_id);
	for (size_t i = 0; i < n && covered < r->len; i++) {
		uint64_t len = e[i].length;

		/* Never describe more than was asked. */
		if (len > r->len - covered)
			len = r->len - covered;
		nbd_put32(r->extra + 4 + 8 * used, (uint32_t)len);
		nbd_put32(r->extra + 8 + 8 * used, e[i].flags & (NBD_STATE_HOLE | NBD_STATE_ZERO));
		covered += len;
		used++;
	}
	put_chunk_header(r->hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS,
			 r->cookie, (uint32_t)(4 + 8 * used));
	r->iov = r->iov_inline;
	r->iov[0] = (struct iovec){ r->hdr, NBD_STRUCTURED_REPLY_SIZE };
	r->iov[1] = (struct iovec){ r->extra, 4 + 8 * used };
	r->iovcnt = 2;
	req_reply_ready(r);
}

/* ---- dispatch ---- */

/* The shared rules of request.c, with this connection's limits. */
static int req_validate(struct nbd_conn *c, struct nbd_req *r, char *msg, size_t msz)
{
	const struct nbd_request q = {
		.flags = r->flags, .type = r->type, .cookie = r->cookie,
		.offset = r->offset, .len = r->len,
	};
	const struct nbd_limits lim = {
		.size = c->size, .bmax = c->bmax, .read_only = c->read_only,
		.structured = c->s.structured, .meta_alloc = c->s.meta_alloc,
	};

	return nbd_request_check(&q, &lim, msg, msz);
}

static bool req_modifies(const struct nbd_req *r)
{
	return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
	       r->type == NBD_CMD_WRITE_ZEROES;
}

static void req_dispatch(struct nbd_conn *c, struct nbd_req *r)
{
	struct iovec iov = { r->buf, r->len };
	unsigned f = 0;
	int res = 0;

	if (req_modifies(r) && !r->quiesce_counted) {
		if (!srv_quiesce_enter(conn_quiesce(c))) {
			/* A snapshot is being taken: hold the request until
			 * nbd_conn_resume(). */
			r->next = NULL;
			if (c->park_tail)
				c->park_tail->next = r;
			else
				c->park_head = r;
			c->park_tail = r;
			return;
		}
		r->quiesce_counted = true;
	}
	switch (r->type) {
	case NBD_CMD_READ:
	case NBD_CMD_CACHE:
		/* CACHE reads into memory and drops it: the host's page cache
		 * (or the storage's) keeps what was read. */
		res = mortar_image_preadv(c->img, &iov, 1, r->offset, 0,
					  r->type == NBD_CMD_READ ? req_done_read :
					  req_done_simple, r);
		break;
	case NBD_CMD_WRITE:
		if (r->flags & NBD_CMD_FLAG_FUA)
			f |= MORTAR_REQ_FUA;
		res = mortar_image_pwritev(c->img, &iov, 1, r->offset, f,
					   req_done_simple, r);
		break;
	case NBD_CMD_FLUSH:
		res = mortar_image_flush(c->img, 0, req_done_simple, r);
		break;
	case NBD_CMD_TRIM:
		if (r->flags & NBD_CMD_FLAG_FUA)
			f |= MORTAR_REQ_FUA;
		res = mortar_image_trim(c->img, r->offset, r->len, f, req_done_simple, r);
		break;
	case NBD_CMD_WRITE_ZEROES:
		if (r->flags & NBD_CMD_FLAG_FUA)
			f |= MORTAR_REQ_FUA;
		if (!(r->flags & NBD_CMD_FLAG_NO_HOLE))
			f |= MORTAR_REQ_MAY_TRIM;
		if (r->flags & NBD_CMD_FLAG_FAST_ZERO)
			f |= MORTAR_REQ_FAST;
		res = mortar_image_zero(c->img, r->offset, r->len, f, req_done_simple, r);
		break;
	case NBD_CMD_BLOCK_STATUS:
		res = mortar_image_extents(c->img, r->offset, r->len,
					   (r->flags & NBD_CMD_FLAG_REQ_ONE) ? MORTAR_REQ_ONE : 0,
					   req_done_extents, r);
		break;
	}
	if (res < 0) {
		req_quiesce_leave(r);
		req_reply_error(r, res, mortar_errmsg());
	}
}

void nbd_conn_resume(struct nbd_conn *c)
{
	struct nbd_req *list = c->park_head, *r;

	c->park_head = c->park_tail = NULL;
	c->guard++;
	while ((r = list)) {
		list = r->next;
		req_dispatch(c, r);	/* parks it again if still quiesced */
	}
	c->guard--;
	conn_maybe_free(c);
}

/* ---- receiving ---- */

static bool conn_over_limit(const struct nbd_conn *c)
{
	return c->in_flight >= CONN_MAX_REQUESTS ||
	       c->bytes_in_flight >= c->srv->core->cfg.conn_max_bytes;
}

/* No more requests from this connection; it is freed once everything in
 * flight is answered (by conn_maybe_free, which the caller runs last). */
static void conn_close_read(struct nbd_conn *c, const char *why)
{
	if (!c->closing && why)
		conn_debug(c, "%s: %s", c->s.peer, why);
	c->closing = true;
}

static void conn_process(struct nbd_conn *c);

/* Receive: the rest of a write's payload straight into its buffer, or
 * whatever the client has sent into the receive buffer, so that one
 * receive often brings many pipelined requests. */
static void conn_recv_more(struct nbd_conn *c)
{
	if (c->recv_active)
		return;
	c->recv_active = true;
	if (c->rreq) {
		c->x->ops->recv(c->x, (uint8_t *)c->rreq->buf + c->rgot,
				c->rneed - c->rgot, true);
		return;
	}
	if (c->rstart) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	c->x->ops->recv(c->x, c->rbuf + c->rend,
			c->large_writes && RBUF_SIZE - c->rend > RBUF_AFTER_WRITE ?
			RBUF_AFTER_WRITE : RBUF_SIZE - c->rend, false);
}

/* A write's payload is complete: run it, or answer its error. */
static void conn_payload_done(struct nbd_conn *c)
{
	struct nbd_req *r = c->rreq;

	c->rreq = NULL;
	if (r->hdr[0]) {
		char msg[128];
		int err = -(int)nbd_get32(r->hdr + 4);
		snprintf(msg, sizeof msg, "write refused: %s", strerror(-err));
		req_reply_error(r, err, msg);
	} else {
		req_dispatch(c, r);
	}
}

static void conn_got_header(struct nbd_conn *c, const uint8_t *h)
{
	struct nbd_req *r;
	char msg[256];
	int err;

	if (nbd_get32(h) != NBD_REQUEST_MAGIC) {
		conn_log(c, "%s: bad request magic 0x%08x; dropping the connection",
			c->s.peer, nbd_get32(h));
		c->dead = true;
		c->x->ops->shutdown(c->x, SHUT_RDWR);
		conn_close_read(c, NULL);
		return;
	}
	r = calloc(1, sizeof *r);
	if (!r) {
		conn_log(c, "%s: out of memory; dropping the connection", c->s.peer);
		conn_close_read(c, NULL);
		return;
	}
	r->c = c;
	r->flags = nbd_get16(h + 4);
	r->type = nbd_get16(h + 6);
	r->cookie = nbd_get64(h + 8);
	r->offset = nbd_get64(h + 16);
	r->len = nbd_get32(h + 24);
	c->large_writes = r->type == NBD_CMD_WRITE && r->len >= LARGE_WRITE;

	if (r->type == NBD_CMD_DISC) {
		free(r);
		conn_close_read(c, "client disconnected");
		return;
	}
	c->in_flight++;
	err = req_validate(c, r, msg, sizeof msg);
	if (r->type == NBD_CMD_WRITE && r->len > c->bmax) {
		/* We cannot skip a payload this large safely: the spec lets
		 * the server hang up instead. */
		conn_log(c, "%s: write of %u bytes exceeds the maximum %u; "
			"dropping the connection", c->s.peer, r->len, c->bmax);
		c->in_flight--;
		free(r);
		c->dead = true;
		c->x->ops->shutdown(c->x, SHUT_RDWR);
		conn_close_read(c, NULL);
		return;
	}
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE ||
	     r->type == NBD_CMD_CACHE) && (err == 0 || r->type == NBD_CMD_WRITE) && r->len) {
		r->buf = srv_buf_get(srv_worker_pool(c->u.w), r->len);
		if (!r->buf) {
			if (r->type == NBD_CMD_WRITE) {
				conn_log(c, "%s: out of memory for a write; dropping "
					"the connection", c->s.peer);
				c->in_flight--;
				free(r);
				conn_close_read(c, NULL);
				return;
			}
			err = -ENOMEM;
			snprintf(msg, sizeof msg, "out of memory");
		}
		r->counted = r->len;
		c->bytes_in_flight += r->len;
		c->reserved = 0;	/* now charged to R (req_memory said r->len) */
	}
	if (r->type == NBD_CMD_WRITE && r->len) {
		/* The payload follows even when the request is bad: read it,
		 * then answer. */
		r->hdr[0] = err ? 1 : 0;
		if (err)
			nbd_put32(r->hdr + 4, (uint32_t)-err);
		c->rreq = r;
		c->rgot = 0;
		c->rneed = r->len;
		return;
	}
	if (err)
		req_reply_error(r, err, msg);
	else
		req_dispatch(c, r);
}

/* The request memory a request will hold: a write's payload, or the data
 * of a read.  Oversized or malformed requests hold none: they are
 * refused or end the connection. */
static uint32_t req_memory(const struct nbd_conn *c, const uint8_t *h)
{
	uint16_t type = nbd_get16(h + 6);
	uint32_t len = nbd_get32(h + 24);

	if (nbd_get32(h) != NBD_REQUEST_MAGIC || len > c->bmax)
		return 0;
	return type == NBD_CMD_READ || type == NBD_CMD_WRITE || type == NBD_CMD_CACHE ?
		len : 0;
}

/* Parse and start every whole request in the receive buffer, then ask
 * for more unless the connection is over its limits. */
static void conn_process(struct nbd_conn *c)
{
	c->guard++;
	while (!c->closing && !c->rreq && !c->freezing) {
		if (conn_over_limit(c)) {
			c->recv_paused = true;
			c->guard--;
			return;
		}
		if (c->rend - c->rstart < NBD_REQUEST_SIZE)
			break;
		c->reserved = req_memory(c, c->rbuf + c->rstart);
		if (c->reserved && !srv_mem_take(&c->u, c->reserved)) {
			/* The worker is over its request memory: wait until
			 * some comes back (wake). */
			c->reserved = 0;
			c->recv_paused = true;
			c->guard--;
			return;
		}
		c->rstart += NBD_REQUEST_SIZE;
		conn_got_header(c, c->rbuf + c->rstart - NBD_REQUEST_SIZE);
		if (c->reserved) {
			/* Not used: no buffer after all. */
			srv_mem_give(c->u.w, c->reserved);
			c->reserved = 0;
		}
		if (c->rreq) {
			/* Take what already arrived of the payload. */
			uint32_t n = c->rend - c->rstart;
			if (n > c->rneed)
				n = c->rneed;
			memcpy(c->rreq->buf, c->rbuf + c->rstart, n);
			c->rstart += n;
			c->rgot = n;
			if (c->rgot == c->rneed)
				conn_payload_done(c);
		}
	}
	c->guard--;
	if (c->closing || (c->freezing && !c->rreq)) {
		conn_maybe_free(c);	/* last use of c */
		return;
	}
	c->recv_paused = false;
	conn_recv_more(c);
}

static void conn_recv_done(struct nbd_xprt *x, int res)
{
	struct nbd_conn *c = x->owner;

	c->recv_active = false;
	if (res == -ECANCELED && c->freezing) {
		conn_maybe_free(c);	/* frozen, if nothing else is left */
		return;
	}
	if (res > 0 && c->srv->core->cfg.idle_timeout_s)
		c->last_ms = now_ms();
	/* Answering a refused write below can drop the last reply of a
	 * connection whose sends failed: hold C until conn_process. */
	c->guard++;
	if (res <= 0) {
		bool partial = c->rreq || c->rend > c->rstart;

		if (c->rreq) {
			/* A truncated write: nothing to answer. */
			conn_reply_sent(c, c->rreq);
			c->rreq = NULL;
		}
		if (res == 0 && partial && !c->closing)
			conn_log(c, "%s: connection closed in the middle of a "
				"request", c->s.peer);
		conn_close_read(c, res == 0 ? "client closed the connection" :
				"receive failed");
		c->guard--;
		conn_maybe_free(c);
		return;
	}
	if (c->rreq) {
		c->rgot += (uint32_t)res;
		if (c->rgot < c->rneed) {
			c->guard--;
			conn_recv_more(c);
			return;
		}
		conn_payload_done(c);
	} else {
		c->rend += (uint32_t)res;
	}
	c->guard--;
	conn_process(c);	/* frees C if it is closing and done */
}

/* ---- sending ---- */

static void conn_send_submit(struct nbd_conn *c)
{
	c->send_active = true;
	c->x->ops->sendv(c->x, c->siov + c->siov_first, c->siov_n - c->siov_first);
}

static void conn_reply_sent(struct nbd_conn *c, struct nbd_req *r)
{
	c->in_flight--;
	c->bytes_in_flight -= r->counted;
	srv_mem_give(c->u.w, r->counted);
	req_free(r);
}

/* Start a batch from the queue if none is on the wire. */
static void conn_send_kick(struct nbd_conn *c)
{
	if (c->send_active)
		return;
	if (c->dead) {
		while (c->sq_head) {
			struct nbd_req *r = c->sq_head;
			c->sq_head = r->next;
			conn_reply_sent(c, r);
		}
		c->sq_tail = NULL;
		conn_maybe_free(c);
		return;
	}
	c->batch_n = 0;
	c->siov_first = c->siov_n = 0;
	while (c->sq_head && c->batch_n < SEND_BATCH &&
	       (c->siov_n == 0 || c->siov_n + c->sq_head->iovcnt <= SEND_BATCH)) {
		struct nbd_req *r = c->sq_head;

		if (r->iovcnt > SEND_BATCH)
			break;	/* cannot happen: replies use at most 34 */
		c->sq_head = r->next;
		memcpy(c->siov + c->siov_n, r->iov, (size_t)r->iovcnt * sizeof *r->iov);
		c->siov_n += r->iovcnt;
		c->batch[c->batch_n++] = r;
	}
	if (!c->sq_head)
		c->sq_tail = NULL;
	if (c->batch_n == 0) {
		if (c->recv_paused && !conn_over_limit(c)) {
			c->guard++;
			conn_process(c);
			c->guard--;
		}
		conn_maybe_free(c);
		return;
	}
	conn_send_submit(c);
}

static void conn_send_done(struct nbd_xprt *x, int res)
{
	struct nbd_conn *c = x->owner;
	size_t left;

	c->send_active = false;
	c->guard++;
	if (res < 0) {
		if (res != -EPIPE && res != -ECONNRESET)
			conn_log(c, "%s: send failed: %s", c->s.peer, strerror(-res));
		c->dead = true;
		c->closing = true;
		c->x->ops->shutdown(c->x, SHUT_RDWR);
		for (int i = 0; i < c->batch_n; i++)
			conn_reply_sent(c, c->batch[i]);
		c->batch_n = 0;
		c->guard--;
		conn_send_kick(c);
		return;
	}
	/* Skip what went out; resubmit the rest of a partial send. */
	left = (size_t)res;
	while (c->siov_first < c->siov_n && left >= c->siov[c->siov_first].iov_len)
		left -= c->siov[c->siov_first++].iov_len;
	if (c->siov_first < c->siov_n) {
		c->siov[c->siov_first].iov_base = (char *)c->siov[c->siov_first].iov_base + left;
		c->siov[c->siov_first].iov_len -= left;
		c->guard--;
		conn_send_submit(c);
		return;
	}
	for (int i = 0; i < c->batch_n; i++)
		conn_reply_sent(c, c->batch[i]);
	c->batch_n = 0;
	if (c->recv_paused && !conn_over_limit(c) && !c->closing)
		conn_process(c);
	c->guard--;
	conn_send_kick(c);	/* may free c: last use */
}

/* ---- lifetime ---- */

/* Handover: nothing in flight any more, so the connection can go to the
 * next process as it is, with the bytes already received but not yet
 * parsed. */
static void conn_maybe_frozen(struct nbd_conn *c)
{
	struct json_object *st;
	uint32_t n = c->rend - c->rstart;
	char *hex;

	if (c->u.frozen || c->guard || c->recv_active || c->send_active ||
	    c->in_flight || c->rreq || c->sq_head)
		return;
	hex = malloc((size_t)n * 2 + 1);
	if (!hex) {
		srv_unit_frozen(&c->u, -1, NULL);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", c->rbuf[c->rstart + i]);
	hex[2 * n] = '\0';
	st = json_object_new_object();
	json_object_object_add(st, "proto", json_object_new_string("nbd"));
	json_object_object_add(st, "export", json_object_new_string(c->u.e->name));
	/* So that the next process can tell an export that changed. */
	json_object_object_add(st, "location", json_object_new_string(c->u.e->location));
	json_object_object_add(st, "read_only",
			       json_object_new_boolean(c->u.e->caps & MORTAR_CAP_READ_ONLY));
	json_object_object_add(st, "structured", json_object_new_boolean(c->s.structured));
	json_object_object_add(st, "meta_alloc", json_object_new_boolean(c->s.meta_alloc));
	json_object_object_add(st, "meta_id", json_object_new_int64(c->s.meta_id));
	json_object_object_add(st, "peer", json_object_new_string(c->s.peer));
	json_object_object_add(st, "pending", json_object_new_string(hex));
	free(hex);
	conn_debug(c, "%s: frozen for the handover (%u bytes received not yet "
		  "read)", c->s.peer, n);
	srv_unit_frozen(&c->u, c->x->ops->handover_fd(c->x), st);
}

static void conn_maybe_free(struct nbd_conn *c)
{
	if (c->freezing && !c->closing) {
		conn_maybe_frozen(c);
		return;
	}
	if (!c->closing || c->guard || c->recv_active || c->send_active ||
	    c->in_flight || c->sq_head)
		return;
	conn_debug(c, "%s: connection closed", c->s.peer);
	srv_unit_detach(&c->u);
	/* Politely (TLS: close_notify) unless the stream broke. */
	c->x->ops->close(c->x, !c->dead);
	free(c->rbuf);
	free(c);
}

/* ---- the connection as a unit of the worker ---- */

static void unit_resume(struct srv_unit *u)
{
	nbd_conn_resume((struct nbd_conn *)u);
}

/* Stop reading: the pending receive ends, requests in flight finish
 * and are answered, then the connection closes. */
static void unit_stop(struct srv_unit *u)
{
	struct nbd_conn *c = (struct nbd_conn *)u;

	c->closing = true;
	c->x->ops->shutdown(c->x, SHUT_RD);
	conn_maybe_free(c);
}

static void unit_tick(struct srv_unit *u, uint64_t now)
{
	struct nbd_conn *c = (struct nbd_conn *)u;
	uint64_t idle_ms = (uint64_t)c->srv->core->cfg.idle_timeout_s * 1000;

	if (c->closing || c->freezing || c->in_flight || now - c->last_ms < idle_ms)
		return;
	conn_log(c, "%s: idle for %u s (--idle-timeout); closing the connection",
		c->s.peer, c->srv->core->cfg.idle_timeout_s);
	unit_stop(u);
}

static void unit_wake(struct srv_unit *u)
{
	struct nbd_conn *c = (struct nbd_conn *)u;

	if (c->recv_paused && !c->closing && !c->recv_active)
		conn_process(c);	/* may free c */
}

static void unit_freeze(struct srv_unit *u)
{
	struct nbd_conn *c = (struct nbd_conn *)u;

	if (c->closing)
		return;		/* it detaches soon: not carried */
	if (!c->x->ops->handover_fd) {
		conn_log(c, "%s: a %s connection cannot be carried over to the new "
			"process (its session state lives in this one); closing it "
			"between requests, the client reconnects", c->s.peer,
			c->x->ops->name);
		unit_stop(u);
		return;
	}
	c->freezing = true;
	/* The pending receive ends; a write's payload still arrives. */
	if (c->recv_active && !c->rreq)
		c->x->ops->cancel_recv(c->x);
	conn_maybe_free(c);
}

static void unit_thaw(struct srv_unit *u)
{
	struct nbd_conn *c = (struct nbd_conn *)u;

	if (!c->freezing)
		return;
	c->freezing = false;
	if (!c->recv_active)
		conn_process(c);	/* what arrived meanwhile, then receive */
}

static const struct srv_unit_ops conn_unit_ops = {
	.resume = unit_resume,
	.stop = unit_stop,
	.tick = unit_tick,
	.wake = unit_wake,
	.freeze = unit_freeze,
	.thaw = unit_thaw,
};

struct nbd_conn *nbd_conn_start_xprt(struct srv_worker *w, struct nbd_server *srv,
				     const struct nbd_session *s, struct nbd_xprt *x)
{
	const struct srv_export *e = s->e;
	struct nbd_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->u.ops = &conn_unit_ops;
	c->u.e = s->e;
	c->srv = srv;
	c->x = x;
	c->s = *s;
	c->s.tls = NULL;	/* the transport owns it */
	c->img = srv_worker_image(w, e);
	c->size = mortar_image_size(c->img);
	c->bmax = e->bmax;
	c->read_only = e->caps & MORTAR_CAP_READ_ONLY;
	c->last_ms = now_ms();
	c->rbuf = malloc(RBUF_SIZE);
	if (!c->rbuf || s->npending > RBUF_SIZE) {
		free(c->rbuf);
		free(c);
		return NULL;
	}
	x->owner = c;
	x->recv_done = conn_recv_done;
	x->send_done = conn_send_done;
	srv_unit_attach(w, &c->u);
	conn_debug(c, "%s: transmission on export '%s'%s%s", s->peer, e->name,
		  s->structured ? " with structured replies" : "",
		  s->tls ? " over TLS" : "");
	if (s->npending) {
		/* Handed over: what the previous process had received. */
		memcpy(c->rbuf, s->pending, s->npending);
		c->rend = s->npending;
		conn_process(c);
	} else {
		conn_recv_more(c);
	}
	return c;
}

struct nbd_conn *nbd_conn_start(struct srv_worker *w, struct nbd_server *srv,
				struct nbd_session *s)
{
	struct mortar_loop *loop = srv_worker_loop(w);
	struct nbd_xprt *x = s->tls ? nbd_xprt_tls_new(loop, s->fd, s->tls) :
		nbd_xprt_socket_new(loop, s->fd);
	struct nbd_conn *c;

	if (!x)
		return NULL;
	/* The transport owns the fd and the TLS session from here. */
	s->tls = NULL;
	s->fd = -1;
	c = nbd_conn_start_xprt(w, srv, s, x);
	if (!c)
		x->ops->close(x, false);
	return c;
}
