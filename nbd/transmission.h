/* Internal to nbd/: connections in the transmission phase, owned by a
 * worker thread and its event loop. */
#ifndef MORTAR_NBD_TRANSMISSION_H
#define MORTAR_NBD_TRANSMISSION_H

#include "server.h"

struct nbd_conn;

/* A worker as connections see it. */
struct nbd_worker_ctx {
	struct mortar_loop *loop;
};

/* Take over SESSION's socket on W's loop and start reading requests. */
struct nbd_conn *nbd_conn_start(struct nbd_worker_ctx *w, struct nbd_server *srv,
				const struct nbd_session *s, struct mortar_image *img);
/* Stop reading; finish and answer what is in flight; then close. */
void nbd_conn_shutdown(struct nbd_conn *c);
/* Called by the connection as it frees itself. */
void nbd_worker_conn_gone(struct nbd_worker_ctx *w, struct nbd_conn *c);

void *nbd_conn_next(struct nbd_conn *c);
void nbd_conn_set_next(struct nbd_conn *c, struct nbd_conn *next);

#endif
