/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Workers: one thread, one event loop and one open image per export each
 * (one per core by default).  Units (NBD connections, vhost-user queues)
 * are attached to one worker and never cross threads; other threads talk
 * to a worker by posting jobs, which run on its loop.
 *
 * Stopping: every unit is resumed (nothing stays parked on a quiesce) and
 * told to stop; a unit finishes what is in flight and detaches; once none
 * is left the worker flushes and closes its images and exits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "worker.h"

/* ---- accessors for units ---- */

struct mortar_loop *srv_worker_loop(struct srv_worker *w) { return w->loop; }
struct srv_bufpool *srv_worker_pool(struct srv_worker *w) { return &w->pool; }
struct srv *srv_worker_server(struct srv_worker *w) { return w->srv; }
bool srv_worker_stopping(const struct srv_worker *w) { return w->stopping; }

struct mortar_image *srv_worker_image(struct srv_worker *w, const struct srv_export *e)
{
	return w->imgs[e->slot];
}

void srv_unit_attach(struct srv_worker *w, struct srv_unit *u)
{
	u->w = w;
	u->prev = NULL;
	u->next = w->units;
	if (w->units)
		w->units->prev = u;
	w->units = u;
	w->nunits++;
}

void srv_unit_detach(struct srv_unit *u)
{
	struct srv_worker *w = u->w;

	if (u->waiting) {
		struct srv_unit **p = &w->mem_waiters;
		while (*p && *p != u)
			p = &(*p)->wait_next;
		if (*p)
			*p = u->wait_next;
		u->waiting = false;
	}
	if (u->prev)
		u->prev->next = u->next;
	else
		w->units = u->next;
	if (u->next)
		u->next->prev = u->prev;
	w->nunits--;
	atomic_fetch_sub(&w->srv->nconns, 1);
	if (w->freezing && !u->frozen) {
		/* Gone rather than frozen: not carried over. */
		w->freeze_left--;
		srv_worker_freeze_check(w);
	}
}

/* ---- request memory ---- */

bool srv_mem_take(struct srv_unit *u, uint64_t bytes)
{
	struct srv_worker *w = u->w;

	if (w->mem + bytes > w->mem_max && w->mem > 0) {
		if (!u->waiting) {
			u->waiting = true;
			u->wait_next = w->mem_waiters;
			w->mem_waiters = u;
		}
		return false;
	}
	w->mem += bytes;
	return true;
}

/* Everyone waiting tries again; those still over the limit wait again.
 * On a turn of its own, so that no unit runs inside another's call. */
static void worker_wake_done(struct mortar_op *op, int res)
{
	struct srv_worker *w = (struct srv_worker *)((char *)op -
		offsetof(struct srv_worker, wake_op));
	struct srv_unit *list = w->mem_waiters;

	(void)res;
	w->wake_pending = false;
	w->mem_waiters = NULL;
	while (list) {
		struct srv_unit *u = list;

		list = u->wait_next;
		u->waiting = false;
		u->ops->wake(u);	/* may detach u */
	}
}

void srv_mem_give(struct srv_worker *w, uint64_t bytes)
{
	w->mem -= bytes;
	if (!w->mem_waiters || w->mem >= w->mem_max || w->wake_pending)
		return;
	w->wake_pending = true;
	w->wake_op.fn = worker_wake_done;
	mortar_loop_defer(w->loop, &w->wake_op, 0);
}

/* ---- jobs ---- */

static void worker_efd_arm(struct srv_worker *w);

int srv_worker_post(struct srv_worker *w, void (*fn)(struct srv_worker *w, void *arg),
		    void *arg)
{
	struct srv_job *job = malloc(sizeof *job);
	uint64_t one = 1;
	ssize_t n;

	if (!job)
		return mortar_set_error(ENOMEM, "out of memory");
	job->fn = fn;
	job->arg = arg;
	job->next = NULL;
	pthread_mutex_lock(&w->lock);
	*w->jobs_tail = job;
	w->jobs_tail = &job->next;
	pthread_mutex_unlock(&w->lock);
	n = write(w->efd, &one, sizeof one);
	(void)n;
	return 0;
}

struct srv_worker *srv_worker_next(struct srv *srv)
{
	return &srv->workers[atomic_fetch_add(&srv->next_worker, 1) % srv->nworkers];
}

static void worker_begin_stop(struct srv_worker *w)
{
	struct srv_unit *u, *next;

	if (w->stopping)
		return;
	w->stopping = true;
	for (u = w->units; u; u = next) {
		next = u->next;
		u->ops->resume(u);	/* nothing stays parked; may detach u */
	}
	for (u = w->units; u; u = next) {
		next = u->next;
		u->ops->stop(u);	/* may detach u */
	}
}

static void worker_efd_done(struct mortar_op *op, int res)
{
	struct srv_worker *w = (struct srv_worker *)((char *)op -
		offsetof(struct srv_worker, efd_op));
	struct srv_job *jobs, *job;
	bool stop;

	(void)res;
	pthread_mutex_lock(&w->lock);
	jobs = w->jobs;
	w->jobs = NULL;
	w->jobs_tail = &w->jobs;
	stop = w->stop_requested;
	pthread_mutex_unlock(&w->lock);

	while ((job = jobs)) {
		jobs = job->next;
		job->fn(w, job->arg);
		free(job);
	}
	if (stop)
		worker_begin_stop(w);
	if (!w->stopping)
		worker_efd_arm(w);
}

static void worker_efd_arm(struct srv_worker *w)
{
	struct io_uring_sqe *sqe;

	w->efd_op.fn = worker_efd_done;
	sqe = mortar_loop_sqe(w->loop, &w->efd_op);
	io_uring_prep_read(sqe, w->efd, &w->efd_val, sizeof w->efd_val, 0);
}

/* ---- the idle tick ---- */

static void worker_tick_arm(struct srv_worker *w);

static void worker_tick_done(struct mortar_op *op, int res)
{
	struct srv_worker *w = (struct srv_worker *)((char *)op -
		offsetof(struct srv_worker, tick_op));
	struct timespec now;
	struct srv_unit *u, *next;

	(void)res;
	w->tick_armed = false;
	if (w->stopping)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (u = w->units; u; u = next) {
		next = u->next;
		if (u->ops->tick)
			u->ops->tick(u, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
	}
	worker_tick_arm(w);
}

static void worker_tick_arm(struct srv_worker *w)
{
	struct io_uring_sqe *sqe;

	w->tick_armed = true;
	w->tick_op.fn = worker_tick_done;
	w->tick_ts = (struct __kernel_timespec){ .tv_sec = 1 };
	sqe = mortar_loop_sqe(w->loop, &w->tick_op);
	io_uring_prep_timeout(sqe, &w->tick_ts, 0, 0);
}

/* ---- the thread ---- */

static int worker_init(struct srv *srv, struct srv_worker *w);

/* The verdict of the worker's setup, to the thread that started it. */
static void worker_started(struct srv_worker *w, int r)
{
	pthread_mutex_lock(&w->start_lock);
	w->start_err = r;
	if (r < 0)
		snprintf(w->start_msg, sizeof w->start_msg, "%s", mortar_errmsg());
	w->start_done = true;
	pthread_cond_broadcast(&w->start_cond);
	pthread_mutex_unlock(&w->start_lock);
}

static void *worker_main(void *arg)
{
	struct srv_worker *w = arg;
	sigset_t all;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	r = worker_init(w->srv, w);
	if (r < 0) {
		/* What it opened, closed on the thread that owns the loop. */
		for (size_t i = 0; w->imgs && i < w->srv->nexports; i++) {
			mortar_image_close(w->imgs[i]);
			w->imgs[i] = NULL;
		}
		worker_started(w, r);
		return NULL;
	}
	worker_started(w, r);
	worker_efd_arm(w);
	if (w->srv->cfg.idle_timeout_s)
		worker_tick_arm(w);
	while (!(w->stopping && w->nunits == 0)) {
		r = mortar_loop_run_once(w->loop, -1);
		if (r < 0) {
			srv_log(w->srv, "worker: %s", mortar_errmsg());
			break;
		}
	}
	/* Units may still be saying goodbye (TLS close_notify); the tick
	 * ends within a second. */
	for (int i = 0; i < 150 && mortar_loop_in_flight(w->loop) > 0; i++)
		mortar_loop_run_once(w->loop, 10);
	for (size_t i = 0; i < w->srv->nexports; i++) {
		if (mortar_image_close(w->imgs[i]) < 0)
			srv_log(w->srv, "closing export '%s': %s", w->srv->exports[i]->name,
				mortar_errmsg());
		w->imgs[i] = NULL;
	}
	return NULL;
}

static int worker_init(struct srv *srv, struct srv_worker *w)
{
	int r;

	w->srv = srv;
	w->jobs_tail = &w->jobs;
	w->mem_max = srv->cfg.max_bytes / srv->nworkers;
	w->efd = eventfd(0, EFD_CLOEXEC);
	w->imgs = calloc(srv->nexports, sizeof *w->imgs);
	if (w->efd < 0 || !w->imgs)
		return mortar_set_error(errno ? errno : ENOMEM, "cannot set up a worker: %m");
	r = mortar_loop_new_private(0, &w->loop);
	if (r < 0)
		return r;
	for (size_t e = 0; e < srv->nexports; e++) {
		const struct srv_export *x = srv->exports[e];
		unsigned flags = srv->cfg.open_flags | (x->read_only ? MORTAR_OPEN_RDONLY : 0);

		r = mortar_image_open(w->loop, x->loc, flags, &w->imgs[x->slot]);
		if (r < 0)
			return r;
	}
	return 0;
}

int srv_workers_start(struct srv *srv)
{
	int r = 0;

	srv->workers = calloc(srv->nworkers, sizeof *srv->workers);
	if (!srv->workers)
		return mortar_set_error(ENOMEM, "out of memory");
	for (unsigned i = 0; i < srv->nworkers; i++) {
		srv->workers[i].srv = srv;
		srv->workers[i].efd = -1;
		pthread_mutex_init(&srv->workers[i].lock, NULL);
	}
	for (unsigned i = 0; i < srv->nworkers && r == 0; i++) {
		struct srv_worker *w = &srv->workers[i];

		pthread_mutex_init(&w->start_lock, NULL);
		pthread_cond_init(&w->start_cond, NULL);
		if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
			r = mortar_set_error(EAGAIN, "cannot start a worker thread");
			break;
		}
		w->started = true;
		pthread_mutex_lock(&w->start_lock);
		while (!w->start_done)
			pthread_cond_wait(&w->start_cond, &w->start_lock);
		pthread_mutex_unlock(&w->start_lock);
		if (w->start_err < 0)
			r = mortar_set_error(-w->start_err, "%s", w->start_msg);
	}
	if (r < 0)
		srv_workers_stop(srv);
	return r;
}

static void worker_fini(struct srv_worker *w)
{
	struct srv_job *job;

	for (size_t e = 0; w->imgs && e < w->srv->nexports; e++)
		mortar_image_close(w->imgs[e]);
	free(w->imgs);
	while ((job = w->jobs)) {	/* posted after the worker left */
		w->jobs = job->next;
		free(job);
	}
	srv_bufpool_clear(&w->pool);
	mortar_loop_free(w->loop);
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->lock);
}

struct srv_worker *srv_worker_new_local(struct srv *srv)
{
	struct srv_worker *w = calloc(1, sizeof *w);

	if (!w) {
		mortar_set_error(ENOMEM, "out of memory");
		return NULL;
	}
	w->efd = -1;
	pthread_mutex_init(&w->lock, NULL);
	if (worker_init(srv, w) < 0) {
		worker_fini(w);
		free(w);
		return NULL;
	}
	return w;
}

void srv_worker_free_local(struct srv_worker *w)
{
	worker_fini(w);
	free(w);
}

void srv_workers_stop(struct srv *srv)
{
	uint64_t one = 1;
	ssize_t n;

	if (!srv->workers)
		return;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct srv_worker *w = &srv->workers[i];
		if (!w->started)
			continue;
		pthread_mutex_lock(&w->lock);
		w->stop_requested = true;
		pthread_mutex_unlock(&w->lock);
		n = write(w->efd, &one, sizeof one);
		(void)n;
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct srv_worker *w = &srv->workers[i];

		if (w->started)
			pthread_join(w->tid, NULL);
		worker_fini(w);
	}
	free(srv->workers);
	srv->workers = NULL;
	if (srv->freeze) {
		srv_carried_free(srv->freeze->carried);
		pthread_mutex_destroy(&srv->freeze->lock);
		pthread_cond_destroy(&srv->freeze->cond);
		free(srv->freeze);
		srv->freeze = NULL;
	}
}
