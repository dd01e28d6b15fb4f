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

/* worker.c */
int srv_workers_start(struct srv *srv);
void srv_workers_stop(struct srv *srv);

#endif
