/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Freezing every unit on every worker for a handover (handover.c): each
 * unit stops taking requests, finishes those in flight and reports what
 * the next process needs to go on with it; the thread handing over waits
 * until every worker has reported. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "error.h"
#include "worker.h"

void srv_worker_freeze_check(struct srv_worker *w)
{
	struct srv_freeze *fz = w->srv->freeze;

	if (!w->freezing || w->freeze_left || w->freeze_reported)
		return;
	w->freeze_reported = true;
	pthread_mutex_lock(&fz->lock);
	fz->workers_left--;
	pthread_cond_broadcast(&fz->cond);
	pthread_mutex_unlock(&fz->lock);
}

void srv_unit_frozen(struct srv_unit *u, int fd, struct json_object *state)
{
	struct srv_worker *w = u->w;
	struct srv_freeze *fz = w->srv->freeze;

	if (!w->freezing || u->frozen) {
		json_object_put(state);
		return;
	}
	u->frozen = true;
	if (fd >= 0 && state) {
		struct srv_carried *c = calloc(1, sizeof *c);

		if (c) {
			c->fd = fd;
			c->state = state;
			pthread_mutex_lock(&fz->lock);
			c->next = fz->carried;
			fz->carried = c;
			pthread_mutex_unlock(&fz->lock);
		} else {
			json_object_put(state);
			srv_log(w->srv, "out of memory: a connection is not carried over");
		}
	} else {
		json_object_put(state);
	}
	w->freeze_left--;
	srv_worker_freeze_check(w);
}

static void job_freeze(struct srv_worker *w, void *arg)
{
	struct srv_unit *u, *next;

	(void)arg;
	w->freezing = true;
	w->freeze_reported = false;
	w->freeze_left = w->nunits;
	for (u = w->units; u; u = next) {
		next = u->next;
		u->frozen = false;
		u->ops->freeze(u);	/* may report, or detach u */
	}
	srv_worker_freeze_check(w);
}

static void job_thaw(struct srv_worker *w, void *arg)
{
	struct srv_unit *u, *next;

	(void)arg;
	w->freezing = false;
	for (u = w->units; u; u = next) {
		next = u->next;
		u->frozen = false;
		u->ops->thaw(u);	/* may detach u */
	}
}

void srv_carried_free(struct srv_carried *list)
{
	while (list) {
		struct srv_carried *next = list->next;

		json_object_put(list->state);
		free(list);
		list = next;
	}
}

int srv_workers_freeze(struct srv *srv, int timeout_ms, struct srv_carried **carried)
{
	struct srv_freeze *fz = srv->freeze;
	struct timespec deadline;
	int r = 0;

	if (!fz) {
		fz = srv->freeze = calloc(1, sizeof *fz);
		if (!fz)
			return mortar_set_error(ENOMEM, "out of memory");
		pthread_mutex_init(&fz->lock, NULL);
		pthread_cond_init(&fz->cond, NULL);
	}
	srv_carried_free(fz->carried);
	fz->carried = NULL;
	fz->workers_left = srv->nworkers;
	for (unsigned i = 0; i < srv->nworkers; i++)
		while (srv_worker_post(&srv->workers[i], job_freeze, NULL) < 0)
			usleep(10000);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&fz->lock);
	while (fz->workers_left && r == 0)
		if (pthread_cond_timedwait(&fz->cond, &fz->lock, &deadline) == ETIMEDOUT)
			r = mortar_set_error(ETIMEDOUT, "requests in flight did not finish "
					     "within %d s", timeout_ms / 1000);
	*carried = r == 0 ? fz->carried : NULL;
	if (r == 0)
		fz->carried = NULL;
	pthread_mutex_unlock(&fz->lock);
	return r;
}

void srv_workers_thaw(struct srv *srv)
{
	for (unsigned i = 0; i < srv->nworkers; i++)
		while (srv_worker_post(&srv->workers[i], job_thaw, NULL) < 0)
			usleep(10000);
}
