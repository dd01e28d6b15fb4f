/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The file backend's range lock for O_DIRECT read-modify-write, one per
 * file in the process.
 *
 * A write that does not cover whole blocks reads the blocks it touches,
 * changes its bytes and writes them back: two such writes on one block at
 * once lose one of the updates.  mortar serve opens an image once per
 * worker thread (and the export advertises multi-conn and a 1-byte
 * minimum block size), so the writes that share a block may come through
 * different handles on different loops: the lock belongs to the file,
 * found by device and inode, not to a handle.  A waiter is started on its
 * own loop (mortar_loop_post) by whichever thread releases the range.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "backend-file.h"
#include "error.h"

struct file_lock {
	dev_t dev;
	ino_t ino;
	unsigned refs;			/* under file_locks_mu */
	struct file_lock *next;		/* file_locks */

	pthread_mutex_t mu;		/* guards what follows */
	struct file_range *active;	/* ranges held */
	struct file_range *waiting, *waiting_tail;	/* FIFO */
};

static pthread_mutex_t file_locks_mu = PTHREAD_MUTEX_INITIALIZER;
static struct file_lock *file_locks;

int file_lock_get(const struct stat *st, struct file_lock **out)
{
	/* A block device may be reached through several nodes: its number
	 * names it. */
	dev_t dev = S_ISBLK(st->st_mode) ? st->st_rdev : st->st_dev;
	ino_t ino = S_ISBLK(st->st_mode) ? 0 : st->st_ino;
	struct file_lock *l;

	pthread_mutex_lock(&file_locks_mu);
	for (l = file_locks; l; l = l->next)
		if (l->dev == dev && l->ino == ino)
			break;
	if (!l && (l = calloc(1, sizeof *l))) {
		l->dev = dev;
		l->ino = ino;
		pthread_mutex_init(&l->mu, NULL);
		l->next = file_locks;
		file_locks = l;
	}
	if (l)
		l->refs++;
	pthread_mutex_unlock(&file_locks_mu);
	*out = l;
	return l ? 0 : mortar_set_error(ENOMEM, "out of memory");
}

void file_lock_put(struct file_lock *l)
{
	struct file_lock **pp;

	if (!l)
		return;
	pthread_mutex_lock(&file_locks_mu);
	if (--l->refs == 0) {
		for (pp = &file_locks; *pp != l; pp = &(*pp)->next)
			;
		*pp = l->next;
		pthread_mutex_destroy(&l->mu);
		free(l);
	}
	pthread_mutex_unlock(&file_locks_mu);
}

static bool range_conflicts(const struct file_lock *l, const struct file_range *r)
{
	for (const struct file_range *a = l->active; a; a = a->next)
		if (a->lo < r->hi && r->lo < a->hi && (a->excl || r->excl))
			return true;
	return false;
}

bool file_lock_take(struct file_lock *l, struct file_range *r)
{
	bool now;

	pthread_mutex_lock(&l->mu);
	/* FIFO behind anything already waiting, so that no request starves. */
	now = !l->waiting && !range_conflicts(l, r);
	r->next = NULL;
	if (now) {
		r->locked = true;
		r->next = l->active;
		l->active = r;
	} else {
		/* The releasing thread posts to our loop: it must wait for it. */
		mortar_loop_hold(r->loop);
		if (l->waiting_tail)
			l->waiting_tail->next = r;
		else
			l->waiting = r;
		l->waiting_tail = r;
	}
	pthread_mutex_unlock(&l->mu);
	return now;
}

void file_lock_release(struct file_lock *l, struct file_range *r)
{
	struct file_range **pp, *w, *granted = NULL, **gtail = &granted, *next;

	if (!r->locked)
		return;
	r->locked = false;
	pthread_mutex_lock(&l->mu);
	for (pp = &l->active; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	/* Grant waiters in order, stopping at the first that still conflicts
	 * so that the FIFO order holds. */
	while ((w = l->waiting) && !range_conflicts(l, w)) {
		l->waiting = w->next;
		if (!l->waiting)
			l->waiting_tail = NULL;
		w->locked = true;
		w->next = l->active;
		l->active = w;
		*gtail = w;
		w->granted_next = NULL;
		gtail = &w->granted_next;
	}
	pthread_mutex_unlock(&l->mu);
	/* Each starts on its own loop; once posted it may finish at once on
	 * another thread, so read the link first. */
	for (w = granted; w; w = next) {
		next = w->granted_next;
		mortar_loop_post(w->loop, w->op, 0);
	}
}
