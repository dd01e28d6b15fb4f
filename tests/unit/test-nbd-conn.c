/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NBD transmission path (nbd/transmission.c) over a transport whose
 * completions the test orders itself, on a real image: orders of events
 * that real sockets produce only by chance, replayed every time.
 *
 * - A refused write whose payload arrives after the connection's replies
 *   failed (the client shut down its reading side): the connection must
 *   live until the receive path is done with it, then close once (it used
 *   to be freed under the receive path: heap-use-after-free, issue 20).
 * - Pipelined requests in one receive, a send that moves a few bytes at a
 *   time: the replies reach the wire whole and in order of completion.
 * - A client that disconnects with requests in flight: they complete and
 *   the connection closes after them, politely.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mortar/mortar.h>
#include "tap.h"
#include "testutil.h"
#include "../../nbd/protocol.h"
#include "../../nbd/server.h"
#include "../../nbd/transmission.h"
#include "../../nbd/transport.h"

#define SIZE (16u << 20)

/* ---- a transport driven by the test ---- */

struct fake {
	struct nbd_xprt x;
	/* The pending receive, if any. */
	uint8_t *rbuf;
	size_t rlen;
	bool rall, r_pending;
	/* The pending send: a copy of its bytes. */
	uint8_t *sbuf;
	size_t slen;
	bool s_pending;
	/* What was sent in all (bytes the test let through). */
	uint8_t wire[1 << 20];
	size_t wire_len;
	int shutdowns, closes;
	bool polite;
};

static struct fake *the_fake;	/* outlives the transport: see close */

static void fake_recv(struct nbd_xprt *x, void *buf, size_t len, bool all)
{
	struct fake *f = (struct fake *)x;

	f->rbuf = buf;
	f->rlen = len;
	f->rall = all;
	f->r_pending = true;
}

static void fake_sendv(struct nbd_xprt *x, const struct iovec *iov, int n)
{
	struct fake *f = (struct fake *)x;

	f->slen = 0;
	for (int i = 0; i < n; i++)
		f->slen += iov[i].iov_len;
	f->sbuf = realloc(f->sbuf, f->slen ? f->slen : 1);
	f->slen = 0;
	for (int i = 0; i < n; i++) {
		memcpy(f->sbuf + f->slen, iov[i].iov_base, iov[i].iov_len);
		f->slen += iov[i].iov_len;
	}
	f->s_pending = true;
}

static void fake_shutdown(struct nbd_xprt *x, int how)
{
	(void)how;
	((struct fake *)x)->shutdowns++;
}

static void fake_close(struct nbd_xprt *x, bool polite)
{
	struct fake *f = (struct fake *)x;

	/* Kept for the test to look at; freed by it. */
	f->closes++;
	f->polite = polite;
}

static const struct nbd_xprt_ops fake_ops = {
	.name = "fake", .recv = fake_recv, .sendv = fake_sendv,
	.shutdown = fake_shutdown, .close = fake_close,
};

/* Complete the pending receive with LEN bytes of DATA (0: end of stream). */
static void deliver(struct fake *f, const void *data, size_t len)
{
	if (!f->r_pending) {
		tap_ok(0, "a receive is pending to deliver %zu bytes to", len);
		return;
	}
	if (len > f->rlen)
		len = f->rlen;
	if (len)
		memcpy(f->rbuf, data, len);
	f->r_pending = false;
	f->x.recv_done(&f->x, (int)len);
}

/* Complete the pending send: RES < 0 fails it, else at most RES bytes
 * went out (the rest is sent again by the connection). */
static void send_complete(struct fake *f, int res)
{
	size_t n;

	f->s_pending = false;
	if (res < 0) {
		f->x.send_done(&f->x, res);
		return;
	}
	n = (size_t)res < f->slen ? (size_t)res : f->slen;
	memcpy(f->wire + f->wire_len, f->sbuf, n);
	f->wire_len += n;
	f->x.send_done(&f->x, (int)n);
}

/* ---- a worker of one, run by the test ---- */

static struct srv core;
static struct nbd_server srv = { .core = &core };
static struct srv_worker *w;
/* Connections that detached from the worker since start(). */
#define GONE (1 - (int)atomic_load(&core.nconns))

static void run_loop(void)
{
	while (mortar_loop_in_flight(srv_worker_loop(w)) > 0)
		mortar_loop_run_once(srv_worker_loop(w), 1000);
}

static struct nbd_conn *start(bool structured)
{
	struct nbd_session s = { .fd = -1, .e = core.exports[0], .structured = structured };
	struct fake *f = calloc(1, sizeof *f);

	the_fake = f;
	f->x.ops = &fake_ops;
	f->x.loop = srv_worker_loop(w);
	f->x.fd = -1;
	snprintf(s.peer, sizeof s.peer, "test");
	atomic_store(&core.nconns, 1);	/* as the acceptor counts it */
	return nbd_conn_start_xprt(w, &srv, &s, &f->x);
}

static void put_request(uint8_t *p, uint16_t type, uint64_t cookie, uint64_t off,
			uint32_t len)
{
	nbd_put32(p, NBD_REQUEST_MAGIC);
	nbd_put16(p + 4, 0);
	nbd_put16(p + 6, type);
	nbd_put64(p + 8, cookie);
	nbd_put64(p + 16, off);
	nbd_put32(p + 24, len);
}

/* ---- the cases ---- */

static void test_refused_write_after_failed_send(void)
{
	struct nbd_conn *c = start(false);
	struct fake *f = the_fake;
	uint8_t req[NBD_REQUEST_SIZE], payload[4096];

	tap_ok(c && f->r_pending, "connection started, receiving");
	put_request(req, NBD_CMD_READ, 1, 0, 4096);
	deliver(f, req, sizeof req);
	run_loop();
	tap_ok(f->s_pending, "the read's reply is being sent");
	/* A write past the end: refused, but its payload must be read. */
	put_request(req, NBD_CMD_WRITE, 2, SIZE, sizeof payload);
	deliver(f, req, sizeof req);
	tap_ok(f->r_pending && f->rall && f->rlen == sizeof payload,
	       "the refused write's payload is being received");
	/* The client shut down its reading side: the send fails... */
	send_complete(f, -EPIPE);
	tap_ok(f->shutdowns == 1 && f->closes == 0 && GONE == 0,
	       "a failed send shuts the transport down, the connection lives on");
	/* ...and then the payload arrives: the refusal is answered into a
	 * dead connection, which must not be freed under this call. */
	memset(payload, 0x5a, sizeof payload);
	deliver(f, payload, sizeof payload);
	run_loop();
	tap_ok(f->closes == 1 && GONE == 1 && !f->polite,
	       "the connection closed once, after the receive path was done "
	       "(closes %d, gone %d)", f->closes, GONE);
	tap_ok(!f->r_pending && !f->s_pending, "nothing left pending");
	free(f->sbuf);
	free(f);
}

static void test_pipelined_partial_sends(void)
{
	struct nbd_conn *c = start(false);
	struct fake *f = the_fake;
	uint8_t req[3 * NBD_REQUEST_SIZE];
	size_t want = 3 * NBD_SIMPLE_REPLY_SIZE + 3 * 512;
	int sends = 0;
	bool ok = true;

	tap_ok(c != NULL, "connection started");
	for (int i = 0; i < 3; i++)
		put_request(req + i * NBD_REQUEST_SIZE, NBD_CMD_READ, 100 + i,
			    (uint64_t)i * 512, 512);
	deliver(f, req, sizeof req);	/* three requests in one receive */
	run_loop();
	while (f->wire_len < want && sends < 1000) {
		if (!f->s_pending) {
			run_loop();
			if (!f->s_pending)
				break;
		}
		send_complete(f, 7);	/* a few bytes at a time */
		sends++;
	}
	tap_ok(f->wire_len == want, "all three replies went out (%zu of %zu bytes "
	       "in %d partial sends)", f->wire_len, want, sends);
	for (size_t p = 0; ok && p < f->wire_len; p += NBD_SIMPLE_REPLY_SIZE + 512) {
		uint64_t cookie = nbd_get64(f->wire + p + 8);
		ok = nbd_get32(f->wire + p) == NBD_SIMPLE_REPLY_MAGIC &&
		     nbd_get32(f->wire + p + 4) == 0 && cookie >= 100 && cookie <= 102;
	}
	tap_ok(ok, "each reply is a whole simple reply with one of the cookies");
	deliver(f, NULL, 0);	/* the client leaves */
	run_loop();
	tap_ok(f->closes == 1 && GONE == 1 && f->polite, "closed politely once");
	free(f->sbuf);
	free(f);
}

static void test_disconnect_with_requests_in_flight(void)
{
	struct nbd_conn *c = start(true);
	struct fake *f = the_fake;
	uint8_t req[2 * NBD_REQUEST_SIZE];

	tap_ok(c != NULL, "connection started");
	put_request(req, NBD_CMD_READ, 7, 0, 65536);
	put_request(req + NBD_REQUEST_SIZE, NBD_CMD_DISC, 8, 0, 0);
	deliver(f, req, sizeof req);
	tap_ok(f->closes == 0, "not closed while the read is in flight");
	run_loop();
	while (f->s_pending) {
		send_complete(f, 1 << 20);
		run_loop();
	}
	tap_ok(f->wire_len > 0 && nbd_get32(f->wire) == NBD_STRUCTURED_REPLY_MAGIC &&
	       nbd_get64(f->wire + 8) == 7, "the read was answered (structured)");
	tap_ok(f->closes == 1 && GONE == 1 && f->polite && !f->r_pending,
	       "then the connection closed, politely, reading no more");
	free(f->sbuf);
	free(f);
}

int main(void)
{
	char *dir = test_tmpdir(), path[512];
	struct srv_export_spec spec = { .name = "", .location = path };
	const struct srv_config cfg = {
		.max_connections = 8, .nworkers = 1, .conn_max_bytes = 64 << 20,
		.max_bytes = 256 << 20,
	};

	snprintf(path, sizeof path, "%s/conn.img", dir);
	if (mortar_image_create_text(path, SIZE, MORTAR_PREALLOC_OFF, 0) < 0 ||
	    srv_init(&core, &cfg, &spec, 1) < 0 || !(w = srv_worker_new_local(&core))) {
		printf("Bail out! %s\n", mortar_errmsg());
		return 1;
	}

	test_refused_write_after_failed_send();
	test_pipelined_partial_sends();
	test_disconnect_with_requests_in_flight();

	srv_worker_free_local(w);
	srv_fini(&core);
	test_rmdir(dir);
	return tap_done();
}
