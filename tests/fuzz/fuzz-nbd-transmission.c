/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the NBD transmission phase (nbd/transmission.c,
 * nbd/request.c): requests in, replies out, against a real image in
 * /dev/shm (the file backend on io_uring; memory, so that it is fast).
 *
 * Input: one control byte, then what the client sends.  The control
 * byte sets what the handshake would have agreed on (bit 0: structured
 * replies, bit 1: base:allocation) and how the transport behaves (bits
 * 2-3: receives of 1, 7, 512 bytes or as much as asked; bits 4-6: the
 * Nth send fails as if the client shut its reading side, 0 never; bit 7:
 * sends go out 5 bytes at a time).  The bytes arrive in such receives,
 * then the stream ends; the connection must answer or refuse everything,
 * close exactly once and free all it took, whatever the bytes say.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "../../nbd/protocol.h"
#include "../../nbd/server.h"
#include "../../nbd/transmission.h"
#include "../../nbd/transport.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct srv core;
static struct nbd_server srv = { .core = &core };
static struct srv_worker *w;
static char path[] = "/dev/shm/fuzz-nbd.XXXXXX";

struct fake {
	struct nbd_xprt x;
	const uint8_t *in;
	size_t left;
	size_t chunk;
	unsigned sends, fail_send;
	size_t send_step;
	uint8_t *rbuf;
	size_t rlen;
	bool r_pending, s_pending, closed;
	size_t slen;
	struct mortar_op rop, sop;
};

static void fake_recv_done(struct mortar_op *op, int res)
{
	struct fake *f = (struct fake *)((char *)op - offsetof(struct fake, rop));
	size_t n = f->left < f->rlen ? f->left : f->rlen;

	(void)res;
	if (n > f->chunk)
		n = f->chunk;
	memcpy(f->rbuf, f->in, n);
	f->in += n;
	f->left -= n;
	f->r_pending = false;
	f->x.recv_done(&f->x, (int)n);	/* 0: the end of the stream */
}

static void fake_send_done(struct mortar_op *op, int res)
{
	struct fake *f = (struct fake *)((char *)op - offsetof(struct fake, sop));

	(void)res;
	f->s_pending = false;
	if (f->fail_send && ++f->sends == f->fail_send) {
		f->x.send_done(&f->x, -EPIPE);
		return;
	}
	f->x.send_done(&f->x, (int)(f->slen < f->send_step ? f->slen : f->send_step));
}

/* Completions come later, on the loop, as the contract says. */
static void fake_recv(struct nbd_xprt *x, void *buf, size_t len, bool all)
{
	struct fake *f = (struct fake *)x;

	(void)all;
	f->rbuf = buf;
	f->rlen = len;
	f->r_pending = true;
	mortar_loop_defer(x->loop, &f->rop, 0);
}

static void fake_sendv(struct nbd_xprt *x, const struct iovec *iov, int n)
{
	struct fake *f = (struct fake *)x;

	f->slen = 0;
	for (int i = 0; i < n; i++)
		f->slen += iov[i].iov_len;
	f->s_pending = true;
	mortar_loop_defer(x->loop, &f->sop, 0);
}

static void fake_shutdown(struct nbd_xprt *x, int how)
{
	struct fake *f = (struct fake *)x;

	(void)how;
	f->left = 0;	/* the stream ends for the connection */
}

static void fake_cancel(struct nbd_xprt *x)
{
	(void)x;
}

static void fake_close(struct nbd_xprt *x, bool polite)
{
	struct fake *f = (struct fake *)x;

	(void)polite;
	if (f->closed)
		abort();	/* closed twice */
	f->closed = true;
}

static const struct nbd_xprt_ops fake_ops = {
	.name = "fuzz", .recv = fake_recv, .sendv = fake_sendv,
	.shutdown = fake_shutdown, .cancel_recv = fake_cancel, .close = fake_close,
};

static void cleanup(void)
{
	if (w)
		srv_worker_free_local(w);
	srv_fini(&core);
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct srv_export_spec spec = { .name = "fuzz", .location = path };
	const struct srv_config cfg = {
		.max_connections = 8, .nworkers = 1, .conn_max_bytes = 64 << 20,
		.max_bytes = 256 << 20,
	};
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
	if (srv_init(&core, &cfg, &spec, 1) < 0 || !(w = srv_worker_new_local(&core))) {
		fprintf(stderr, "fuzz-nbd-transmission: %s\n", mortar_errmsg());
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1, 7, 512, (size_t)-1 };
	struct nbd_session s = { .fd = -1, .e = core.exports[0], .meta_id = 1 };
	struct fake *f;

	if (size < 1 || size > (1 << 20))
		return 0;
	f = calloc(1, sizeof *f);
	if (!f)
		return 0;
	s.structured = data[0] & 1;
	s.meta_alloc = (data[0] & 2) && s.structured;
	snprintf(s.peer, sizeof s.peer, "fuzz");
	f->x.ops = &fake_ops;
	f->x.loop = srv_worker_loop(w);
	f->x.fd = -1;
	f->in = data + 1;
	f->left = size - 1;
	f->chunk = chunks[(data[0] >> 2) & 3];
	f->fail_send = (data[0] >> 4) & 7;
	f->send_step = data[0] & 0x80 ? 5 : (size_t)-1;
	f->rop.fn = fake_recv_done;
	f->sop.fn = fake_send_done;
	atomic_store(&core.nconns, 1);
	if (!nbd_conn_start_xprt(w, &srv, &s, &f->x)) {
		free(f);
		return 0;
	}
	/* Everything completes on the loop; the connection closes when the
	 * stream ends (or a send fails) and its requests are answered. */
	while (mortar_loop_in_flight(srv_worker_loop(w)) > 0)
		mortar_loop_run_once(srv_worker_loop(w), 1000);
	if (!f->closed || atomic_load(&core.nconns) != 0)
		abort();	/* the connection never finished */
	free(f);
	return 0;
}
