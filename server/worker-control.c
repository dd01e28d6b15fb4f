/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Requests that every worker carries out on its own loop for one export,
 * for the control socket: flush or resize its image, resume the units
 * parked on its quiesce. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "worker.h"

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

/* One worker's part: a flush, or a resize to SIZE (the first worker's
 * truncates, the others' find the size already there and only learn it). */
struct ctl_flush {
	struct ctl_wait *wait;
	struct srv_export *e;
	bool resize;
	uint64_t size;
	unsigned flags;
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
	struct ctl_flush *f = opaque;
	struct ctl_wait *cw = f->wait;

	pthread_mutex_lock(&cw->lock);
	if (res < 0 && !cw->err) {
		cw->err = res;
		snprintf(cw->msg, sizeof cw->msg, "%s", mortar_errmsg());
	}
	cw->left--;
	pthread_cond_broadcast(&cw->cond);
	pthread_mutex_unlock(&cw->lock);
	ctl_wait_put(cw);
	free(f);
}

static void job_flush(struct srv_worker *w, void *arg)
{
	struct ctl_flush *f = arg;
	struct mortar_image *img = srv_worker_image(w, f->e);
	int r = f->resize ? mortar_image_resize(img, f->size, f->flags, ctl_flush_done, f) :
		mortar_image_flush(img, 0, ctl_flush_done, f);

	if (r < 0)
		ctl_flush_done(f, r);
}

static int ctl_wait_for(struct ctl_wait *cw, const struct srv_export *e, int timeout_ms,
			const char *verb)
{
	struct timespec deadline;
	int r = 0;

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
			r = mortar_set_error(ETIMEDOUT, "%s export '%s' took more "
					     "than %d s", verb, e->name, timeout_ms / 1000);
	if (r == 0 && cw->err)
		r = mortar_set_error(-cw->err, "%s export '%s': %s", verb, e->name, cw->msg);
	pthread_mutex_unlock(&cw->lock);
	return r;
}

static int workers_image_op(struct srv *srv, const struct ctl_flush *op, int timeout_ms)
{
	struct ctl_wait *cw = calloc(1, sizeof *cw);
	int r = 0;

	if (!cw)
		return mortar_set_error(ENOMEM, "out of memory");
	pthread_mutex_init(&cw->lock, NULL);
	pthread_cond_init(&cw->cond, NULL);
	cw->refs = 1;
	for (unsigned i = 0; i < srv->nworkers && r == 0; i++) {
		struct ctl_flush *f = calloc(1, sizeof *f);

		if (!f) {
			r = mortar_set_error(ENOMEM, "out of memory");
			break;
		}
		*f = *op;
		f->wait = cw;
		pthread_mutex_lock(&cw->lock);
		cw->left++;
		cw->refs++;
		pthread_mutex_unlock(&cw->lock);
		if (srv_worker_post(&srv->workers[i], job_flush, f) < 0) {
			free(f);
			pthread_mutex_lock(&cw->lock);
			cw->left--;
			cw->refs--;
			pthread_mutex_unlock(&cw->lock);
			r = -ENOMEM;
		}
	}
	if (r == 0)
		r = ctl_wait_for(cw, op->e, timeout_ms, op->resize ? "resizing" : "flushing");
	ctl_wait_put(cw);
	return r;
}

int srv_workers_flush(struct srv *srv, struct srv_export *e, int timeout_ms)
{
	const struct ctl_flush op = { .e = e };

	return workers_image_op(srv, &op, timeout_ms);
}

int srv_workers_resize(struct srv *srv, struct srv_export *e, uint64_t size, unsigned flags,
		       int timeout_ms)
{
	const struct ctl_flush op = { .e = e, .resize = true, .size = size, .flags = flags };

	return workers_image_op(srv, &op, timeout_ms);
}

static void job_resume(struct srv_worker *w, void *arg)
{
	struct srv_export *e = arg;
	struct srv_unit *u, *next;

	for (u = w->units; u; u = next) {
		next = u->next;
		if (u->e == e)
			u->ops->resume(u);	/* may detach u */
	}
}

void srv_workers_resume(struct srv *srv, struct srv_export *e)
{
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (srv_worker_post(&srv->workers[i], job_resume, e) < 0)
			/* Parked requests then wait for the next resume or the
			 * server's stop. */
			srv_log(srv, "out of memory resuming export '%s'", e->name);
}
