/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS for the NBD server (GnuTLS): credentials, and the STARTTLS session
 * on a socket during the handshake.
 *
 *   tls.c            credentials, the TLS handshake, blocking record I/O
 *                    for the rest of the negotiation
 *   transport-tls.c  the session in transmission, on a worker's loop
 *
 * Nothing here exposes GnuTLS types, so that the command line need not
 * see its headers (tls-conn.h does, for the two files above).
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

#endif
