/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to server/: a worker as the files about workers see it
 * (worker.c: threads and units; worker-freeze.c: freezing for a
 * handover; worker-control.c: requests for every worker). */
#ifndef MORTAR_SERVER_WORKER_H
#define MORTAR_SERVER_WORKER_H

#include "internal.h"

struct srv_job {
	void (*fn)(struct srv_worker *w, void *arg);
	void *arg;
	struct srv_job *next;
};

struct srv_worker {
	struct srv *srv;
	pthread_t tid;
	bool started;
	struct mortar_loop *loop;
	struct srv_bufpool pool;
	struct mortar_image **imgs;	/* by export slot */

	int efd;
	uint64_t efd_val;
	struct mortar_op efd_op;
	pthread_mutex_t lock;
	struct srv_job *jobs, **jobs_tail;	/* under lock, in order */
	bool stop_requested;			/* under lock */

	bool stopping;			/* loop thread only from here */
	struct srv_unit *units;
	unsigned nunits;

	struct mortar_op tick_op;
	struct __kernel_timespec tick_ts;
	bool tick_armed;

	uint64_t mem, mem_max;		/* request memory in flight */
	struct srv_unit *mem_waiters;
	struct mortar_op wake_op;	/* wakes them on the next turn */
	bool wake_pending;

	bool freezing;			/* a handover is under way */
	bool freeze_reported;
	unsigned freeze_left;		/* units not frozen yet */

	/* Set up on the worker's own thread (its loop is private to it):
	 * the starting thread waits for the verdict. */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	bool start_done;
	int start_err;
	char start_msg[512];
};

/* What the thread handing over waits on (srv->freeze). */
struct srv_freeze {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned workers_left;
	struct srv_carried *carried;
};

/* worker-freeze.c: a unit left while a freeze was under way. */
void srv_worker_freeze_check(struct srv_worker *w);

#endif
