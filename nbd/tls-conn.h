/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to nbd/: a TLS session, shared by tls.c (which makes it during
 * the handshake) and transport-tls.c (which drives it in transmission).
 * The only files that see GnuTLS's types. */
#ifndef MORTAR_NBD_TLS_CONN_H
#define MORTAR_NBD_TLS_CONN_H

#include <gnutls/gnutls.h>

#include "tls.h"

struct nbd_tls_conn {
	struct nbd_server *srv;
	struct nbd_tls *t;
	gnutls_session_t session;
	int fd;
	char peer[80];
};

#endif
