/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The event loop: one io_uring per thread, plus a deferred queue and an
 * eventfd-fed queue for completions that come from other threads. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"

#define LOOP_DEFAULT_ENTRIES 256
#define LOOP_BATCH 64

struct mortar_loop {
	struct io_uring ring;
	unsigned in_flight;		/* ops whose fn has not run yet */

	struct mortar_op *defer_head, *defer_tail;

	/* Foreign-thread completions.  The eventfd read is itself an op that
	 * stays armed while holds are outstanding; it does not count as in
	 * flight, the holds do. */
	pthread_mutex_t lock;
	struct mortar_op *remote_head, *remote_tail;
	int efd;
	bool efd_armed;
	uint64_t efd_buf;
	struct mortar_op efd_op;
	unsigned holds;
	bool private;		/* DEFER_TASKRUN: completions only when we ask */
};

static void loop_efd_arm(struct mortar_loop *loop);

static int loop_new(unsigned entries, bool private, struct mortar_loop **out)
{
	struct mortar_loop *loop;
	int r = -EINVAL;

	loop = calloc(1, sizeof *loop);
	if (!loop)
		return mortar_set_error(ENOMEM, "out of memory creating an event loop");
	if (entries == 0)
		entries = LOOP_DEFAULT_ENTRIES;
	/* A loop only its own thread submits to: the kernel runs completion
	 * work when that thread waits, never by interrupting it or another
	 * thread (6.1+): fewer wake-ups and context switches per request. */
	if (private) {
		r = io_uring_queue_init(entries, &loop->ring, IORING_SETUP_SINGLE_ISSUER |
					IORING_SETUP_DEFER_TASKRUN);
		loop->private = r == 0;
	}
	/* Cooperative task running: completions are processed when the loop
	 * enters the kernel anyway, not by interrupting it (5.19+). */
	if (r == -EINVAL)
		r = io_uring_queue_init(entries, &loop->ring, IORING_SETUP_COOP_TASKRUN);
	if (r == -EINVAL)
		r = io_uring_queue_init(entries, &loop->ring, 0);
	if (r < 0) {
		free(loop);
		if (r == -ENOSYS || r == -EPERM)
			return mortar_set_error(r, "io_uring is not available (%s): "
				"the kernel lacks it or a seccomp/sysctl policy "
				"(kernel.io_uring_disabled) forbids it", strerror(-r));
		return mortar_set_error(r, "cannot set up io_uring: %s "
			"(if ENOMEM, raise RLIMIT_MEMLOCK)", strerror(-r));
	}
	loop->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->efd < 0) {
		r = -errno;
		io_uring_queue_exit(&loop->ring);
		free(loop);
		return mortar_set_error(r, "cannot create an eventfd: %s", strerror(-r));
	}
	pthread_mutex_init(&loop->lock, NULL);
	*out = loop;
	return 0;
}

int mortar_loop_new(unsigned entries, struct mortar_loop **out)
{
	return loop_new(entries, false, out);
}

int mortar_loop_new_private(unsigned entries, struct mortar_loop **out)
{
	return loop_new(entries, true, out);
}

void mortar_loop_free(struct mortar_loop *loop)
{
	if (!loop)
		return;
	io_uring_queue_exit(&loop->ring);
	close(loop->efd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

struct io_uring *mortar_loop_ring(struct mortar_loop *loop)
{
	return &loop->ring;
}

unsigned mortar_loop_in_flight(const struct mortar_loop *loop)
{
	return loop->in_flight;
}

struct io_uring_sqe *mortar_loop_sqe(struct mortar_loop *loop, struct mortar_op *op)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&loop->ring)))
		io_uring_submit(&loop->ring);
	io_uring_sqe_set_data(sqe, op);
	if (op != &loop->efd_op)
		loop->in_flight++;
	return sqe;
}

void mortar_loop_defer(struct mortar_loop *loop, struct mortar_op *op, int res)
{
	op->res = res;
	op->next = NULL;
	if (loop->defer_tail)
		loop->defer_tail->next = op;
	else
		loop->defer_head = op;
	loop->defer_tail = op;
	loop->in_flight++;
}

void mortar_loop_hold(struct mortar_loop *loop)
{
	loop->in_flight++;
	loop->holds++;
	if (!loop->efd_armed)
		loop_efd_arm(loop);
}

void mortar_loop_post(struct mortar_loop *loop, struct mortar_op *op, int res)
{
	static const uint64_t one = 1;
	ssize_t n;

	op->res = res;
	op->next = NULL;
	pthread_mutex_lock(&loop->lock);
	if (loop->remote_tail)
		loop->remote_tail->next = op;
	else
		loop->remote_head = op;
	loop->remote_tail = op;
	pthread_mutex_unlock(&loop->lock);
	/* EAGAIN means the counter is saturated: the loop wakes anyway. */
	n = write(loop->efd, &one, sizeof one);
	(void)n;
}

static void loop_efd_done(struct mortar_op *op, int res)
{
	struct mortar_loop *loop = (struct mortar_loop *)((char *)op -
		offsetof(struct mortar_loop, efd_op));
	struct mortar_op *list, *next;

	loop->efd_armed = false;
	pthread_mutex_lock(&loop->lock);
	list = loop->remote_head;
	loop->remote_head = loop->remote_tail = NULL;
	pthread_mutex_unlock(&loop->lock);
	for (; list; list = next) {
		next = list->next;
		loop->in_flight--;
		loop->holds--;
		list->fn(list, list->res);
	}
	if (loop->holds && !loop->efd_armed)
		loop_efd_arm(loop);
	(void)res;
}

static void loop_efd_arm(struct mortar_loop *loop)
{
	struct io_uring_sqe *sqe;

	loop->efd_op.fn = loop_efd_done;
	sqe = mortar_loop_sqe(loop, &loop->efd_op);
	io_uring_prep_read(sqe, loop->efd, &loop->efd_buf, sizeof loop->efd_buf, 0);
	loop->efd_armed = true;
}

static int loop_run_deferred(struct mortar_loop *loop)
{
	struct mortar_op *list = loop->defer_head, *next;
	int n = 0;

	/* Detach first: callbacks may defer more, which run next turn. */
	loop->defer_head = loop->defer_tail = NULL;
	for (; list; list = next) {
		next = list->next;
		loop->in_flight--;
		list->fn(list, list->res);
		n++;
	}
	return n;
}

int mortar_loop_run_once(struct mortar_loop *loop, int timeout_ms)
{
	struct io_uring_cqe *cqe, *batch_cqe;
	struct mortar_op *ops[LOOP_BATCH];
	int res[LOOP_BATCH];
	struct __kernel_timespec ts;
	unsigned head, count = 0, wait_nr;
	int r, ran = 0;

	if (loop->defer_head)
		ran = loop_run_deferred(loop);

	/* Only block when nothing ran: deferred callbacks count as progress. */
	wait_nr = (ran || timeout_ms == 0) ? 0 : 1;
	if (wait_nr && timeout_ms > 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
		r = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, wait_nr, &ts, NULL);
	} else if (wait_nr == 0 && loop->private) {
		/* Without a wait the kernel would keep the completions. */
		r = io_uring_submit_and_get_events(&loop->ring);
	} else {
		r = io_uring_submit_and_wait(&loop->ring, wait_nr);
	}
	if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
		return mortar_set_error(r, "io_uring wait failed: %s", strerror(-r));

	/* Copy the batch out before running callbacks: they may submit. */
	io_uring_for_each_cqe(&loop->ring, head, batch_cqe) {
		if (count == LOOP_BATCH)
			break;
		ops[count] = io_uring_cqe_get_data(batch_cqe);
		res[count] = batch_cqe->res;
		count++;
	}
	io_uring_cq_advance(&loop->ring, count);
	for (unsigned i = 0; i < count; i++) {
		if (ops[i] != &loop->efd_op)
			loop->in_flight--;
		ops[i]->fn(ops[i], res[i]);
		ran++;
	}
	return ran;
}

int mortar_loop_run_until(struct mortar_loop *loop, const bool *done)
{
	int r;

	while (!*done) {
		if (loop->in_flight == 0)
			return mortar_set_error(EDEADLK, "internal error: waiting "
				"for a request that is not in flight");
		r = mortar_loop_run_once(loop, -1);
		if (r < 0)
			return r;
	}
	return 0;
}
