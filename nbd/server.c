/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Threads of the NBD server.
 *
 * The main thread accepts connections and starts a short-lived thread for
 * each handshake.  Sessions that reach transmission go to one of the
 * workers (one per core by default), round-robin; each worker owns an
 * event loop and its own open image per export, so the requests of a
 * connection never cross threads.  Stopping: the acceptor stops, pending
 * handshakes give up, workers stop reading, answer what is in flight,
 * flush their images and exit.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "server.h"
#include "tls.h"
#include "transmission.h"

struct nbd_worker {
	struct nbd_worker_ctx ctx;	/* first: connections see only this */
	struct nbd_server *srv;
	pthread_t tid;
	bool started;
	struct mortar_image **imgs;	/* one per export, on this loop */

	int efd;
	uint64_t efd_val;
	struct mortar_op efd_op;
	pthread_mutex_t lock;
	struct nbd_session *incoming;	/* handed over, not yet started */
	struct ctl_job *ctl;		/* control requests, under lock */
	bool stop_requested;		/* under lock */

	bool stopping;			/* loop thread only */
	struct nbd_conn *conns;
	unsigned nconns;
};

static atomic_uint handshakes;

__attribute__((format(printf, 1, 0)))
static void nbd_vlog(const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "mortar serve: %s\n", buf);
}

void nbd_log(const struct nbd_server *srv, const char *fmt, ...)
{
	va_list ap;

	(void)srv;
	va_start(ap, fmt);
	nbd_vlog(fmt, ap);
	va_end(ap);
}

void nbd_debug(const struct nbd_server *srv, const char *fmt, ...)
{
	va_list ap;

	if (!srv->verbose)
		return;
	va_start(ap, fmt);
	nbd_vlog(fmt, ap);
	va_end(ap);
}

/* ---- workers ---- */

void nbd_session_close(struct nbd_session *s)
{
	nbd_tls_close(s->tls, false);
	s->tls = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void worker_conn_gone(struct nbd_worker_ctx *ctx, struct nbd_conn *c)
{
	struct nbd_worker *w = (struct nbd_worker *)ctx;

	/* Unlink C from the singly linked list. */
	for (struct nbd_conn *prev = NULL, *it = w->conns; it; prev = it, it = nbd_conn_next(it)) {
		if (it != c)
			continue;
		if (prev)
			nbd_conn_set_next(prev, nbd_conn_next(it));
		else
			w->conns = nbd_conn_next(it);
		break;
	}
	w->nconns--;
	atomic_fetch_sub(&w->srv->nconns, 1);
}

static void worker_efd_arm(struct nbd_worker *w);

/* ---- control requests (quiesce) ---- */

/* What the control thread waits on; shared with the jobs, freed by the
 * last of them or by the waiter, whichever lets go last. */
struct ctl_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned left;		/* flushes still running */
	unsigned refs;
	int err;
	char msg[256];
};

struct ctl_job {
	enum { CTL_FLUSH, CTL_RESUME } kind;
	size_t export_index;
	struct ctl_wait *wait;
	struct ctl_job *next;
};

static void ctl_wait_put(struct ctl_wait *cw)
{
	bool last;

	pthread_mutex_lock(&cw->lock);
	last = --cw->refs == 0;
	pthread_mutex_unlock(&cw->lock);
	if (last) {
		pthread_mutex_destroy(&cw->lock);
		pthread_cond_destroy(&cw->cond);
		free(cw);
	}
}

static void ctl_flush_done(void *opaque, int res)
{
	struct ctl_job *job = opaque;
	struct ctl_wait *cw = job->wait;

	pthread_mutex_lock(&cw->lock);
	if (res < 0 && !cw->err) {
		cw->err = res;
		snprintf(cw->msg, sizeof cw->msg, "%s", mortar_errmsg());
	}
	cw->left--;
	pthread_cond_broadcast(&cw->cond);
	pthread_mutex_unlock(&cw->lock);
	ctl_wait_put(cw);
	free(job);
}

/* On the worker's loop. */
static void worker_ctl_run(struct nbd_worker *w, struct ctl_job *job)
{
	struct nbd_conn *c, *next;
	int r;

	if (job->kind == CTL_RESUME) {
		for (c = w->conns; c; c = next) {
			next = nbd_conn_next(c);
			nbd_conn_resume(c);	/* may free c */
		}
		free(job);
		return;
	}
	r = mortar_image_flush(w->imgs[job->export_index], 0, ctl_flush_done, job);
	if (r < 0)
		ctl_flush_done(job, r);
}

static void worker_post_ctl(struct nbd_worker *w, struct ctl_job *job)
{
	uint64_t one = 1;
	ssize_t n;

	pthread_mutex_lock(&w->lock);
	job->next = NULL;
	/* Keep the order: a resume must not overtake an earlier flush. */
	struct ctl_job **tail = &w->ctl;
	while (*tail)
		tail = &(*tail)->next;
	*tail = job;
	pthread_mutex_unlock(&w->lock);
	n = write(w->efd, &one, sizeof one);
	(void)n;
}

int nbd_workers_flush(struct nbd_server *srv, size_t export_index, int timeout_ms)
{
	struct ctl_wait *cw = calloc(1, sizeof *cw);
	struct timespec deadline;
	int r = 0;

	if (!cw)
		return mortar_set_error(ENOMEM, "out of memory");
	pthread_mutex_init(&cw->lock, NULL);
	pthread_cond_init(&cw->cond, NULL);
	cw->refs = 1;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct ctl_job *job = calloc(1, sizeof *job);

		if (!job) {
			r = mortar_set_error(ENOMEM, "out of memory");
			break;
		}
		job->kind = CTL_FLUSH;
		job->export_index = export_index;
		job->wait = cw;
		pthread_mutex_lock(&cw->lock);
		cw->left++;
		cw->refs++;
		pthread_mutex_unlock(&cw->lock);
		worker_post_ctl(&srv->workers[i], job);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&cw->lock);
	while (cw->left && r == 0)
		if (pthread_cond_timedwait(&cw->cond, &cw->lock, &deadline) == ETIMEDOUT)
			r = mortar_set_error(ETIMEDOUT, "flushing export '%s' took more "
					     "than %d s", srv->exports[export_index].name,
					     timeout_ms / 1000);
	if (r == 0 && cw->err)
		r = mortar_set_error(-cw->err, "flushing export '%s': %s",
				     srv->exports[export_index].name, cw->msg);
	pthread_mutex_unlock(&cw->lock);
	ctl_wait_put(cw);
	return r;
}

void nbd_workers_resume(struct nbd_server *srv, size_t export_index)
{
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct ctl_job *job = calloc(1, sizeof *job);

		if (!job) {
			/* Cannot happen in practice; parked requests would
			 * wait for the next resume or the server's stop. */
			nbd_log(srv, "out of memory resuming export '%s'",
				srv->exports[export_index].name);
			continue;
		}
		job->kind = CTL_RESUME;
		job->export_index = export_index;
		worker_post_ctl(&srv->workers[i], job);
	}
}

static void worker_begin_stop(struct nbd_worker *w)
{
	struct nbd_conn *c, *next;

	if (w->stopping)
		return;
	w->stopping = true;
	for (c = w->conns; c; c = next) {
		next = nbd_conn_next(c);
		nbd_conn_resume(c);	/* nothing stays parked; may free c */
	}
	for (c = w->conns; c; c = next) {
		next = nbd_conn_next(c);
		nbd_conn_shutdown(c);	/* may free c */
	}
}

static void worker_efd_done(struct mortar_op *op, int res)
{
	struct nbd_worker *w = (struct nbd_worker *)((char *)op -
		offsetof(struct nbd_worker, efd_op));
	struct nbd_session *list, *s;
	struct ctl_job *jobs, *job;
	bool stop;

	(void)res;
	pthread_mutex_lock(&w->lock);
	list = w->incoming;
	w->incoming = NULL;
	jobs = w->ctl;
	w->ctl = NULL;
	stop = w->stop_requested;
	pthread_mutex_unlock(&w->lock);

	while ((job = jobs)) {
		jobs = job->next;
		worker_ctl_run(w, job);
	}

	while ((s = list)) {
		struct nbd_conn *c;

		list = s->next;
		c = w->stopping ? NULL :
			nbd_conn_start(&w->ctx, w->srv, s, w->imgs[s->export_index]);
		if (!c) {
			if (!w->stopping)
				nbd_log(w->srv, "%s: out of memory starting a connection",
					s->peer);
			nbd_session_close(s);
			atomic_fetch_sub(&w->srv->nconns, 1);
		} else {
			nbd_conn_set_next(c, w->conns);
			w->conns = c;
			w->nconns++;
		}
		free(s);
	}
	if (stop)
		worker_begin_stop(w);
	if (!w->stopping)
		worker_efd_arm(w);
}

static void worker_efd_arm(struct nbd_worker *w)
{
	struct io_uring_sqe *sqe;

	w->efd_op.fn = worker_efd_done;
	sqe = mortar_loop_sqe(w->ctx.loop, &w->efd_op);
	io_uring_prep_read(sqe, w->efd, &w->efd_val, sizeof w->efd_val, 0);
}

static void *worker_main(void *arg)
{
	struct nbd_worker *w = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	worker_efd_arm(w);
	while (!(w->stopping && w->nconns == 0)) {
		int r = mortar_loop_run_once(w->ctx.loop, -1);
		if (r < 0) {
			nbd_log(w->srv, "worker: %s", mortar_errmsg());
			break;
		}
	}
	/* Transports may still be saying goodbye (TLS close_notify). */
	for (int i = 0; i < 100 && mortar_loop_in_flight(w->ctx.loop) > 0; i++)
		mortar_loop_run_once(w->ctx.loop, 10);
	for (size_t i = 0; i < w->srv->nexports; i++) {
		if (mortar_image_close(w->imgs[i]) < 0)
			nbd_log(w->srv, "closing export '%s': %s", w->srv->exports[i].name,
				mortar_errmsg());
		w->imgs[i] = NULL;
	}
	return NULL;
}

int nbd_workers_start(struct nbd_server *srv)
{
	srv->workers = calloc(srv->nworkers, sizeof *srv->workers);
	if (!srv->workers)
		return mortar_set_error(ENOMEM, "out of memory");
	for (size_t e = 0; e < srv->nexports; e++) {
		pthread_mutex_init(&srv->exports[e].q.lock, NULL);
		pthread_cond_init(&srv->exports[e].q.cond, NULL);
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct nbd_worker *w = &srv->workers[i];
		int r;

		w->srv = srv;
		w->ctx.conn_gone = worker_conn_gone;
		pthread_mutex_init(&w->lock, NULL);
		w->efd = eventfd(0, EFD_CLOEXEC);
		w->imgs = calloc(srv->nexports, sizeof *w->imgs);
		if (w->efd < 0 || !w->imgs)
			return mortar_set_error(errno ? errno : ENOMEM, "cannot set up a "
						"worker: %m");
		r = mortar_loop_new(0, &w->ctx.loop);
		if (r < 0)
			return r;
		for (size_t e = 0; e < srv->nexports; e++) {
			unsigned flags = srv->open_flags;
			if (srv->exports[e].read_only)
				flags |= MORTAR_OPEN_RDONLY;
			r = mortar_image_open_text(w->ctx.loop, srv->exports[e].location, flags,
					      &w->imgs[e]);
			if (r < 0)
				return r;
		}
		if (pthread_create(&w->tid, NULL, worker_main, w) != 0)
			return mortar_set_error(EAGAIN, "cannot start a worker thread");
		w->started = true;
	}
	return 0;
}

void nbd_worker_hand_over(struct nbd_server *srv, struct nbd_session *s)
{
	unsigned i = atomic_fetch_add(&srv->next_worker, 1) % srv->nworkers;
	struct nbd_worker *w = &srv->workers[i];
	uint64_t one = 1;
	ssize_t n;

	pthread_mutex_lock(&w->lock);
	s->next = w->incoming;
	w->incoming = s;
	pthread_mutex_unlock(&w->lock);
	n = write(w->efd, &one, sizeof one);
	(void)n;
}

void nbd_workers_stop(struct nbd_server *srv)
{
	uint64_t one = 1;
	ssize_t n;

	if (!srv->workers)
		return;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct nbd_worker *w = &srv->workers[i];
		if (!w->started)
			continue;
		pthread_mutex_lock(&w->lock);
		w->stop_requested = true;
		pthread_mutex_unlock(&w->lock);
		n = write(w->efd, &one, sizeof one);
		(void)n;
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct nbd_worker *w = &srv->workers[i];
		if (w->started)
			pthread_join(w->tid, NULL);
		for (size_t e = 0; w->imgs && e < srv->nexports; e++)
			mortar_image_close(w->imgs[e]);
		free(w->imgs);
		nbd_bufpool_clear(&w->ctx.pool);
		mortar_loop_free(w->ctx.loop);
		if (w->efd >= 0)
			close(w->efd);
		pthread_mutex_destroy(&w->lock);
	}
	free(srv->workers);
	srv->workers = NULL;
	for (size_t e = 0; e < srv->nexports; e++) {
		pthread_mutex_destroy(&srv->exports[e].q.lock);
		pthread_cond_destroy(&srv->exports[e].q.cond);
	}
}

/* ---- handshakes ---- */

struct hs_job {
	struct nbd_server *srv;
	struct nbd_session *s;
};

static void *handshake_main(void *arg)
{
	struct hs_job *job = arg;
	struct nbd_server *srv = job->srv;
	struct nbd_session *s = job->s;
	sigset_t all;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	free(job);
	r = nbd_handshake(srv, s->fd, s);
	if (r == 1 && !atomic_load(&srv->stopping)) {
		nbd_worker_hand_over(srv, s);	/* TLS sessions too */
	} else {
		nbd_session_close(s);
		free(s);
		atomic_fetch_sub(&srv->nconns, 1);
	}
	atomic_fetch_sub(&handshakes, 1);
	return NULL;
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "fd %d", fd);
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "unix socket (fd %d)", fd);
	}
}

static void accept_one(struct nbd_server *srv, int lfd)
{
	struct nbd_session *s;
	struct hs_job *job;
	pthread_attr_t attr;
	pthread_t tid;
	int fd, one = 1;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			nbd_log(srv, "accept: %m");
		if (errno == EMFILE || errno == ENFILE)
			usleep(100000);	/* do not spin on a full table */
		return;
	}
	if (atomic_load(&srv->nconns) >= srv->max_connections) {
		nbd_log(srv, "refusing a connection: %u connections already "
			"(--max-connections)", srv->max_connections);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s = calloc(1, sizeof *s);
	job = calloc(1, sizeof *job);
	if (!s || !job) {
		free(s);
		free(job);
		close(fd);
		return;
	}
	s->fd = fd;
	peer_name(fd, s->peer, sizeof s->peer);
	nbd_debug(srv, "%s: connected", s->peer);
	job->srv = srv;
	job->s = s;
	atomic_fetch_add(&srv->nconns, 1);
	atomic_fetch_add(&handshakes, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	if (pthread_create(&tid, &attr, handshake_main, job) != 0) {
		nbd_log(srv, "cannot start a handshake thread");
		close(fd);
		free(s);
		free(job);
		atomic_fetch_sub(&srv->nconns, 1);
		atomic_fetch_sub(&handshakes, 1);
	}
	pthread_attr_destroy(&attr);
}

int nbd_server_run(struct nbd_server *srv, struct nbd_listen *l, int stop_fd)
{
	struct pollfd pfd[17];
	unsigned n = 0;

	for (unsigned i = 0; i < l->nfds && i < 16; i++)
		pfd[n++] = (struct pollfd){ .fd = l->fds[i], .events = POLLIN };
	pfd[n] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };

	for (;;) {
		int r = poll(pfd, n + 1, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			nbd_log(srv, "poll: %m");
			break;
		}
		if (pfd[n].revents)
			break;
		for (unsigned i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(srv, pfd[i].fd);
	}

	/* Stop: no new connections, end any quiesce, let handshakes give
	 * up, drain workers. */
	atomic_store(&srv->stopping, true);
	nbd_control_stop(srv);
	nbd_listen_close(l);
	while (atomic_load(&handshakes) > 0)
		usleep(10000);
	nbd_workers_stop(srv);
	return 0;
}
