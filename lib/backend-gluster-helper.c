/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend's helper thread: one per connection, for the
 * calls gfapi has only in a synchronous form (glfs_lseek, and the opens of
 * shards that block status makes).
 *
 * A block status can take a couple of thousand round trips to the
 * bricks.  Made on the loop thread, it would stall every other connection
 * of that worker for as long; here the loop hands the job over, goes on,
 * and gets the answer back through mortar_loop_post like any gfapi
 * completion.  Jobs run one at a time, in order: they are bounded
 * (GL_MAX_EXTENTS), so none waits long behind another.  The thread lives
 * as long as the connection, which is cached for the process.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "backend-gluster.h"
#include "error.h"

struct gl_helper {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct gl_job *head, *tail;
};

static pthread_mutex_t gl_helpers_mu = PTHREAD_MUTEX_INITIALIZER;

static void *gl_helper_main(void *arg)
{
	struct gl_helper *hp = arg;
	struct gl_job *job;

	for (;;) {
		pthread_mutex_lock(&hp->mu);
		while (!hp->head)
			pthread_cond_wait(&hp->cv, &hp->mu);
		job = hp->head;
		hp->head = job->next;
		if (!hp->head)
			hp->tail = NULL;
		pthread_mutex_unlock(&hp->mu);
		job->run(job);
	}
	return NULL;
}

static int gl_helper_start(struct gl_conn *c)
{
	struct gl_helper *hp = calloc(1, sizeof *hp);
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t tid;
	int r;

	if (!hp)
		return -ENOMEM;
	pthread_mutex_init(&hp->mu, NULL);
	pthread_cond_init(&hp->cv, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals are the server's main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&tid, &attr, gl_helper_main, hp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r) {
		pthread_cond_destroy(&hp->cv);
		pthread_mutex_destroy(&hp->mu);
		free(hp);
		return -r;
	}
	c->helper = hp;
	return 0;
}

int gl_helper_submit(struct gl_conn *c, struct gl_job *job)
{
	struct gl_helper *hp;
	int r = 0;

	pthread_mutex_lock(&gl_helpers_mu);
	if (!c->helper)
		r = gl_helper_start(c);
	hp = c->helper;
	pthread_mutex_unlock(&gl_helpers_mu);
	if (r < 0)
		return r;
	job->next = NULL;
	pthread_mutex_lock(&hp->mu);
	if (hp->tail)
		hp->tail->next = job;
	else
		hp->head = job;
	hp->tail = job;
	pthread_cond_signal(&hp->cv);
	pthread_mutex_unlock(&hp->mu);
	return 0;
}
