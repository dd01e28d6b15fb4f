/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NBD protocol over the export core (server/): negotiated sessions,
 * and what the files of this folder share.
 *
 *   accept.c         a thread per handshake; sessions to the workers
 *   handshake.c      fixed newstyle negotiation, blocking, with a deadline
 *   transmission.c   requests and replies on a worker's event loop
 *   transport-*.c    the bytes under it: a socket, or a TLS session
 *   tls.c            TLS credentials and the STARTTLS handshake
 *   request.c        the rules every request is checked against
 */
#ifndef MORTAR_NBD_SERVER_H
#define MORTAR_NBD_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../server/server.h"

/* The NBD side of one `mortar serve`. */
struct nbd_server {
	struct srv *core;
	struct nbd_tls *tls;		/* credentials (nbd/tls.h); NULL: --tls=off */
	bool tls_required;
	unsigned handshake_timeout_ms;
	atomic_uint handshakes;		/* threads still negotiating */
};

/* What the handshake agreed on, handed to a worker. */
struct nbd_session {
	int fd;
	struct srv_export *e;
	bool structured;
	bool meta_alloc;	/* base:allocation selected */
	uint32_t meta_id;
	char peer[80];		/* for log lines */
	struct nbd_tls_conn *tls;	/* set when STARTTLS succeeded (nbd/tls.h) */
	uint8_t *pending;	/* handed over: received, not yet parsed */
	uint32_t npending;
};

/* Close what S still holds (its TLS session, its socket). */
void nbd_session_close(struct nbd_session *s);

/* Negotiate on FD.  Returns 1 when the client entered transmission
 * (SESSION filled), 0 when it left politely, -1 on error (logged). */
int nbd_handshake(struct nbd_server *srv, int fd, struct nbd_session *session);

/* The transmission flags of export E before per-session ones. */
uint16_t nbd_export_tflags(const struct srv_export *e);

/* Listener callback for NBD sockets (CTX: the struct nbd_server), and
 * the drain hook that waits for the handshakes still running. */
void nbd_accept(struct srv *core, int lfd, void *ctx);
void nbd_drain(struct srv *core, void *ctx);
/* The adopter of NBD connections a previous process handed over. */
void nbd_adopt(struct srv *core, void *ctx, int fd, struct json_object *state);

#define nbd_log(nsrv, ...) srv_log((nsrv)->core, __VA_ARGS__)
#define nbd_debug(nsrv, ...) srv_debug((nsrv)->core, __VA_ARGS__)

/* Big-endian helpers. */
static inline void nbd_put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void nbd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void nbd_put64(uint8_t *p, uint64_t v)
{
	nbd_put32(p, (uint32_t)(v >> 32));
	nbd_put32(p + 4, (uint32_t)v);
}
static inline uint16_t nbd_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t nbd_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t nbd_get64(const uint8_t *p)
{
	return (uint64_t)nbd_get32(p) << 32 | nbd_get32(p + 4);
}

#endif
