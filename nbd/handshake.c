/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fixed newstyle handshake.
 *
 * Negotiation is short and rare, so it runs as plain blocking code on its
 * own thread, every read and write bounded by one deadline for the whole
 * handshake (10 s by default, as QEMU does since CVE-2024-7409): a client
 * that connects and says nothing cannot hold a connection slot.  Only
 * sessions that reach transmission go to a worker's event loop; those
 * that negotiated TLS (NBD_OPT_STARTTLS) stay on this thread (nbd/tls.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "server.h"
#include "tls.h"

/* Options carry at most this much data; more is answered ERR_TOO_BIG. */
#define HS_MAX_OPTION 65536

struct hs {
	struct nbd_server *srv;
	int fd;
	struct timespec deadline;
	bool no_zeroes;
	bool structured;
	bool meta_alloc;
	const struct srv_export *meta_export;	/* the meta context was set for */
	struct nbd_session *s;
	struct nbd_tls_conn *tls;	/* after STARTTLS: all I/O goes through it */
};

/* Log lines about a negotiation carry its client (journal field). */
#define HS_CTX(h) (&(struct srv_logctx){ .client = (h)->s->peer })
#define hs_log(h, ...) srv_logx((h)->srv->core, LOG_WARNING, HS_CTX(h), __VA_ARGS__)
#define hs_debug(h, ...) srv_logx((h)->srv->core, LOG_DEBUG, HS_CTX(h), __VA_ARGS__)

static int hs_remaining_ms(const struct hs *h)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (h->deadline.tv_sec - now.tv_sec) * 1000LL +
	     (h->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 200 ? 200 : (int)ms;
}

/* Wait for FD to be ready; -1 on timeout or shutdown. */
static int hs_wait(struct hs *h, short events)
{
	struct pollfd p = { .fd = h->fd, .events = events };

	for (;;) {
		int ms = hs_remaining_ms(h), r;

		if (ms == 0) {
			hs_log(h, "%s: handshake timed out", h->s->peer);
			return -1;
		}
		if (atomic_load(&h->srv->core->stopping))
			return -1;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Through TLS: try first (GnuTLS may hold decrypted data), poll after. */
static int hs_tls_io(struct hs *h, bool rd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		short ev = rd ? POLLIN : POLLOUT;
		ssize_t n = rd ? nbd_tls_recv(h->tls, (char *)buf + done, len - done, &ev) :
			nbd_tls_send(h->tls, (char *)buf + done, len - done, &ev);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0) {
			hs_debug(h, "%s: client closed during handshake", h->s->peer);
			return -1;
		}
		if (n != -EAGAIN || hs_wait(h, ev) < 0)
			return -1;
	}
	return 0;
}

static int hs_read(struct hs *h, void *buf, size_t len)
{
	size_t got = 0;

	if (h->tls)
		return hs_tls_io(h, true, buf, len);
	while (got < len) {
		ssize_t n;

		if (hs_wait(h, POLLIN) < 0)
			return -1;
		n = recv(h->fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0) {
			hs_debug(h, "%s: client closed during handshake", h->s->peer);
			return -1;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			hs_debug(h, "%s: read: %m", h->s->peer);
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

static int hs_write(struct hs *h, const void *buf, size_t len)
{
	size_t put = 0;

	if (h->tls)
		return hs_tls_io(h, false, (void *)buf, len);
	while (put < len) {
		ssize_t n;

		if (hs_wait(h, POLLOUT) < 0)
			return -1;
		n = send(h->fd, (const char *)buf + put, len - put,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			hs_debug(h, "%s: write: %m", h->s->peer);
			return -1;
		}
		put += (size_t)n;
	}
	return 0;
}

/* Skip LEN bytes of option data we will not use. */
static int hs_skip(struct hs *h, uint32_t len)
{
	char buf[4096];

	while (len) {
		uint32_t n = len < sizeof buf ? len : (uint32_t)sizeof buf;
		if (hs_read(h, buf, n) < 0)
			return -1;
		len -= n;
	}
	return 0;
}

static int hs_reply(struct hs *h, uint32_t opt, uint32_t type, const void *data,
		    uint32_t len)
{
	uint8_t hdr[20];

	nbd_put64(hdr, NBD_REP_MAGIC);
	nbd_put32(hdr + 8, opt);
	nbd_put32(hdr + 12, type);
	nbd_put32(hdr + 16, len);
	if (hs_write(h, hdr, sizeof hdr) < 0)
		return -1;
	return len ? hs_write(h, data, len) : 0;
}

/* An error reply with a message for the client's user. */
static int hs_error(struct hs *h, uint32_t opt, uint32_t type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int hs_error(struct hs *h, uint32_t opt, uint32_t type, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	if (h->srv->core->cfg.verbose) {
		char shown[300];	/* MSG may quote what the client sent */

		hs_debug(h, "%s: option %u refused: %s", h->s->peer, opt,
			  srv_printable(msg, (size_t)n, shown, sizeof shown));
	}
	return hs_reply(h, opt, type, msg, (uint32_t)n);
}

uint16_t nbd_export_tflags(const struct srv_export *e)
{
	/* Capabilities are NBD flags already; RESIZE is an NBD extension
	 * this server does not speak, CACHE is done by reading. */
	return (uint16_t)(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_CACHE |
		(e->caps & (NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
			    NBD_FLAG_ROTATIONAL | NBD_FLAG_SEND_TRIM |
			    NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN |
			    NBD_FLAG_SEND_FAST_ZERO)));
}

static uint16_t hs_tflags(struct hs *h, const struct srv_export *e)
{
	uint16_t f = nbd_export_tflags(e);

	if (h->structured)
		f |= NBD_FLAG_SEND_DF;
	return f;
}

/* Read a length-prefixed string from option data. */
static int hs_take_string(const uint8_t **p, uint32_t *left, char *out, size_t outsz)
{
	uint32_t len;

	if (*left < 4)
		return -1;
	len = nbd_get32(*p);
	*p += 4;
	*left -= 4;
	if (len > *left || len >= outsz)
		return -1;
	memcpy(out, *p, len);
	out[len] = '\0';
	if (memchr(out, '\0', len))
		return -1;	/* NUL inside a name */
	*p += len;
	*left -= len;
	return 0;
}

static int hs_send_info_export(struct hs *h, uint32_t opt, const struct srv_export *e)
{
	uint8_t info[12];

	nbd_put16(info, NBD_INFO_EXPORT);
	nbd_put64(info + 2, e->size);
	nbd_put16(info + 10, hs_tflags(h, e));
	return hs_reply(h, opt, NBD_REP_INFO, info, sizeof info);
}

static int hs_opt_info_go(struct hs *h, uint32_t opt, const uint8_t *data, uint32_t len)
{
	char name[NBD_MAX_STRING + 1];
	const uint8_t *p = data;
	uint32_t left = len;
	uint16_t nreq;
	bool want_name = false, want_desc = false, want_bs = false;
	struct srv_export *e;

	if (hs_take_string(&p, &left, name, sizeof name) < 0 || left < 2)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "malformed %s request",
				opt == NBD_OPT_GO ? "GO" : "INFO");
	nreq = nbd_get16(p);
	p += 2;
	left -= 2;
	if (left != (uint32_t)nreq * 2)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "information request "
				"count does not match the option length");
	for (uint16_t i = 0; i < nreq; i++) {
		switch (nbd_get16(p + 2 * i)) {
		case NBD_INFO_NAME: want_name = true; break;
		case NBD_INFO_DESCRIPTION: want_desc = true; break;
		case NBD_INFO_BLOCK_SIZE: want_bs = true; break;
		}
	}
	if (h->srv->tls_required && !h->tls)
		return hs_error(h, opt, NBD_REP_ERR_TLS_REQD, "this server requires TLS");
	e = srv_export_find(h->srv->core, name);
	if (!e)
		return hs_error(h, opt, NBD_REP_ERR_UNKNOWN, "no export named '%s' "
				"(NBD_OPT_LIST shows the exports)", name);
	if (hs_send_info_export(h, opt, e) < 0)
		return -1;
	if (want_name) {
		uint8_t buf[2 + NBD_MAX_STRING];
		/* The server refuses longer names at startup; bounded here
		 * too, since the buffer is on the stack. */
		size_t n = strnlen(e->name, NBD_MAX_STRING);
		nbd_put16(buf, NBD_INFO_NAME);
		memcpy(buf + 2, e->name, n);
		if (hs_reply(h, opt, NBD_REP_INFO, buf, (uint32_t)(2 + n)) < 0)
			return -1;
	}
	if (want_desc && e->description) {
		uint8_t buf[2 + NBD_MAX_STRING];
		size_t n = strnlen(e->description, NBD_MAX_STRING);
		nbd_put16(buf, NBD_INFO_DESCRIPTION);
		memcpy(buf + 2, e->description, n);
		if (hs_reply(h, opt, NBD_REP_INFO, buf, (uint32_t)(2 + n)) < 0)
			return -1;
	}
	/* Block sizes are sent even unasked: a client that did not ask may
	 * ignore them, one that did relies on them. */
	{
		uint8_t buf[14];
		nbd_put16(buf, NBD_INFO_BLOCK_SIZE);
		nbd_put32(buf + 2, want_bs ? e->bmin : 1);
		nbd_put32(buf + 6, e->bpref);
		nbd_put32(buf + 10, e->bmax);
		if (hs_reply(h, opt, NBD_REP_INFO, buf, sizeof buf) < 0)
			return -1;
	}
	if (hs_reply(h, opt, NBD_REP_ACK, NULL, 0) < 0)
		return -1;
	if (opt == NBD_OPT_GO) {
		/* Contexts hold only if they were last set for the export
		 * finally chosen (an INFO about another one in between does
		 * not matter), as the spec says. */
		if (h->meta_export != e)
			h->meta_alloc = false;
		h->s->e = e;
		return 1;
	}
	return 0;
}

static int hs_opt_list(struct hs *h, uint32_t opt, uint32_t len)
{
	if (len)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "LIST takes no data");
	for (size_t i = 0; i < h->srv->core->nexports; i++) {
		const struct srv_export *e = h->srv->core->exports[i];
		size_t n = strnlen(e->name, NBD_MAX_STRING), d = e->description ?
			strnlen(e->description, NBD_MAX_STRING) : 0;
		uint8_t *buf = malloc(4 + n + d);
		int r;

		if (!buf)
			return -1;
		nbd_put32(buf, (uint32_t)n);
		memcpy(buf + 4, e->name, n);
		if (d)
			memcpy(buf + 4 + n, e->description, d);
		r = hs_reply(h, opt, NBD_REP_SERVER, buf, (uint32_t)(4 + n + d));
		free(buf);
		if (r < 0)
			return -1;
	}
	return hs_reply(h, opt, NBD_REP_ACK, NULL, 0);
}

/* Does QUERY select base:allocation?  "base:" lists every base context,
 * for LIST only; an empty list of queries means all contexts (LIST). */
static bool hs_meta_match(const char *q, bool list)
{
	if (!strcmp(q, "base:allocation"))
		return true;
	return list && !strcmp(q, "base:");
}

static int hs_opt_meta(struct hs *h, uint32_t opt, const uint8_t *data, uint32_t len)
{
	char name[NBD_MAX_STRING + 1], q[NBD_MAX_STRING + 1];
	const uint8_t *p = data;
	uint32_t left = len, nq;
	bool list = opt == NBD_OPT_LIST_META_CONTEXT, found = false;
	struct srv_export *e;

	if (!list && !h->structured)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "negotiate structured "
				"replies before setting meta contexts");
	if (hs_take_string(&p, &left, name, sizeof name) < 0 || left < 4)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "malformed meta context "
				"request");
	nq = nbd_get32(p);
	p += 4;
	left -= 4;
	e = srv_export_find(h->srv->core, name);
	if (!e)
		return hs_error(h, opt, NBD_REP_ERR_UNKNOWN, "no export named '%s'", name);
	if (!list) {
		h->meta_alloc = false;
		h->meta_export = e;
	}
	if (nq == 0 && list)
		found = true;
	for (uint32_t i = 0; i < nq; i++) {
		if (hs_take_string(&p, &left, q, sizeof q) < 0)
			return hs_error(h, opt, NBD_REP_ERR_INVALID, "malformed meta "
					"context query");
		if (hs_meta_match(q, list))
			found = true;
	}
	if (left)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "trailing data in meta "
				"context request");
	if (found) {
		uint8_t buf[4 + 15];
		nbd_put32(buf, 1);	/* our one context's id */
		memcpy(buf + 4, "base:allocation", 15);
		if (hs_reply(h, opt, NBD_REP_META_CONTEXT, buf, sizeof buf) < 0)
			return -1;
		if (!list)
			h->meta_alloc = true;
	}
	return hs_reply(h, opt, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_EXPORT_NAME: the old way in, with no chance to say "no". */
static int hs_opt_export_name(struct hs *h, const uint8_t *data, uint32_t len)
{
	char name[NBD_MAX_STRING + 1];
	uint8_t buf[10 + 124] = { 0 };
	struct srv_export *e;

	if (len > NBD_MAX_STRING)
		return -1;
	memcpy(name, data, len);
	name[len] = '\0';
	if (h->srv->tls_required && !h->tls) {
		hs_log(h, "%s: EXPORT_NAME without TLS refused", h->s->peer);
		return -1;
	}
	e = srv_export_find(h->srv->core, name);
	if (!e) {
		char shown[100];

		hs_log(h, "%s: unknown export '%s'", h->s->peer,
			srv_printable(name, len, shown, sizeof shown));
		return -1;	/* the protocol lets us only hang up */
	}
	nbd_put64(buf, e->size);
	nbd_put16(buf + 8, hs_tflags(h, e));
	if (hs_write(h, buf, h->no_zeroes ? 10 : sizeof buf) < 0)
		return -1;
	h->s->e = e;
	if (h->meta_export != e)
		h->meta_alloc = false;
	return 1;
}

/* NBD_OPT_STARTTLS: acknowledge, then the TLS handshake within the same
 * deadline.  Returns 0 to go on negotiating (now over TLS), -1 to hang up. */
static int hs_opt_starttls(struct hs *h, uint32_t opt, uint32_t len)
{
	if (len)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "STARTTLS takes no data");
	if (h->tls)
		return hs_error(h, opt, NBD_REP_ERR_INVALID, "TLS is already active");
	if (hs_reply(h, opt, NBD_REP_ACK, NULL, 0) < 0)
		return -1;
	h->tls = nbd_tls_handshake(h->srv, h->fd, h->s->peer, &h->deadline);
	if (!h->tls)
		return -1;
	/* What was negotiated in clear text is void: an attacker could have
	 * injected it (as in CVE-2021-3716). */
	h->structured = false;
	h->meta_alloc = false;
	h->meta_export = NULL;
	return 0;
}

int nbd_handshake(struct nbd_server *srv, int fd, struct nbd_session *session)
{
	struct hs h = { .srv = srv, .fd = fd, .s = session, .meta_export = NULL };
	uint8_t greet[18], cflags[4], opthdr[16];
	uint8_t *data = NULL;
	int r = -1;

	clock_gettime(CLOCK_MONOTONIC, &h.deadline);
	h.deadline.tv_sec += srv->handshake_timeout_ms / 1000;
	h.deadline.tv_nsec += (long)(srv->handshake_timeout_ms % 1000) * 1000000;
	if (h.deadline.tv_nsec >= 1000000000) {
		h.deadline.tv_sec++;
		h.deadline.tv_nsec -= 1000000000;
	}

	nbd_put64(greet, NBD_MAGIC);
	nbd_put64(greet + 8, NBD_IHAVEOPT);
	nbd_put16(greet + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	if (hs_write(&h, greet, sizeof greet) < 0 || hs_read(&h, cflags, 4) < 0)
		return -1;
	if (!(nbd_get32(cflags) & NBD_FLAG_FIXED_NEWSTYLE)) {
		nbd_log(srv, "%s: client does not speak fixed newstyle NBD; "
			"only fixed newstyle is supported", session->peer);
		return -1;
	}
	if (nbd_get32(cflags) & ~(uint32_t)(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)) {
		nbd_log(srv, "%s: unknown client flags 0x%x", session->peer,
			nbd_get32(cflags));
		return -1;
	}
	h.no_zeroes = nbd_get32(cflags) & NBD_FLAG_NO_ZEROES;

	for (;;) {
		uint32_t opt, len;

		free(data);
		data = NULL;
		if (hs_read(&h, opthdr, sizeof opthdr) < 0)
			goto out;
		if (nbd_get64(opthdr) != NBD_IHAVEOPT) {
			nbd_log(srv, "%s: bad option magic", session->peer);
			goto out;
		}
		opt = nbd_get32(opthdr + 8);
		len = nbd_get32(opthdr + 12);
		if (len > HS_MAX_OPTION) {
			if (opt == NBD_OPT_EXPORT_NAME)
				goto out;
			if (hs_skip(&h, len) < 0 ||
			    hs_error(&h, opt, NBD_REP_ERR_TOO_BIG, "option data of %u "
				     "bytes is too large", len) < 0)
				goto out;
			continue;
		}
		data = malloc(len ? len : 1);
		if (!data || hs_read(&h, data, len) < 0)
			goto out;

		if (srv->tls_required && !h.tls && opt != NBD_OPT_STARTTLS &&
		    opt != NBD_OPT_ABORT) {
			if (opt == NBD_OPT_EXPORT_NAME) {
				nbd_log(srv, "%s: EXPORT_NAME without TLS refused",
					session->peer);
				goto out;	/* no way to say no but hanging up */
			}
			if (hs_error(&h, opt, NBD_REP_ERR_TLS_REQD, "this server requires "
				     "TLS: negotiate it with NBD_OPT_STARTTLS first") < 0)
				goto out;
			continue;
		}

		switch (opt) {
		case NBD_OPT_EXPORT_NAME:
			r = hs_opt_export_name(&h, data, len);
			goto out;
		case NBD_OPT_ABORT:
			/* The client may not wait for the ACK: ignore errors. */
			hs_reply(&h, opt, NBD_REP_ACK, NULL, 0);
			r = 0;
			goto out;
		case NBD_OPT_LIST:
			if (hs_opt_list(&h, opt, len) < 0)
				goto out;
			break;
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			r = hs_opt_info_go(&h, opt, data, len);
			if (r != 0)
				goto out;
			break;
		case NBD_OPT_STRUCTURED_REPLY:
			if (len) {
				if (hs_error(&h, opt, NBD_REP_ERR_INVALID, "STRUCTURED_REPLY "
					     "takes no data") < 0)
					goto out;
				break;
			}
			h.structured = true;
			if (hs_reply(&h, opt, NBD_REP_ACK, NULL, 0) < 0)
				goto out;
			break;
		case NBD_OPT_LIST_META_CONTEXT:
		case NBD_OPT_SET_META_CONTEXT:
			if (hs_opt_meta(&h, opt, data, len) < 0)
				goto out;
			break;
		case NBD_OPT_STARTTLS:
			if (!srv->tls)
				goto unsupported;	/* --tls=off */
			if (hs_opt_starttls(&h, opt, len) < 0)
				goto out;
			break;
		default:
		unsupported:
			if (hs_error(&h, opt, NBD_REP_ERR_UNSUP, "option %u is not "
				     "supported by this server", opt) < 0)
				goto out;
			break;
		}
	}
out:
	free(data);
	if (r == 1) {
		session->structured = h.structured;
		session->meta_alloc = h.meta_alloc && h.structured;
		session->meta_id = 1;
		session->tls = h.tls;	/* transmission goes on over TLS */
	} else {
		nbd_tls_close(h.tls, r == 0);
	}
	return r;
}
