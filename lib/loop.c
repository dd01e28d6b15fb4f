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
#define LOOP_FIXED_SLOTS 64		/* registered buffers per ring */
#define LOOP_FIXED_MAX (1ul << 30)	/* the kernel's limit per buffer */

/* Vectored I/O on registered buffers (Linux 6.15); liburing 2.3's headers
 * predate them, the kernel's uapi numbers them so. */
#define LOOP_OP_READV_FIXED 60
#define LOOP_OP_WRITEV_FIXED 61

/* One registered buffer of the ring: a piece of at most 1 GiB of what
 * callers registered, counted (several users of one loop may register the
 * same memory); REFS 0: the slot is empty. */
struct loop_fixed {
	uint8_t *addr;
	size_t len;
	unsigned refs;
};

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

	/* Registered memory: 0 not tried yet, 1 the sparse table is there,
	 * -1 the kernel refused it (every request takes the plain path). */
	int fixed_state;
	bool fixed_vec;			/* READV_FIXED and WRITEV_FIXED exist */
	unsigned nfixed;		/* slots in use */
	uint64_t fixed_ios;
	struct loop_fixed fixed[LOOP_FIXED_SLOTS];
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

/* ---- registered memory ----
 *
 * O_DIRECT on ordinary memory pins its pages for each request (the
 * kernel's get_user_pages); a registered buffer was pinned once, at
 * registration.  The table is sparse so that buffers come and go one by
 * one while the loop runs. */

static int fixed_setup(struct mortar_loop *loop)
{
	struct io_uring_probe *probe;
	int r;

	if (loop->fixed_state)
		return loop->fixed_state > 0 ? 0 : -EOPNOTSUPP;
	loop->fixed_state = -1;
	r = io_uring_register_buffers_sparse(&loop->ring, LOOP_FIXED_SLOTS);
	if (r < 0)
		return mortar_set_error(r, "the kernel refused a table of registered buffers "
					"(%s); Linux 5.19 or later has them", strerror(-r));
	probe = io_uring_get_probe_ring(&loop->ring);
	loop->fixed_vec = probe && io_uring_opcode_supported(probe, LOOP_OP_READV_FIXED) &&
			  io_uring_opcode_supported(probe, LOOP_OP_WRITEV_FIXED);
	io_uring_free_probe(probe);
	loop->fixed_state = 1;
	return 0;
}

static int fixed_set(struct mortar_loop *loop, unsigned slot, void *addr, size_t len)
{
	struct iovec iov = { .iov_base = addr, .iov_len = len };
	__u64 tag = 0;
	int r = io_uring_register_buffers_update_tag(&loop->ring, slot, &iov, &tag, 1);

	return r < 0 ? r : 0;
}

static int fixed_add(struct mortar_loop *loop, uint8_t *addr, size_t len)
{
	int free_slot = -1, r;

	for (unsigned i = 0; i < LOOP_FIXED_SLOTS; i++) {
		struct loop_fixed *f = &loop->fixed[i];

		if (f->refs && f->addr == addr && f->len == len) {
			f->refs++;
			return 0;
		}
		if (!f->refs && free_slot < 0)
			free_slot = (int)i;
	}
	if (free_slot < 0)
		return mortar_set_error(ENOSPC, "all %d registered buffers of the ring are "
					"in use", LOOP_FIXED_SLOTS);
	r = fixed_set(loop, (unsigned)free_slot, addr, len);
	if (r < 0)
		return mortar_set_error(r, "the kernel refused to register %zu bytes of "
					"memory as a fixed buffer: %s%s", len, strerror(-r),
					r == -ENOMEM ? " (RLIMIT_MEMLOCK too low: raise it, "
					"e.g. LimitMEMLOCK= of the service)" : "");
	loop->fixed[free_slot] = (struct loop_fixed){ .addr = addr, .len = len, .refs = 1 };
	loop->nfixed++;
	return 0;
}

void mortar_loop_mem_unregister(struct mortar_loop *loop, void *addr, size_t len)
{
	uint8_t *lo = addr, *hi = lo + len;

	for (unsigned i = 0; i < LOOP_FIXED_SLOTS; i++) {
		struct loop_fixed *f = &loop->fixed[i];

		if (!f->refs || f->addr < lo || f->addr + f->len > hi || --f->refs)
			continue;
		/* Unpinned now: nothing in flight holds the buffer (the
		 * caller's requests are done), so the kernel lets go at once. */
		fixed_set(loop, i, NULL, 0);
		f->addr = NULL;
		f->len = 0;
		loop->nfixed--;
	}
}

int mortar_loop_mem_register(struct mortar_loop *loop, void *addr, size_t len)
{
	uint8_t *p = addr;
	size_t done = 0;
	int r = fixed_setup(loop);

	/* The kernel refuses a buffer over 1 GiB: a larger range is several. */
	while (r == 0 && done < len) {
		size_t n = len - done < LOOP_FIXED_MAX ? len - done : LOOP_FIXED_MAX;

		r = fixed_add(loop, p + done, n);
		if (r == 0)
			done += n;
	}
	if (r < 0 && done)
		mortar_loop_mem_unregister(loop, addr, done);
	return r;
}

/* The registered buffer that holds all of IOV, or -1. */
static int fixed_find(const struct mortar_loop *loop, const struct iovec *iov, int n)
{
	const uint8_t *a = iov[0].iov_base;

	for (unsigned i = 0; i < LOOP_FIXED_SLOTS; i++) {
		const struct loop_fixed *f = &loop->fixed[i];
		const uint8_t *end = f->addr + f->len;
		int k;

		if (!f->refs || a < f->addr || a >= end)
			continue;
		for (k = 0; k < n; k++) {
			const uint8_t *b = iov[k].iov_base;

			if (b < f->addr || b > end || iov[k].iov_len > (size_t)(end - b))
				break;
		}
		return k == n ? (int)i : -1;
	}
	return -1;
}

bool mortar_loop_prep_fixed(struct mortar_loop *loop, struct io_uring_sqe *sqe, bool write,
			    int fd, const struct iovec *iov, int n, uint64_t off)
{
	int slot;

	if (!loop->nfixed || n < 1 || (n > 1 && !loop->fixed_vec))
		return false;
	slot = fixed_find(loop, iov, n);
	if (slot < 0)
		return false;
	if (n == 1 && write)
		io_uring_prep_write_fixed(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len,
					  off, slot);
	else if (n == 1)
		io_uring_prep_read_fixed(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len,
					 off, slot);
	else {
		io_uring_prep_rw(write ? LOOP_OP_WRITEV_FIXED : LOOP_OP_READV_FIXED, sqe, fd,
				 iov, (unsigned)n, off);
		sqe->buf_index = (uint16_t)slot;
	}
	loop->fixed_ios++;
	return true;
}

uint64_t mortar_loop_fixed_ios(const struct mortar_loop *loop)
{
	return loop->fixed_ios;
}
