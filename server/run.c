/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running the server: start the workers and the control socket, accept
 * connections on every listener until told to stop, then drain. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "error.h"
#include "internal.h"
#include "notify.h"

int srv_start(struct srv *srv)
{
	int r = srv_workers_start(srv);

	if (r < 0)
		return r;
	/* Before the server says it is ready: from then on a snapshot
	 * must find it to quiesce. */
	r = srv_control_start(srv);
	if (r < 0)
		srv_workers_stop(srv);
	return r;
}

void srv_add_drain(struct srv *srv, void (*fn)(struct srv *, void *), void *ctx)
{
	for (unsigned i = 0; i < srv->ndrain; i++)
		if (srv->drain[i] == fn && srv->drain_ctx[i] == ctx)
			return;
	if (srv->ndrain < sizeof srv->drain / sizeof srv->drain[0]) {
		srv->drain[srv->ndrain] = fn;
		srv->drain_ctx[srv->ndrain++] = ctx;
	}
}

/* A signal arrived: true to stop serving, false to go on. */
static bool run_signal(struct srv *srv, int sfd, int *signo)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof si) != sizeof si)
		return false;
	*signo = (int)si.ssi_signo;
	switch (si.ssi_signo) {
	case SIGHUP:
	case SIGUSR2:
		/* A reload is a re-exec too: the configuration read again by
		 * the next process, every connection kept (see handover.c). */
		if (srv->no_handover) {
			srv_log(srv, "%s: nothing to do with --run",
				si.ssi_signo == SIGHUP ? "SIGHUP" : "SIGUSR2");
			return false;
		}
		srv_notify("RELOADING=1");
		if (srv->check && srv->check(srv, si.ssi_signo == SIGUSR2, srv->check_ctx) < 0)
			srv_log(srv, "%s refused, serving on as before: %s",
				si.ssi_signo == SIGHUP ? "reload" : "upgrade", mortar_errmsg());
		else if (srv_handover_reexec(srv) < 0)
			srv_log(srv, "re-exec failed, serving on as before: %s",
				mortar_errmsg());
		srv_notify("READY=1");
		return false;
	case SIGTERM:
	case SIGINT:
		if (srv->fdstore && srv_notify_enabled()) {
			if (srv_handover_fdstore(srv) == 0)
				srv_handover_exit(srv);
			srv_log(srv, "cannot keep the connections in systemd's fd store, "
				"stopping: %s", mortar_errmsg());
		}
		return true;
	case SIGCHLD:
		/* The --run command ended; other children are not ours to
		 * stop for. */
		return srv->stop_on_child;
	default:
		return true;
	}
}

int srv_run(struct srv *srv, int stop_fd, int *signo)
{
	struct pollfd pfd[SRV_MAX_LISTENERS + 1];
	unsigned n = 0, last_conns = ~0u;

	*signo = 0;
	for (unsigned i = 0; i < srv->nlisteners; i++)
		pfd[n++] = (struct pollfd){ .fd = srv->listeners[i].fd, .events = POLLIN };
	pfd[n] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };

	while (stop_fd >= 0) {
		int r;

		/* systemctl status shows it; checked every 2 s at most. */
		if (atomic_load(&srv->nconns) != last_conns) {
			last_conns = atomic_load(&srv->nconns);
			srv_notify("STATUS=%zu export(s), %u connection(s)", srv->nexports,
				   last_conns);
		}
		r = poll(pfd, n + 1, srv_notify_enabled() ? 2000 : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			srv_log(srv, "poll: %m");
			break;
		}
		if (pfd[n].revents && run_signal(srv, stop_fd, signo))
			break;
		for (unsigned i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				srv->listeners[i].accept(srv, pfd[i].fd, srv->listeners[i].ctx);
	}

	/* Stop: no new connections, end any quiesce, let the protocols'
	 * pending connections give up, drain the workers. */
	srv_notify("STOPPING=1");
	atomic_store(&srv->stopping, true);
	srv_control_stop(srv);
	srv_listen_close(srv);
	for (unsigned i = 0; i < srv->ndrain; i++)
		srv->drain[i](srv, srv->drain_ctx[i]);
	srv_workers_stop(srv);
	return 0;
}
