/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: the event loop that owns images and delivers completions.
 *
 * A loop belongs to one thread.  Every image is opened on a loop, and every
 * completion callback of that image runs on the loop's thread, from inside
 * mortar_loop_run_once() or mortar_loop_run_until(), never from inside the
 * call that submitted the request.  Use one loop per thread; loops share
 * nothing.
 */
#ifndef MORTAR_LOOP_H
#define MORTAR_LOOP_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mortar_loop;

/* ENTRIES sizes the submission queue (0 = a sensible default). */
int mortar_loop_new(unsigned entries, struct mortar_loop **out);
void mortar_loop_free(struct mortar_loop *loop);

/* Submit what is queued, wait up to TIMEOUT_MS (-1 = forever, 0 = poll)
 * for at least one completion, and run the callbacks of every completion
 * that is ready.  Returns the number of callbacks run, 0 on timeout, or a
 * negative errno. */
int mortar_loop_run_once(struct mortar_loop *loop, int timeout_ms);

/* Run until *DONE becomes true or nothing is left in flight.  Returns 0,
 * or -EDEADLK if nothing is in flight and *DONE is still false, or a
 * negative errno from the kernel. */
int mortar_loop_run_until(struct mortar_loop *loop, const bool *done);

/* Requests submitted on this loop whose callbacks have not run yet. */
unsigned mortar_loop_in_flight(const struct mortar_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
