/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Holding the modifying requests of exports while a snapshot is taken.
 *
 * The control thread sets an export's gate ON, waits until no modifying
 * request is inside the image any more, and has every worker flush its
 * handle; requests that arrive meanwhile wait in their unit (NBD parks
 * them on the connection) until the workers resume the units. */
#include <errno.h>
#include <time.h>

#include "error.h"
#include "internal.h"

#define DRAIN_MAX_MS 30000	/* writes in flight must finish by then */

bool srv_quiesce_enter(struct srv_quiesce *q)
{
	/* Count first, then look: with the control thread setting ON first
	 * and then waiting for WRITES == 0, one of the two always sees the
	 * other (both are sequentially consistent). */
	atomic_fetch_add(&q->writes, 1);
	if (!atomic_load(&q->on))
		return true;
	srv_quiesce_leave(q);
	return false;
}

void srv_quiesce_leave(struct srv_quiesce *q)
{
	if (atomic_fetch_sub(&q->writes, 1) == 1 && atomic_load(&q->on)) {
		pthread_mutex_lock(&q->lock);
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
	}
}

void srv_quiesce_init(struct srv_quiesce *q)
{
	atomic_init(&q->on, false);
	atomic_init(&q->writes, 0);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

void srv_quiesce_destroy(struct srv_quiesce *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

void srv_quiesce_end(struct srv *srv, const bool *match)
{
	for (size_t i = 0; i < srv->nexports; i++) {
		struct srv_quiesce *q = &srv->exports[i]->q;

		if (!match[i])
			continue;
		pthread_mutex_lock(&q->lock);
		atomic_store(&q->on, false);
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
		srv_workers_resume(srv, srv->exports[i]);
	}
}

/* Wait until no modifying request of Q is inside the image. */
static int quiesce_drain(struct srv_export *e, const struct timespec *deadline)
{
	struct srv_quiesce *q = &e->q;
	int r = 0;

	pthread_mutex_lock(&q->lock);
	while (atomic_load(&q->writes) > 0 && r == 0)
		if (pthread_cond_timedwait(&q->cond, &q->lock, deadline) == ETIMEDOUT)
			r = mortar_set_error(ETIMEDOUT, "writes to export '%s' did not "
					     "finish within %d s", e->name,
					     DRAIN_MAX_MS / 1000);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int srv_quiesce_begin(struct srv *srv, const bool *match)
{
	struct timespec deadline;
	int r = 0;

	for (size_t i = 0; i < srv->nexports; i++)
		if (match[i])
			atomic_store(&srv->exports[i]->q.on, true);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += DRAIN_MAX_MS / 1000;
	for (size_t i = 0; i < srv->nexports && r == 0; i++) {
		if (!match[i])
			continue;
		r = quiesce_drain(srv->exports[i], &deadline);
		if (r == 0)
			r = srv_workers_flush(srv, srv->exports[i], DRAIN_MAX_MS);
	}
	if (r < 0)
		srv_quiesce_end(srv, match);
	return r;
}
