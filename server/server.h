/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The export core of `mortar serve`: what every wire protocol shares.
 *
 *   export.c    the exports: opened once to learn what they can do,
 *               looked up by name, each with its quiesce gate and counters
 *   worker.c    worker threads, one event loop and one open image per
 *               export each; the units (NBD connections, vhost-user
 *               virtqueues) that live on them; jobs posted to them
 *   quiesce.c   holding an export's modifying requests for a snapshot
 *   control.c   the control socket that other mortar commands use for it
 *   listen.c    listening sockets: unix, TCP, handed over by systemd
 *   log.c       log lines: rate limits, names from clients made printable
 *   daemon.c    daemon mode, pidfile, signals
 *   run.c       accepting until told to stop, then draining
 *
 * A protocol (nbd/, vhost/) adds listeners whose accept callback is its
 * own, and attaches its per-connection or per-queue state to a worker as
 * a unit; requests go to the worker's image of the export through
 * libmortar.  Nothing here knows a wire format.
 */
#ifndef MORTAR_SERVER_H
#define MORTAR_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mortar/mortar.h>
#include "loop.h"
#include "bufpool.h"

struct srv;
struct srv_worker;
struct srv_unit;

/* ---- quiesce (quiesce.c) ---- */

/* While ON, requests that change the image wait before reaching it;
 * WRITES counts those inside it, so that the control thread can wait
 * for zero and then flush. */
struct srv_quiesce {
	atomic_bool on;
	atomic_uint writes;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* WRITES fell to 0, or ON was cleared */
};

/* A modifying request is about to reach the image: false (nothing
 * counted) when the export is quiesced and the request must wait; the
 * unit is resumed (ops->resume) when the quiesce ends. */
bool srv_quiesce_enter(struct srv_quiesce *q);
/* ...and has completed. */
void srv_quiesce_leave(struct srv_quiesce *q);

/* ---- exports (export.c) ---- */

struct srv_stats {
	atomic_ullong requests, read_bytes, written_bytes, errors;
};

struct srv_export {
	char *name;		/* "" is also accepted for the first export */
	char *description;	/* NULL: none */
	char *location;		/* as given, for messages */
	struct mortar_location *loc;	/* parsed once, at start */
	bool read_only;
	unsigned slot;		/* index of its image on every worker */
	/* Learnt by opening the image once at startup; SIZE changes with
	 * srv_export_resize (read it with __atomic_load_n from other
	 * threads). */
	uint64_t size;
	uint32_t caps;		/* MORTAR_CAP_*, read-only included */
	uint32_t bmin, bpref, bmax;
	char *backend;
	struct srv_quiesce q;
	struct srv_stats stats;
};

/* What a user asks to export. */
struct srv_export_spec {
	const char *name;
	const char *location;
	const char *description;
	bool read_only;
};

/* The export named NAME ("" names the first), or NULL. */
struct srv_export *srv_export_find(struct srv *srv, const char *name);
/* Resize export E to SIZE bytes (FLAGS: MORTAR_REQ_SHRINK to allow
 * shrinking) through every worker's handle, record it in e->size and
 * tell the protocols (srv_add_resized).  From a thread that is not a
 * worker (the control socket's).  0 or -errno, message set. */
int srv_export_resize(struct srv *srv, struct srv_export *e, uint64_t size, unsigned flags);
/* FN(srv, e, CTX) after each resize; one per protocol. */
void srv_add_resized(struct srv *srv, void (*fn)(struct srv *, struct srv_export *, void *),
		     void *ctx);

/* ---- the server ---- */

enum srv_log_target { SRV_LOG_STDERR, SRV_LOG_SYSLOG, SRV_LOG_JOURNAL };

struct srv_config {
	unsigned open_flags;		/* MORTAR_OPEN_DIRECT, ... */
	unsigned nworkers;		/* 0: one per CPU */
	unsigned max_connections;
	unsigned quiesce_timeout_s;
	unsigned idle_timeout_s;	/* 0: clients may stay idle for ever */
	uint64_t conn_max_bytes;	/* request memory of one connection */
	uint64_t max_bytes;		/* request memory of the whole server */
	bool verbose;
	enum srv_log_target log;
};

typedef void (*srv_accept_fn)(struct srv *srv, int lfd, void *ctx);

struct srv_listener {
	int fd;
	srv_accept_fn accept;
	void *ctx;
	char *unix_path;	/* removed at exit when set */
	char *tcp_addr, *tcp_port;	/* as asked for (handover matches them) */
};

/* A protocol takes a connection the previous process handed over
 * (handover.c): FD and the JSON STATE its srv_unit_frozen() gave. */
struct json_object;
typedef void (*srv_adopt_fn)(struct srv *srv, void *ctx, int fd, struct json_object *state);

#define SRV_MAX_LISTENERS 16

struct srv {
	struct srv_config cfg;
	struct srv_export **exports;
	size_t nexports;

	struct srv_worker *workers;
	unsigned nworkers;
	atomic_uint next_worker;

	atomic_bool stopping;
	atomic_uint nconns;	/* connections, in handshake or attached */

	struct srv_listener listeners[SRV_MAX_LISTENERS];
	unsigned nlisteners;
	/* Called once the listeners are closed, before the workers stop,
	 * so that a protocol can wait for connections it has not attached
	 * yet (handshakes); one per protocol. */
	void (*drain[4])(struct srv *srv, void *ctx);
	void *drain_ctx[4];
	unsigned ndrain;
	/* Called when an export changed size (srv_export_resize), so that a
	 * protocol can tell its clients (vhost-user: a config change). */
	void (*resized[4])(struct srv *srv, struct srv_export *e, void *ctx);
	void *resized_ctx[4];
	unsigned nresized;

	struct srv_control *control;
	struct srv_freeze *freeze;	/* during a handover (worker.c) */
	struct srv_inherited *inherited;	/* from the previous process */
	struct {
		const char *proto;
		srv_adopt_fn fn;
		void *ctx;
	} adopters[4];
	unsigned nadopters;
	bool fdstore;		/* on SIGTERM under systemd: hand over, not stop */
	bool no_handover;	/* --run: SIGUSR2 does nothing */
	bool stop_on_child;	/* --run: SIGCHLD ends the server */
	/* Before a reload (SIGHUP) or an upgrade (SIGUSR2, UPGRADE true):
	 * would the next process start?  0, or -errno with the message. */
	int (*check)(struct srv *srv, bool upgrade, void *ctx);
	void *check_ctx;
	/* What systemd passed (LISTEN_FDS), read once (handover.c). */
	bool sd_read;
	int *sd_fds;
	char **sd_names;
	unsigned nsd;
};

/* Make the server: open every export once (a bad location fails here,
 * with its message), set up nothing else.  0 or -errno (message set). */
int srv_init(struct srv *srv, const struct srv_config *cfg,
	     const struct srv_export_spec *specs, size_t nspecs);
/* Free what srv_init and the rest made; the server must not run. */
void srv_fini(struct srv *srv);

/* Start the workers, then the control socket (the server must not run
 * without it: snapshots could not quiesce it).  0 or -errno. */
int srv_start(struct srv *srv);
/* Serve until a signal on STOP_FD (a signalfd; -1: stop at once) says
 * stop, then stop accepting, drain, stop the workers and the control
 * socket.  SIGUSR2 (upgrade) and SIGHUP (reload) hand over to a new
 * process (re-exec, after srv->check) and go on only if that failed; SIGTERM with srv->fdstore under systemd hands over
 * through the fd store and exits.  *SIGNO: the signal that stopped it.
 * Returns 0. */
int srv_run(struct srv *srv, int stop_fd, int *signo);

/* A protocol's hook, run as the server stops (see drain above). */
void srv_add_drain(struct srv *srv, void (*fn)(struct srv *, void *), void *ctx);

/* ---- handing over to a new process (handover.c) ---- */

/* Before listening: read what a previous process handed over (re-exec,
 * or systemd's fd store).  1 if there is something, 0 if not, or -errno
 * with the message set.  Listeners then adopt its sockets by address. */
int srv_handover_load(struct srv *srv);
/* Was this process started by a re-exec handover (before srv_init)? */
bool srv_handover_pending(void);
/* After srv_start: give the connections to their protocols' adopters,
 * close the inherited listeners nobody took. */
void srv_handover_adopt(struct srv *srv);
void srv_add_adopter(struct srv *srv, const char *proto, srv_adopt_fn fn, void *ctx);
/* Freeze every connection between requests, flush, and execve our own
 * binary (its path as installed now) with our command line, carrying
 * the listeners and connections.  Returns only on failure (-errno, the
 * message set), serving again. */
int srv_handover_reexec(struct srv *srv);
/* The same into systemd's fd store; 0 when everything is there (then
 * the process should exit without touching the sockets), or -errno. */
int srv_handover_fdstore(struct srv *srv);
/* After that: leave without closing a socket politely (they are the
 * store's now), removing only what names this process. */
void srv_handover_exit(struct srv *srv) __attribute__((noreturn));

/* ---- listening (listen.c) ---- */

/* A unix socket at PATH, created with MODE (0600 by default) and, if
 * GID is not -1, owned by that group: no moment where others could
 * connect.  ACCEPT runs on the acceptor thread for each connection. */
int srv_listen_unix(struct srv *srv, const char *path, unsigned mode, long gid,
		    srv_accept_fn accept, void *ctx);
int srv_listen_tcp(struct srv *srv, const char *addr, const char *port,
		   srv_accept_fn accept, void *ctx);
/* The sockets systemd passed (LISTEN_FDS), all for ACCEPT; returns how
 * many (0: none), or -errno. */
int srv_listen_systemd(struct srv *srv, srv_accept_fn accept, void *ctx);
void srv_listen_close(struct srv *srv);
/* For accept callbacks: the next connection on LFD, or -1 when there is
 * none or it was refused for --max-connections (logged, rate-limited),
 * so that every protocol refuses alike. */
int srv_accept(struct srv *srv, int lfd);

/* ---- workers and units (worker.c) ---- */

struct srv_unit_ops {
	/* The quiesce of the unit's export ended: dispatch what waited. */
	void (*resume)(struct srv_unit *u);
	/* The server stops: finish what is in flight, then detach. */
	void (*stop)(struct srv_unit *u);
	/* Once a second with --idle-timeout: NOW_MS is CLOCK_MONOTONIC. */
	void (*tick)(struct srv_unit *u, uint64_t now_ms);
	/* Request memory was given back on the worker: try again. */
	void (*wake)(struct srv_unit *u);
	/* Handover to a new process (handover.c): stop taking requests,
	 * finish those in flight, then call srv_unit_frozen() once (or
	 * detach: then it is not carried over). */
	void (*freeze)(struct srv_unit *u);
	/* The handover was called off: serve again. */
	void (*thaw)(struct srv_unit *u);
};

/* Something that lives on a worker and uses one export's image there. */
struct srv_unit {
	const struct srv_unit_ops *ops;
	struct srv_worker *w;
	struct srv_export *e;
	struct srv_unit *prev, *next;
	bool waiting;		/* on the worker's list for memory */
	struct srv_unit *wait_next;
	bool frozen;		/* reported by srv_unit_frozen */
};

/* The worker that takes the next connection (round-robin). */
struct srv_worker *srv_worker_next(struct srv *srv);
/* Run FN(W, ARG) on W's thread, soon.  From any thread.  0 or -ENOMEM. */
int srv_worker_post(struct srv_worker *w, void (*fn)(struct srv_worker *w, void *arg),
		    void *arg);

/* A worker without a thread, for tests and fuzzers: the caller runs its
 * loop (srv_worker_loop).  NULL with the message set. */
struct srv_worker *srv_worker_new_local(struct srv *srv);
void srv_worker_free_local(struct srv_worker *w);

/* On the worker's thread only: */
struct mortar_loop *srv_worker_loop(struct srv_worker *w);
struct srv_bufpool *srv_worker_pool(struct srv_worker *w);
struct srv *srv_worker_server(struct srv_worker *w);
bool srv_worker_stopping(const struct srv_worker *w);
struct mortar_image *srv_worker_image(struct srv_worker *w, const struct srv_export *e);
/* Attach U (ops and e set) to W; it counts among the server's
 * connections until srv_unit_detach (COUNTED: it was counted at accept). */
void srv_unit_attach(struct srv_worker *w, struct srv_unit *u);
void srv_unit_detach(struct srv_unit *u);

/* A unit asked to freeze has nothing in flight: its connection can go to
 * the next process as FD (still the unit's: nothing is closed) with
 * STATE, a JSON object the protocol's adopter reads back there, which
 * must hold "proto".  FD < 0 or STATE NULL: the unit cannot be carried
 * (TLS) and stays frozen until the process ends.  Takes STATE. */
void srv_unit_frozen(struct srv_unit *u, int fd, struct json_object *state);

/* Request memory (bytes of payloads and reply data in flight) of the
 * worker, against its share of --max-request-memory: false when over,
 * then U is woken (ops->wake) once some is given back. */
bool srv_mem_take(struct srv_unit *u, uint64_t bytes);
void srv_mem_give(struct srv_worker *w, uint64_t bytes);

/* Control requests every worker carries out on its loop for export E:
 * flush its image (waits for all, at most TIMEOUT_MS; 0 or the first
 * error), or resume the units parked on its quiesce (returns at once). */
int srv_workers_flush(struct srv *srv, struct srv_export *e, int timeout_ms);
/* ...or resize it: every worker's handle to SIZE (FLAGS: MORTAR_REQ_SHRINK). */
int srv_workers_resize(struct srv *srv, struct srv_export *e, uint64_t size, unsigned flags,
		       int timeout_ms);
void srv_workers_resume(struct srv *srv, struct srv_export *e);

/* ---- the control socket (control.c) ---- */

int srv_control_start(struct srv *srv);
void srv_control_stop(struct srv *srv);
/* One client of the control socket on FD, as its thread serves them
 * (for the fuzz target); FD stays open. */
void srv_control_serve_fd(struct srv *srv, int fd);

/* ---- log lines (log.c) ---- */

/* Before the first line: open syslog if that is where lines go. */
void srv_log_open(struct srv *srv);
/* What a line is about, as journal fields (MORTAR_CLIENT, MORTAR_EXPORT,
 * MORTAR_REQUEST); any may be NULL. */
struct srv_logctx {
	const char *client, *export, *request;
};
/* A line of syslog priority PRIO (LOG_DEBUG: only with --verbose). */
void srv_logx(const struct srv *srv, int prio, const struct srv_logctx *ctx,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void srv_log(const struct srv *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void srv_debug(const struct srv *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* At most one line a second per call site (KEY, a static counter): the
 * lines dropped are counted in the next one that goes out. */
struct srv_ratelimit {
	atomic_ullong last_ms;
	atomic_uint dropped;
};
void srv_log_limited(const struct srv *srv, struct srv_ratelimit *rl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Text a client chose, fit for a log line: non-printable bytes, quotes
 * and backslashes escaped (\xNN), cut with "..." to fit OUTLEN.
 * Returns OUT. */
const char *srv_printable(const char *in, size_t inlen, char *out, size_t outlen);

#endif
