/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to nbd/: connections in the transmission phase, each a unit
 * of one worker of the export core and driven by its event loop. */
#ifndef MORTAR_NBD_TRANSMISSION_H
#define MORTAR_NBD_TRANSMISSION_H

#include "server.h"

struct nbd_conn;
struct nbd_xprt;

/* On worker W's thread: take over S's socket (and TLS session) and start
 * reading requests.  On success S->fd and S->tls belong to the connection
 * and are cleared in S; on failure (NULL) what is still set in S is the
 * caller's to close. */
struct nbd_conn *nbd_conn_start(struct srv_worker *w, struct nbd_server *srv,
				struct nbd_session *s);
/* The same over a transport made by the caller (tests, fuzzers), which
 * the connection then owns; NULL without memory (X is still the caller's). */
struct nbd_conn *nbd_conn_start_xprt(struct srv_worker *w, struct nbd_server *srv,
				     const struct nbd_session *s, struct nbd_xprt *x);
/* Dispatch the requests held while the export was quiesced (may free C
 * if it was closing and nothing else is left). */
void nbd_conn_resume(struct nbd_conn *c);

#endif
