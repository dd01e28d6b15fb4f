/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vhost-user-blk sockets: one per export, a thread per connection (its
 * messages, device.c), the drain at stop, and telling front-ends that
 * an export changed size. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "internal.h"

struct vhost_listener {
	struct vhost_server *vs;
	struct srv_export *e;
	char *path;
};

void vhost_server_init(struct vhost_server *vs, struct srv *core)
{
	memset(vs, 0, sizeof *vs);
	vs->core = core;
	pthread_mutex_init(&vs->lock, NULL);
}

void vhost_server_fini(struct vhost_server *vs)
{
	for (unsigned i = 0; i < vs->nlisteners; i++) {
		free(vs->listeners[i]->path);
		free(vs->listeners[i]);
	}
	free(vs->listeners);
	vs->listeners = NULL;
	vs->nlisteners = 0;
	pthread_mutex_destroy(&vs->lock);
}

static void vhost_accept(struct srv *core, int lfd, void *ctx)
{
	struct vhost_listener *l = ctx;
	struct vhost_server *vs = l->vs;
	struct vhost_dev *d;
	pthread_attr_t attr;
	int fd = srv_accept(core, lfd), r;

	if (fd < 0)
		return;
	d = calloc(1, sizeof *d);
	if (!d) {
		close(fd);
		return;
	}
	vhost_dev_init(d, vs, l->e, fd);
	atomic_fetch_add(&core->nconns, 1);
	atomic_fetch_add(&vs->threads, 1);
	pthread_mutex_lock(&vs->lock);
	d->next = vs->devs;
	if (vs->devs)
		vs->devs->prev = d;
	vs->devs = d;
	pthread_mutex_unlock(&vs->lock);
	srv_debug(core, "%s: connected on %s (export '%s')", d->peer, l->path, l->e->name);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	r = pthread_create(&d->tid, &attr, vhost_dev_main, d);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		srv_log(core, "%s: cannot start a thread for it", d->peer);
		vhost_dev_gone(d);
	}
}

void vhost_dev_gone(struct vhost_dev *d)
{
	struct vhost_server *vs = d->vs;

	pthread_mutex_lock(&vs->lock);
	if (d->prev)
		d->prev->next = d->next;
	else
		vs->devs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	if (d->backend_fd >= 0)
		close(d->backend_fd);
	close(d->fd);
	pthread_mutex_unlock(&vs->lock);
	srv_debug(vs->core, "%s: disconnected", d->peer);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	atomic_fetch_sub(&vs->core->nconns, 1);
	free(d);
	atomic_fetch_sub(&vs->threads, 1);
}

int vhost_listen_unix(struct vhost_server *vs, const char *path, unsigned mode, long gid,
		      struct srv_export *e)
{
	struct vhost_listener *l = calloc(1, sizeof *l), **ls;

	ls = realloc(vs->listeners, (vs->nlisteners + 1) * sizeof *ls);
	if (ls)
		vs->listeners = ls;
	if (!l || !ls || !(l->path = strdup(path))) {
		free(l);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	l->vs = vs;
	l->e = e;
	vs->listeners[vs->nlisteners++] = l;
	return srv_listen_unix(vs->core, path, mode, gid, vhost_accept, l);
}

void vhost_drain(struct srv *core, void *ctx)
{
	struct vhost_server *vs = ctx;

	(void)core;
	/* Each connection's thread sees its socket end, stops its queues
	 * (what is in flight completes) and goes. */
	pthread_mutex_lock(&vs->lock);
	vs->stopping = true;
	for (struct vhost_dev *d = vs->devs; d; d = d->next)
		shutdown(d->fd, SHUT_RDWR);
	pthread_mutex_unlock(&vs->lock);
	while (atomic_load(&vs->threads) > 0)
		usleep(10000);
}

void vhost_resized(struct srv *core, struct srv_export *e, void *ctx)
{
	struct vhost_server *vs = ctx;
	const uint64_t want = (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
			      (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ);
	struct vhost_user_hdr h = {
		.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
		.flags = VHOST_USER_VERSION,
	};

	(void)core;
	pthread_mutex_lock(&vs->lock);
	for (struct vhost_dev *d = vs->devs; d; d = d->next) {
		if (d->e != e)
			continue;
		/* The front-end asks for the configuration again (GET_CONFIG)
		 * and gives the guest a configuration interrupt. */
		if ((d->protocol & want) != want || d->backend_fd < 0)
			srv_log(vs->core, "%s: its front-end gave no channel for "
				"configuration changes: the guest sees the new size "
				"after it reconnects", d->peer);
		else if (send(d->backend_fd, &h, sizeof h, MSG_NOSIGNAL | MSG_DONTWAIT) !=
			 sizeof h)
			srv_log(vs->core, "%s: cannot tell the front-end of the new size: %m",
				d->peer);
	}
	pthread_mutex_unlock(&vs->lock);
}
