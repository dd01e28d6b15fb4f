/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A TLS session as an NBD transport, on the worker's event loop.
 *
 * GnuTLS never touches the socket here: its pull function reads
 * ciphertext that io_uring received into IBUF, its push function appends
 * ciphertext to OBUF, which io_uring sends.  So TLS connections get what
 * clear-text ones have (many requests in flight, replies in completion
 * order, sparse reads) from the same protocol path, at the price of the
 * encryption and one copy each way, which the kernel cannot spare us
 * without kTLS.
 *
 * Small pieces of a batch of replies (headers, 4 KiB reads) are gathered
 * into records of up to 16 KiB, so that a batch of 64 small replies is a
 * few records, not 128; large data goes to GnuTLS as it is.  At most
 * TLS_SEND_MAX bytes of plaintext are encrypted per send: the caller's
 * partial-send logic sends the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls-conn.h"
#include "transport.h"

#define TLS_IN_BUF (256u << 10)		/* ciphertext received at once */
#define TLS_SEND_MAX (1u << 20)		/* plaintext encrypted per send */
#define TLS_OUT_BUF (TLS_SEND_MAX + (64u << 10))	/* + record overheads */
#define TLS_STAGE (16u << 10)		/* one full record */
#define TLS_SMALL 4096			/* pieces this small are gathered */

struct tls_xprt {
	struct nbd_xprt x;
	struct nbd_tls_conn *c;
	gnutls_session_t s;

	/* Ciphertext from the socket: [ioff, iend) not yet read by GnuTLS. */
	uint8_t *ibuf;
	size_t ioff, iend;
	struct mortar_op in_op;
	bool in_active, in_eof;

	/* The owner's receive. */
	uint8_t *rbuf;
	size_t rlen, rgot;
	bool rall, r_active;
	struct mortar_op kick_op;	/* starts it on the next loop turn */
	bool kick_pending;

	/* Ciphertext to the socket: [ooff, oend) not yet sent. */
	uint8_t *obuf;
	size_t ooff, oend;
	struct mortar_op out_op;
	bool out_active;

	/* The owner's send: reported once OBUF has drained. */
	size_t s_plain;
	bool s_active;
	int s_err;
	struct mortar_op s_op;		/* reports a send with nothing to write */
	bool s_op_pending;
	uint8_t stage[TLS_STAGE];
	size_t nstage;

	bool failed;		/* the stream is broken: no close_notify */
	bool closed;		/* close() was called: free once idle */
	unsigned depth;		/* inside an owner's callback */
};

#define TLS(x) ((struct tls_xprt *)(x))

static void tls_destroy(struct tls_xprt *t)
{
	nbd_tls_close(t->c, false);	/* frees the session, not the fd */
	close(t->x.fd);
	free(t->ibuf);
	free(t->obuf);
	free(t);
}

/* Free T if close() was called and nothing of ours is still in flight;
 * true when it is gone. */
static bool tls_maybe_destroy(struct tls_xprt *t)
{
	if (!t->closed || t->depth || t->in_active || t->out_active ||
	    t->kick_pending || t->s_op_pending)
		return false;
	tls_destroy(t);
	return true;
}

/* Run an owner's callback; false if T was closed and freed meanwhile. */
static bool tls_call(struct tls_xprt *t, void (*cb)(struct nbd_xprt *, int), int res)
{
	t->depth++;
	cb(&t->x, res);
	t->depth--;
	return !tls_maybe_destroy(t);
}

/* ---- GnuTLS's side: buffers instead of the socket ---- */

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	struct tls_xprt *t = p;
	size_t n = t->iend - t->ioff;

	if (n == 0) {
		if (t->in_eof)
			return 0;
		gnutls_transport_set_errno(t->s, EAGAIN);
		return -1;
	}
	if (n > len)
		n = len;
	memcpy(data, t->ibuf + t->ioff, n);
	t->ioff += n;
	return (ssize_t)n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct tls_xprt *t = p;

	(void)ms;
	return t->iend > t->ioff || t->in_eof;
}

/* OBUF never moves while a send reads from it, so it has a fixed size,
 * large enough for the most that one send encrypts. */
static ssize_t tls_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	struct tls_xprt *t = p;

	if (t->ooff == t->oend && !t->out_active)
		t->ooff = t->oend = 0;
	if (len > TLS_OUT_BUF - t->oend) {
		gnutls_transport_set_errno(t->s, ENOBUFS);
		return -1;
	}
	memcpy(t->obuf + t->oend, data, len);
	t->oend += len;
	return (ssize_t)len;
}

/* ---- sending ---- */

static int tls_send_result(const struct tls_xprt *t)
{
	if (t->s_err)
		return t->s_err;
	return t->failed ? -EPIPE : (int)t->s_plain;
}

/* Send what OBUF holds.  Once it is empty, the owner's send is reported:
 * at once from a completion (INLINE_OK), else on the next loop turn.
 * Returns false if T was freed. */
static bool tls_flush(struct tls_xprt *t, bool inline_ok)
{
	struct io_uring_sqe *sqe;

	if (t->out_active)
		return true;
	if (t->ooff < t->oend && !t->failed) {
		t->out_active = true;
		sqe = mortar_loop_sqe(t->x.loop, &t->out_op);
		io_uring_prep_send(sqe, t->x.fd, t->obuf + t->ooff, t->oend - t->ooff,
				   MSG_NOSIGNAL);
		return true;
	}
	if (!t->s_active || t->s_op_pending)
		return true;
	if (inline_ok) {
		t->s_active = false;
		return tls_call(t, t->x.send_done, tls_send_result(t));
	}
	t->s_op_pending = true;
	mortar_loop_defer(t->x.loop, &t->s_op, 0);
	return true;
}

static void tls_s_done(struct mortar_op *op, int res)
{
	struct tls_xprt *t = (struct tls_xprt *)((char *)op - offsetof(struct tls_xprt, s_op));

	(void)res;
	t->s_op_pending = false;
	if (!t->s_active || t->closed) {
		tls_maybe_destroy(t);
		return;
	}
	t->s_active = false;
	tls_call(t, t->x.send_done, tls_send_result(t));
}

static void tls_out_done(struct mortar_op *op, int res)
{
	struct tls_xprt *t = (struct tls_xprt *)((char *)op - offsetof(struct tls_xprt, out_op));

	t->out_active = false;
	if (res <= 0) {
		t->failed = true;
		t->ooff = t->oend = 0;
		if (!t->s_err)
			t->s_err = res < 0 ? res : -EPIPE;
	} else {
		t->ooff += (size_t)res;
	}
	if (tls_maybe_destroy(t))
		return;
	tls_flush(t, true);
}

/* Encrypt LEN bytes at P into OBUF (GnuTLS cuts them into records). */
static int tls_put(struct tls_xprt *t, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = gnutls_record_send(t->s, p, len);

		if (n < 0) {
			nbd_log(t->c->srv, "%s: TLS send: %s", t->c->peer, gnutls_strerror((int)n));
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int tls_stage_flush(struct tls_xprt *t)
{
	int r = t->nstage ? tls_put(t, t->stage, t->nstage) : 0;

	t->nstage = 0;
	return r;
}

static void tls_sendv(struct nbd_xprt *x, const struct iovec *iov, int iovcnt)
{
	struct tls_xprt *t = TLS(x);
	size_t plain = 0;
	int r = 0;

	t->s_active = true;
	t->s_err = 0;
	for (int i = 0; i < iovcnt && plain < TLS_SEND_MAX && r == 0; i++) {
		size_t len = iov[i].iov_len;

		if (len > TLS_SEND_MAX - plain)
			len = TLS_SEND_MAX - plain;
		if (len <= TLS_SMALL) {
			if (t->nstage + len > TLS_STAGE)
				r = tls_stage_flush(t);
			memcpy(t->stage + t->nstage, iov[i].iov_base, len);
			t->nstage += len;
		} else if ((r = tls_stage_flush(t)) == 0) {
			r = tls_put(t, iov[i].iov_base, len);
		}
		plain += len;
	}
	if (r == 0)
		r = tls_stage_flush(t);
	if (r < 0) {
		t->failed = true;
		t->s_err = r;
	}
	t->s_plain = plain;
	tls_flush(t, false);
}

/* ---- receiving ---- */

static void tls_in_done(struct mortar_op *op, int res);

static void tls_in_start(struct tls_xprt *t)
{
	struct io_uring_sqe *sqe;

	if (t->in_active)
		return;
	if (t->ioff == t->iend) {
		t->ioff = t->iend = 0;
	} else if (t->ioff) {
		memmove(t->ibuf, t->ibuf + t->ioff, t->iend - t->ioff);
		t->iend -= t->ioff;
		t->ioff = 0;
	}
	t->in_active = true;
	sqe = mortar_loop_sqe(t->x.loop, &t->in_op);
	io_uring_prep_recv(sqe, t->x.fd, t->ibuf + t->iend, TLS_IN_BUF - t->iend, 0);
}

/* What a failed gnutls_record_recv means for the owner: 0 for an end of
 * the stream, else a negative errno (logged). */
static int tls_recv_error(struct tls_xprt *t, ssize_t n)
{
	switch (n) {
	case GNUTLS_E_PREMATURE_TERMINATION:
		nbd_debug(t->c->srv, "%s: TLS: the client closed without close_notify",
			  t->c->peer);
		return 0;
	case GNUTLS_E_REHANDSHAKE:
		/* TLS 1.2 renegotiation: not offered, not accepted. */
		nbd_log(t->c->srv, "%s: TLS: renegotiation refused", t->c->peer);
		return -EPROTO;
	default:
		nbd_log(t->c->srv, "%s: TLS receive: %s", t->c->peer, gnutls_strerror((int)n));
		return -EIO;
	}
}

/* Decrypt into the owner's buffer until its receive is satisfied, or
 * fetch more ciphertext.  Returns false if T was freed. */
static bool tls_pump(struct tls_xprt *t)
{
	while (t->r_active) {
		ssize_t n = gnutls_record_recv(t->s, t->rbuf + t->rgot, t->rlen - t->rgot);
		int res;

		if (n > 0) {
			t->rgot += (size_t)n;
			if (t->rall && t->rgot < t->rlen)
				continue;
			res = (int)t->rgot;
		} else if (n == GNUTLS_E_AGAIN) {
			if (!t->rgot || t->rall) {
				tls_in_start(t);
				break;
			}
			res = (int)t->rgot;
		} else if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_WARNING_ALERT_RECEIVED) {
			continue;
		} else {
			/* close_notify (0), an abrupt end or an error: what
			 * was received still counts. */
			res = n == 0 ? 0 : tls_recv_error(t, n);
			if (res < 0)
				t->failed = true;
			if (t->rgot)
				res = (int)t->rgot;
		}
		t->r_active = false;
		if (!tls_call(t, t->x.recv_done, res))
			return false;
	}
	/* Decrypting may have produced records to send (a TLS 1.3 key
	 * update answered). */
	return tls_flush(t, false);
}

static void tls_in_done(struct mortar_op *op, int res)
{
	struct tls_xprt *t = (struct tls_xprt *)((char *)op - offsetof(struct tls_xprt, in_op));

	t->in_active = false;
	if (res <= 0)
		t->in_eof = true;	/* GnuTLS then sees the end, or it was told */
	else
		t->iend += (size_t)res;
	if (tls_maybe_destroy(t))
		return;
	tls_pump(t);
}

static void tls_kick(struct mortar_op *op, int res)
{
	struct tls_xprt *t = (struct tls_xprt *)((char *)op - offsetof(struct tls_xprt, kick_op));

	(void)res;
	t->kick_pending = false;
	if (tls_maybe_destroy(t))
		return;
	tls_pump(t);
}

static void tls_recv(struct nbd_xprt *x, void *buf, size_t len, bool all)
{
	struct tls_xprt *t = TLS(x);

	t->rbuf = buf;
	t->rlen = len;
	t->rgot = 0;
	t->rall = all;
	t->r_active = true;
	/* GnuTLS may hold decrypted data already: look on the next turn,
	 * never inside this call. */
	if (!t->kick_pending) {
		t->kick_pending = true;
		mortar_loop_defer(x->loop, &t->kick_op, 0);
	}
}

/* ---- the end ---- */

static void tls_shutdown(struct nbd_xprt *x, int how)
{
	if (how == SHUT_RDWR)
		TLS(x)->failed = true;
	shutdown(x->fd, how);
}

static void tls_close(struct nbd_xprt *x, bool polite)
{
	struct tls_xprt *t = TLS(x);

	if (polite && !t->failed && !t->out_active &&
	    gnutls_bye(t->s, GNUTLS_SHUT_WR) == GNUTLS_E_SUCCESS && t->oend > t->ooff) {
		/* A few dozen bytes: one try without waiting is enough. */
		ssize_t n = send(x->fd, t->obuf + t->ooff, t->oend - t->ooff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
	}
	t->closed = true;
	tls_maybe_destroy(t);
}

static const struct nbd_xprt_ops tls_ops = {
	.name = "tls",
	.recv = tls_recv,
	.sendv = tls_sendv,
	.shutdown = tls_shutdown,
	.close = tls_close,
};

struct nbd_xprt *nbd_xprt_tls_new(struct mortar_loop *loop, int fd,
				  struct nbd_tls_conn *c)
{
	struct tls_xprt *t = calloc(1, sizeof *t);

	if (!t || !(t->ibuf = malloc(TLS_IN_BUF)) || !(t->obuf = malloc(TLS_OUT_BUF))) {
		if (t)
			free(t->ibuf);
		free(t);
		return NULL;
	}
	t->x.ops = &tls_ops;
	t->x.loop = loop;
	t->x.fd = fd;
	t->c = c;
	t->s = c->session;
	t->in_op.fn = tls_in_done;
	t->out_op.fn = tls_out_done;
	t->kick_op.fn = tls_kick;
	t->s_op.fn = tls_s_done;
	/* From now on GnuTLS reads and writes our buffers, not the fd. */
	gnutls_transport_set_ptr(t->s, t);
	gnutls_transport_set_pull_function(t->s, tls_pull);
	gnutls_transport_set_pull_timeout_function(t->s, tls_pull_timeout);
	gnutls_transport_set_push_function(t->s, tls_push);
	return &t->x;
}
