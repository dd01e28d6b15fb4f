/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running the server: start the workers and the control socket, accept
 * connections on every listener until told to stop, then drain. */
#include <errno.h>
#include <poll.h>

#include "error.h"
#include "internal.h"

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

int srv_run(struct srv *srv, int stop_fd)
{
	struct pollfd pfd[SRV_MAX_LISTENERS + 1];
	unsigned n = 0;

	for (unsigned i = 0; i < srv->nlisteners; i++)
		pfd[n++] = (struct pollfd){ .fd = srv->listeners[i].fd, .events = POLLIN };
	pfd[n] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };

	while (stop_fd >= 0) {
		int r = poll(pfd, n + 1, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			srv_log(srv, "poll: %m");
			break;
		}
		if (pfd[n].revents)
			break;
		for (unsigned i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				srv->listeners[i].accept(srv, pfd[i].fd, srv->listeners[i].ctx);
	}

	/* Stop: no new connections, end any quiesce, let the protocols'
	 * pending connections give up, drain the workers. */
	atomic_store(&srv->stopping, true);
	srv_control_stop(srv);
	srv_listen_close(srv);
	for (unsigned i = 0; i < srv->ndrain; i++)
		srv->drain[i](srv, srv->drain_ctx[i]);
	srv_workers_stop(srv);
	return 0;
}
