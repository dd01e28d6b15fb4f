/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to server/: what its files share and protocols need not see. */
#ifndef MORTAR_SERVER_INTERNAL_H
#define MORTAR_SERVER_INTERNAL_H

#include "server.h"

/* quiesce.c */
void srv_quiesce_init(struct srv_quiesce *q);
void srv_quiesce_destroy(struct srv_quiesce *q);
/* Hold the modifying requests of the exports marked in MATCH (indexes
 * into srv->exports), wait for those inside the images, flush every
 * worker's handle.  0, or -errno with the message set (then resumed). */
int srv_quiesce_begin(struct srv *srv, const bool *match);
/* Let them go again. */
void srv_quiesce_end(struct srv *srv, const bool *match);

/* handover.c: the fd of a listener the previous process handed over at
 * UNIX_PATH, or at ADDR and PORT, or (SYSTEMD) one of a socket unit's;
 * -1 if none. */
int srv_handover_listener(struct srv *srv, const char *unix_path, const char *addr,
			  const char *port, bool systemd);

/* handover.c: read LISTEN_FDS and LISTEN_FDNAMES once into srv->sd_*
 * (and out of the environment).  0 or -errno with the message set. */
int srv_systemd_fds(struct srv *srv);

/* worker.c */
int srv_workers_start(struct srv *srv);
void srv_workers_stop(struct srv *srv);

/* A connection frozen for the next process (srv_unit_frozen). */
struct srv_carried {
	int fd;
	struct json_object *state;
	struct srv_carried *next;
};

/* Ask every unit on every worker to freeze; wait until all did (or
 * detached), at most TIMEOUT_MS.  0 with *CARRIED the connections to
 * carry (the caller frees the list, not the fds), or -ETIMEDOUT with the
 * message set (call srv_workers_thaw then). */
int srv_workers_freeze(struct srv *srv, int timeout_ms, struct srv_carried **carried);
void srv_workers_thaw(struct srv *srv);
void srv_carried_free(struct srv_carried *list);

#endif
