/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transmission phase of a TLS session, served synchronously.
 *
 * Workers reach the raw socket through io_uring and cannot decrypt, so a
 * session that negotiated TLS stays on its own thread: read one request,
 * check it by the rules in request.c, perform it with
 * libmortar's synchronous calls on a loop and an image opened for this
 * connection, reply, repeat.  One request at a time: correct and simple,
 * not fast.  When the server stops, the request in hand is finished and
 * answered, then the session ends with close_notify.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"
#include "request.h"
#include "tls.h"

/* Room for the longest reply header in front of read data. */
#define HDR_ROOM 4096
#define MAX_EXTENTS 4096	/* descriptors per block status reply */

struct tconn {
	struct nbd_server *srv;
	struct nbd_session *s;
	struct nbd_tls_conn *tls;
	struct mortar_loop *loop;
	struct mortar_image *img;
	uint64_t size;
	uint32_t bmax;
	bool read_only;
	bool grace;			/* the server stops: finishing up */
	struct timespec grace_end;
};


enum { T_OK = 0, T_END = 1, T_FAIL = -1 };

/* Modifying requests pass the export's quiesce gate (control.c): they
 * wait while a snapshot is being taken.  False when the server stops
 * meanwhile. */
static bool t_modify_begin(struct tconn *t)
{
	return nbd_quiesce_enter_wait(&t->srv->exports[t->s->export_index].q,
				      &t->srv->stopping);
}

static int t_modify_end(struct tconn *t, int res)
{
	nbd_quiesce_leave(&t->srv->exports[t->s->export_index].q);
	return res;
}


/* ---- moving bytes ---- */

static bool t_past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Wait for EVENTS.  Idle clients may wait forever, as on the workers; once
 * the server stops, a request in hand gets the handshake timeout to
 * finish, and waiting between requests (BETWEEN) ends at once. */
static int t_wait(struct tconn *t, short events, bool between)
{
	struct pollfd p = { .fd = t->s->fd, .events = events };

	for (;;) {
		int r;

		if (atomic_load(&t->srv->stopping)) {
			if (between)
				return T_END;
			if (!t->grace) {
				t->grace = true;
				clock_gettime(CLOCK_MONOTONIC, &t->grace_end);
				t->grace_end.tv_sec += t->srv->handshake_timeout_ms / 1000 + 1;
			} else if (t_past(&t->grace_end)) {
				nbd_log(t->srv, "%s: TLS: gave up finishing a request at "
					"shutdown", t->s->peer);
				return T_FAIL;
			}
		}
		r = poll(&p, 1, 200);
		if (r > 0)
			return T_OK;
		if (r < 0 && errno != EINTR)
			return T_FAIL;
	}
}

/* Receive exactly LEN bytes.  BETWEEN: this is the start of a request, so
 * the end of the stream or a stopping server is a clean end (T_END). */
static int t_recv(struct tconn *t, void *buf, size_t len, bool between)
{
	size_t got = 0;

	while (got < len) {
		short ev = POLLIN;
		ssize_t n = nbd_tls_recv(t->tls, (char *)buf + got, len - got, &ev);
		int r;

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (between && got == 0) {
				nbd_debug(t->srv, "%s: client closed the connection", t->s->peer);
				return T_END;
			}
			nbd_log(t->srv, "%s: connection closed in the middle of a request",
				t->s->peer);
			return T_FAIL;
		}
		if (n != -EAGAIN)
			return T_FAIL;
		r = t_wait(t, ev, between && got == 0);
		if (r != T_OK)
			return r;
	}
	return T_OK;
}

static int t_send(struct tconn *t, const void *buf, size_t len)
{
	size_t put = 0;

	while (put < len) {
		short ev = POLLOUT;
		ssize_t n = nbd_tls_send(t->tls, (const char *)buf + put, len - put, &ev);

		if (n > 0) {
			put += (size_t)n;
			continue;
		}
		if (n != -EAGAIN || t_wait(t, ev, false) != T_OK)
			return T_FAIL;
	}
	return T_OK;
}

/* ---- replies ---- */

static void put_chunk(uint8_t *p, uint16_t flags, uint16_t type, uint64_t cookie,
		      uint32_t len)
{
	nbd_put32(p, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_put16(p + 4, flags);
	nbd_put16(p + 6, type);
	nbd_put64(p + 8, cookie);
	nbd_put32(p + 16, len);
}

static int reply_simple(struct tconn *t, const struct nbd_request *q, int err)
{
	uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];

	nbd_put32(hdr, NBD_SIMPLE_REPLY_MAGIC);
	nbd_put32(hdr + 4, nbd_wire_errno(err));
	nbd_put64(hdr + 8, q->cookie);
	return t_send(t, hdr, sizeof hdr);
}

/* An error: with structured replies, a chunk that carries MSG. */
static int reply_error(struct tconn *t, const struct nbd_request *q, int err, const char *msg)
{
	uint8_t buf[NBD_STRUCTURED_REPLY_SIZE + 6 + 512];
	size_t mlen = msg ? strnlen(msg, 512) : 0;

	if (err == 0)
		err = -EIO;
	nbd_debug(t->srv, "%s: request type %u at %" PRIu64 "+%u failed: %s",
		  t->s->peer, q->type, q->offset, q->len, msg ? msg : strerror(-err));
	if (!t->s->structured)
		return reply_simple(t, q, err);
	put_chunk(buf, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, q->cookie,
		  (uint32_t)(6 + mlen));
	nbd_put32(buf + 20, nbd_wire_errno(err));
	nbd_put16(buf + 24, (uint16_t)mlen);
	if (mlen)
		memcpy(buf + 26, msg, mlen);
	return t_send(t, buf, 26 + mlen);
}

/* The result of a synchronous call: success or its error and message. */
static int reply_result(struct tconn *t, const struct nbd_request *q, int res)
{
	if (res < 0)
		return reply_error(t, q, res, mortar_errmsg());
	return reply_simple(t, q, 0);
}

/* ---- requests ---- */


/* A buffer for LEN bytes of data at HDR_ROOM, aligned for O_DIRECT, with
 * the reply header built just in front of it: one send per reply. */
static uint8_t *t_alloc(uint32_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, (size_t)HDR_ROOM + len))
		return NULL;
	return p;
}

static int do_read(struct tconn *t, const struct nbd_request *q)
{
	uint8_t *buf, *data, *hdr;
	size_t hlen;
	int res, r;

	if (q->len == 0 && t->s->structured) {
		uint8_t none[NBD_STRUCTURED_REPLY_SIZE];
		put_chunk(none, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, q->cookie, 0);
		return t_send(t, none, sizeof none);
	}
	buf = t_alloc(q->len);
	if (!buf)
		return reply_error(t, q, -ENOMEM, "out of memory");
	data = buf + HDR_ROOM;
	res = q->len ? mortar_image_pread_sync(t->img, data, q->len, q->offset) : 0;
	if (res < 0) {
		r = reply_error(t, q, res, mortar_errmsg());
		free(buf);
		return r;
	}
	if (q->type == NBD_CMD_CACHE) {
		free(buf);
		return reply_simple(t, q, 0);
	}
	if (t->s->structured) {
		hlen = NBD_STRUCTURED_REPLY_SIZE + 8;
		hdr = data - hlen;
		put_chunk(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, q->cookie,
			  8 + q->len);
		nbd_put64(hdr + NBD_STRUCTURED_REPLY_SIZE, q->offset);
	} else {
		hlen = NBD_SIMPLE_REPLY_SIZE;
		hdr = data - hlen;
		nbd_put32(hdr, NBD_SIMPLE_REPLY_MAGIC);
		nbd_put32(hdr + 4, 0);
		nbd_put64(hdr + 8, q->cookie);
	}
	r = t_send(t, hdr, hlen + q->len);
	free(buf);
	return r;
}

struct ext_wait {
	bool done;
	int res;
	uint32_t used;
	uint8_t *payload;	/* context id, then (length, flags) pairs */
	const struct nbd_request *q;
	uint32_t meta_id;
	const char *msg;	/* set for failures of our own */
};

static void ext_done(void *opaque, int res, const struct mortar_extent *e, size_t n)
{
	struct ext_wait *w = opaque;
	uint64_t covered = 0;

	w->done = true;
	w->res = res;
	if (res < 0)
		return;
	if (n > MAX_EXTENTS)
		n = MAX_EXTENTS;
	if (w->q->flags & NBD_CMD_FLAG_REQ_ONE)
		n = n ? 1 : 0;
	w->payload = malloc(4 + 8 * (n ? n : 1));
	if (!w->payload) {
		w->res = -ENOMEM;
		w->msg = "out of memory building block status";
		return;
	}
	nbd_put32(w->payload, w->meta_id);
	for (size_t i = 0; i < n && covered < w->q->len; i++) {
		uint64_t len = e[i].length;

		/* Never describe more than was asked. */
		if (len > w->q->len - covered)
			len = w->q->len - covered;
		nbd_put32(w->payload + 4 + 8 * w->used, (uint32_t)len);
		nbd_put32(w->payload + 8 + 8 * w->used,
			  e[i].flags & (NBD_STATE_HOLE | NBD_STATE_ZERO));
		covered += len;
		w->used++;
	}
}

static int do_block_status(struct tconn *t, const struct nbd_request *q)
{
	struct ext_wait w = { .q = q, .meta_id = t->s->meta_id };
	uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE];
	int res, r;

	res = mortar_image_extents(t->img, q->offset, q->len,
				   (q->flags & NBD_CMD_FLAG_REQ_ONE) ? MORTAR_REQ_ONE : 0,
				   ext_done, &w);
	if (res == 0)
		res = mortar_loop_run_until(t->loop, &w.done);
	if (res == 0)
		res = w.res;
	if (res < 0) {
		free(w.payload);
		return reply_error(t, q, res, w.msg ? w.msg : mortar_errmsg());
	}
	if (w.used == 0) {
		free(w.payload);
		return reply_error(t, q, -EIO, "no extents for the range");
	}
	put_chunk(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, q->cookie,
		  4 + 8 * w.used);
	r = t_send(t, hdr, sizeof hdr);
	if (r == T_OK)
		r = t_send(t, w.payload, 4 + 8 * (size_t)w.used);
	free(w.payload);
	return r;
}

/* Read, check and perform one request.  T_OK: go on; T_END: the client
 * disconnected or the server stops; T_FAIL: drop the connection. */
static int t_request(struct tconn *t)
{
	uint8_t rh[NBD_REQUEST_SIZE];
	struct nbd_request q;
	char msg[256];
	unsigned f = 0;
	int err, r;

	r = t_recv(t, rh, sizeof rh, true);
	if (r != T_OK)
		return r;
	if (nbd_get32(rh) != NBD_REQUEST_MAGIC) {
		nbd_log(t->srv, "%s: bad request magic 0x%08x; dropping the connection",
			t->s->peer, nbd_get32(rh));
		return T_FAIL;
	}
	q.flags = nbd_get16(rh + 4);
	q.type = nbd_get16(rh + 6);
	q.cookie = nbd_get64(rh + 8);
	q.offset = nbd_get64(rh + 16);
	q.len = nbd_get32(rh + 24);
	if (q.type == NBD_CMD_DISC) {
		nbd_debug(t->srv, "%s: client disconnected", t->s->peer);
		return T_END;
	}
	{
		struct nbd_limits lim = {
			.size = t->size, .bmax = t->bmax, .read_only = t->read_only,
			.structured = t->s->structured, .meta_alloc = t->s->meta_alloc,
		};
		err = nbd_request_check(&q, &lim, msg, sizeof msg);
	}

	if (q.type == NBD_CMD_WRITE) {
		uint8_t *buf;

		if (q.len > t->bmax) {
			/* Too large to skip safely: the spec lets us hang up. */
			nbd_log(t->srv, "%s: write of %u bytes exceeds the maximum %u; "
				"dropping the connection", t->s->peer, q.len, t->bmax);
			return T_FAIL;
		}
		buf = t_alloc(q.len);
		if (!buf) {
			nbd_log(t->srv, "%s: out of memory for a write; dropping the "
				"connection", t->s->peer);
			return T_FAIL;
		}
		/* The payload follows even when the request is bad. */
		r = t_recv(t, buf + HDR_ROOM, q.len, false);
		if (r == T_OK) {
			if (err)
				r = reply_error(t, &q, err, msg);
			else if (!t_modify_begin(t))
				r = T_FAIL;
			else
				r = reply_result(t, &q, t_modify_end(t, q.len ?
					mortar_image_pwrite_sync(t->img, buf + HDR_ROOM, q.len,
					q.offset, (q.flags & NBD_CMD_FLAG_FUA) ? MORTAR_REQ_FUA : 0) : 0));
		}
		free(buf);
		return r == T_END ? T_FAIL : r;
	}
	if (err)
		return reply_error(t, &q, err, msg);

	switch (q.type) {
	case NBD_CMD_READ:
	case NBD_CMD_CACHE:
		return do_read(t, &q);
	case NBD_CMD_FLUSH:
		return reply_result(t, &q, mortar_image_flush_sync(t->img));
	case NBD_CMD_TRIM:
		if (q.flags & NBD_CMD_FLAG_FUA)
			f |= MORTAR_REQ_FUA;
		if (!t_modify_begin(t))
			return T_FAIL;
		return reply_result(t, &q, t_modify_end(t,
			mortar_image_trim_sync(t->img, q.offset, q.len, f)));
	case NBD_CMD_WRITE_ZEROES:
		if (q.flags & NBD_CMD_FLAG_FUA)
			f |= MORTAR_REQ_FUA;
		if (!(q.flags & NBD_CMD_FLAG_NO_HOLE))
			f |= MORTAR_REQ_MAY_TRIM;
		if (q.flags & NBD_CMD_FLAG_FAST_ZERO)
			f |= MORTAR_REQ_FAST;
		if (!t_modify_begin(t))
			return T_FAIL;
		return reply_result(t, &q, t_modify_end(t,
			mortar_image_zero_sync(t->img, q.offset, q.len, f)));
	case NBD_CMD_BLOCK_STATUS:
		return do_block_status(t, &q);
	}
	return reply_error(t, &q, -EINVAL, "unknown command");	/* not reached */
}

void nbd_tls_transmission(struct nbd_server *srv, struct nbd_session *s)
{
	const struct nbd_export *e = &srv->exports[s->export_index];
	struct tconn t = { .srv = srv, .s = s, .tls = s->tls };
	unsigned flags = srv->open_flags | (e->read_only ? MORTAR_OPEN_RDONLY : 0);
	int r = T_FAIL;

	if (mortar_loop_new(8, &t.loop) < 0) {
		nbd_log(srv, "%s: TLS: %s", s->peer, mortar_errmsg());
		goto out;
	}
	if (mortar_image_open(t.loop, e->location, flags, &t.img) < 0) {
		nbd_log(srv, "%s: opening export '%s': %s", s->peer, e->name,
			mortar_errmsg());
		goto out;
	}
	t.size = mortar_image_size(t.img);
	t.bmax = e->bmax;
	t.read_only = e->read_only || (e->tflags & NBD_FLAG_READ_ONLY);
	nbd_debug(srv, "%s: transmission over TLS on export '%s'%s", s->peer, e->name,
		  s->structured ? " with structured replies" : "");

	/* Stop between requests once the server stops. */
	r = T_END;
	while (!atomic_load(&srv->stopping) && (r = t_request(&t)) == T_OK)
		;
	if (r == T_OK)
		r = T_END;
out:
	if (t.img && mortar_image_close(t.img) < 0)
		nbd_log(srv, "%s: closing export '%s': %s", s->peer, e->name,
			mortar_errmsg());
	mortar_loop_free(t.loop);
	nbd_tls_close(s->tls, r == T_END);
	s->tls = NULL;
	nbd_debug(srv, "%s: connection closed", s->peer);
}
