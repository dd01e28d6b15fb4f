/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Daemon mode, pidfile and signals of `mortar serve` (daemon.c). */
#ifndef MORTAR_SERVER_DAEMON_H
#define MORTAR_SERVER_DAEMON_H

#include <signal.h>
#include <stdbool.h>

struct srv_daemon {
	const char *pidfile;	/* NULL: none; set by the caller */
	bool wrote_pidfile;
	int ready_fd;		/* to the parent waiting for the verdict; -1 */
	int sfd;		/* signalfd: the signals above; -1 */
	sigset_t oldmask;	/* the mask before, for children */
};

#define SRV_DAEMON_INIT { .ready_fd = -1, .sfd = -1 }

/* Route SIGINT, SIGTERM, SIGCHLD, SIGUSR2 and SIGHUP to D->sfd; ignore
 * SIGPIPE. */
int srv_daemon_signals(struct srv_daemon *d);
/* Go into the background: the parent waits for srv_daemon_ready (exit
 * 0) or srv_daemon_fini before it (exit 1); returns in the child. */
int srv_daemon_detach(struct srv_daemon *d);
/* The server is ready: write the pidfile, release the waiting parent. */
int srv_daemon_ready(struct srv_daemon *d);
/* Remove the pidfile if it is still ours, tell a waiting parent that we
 * failed, close the signalfd. */
void srv_daemon_fini(struct srv_daemon *d);

#endif
