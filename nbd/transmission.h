/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to nbd/: connections in the transmission phase, owned by a
 * worker thread and its event loop. */
#ifndef MORTAR_NBD_TRANSMISSION_H
#define MORTAR_NBD_TRANSMISSION_H

#include "server.h"

struct nbd_conn;

/* Request buffers of one worker, kept by power-of-two size class.  Large
 * allocations come from mmap, and their munmap cost ~1 ms each once I/O
 * has touched them (measured: 128 KiB reads over NBD ran at 343 IOPS). */
#define NBD_POOL_MIN_SHIFT 12		/* 4 KiB */
#define NBD_POOL_CLASSES 14		/* up to 32 MiB */
#define NBD_POOL_MAX_BYTES (64u << 20)	/* cached per worker at most */

struct nbd_bufpool {
	void *free[NBD_POOL_CLASSES];
	size_t cached;
};

/* A worker as connections see it. */
struct nbd_worker_ctx {
	struct mortar_loop *loop;
	struct nbd_bufpool pool;
	/* Called by a connection as it frees itself. */
	void (*conn_gone)(struct nbd_worker_ctx *w, struct nbd_conn *c);
};

void nbd_bufpool_clear(struct nbd_bufpool *p);

/* Take over SESSION's socket (and TLS session) on W's loop and start
 * reading requests.  On success S->fd and S->tls belong to the
 * connection and are cleared in S; on failure (NULL) what is still set in
 * S is the caller's to close. */
struct nbd_conn *nbd_conn_start(struct nbd_worker_ctx *w, struct nbd_server *srv,
				struct nbd_session *s, struct mortar_image *img);
/* The same over a transport made by the caller (tests), which the
 * connection then owns; NULL without memory (X is still the caller's). */
struct nbd_xprt;
struct nbd_conn *nbd_conn_start_xprt(struct nbd_worker_ctx *w, struct nbd_server *srv,
				     const struct nbd_session *s, struct mortar_image *img,
				     struct nbd_xprt *x);
/* Dispatch the requests held while the export was quiesced (may free C
 * if it was closing and nothing else is left). */
void nbd_conn_resume(struct nbd_conn *c);
/* Stop reading; finish and answer what is in flight; then close. */
void nbd_conn_shutdown(struct nbd_conn *c);

void *nbd_conn_next(struct nbd_conn *c);
void nbd_conn_set_next(struct nbd_conn *c, struct nbd_conn *next);

#endif
