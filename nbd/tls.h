/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS for the NBD server (GnuTLS): credentials, the STARTTLS session on a
 * socket, and the transmission phase of TLS sessions.
 *
 *   tls.c               credentials, the TLS handshake, record I/O
 *   tls-transmission.c  requests and replies of a TLS session, served
 *                       synchronously on the connection's own thread
 *
 * Workers read and write raw sockets through io_uring, so sessions that
 * negotiated TLS never go to a worker: they stay on their handshake
 * thread until the client leaves.  Nothing here exposes GnuTLS types, so
 * that the command line need not see its headers.
 */
#ifndef MORTAR_NBD_TLS_H
#define MORTAR_NBD_TLS_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "server.h"

struct nbd_tls;		/* credentials, shared by every connection */
struct nbd_tls_conn;	/* one TLS session on one socket */

/* Load credentials once, at startup: the X.509 files of CERTDIR
 * (server-cert.pem and server-key.pem, and ca-cert.pem, which
 * VERIFY_PEER requires, to check client certificates against) and/or the
 * keys of PSKFILE (psktool's "username:hexkey" lines).  Returns 0, or a
 * negative errno with a message naming the file (mortar_errmsg()). */
int nbd_tls_load(const char *certdir, const char *pskfile, bool verify_peer,
		 struct nbd_tls **out);
void nbd_tls_free(struct nbd_tls *t);

/* After STARTTLS was acknowledged: the TLS handshake on FD (made
 * non-blocking), over by DEADLINE (CLOCK_MONOTONIC) or when the server
 * stops.  Returns the session, or NULL (logged). */
struct nbd_tls_conn *nbd_tls_handshake(struct nbd_server *srv, int fd,
				       const char *peer,
				       const struct timespec *deadline);

/* Non-blocking record I/O.  Returns the bytes moved (> 0), 0 at the end
 * of the stream (receive only), -EAGAIN with *EVENTS set to the poll()
 * events to wait for before calling again with the same arguments, or
 * another negative errno (logged in verbose mode).  Always try before
 * polling: GnuTLS may hold decrypted data the socket no longer shows. */
ssize_t nbd_tls_recv(struct nbd_tls_conn *c, void *buf, size_t len, short *events);
ssize_t nbd_tls_send(struct nbd_tls_conn *c, const void *buf, size_t len,
		     short *events);

/* End the session: with POLITE, send close_notify (bounded to a second);
 * then free.  The socket stays open: its owner closes it.  NULL is fine. */
void nbd_tls_close(struct nbd_tls_conn *c, bool polite);

/* Serve the transmission phase of S (whose S->tls is up) on the calling
 * thread until the client disconnects, the connection fails or the
 * server stops (after the request in hand).  Ends the TLS session and
 * sets S->tls to NULL; the caller closes S->fd. */
void nbd_tls_transmission(struct nbd_server *srv, struct nbd_session *s);

#endif
