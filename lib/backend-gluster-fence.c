/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend's fence: one per image in the process.
 *
 * After a failed write or fsync, write-behind may hold writes it had
 * acknowledged and could not deliver; until an fsync succeeds, taking
 * more writes would build on data that may be lost (backend-gluster.c,
 * gl_recover).  mortar serve opens an image once per worker thread, so
 * the fence cannot be a handle's: a failure on one worker's handle must
 * stop writes through the others too.  It is found by connection (one
 * per volume and servers) and inode number (GlusterFS derives it from
 * the file's GFID), shared and reference counted like the connections.
 *
 * Two counters, no lock on the I/O path: failures counts failed writes
 * and fsyncs; cleared is the failure count that the last successful
 * recovery fsync covers.  The fence is up while they differ.  A recovery
 * clears only the failures seen when its fsync was sent, so a failure
 * that lands while it runs keeps the fence up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "backend-gluster.h"
#include "error.h"

struct gl_fence {
	struct gl_conn *conn;
	ino_t ino;
	unsigned refs;			/* under gl_fences_mu */
	struct gl_fence *next;
	unsigned failures, cleared;	/* atomics */
};

static pthread_mutex_t gl_fences_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gl_fence *gl_fences;

int gl_fence_get(struct gl_conn *c, ino_t ino, struct gl_fence **out)
{
	struct gl_fence *f;

	pthread_mutex_lock(&gl_fences_mu);
	for (f = gl_fences; f; f = f->next)
		if (f->conn == c && f->ino == ino)
			break;
	if (!f && (f = calloc(1, sizeof *f))) {
		f->conn = c;
		f->ino = ino;
		f->next = gl_fences;
		gl_fences = f;
	}
	if (f)
		f->refs++;
	pthread_mutex_unlock(&gl_fences_mu);
	*out = f;
	return f ? 0 : mortar_set_error(ENOMEM, "out of memory");
}

void gl_fence_put(struct gl_fence *f)
{
	struct gl_fence **pp;

	if (!f)
		return;
	pthread_mutex_lock(&gl_fences_mu);
	if (--f->refs == 0) {
		for (pp = &gl_fences; *pp != f; pp = &(*pp)->next)
			;
		*pp = f->next;
		free(f);
	}
	pthread_mutex_unlock(&gl_fences_mu);
}

void gl_fence_fail(struct gl_fence *f)
{
	__atomic_add_fetch(&f->failures, 1, __ATOMIC_SEQ_CST);
}

bool gl_fence_up(struct gl_fence *f, unsigned *seen)
{
	*seen = __atomic_load_n(&f->failures, __ATOMIC_SEQ_CST);
	return *seen != __atomic_load_n(&f->cleared, __ATOMIC_SEQ_CST);
}

void gl_fence_clear(struct gl_fence *f, unsigned seen)
{
	unsigned cur = __atomic_load_n(&f->cleared, __ATOMIC_SEQ_CST);

	/* Only forwards: a slower recovery that saw fewer failures must
	 * not undo a newer one's (wrap-around safe). */
	while ((int)(seen - cur) > 0 &&
	       !__atomic_compare_exchange_n(&f->cleared, &cur, seen, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}
