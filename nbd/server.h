/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NBD server: exports, negotiated sessions, and the parts that the
 * files of this folder share.
 *
 *   sockets.c       listening: unix, TCP, systemd socket activation
 *   handshake.c     fixed newstyle negotiation, blocking, with a deadline
 *   transmission.c  requests and replies on a worker's event loop
 *   server.c        threads: acceptor, handshakes, workers; shutdown
 */
#ifndef MORTAR_NBD_SERVER_H
#define MORTAR_NBD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <mortar/mortar.h>
#include "loop.h"

/* Quiescing an export (control.c): while ON, requests that change the
 * image wait before reaching it; WRITES counts those inside it, so that
 * the control thread can wait for zero and then flush. */
struct nbd_quiesce {
	atomic_bool on;
	atomic_uint writes;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* WRITES fell to 0, or ON was cleared */
};

/* A modifying request is about to reach the image: false (nothing
 * counted) when the export is quiesced and the request must wait. */
bool nbd_quiesce_enter(struct nbd_quiesce *q);
/* ...and has completed. */
void nbd_quiesce_leave(struct nbd_quiesce *q);
/* Blocking form for the synchronous TLS sessions: waits while quiesced
 * or until the server stops (returns false then, nothing counted). */
bool nbd_quiesce_enter_wait(struct nbd_quiesce *q, const atomic_bool *stopping);

struct nbd_export {
	char *name;		/* "" is also accepted for the first export */
	char *description;
	char *location;
	bool read_only;
	/* Learnt by opening the image once at startup. */
	uint64_t size;
	uint16_t tflags;	/* transmission flags before per-session ones */
	uint32_t bmin, bpref, bmax;
	char *backend;
	struct nbd_quiesce q;
};

struct nbd_worker;

struct nbd_server {
	struct nbd_export *exports;
	size_t nexports;
	unsigned open_flags;		/* MORTAR_OPEN_DIRECT, ... */
	unsigned max_connections;
	unsigned handshake_timeout_ms;
	unsigned quiesce_timeout_s;	/* a snapshot holds writes at most this long */
	unsigned nworkers;
	bool verbose;
	bool tls_required;

	atomic_bool stopping;
	atomic_uint nconns;		/* in handshake or transmission */
	atomic_uint next_worker;
	struct nbd_worker *workers;
	struct nbd_tls *tls;		/* credentials (nbd/tls.h); NULL: --tls=off */
	struct nbd_control *control;	/* control.c; NULL when not running */
};

/* What the handshake agreed on, handed to a worker. */
struct nbd_session {
	int fd;
	size_t export_index;
	bool structured;
	bool meta_alloc;	/* base:allocation selected */
	uint32_t meta_id;
	char peer[80];		/* for log lines */
	struct nbd_session *next;
	struct nbd_tls_conn *tls;	/* set when STARTTLS succeeded (nbd/tls.h) */
};

/* Close what S still holds (its TLS session, its socket). */
void nbd_session_close(struct nbd_session *s);

/* Negotiate on FD.  Returns 1 when the client entered transmission
 * (SESSION filled), 0 when it left politely, -1 on error (logged). */
int nbd_handshake(struct nbd_server *srv, int fd, struct nbd_session *session);

/* Workers: one thread and one event loop each. */
int nbd_workers_start(struct nbd_server *srv);
void nbd_worker_hand_over(struct nbd_server *srv, struct nbd_session *s);
void nbd_workers_stop(struct nbd_server *srv);

/* Control requests that every worker carries out on its loop, for one
 * export: flush its image (the caller waits for all of them, at most
 * TIMEOUT_MS; returns 0 or the first error), or resume requests parked
 * while the export was quiesced (returns at once). */
int nbd_workers_flush(struct nbd_server *srv, size_t export_index, int timeout_ms);
void nbd_workers_resume(struct nbd_server *srv, size_t export_index);

/* The control socket (control.c): started by the caller before it says
 * the server is ready (0, or -errno with the message set: the server must
 * not run without it), stopped by nbd_server_run() on its way out. */
int nbd_control_start(struct nbd_server *srv);
void nbd_control_stop(struct nbd_server *srv);

/* Listening sockets. */
struct nbd_listen {
	int fds[16];
	unsigned nfds;
	char *unix_path;	/* removed at exit when set */
};
int nbd_listen_unix(struct nbd_listen *l, const char *path);
int nbd_listen_tcp(struct nbd_listen *l, const char *addr, const char *port);
/* Returns the number of sockets taken from systemd (0 if none). */
int nbd_listen_systemd(struct nbd_listen *l);
void nbd_listen_close(struct nbd_listen *l);

/* Accept connections until stop is requested (SIGINT/SIGTERM or
 * nbd_server_stop()), then drain and return 0. */
int nbd_server_run(struct nbd_server *srv, struct nbd_listen *l, int stop_fd);

void nbd_log(const struct nbd_server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void nbd_debug(const struct nbd_server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

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
