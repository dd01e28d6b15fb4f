/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to nbd/: the byte stream under a connection in transmission.
 *
 * One protocol path (transmission.c) runs over any transport: a plain
 * socket (transport-socket.c: io_uring straight on the fd) or a TLS
 * session (transport-tls.c: GnuTLS encrypting into and decrypting from
 * buffers that io_uring moves), and in tests a transport whose
 * completions the test orders itself.  The split is that of nbdkit's
 * conn->recv/send or libnbd's socket_ops: the protocol never knows which.
 *
 * Contract: recv and sendv start one operation each (at most one of each
 * kind in flight) and never complete inline; the completion callback runs
 * later on the loop's thread with the number of bytes moved, 0 at the end
 * of the stream (recv), or a negative errno.  recv with ALL moves exactly
 * LEN bytes unless the stream ends or fails; without it, at least one.
 * sendv may move fewer bytes than given (the caller sends the rest).
 */
#ifndef MORTAR_NBD_TRANSPORT_H
#define MORTAR_NBD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "loop.h"

struct nbd_xprt;

struct nbd_xprt_ops {
	const char *name;	/* "socket", "tls": for log lines */
	void (*recv)(struct nbd_xprt *x, void *buf, size_t len, bool all);
	void (*sendv)(struct nbd_xprt *x, const struct iovec *iov, int iovcnt);
	/* Make pending and future operations end: HOW is SHUT_RD (stop
	 * reading, replies still go out) or SHUT_RDWR (drop everything). */
	void (*shutdown)(struct nbd_xprt *x, int how);
	/* End the pending receive early: it completes with what already
	 * arrived, or -ECANCELED, and nothing the client sends later is
	 * taken from the socket (a handover carries it). */
	void (*cancel_recv)(struct nbd_xprt *x);
	/* The fd another process can go on with, or NULL (this op) when the
	 * stream's state lives in this process (TLS). */
	int (*handover_fd)(struct nbd_xprt *x);
	/* Nothing is in flight any more: end the stream (POLITE: say so,
	 * e.g. TLS close_notify), close the fd and free X. */
	void (*close)(struct nbd_xprt *x, bool polite);
};

struct nbd_xprt {
	const struct nbd_xprt_ops *ops;
	struct mortar_loop *loop;
	int fd;
	/* Set by the owner before the first operation. */
	void (*recv_done)(struct nbd_xprt *x, int res);
	void (*send_done)(struct nbd_xprt *x, int res);
	void *owner;
};

/* A plain socket: io_uring receives and sends on FD.  NULL without memory. */
struct nbd_xprt *nbd_xprt_socket_new(struct mortar_loop *loop, int fd);

struct nbd_tls_conn;
/* A TLS session that finished its handshake on FD (tls.c), from now on
 * driven by LOOP's thread only.  Takes TLS (freed with the transport);
 * NULL without memory (TLS is then still the caller's). */
struct nbd_xprt *nbd_xprt_tls_new(struct mortar_loop *loop, int fd,
				  struct nbd_tls_conn *tls);

#endif
