/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: how backends talk to the event loop.
 *
 * Anything that completes later is a `struct mortar_op`: an io_uring
 * submission whose user_data is the op, a completion deferred to the next
 * turn of the loop (work done synchronously on the loop thread, delivered
 * later so that callbacks never run inside the submitting call), or a
 * completion posted from a foreign thread (libgfapi callbacks) through an
 * eventfd.  In every case op->fn runs on the loop thread.
 */
#ifndef MORTAR_LIB_LOOP_H
#define MORTAR_LIB_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <mortar/loop.h>

struct mortar_op;
typedef void (*mortar_op_fn)(struct mortar_op *op, int res);

struct mortar_op {
	mortar_op_fn fn;
	struct mortar_op *next;
	int res;
};

/* A submission entry whose completion will call OP->fn with the CQE's
 * result.  Never fails: when the queue is full it is submitted first. */
struct io_uring_sqe *mortar_loop_sqe(struct mortar_loop *loop, struct mortar_op *op);

/* Run OP->fn(op, res) on the next turn of the loop. */
void mortar_loop_defer(struct mortar_loop *loop, struct mortar_op *op, int res);

/* From any thread: run OP->fn(op, res) on the loop thread.  The loop
 * thread must have called mortar_loop_hold() for it beforehand, so that
 * the loop knows something is still in flight. */
void mortar_loop_hold(struct mortar_loop *loop);
void mortar_loop_post(struct mortar_loop *loop, struct mortar_op *op, int res);

/* A loop that only the calling thread will ever submit to or run (other
 * threads may still mortar_loop_post to it): cheaper per request where
 * the kernel allows it (IORING_SETUP_DEFER_TASKRUN), else as
 * mortar_loop_new. */
int mortar_loop_new_private(unsigned entries, struct mortar_loop **out);

/* Ring flags learnt at setup, for backends that want them. */
struct io_uring *mortar_loop_ring(struct mortar_loop *loop);

/* Registered memory: [ADDR, ADDR+LEN) pinned once, as fixed buffers of the
 * loop's ring, so that direct I/O to and from it is not pinned again for
 * each request.  Only on the loop's own thread (a private loop's ring
 * takes registrations from its submitter only).  Registrations are
 * counted: unregister exactly what was registered, once each, after the
 * requests that use it completed.  0, or -errno with the reason in the
 * message (the kernel, RLIMIT_MEMLOCK, the table full): nothing is
 * registered then and requests take the plain path. */
int mortar_loop_mem_register(struct mortar_loop *loop, void *addr, size_t len);
void mortar_loop_mem_unregister(struct mortar_loop *loop, void *addr, size_t len);

/* Prepare SQE as a read (or WRITE) of IOV[0..N) at OFF in FD through the
 * registered buffer that holds all of it: true, or false (SQE untouched)
 * when no one buffer does or the kernel lacks vectored fixed I/O. */
bool mortar_loop_prep_fixed(struct mortar_loop *loop, struct io_uring_sqe *sqe, bool write,
			    int fd, const struct iovec *iov, int n, uint64_t off);
/* I/Os prepared that way so far (statistics, tests). */
uint64_t mortar_loop_fixed_ios(const struct mortar_loop *loop);

#endif
