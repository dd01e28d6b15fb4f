/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vhost-user-blk over the export core (server/): a unix socket per
 * export that QEMU (-chardev socket + vhost-user-blk-pci), libvirt
 * (<disk type='vhostuser'>) or any vhost-user front-end connects to.
 * The guest's virtqueues are served on the workers, straight between
 * guest memory and the export's image.  See internal.h for the files. */
#ifndef MORTAR_VHOST_SERVER_H
#define MORTAR_VHOST_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "../server/server.h"

struct vhost_dev;
struct vhost_listener;

/* The vhost-user side of one `mortar serve`. */
struct vhost_server {
	struct srv *core;
	pthread_mutex_t lock;
	struct vhost_dev *devs;		/* connections, under LOCK */
	bool stopping;			/* under LOCK */
	atomic_uint threads;		/* connection threads still running */
	struct vhost_listener **listeners;
	unsigned nlisteners;
	atomic_uint seq;		/* numbers connections in log lines */
	/* Register each guest's memory with the rings of the workers that
	 * serve its queues (io_uring fixed buffers): its pages stay pinned
	 * while the queues run.  Set before anything listens. */
	bool pin_memory;
	/* While a queue has requests in flight the driver is not asked to
	 * notify it: the queue looks at its ring each time one completes. */
	bool coalesce_kicks;
};

void vhost_server_init(struct vhost_server *vs, struct srv *core);
void vhost_server_fini(struct vhost_server *vs);

/* Serve export E as a vhost-user-blk device on a unix socket at PATH
 * (MODE and GID as srv_listen_unix).  0 or -errno, message set. */
int vhost_listen_unix(struct vhost_server *vs, const char *path, unsigned mode, long gid,
		      struct srv_export *e);

/* The drain hook (srv_add_drain, CTX: the vhost_server): connections
 * end, their requests in flight complete first. */
void vhost_drain(struct srv *core, void *ctx);

/* The resize hook (srv_add_resized, CTX: the vhost_server): tell every
 * front-end of export E that its configuration changed, so that the
 * guest reads the new capacity. */
void vhost_resized(struct srv *core, struct srv_export *e, void *ctx);

#endif
