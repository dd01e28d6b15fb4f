/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Talking to systemd (libsystemd): readiness, reloads, stops and a
 * status line for `systemctl status`, and the file-descriptor store that
 * keeps connections across restarts.  Without NOTIFY_SOCKET (no systemd
 * watching) every call is a no-op. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "error.h"
#include "notify.h"

bool srv_notify_enabled(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s && *s;
}

void srv_notify(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!srv_notify_enabled())
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sd_notify(0, buf);
}

int srv_notify_fdstore(const char *name, const int *fds, unsigned n)
{
	char msg[256];
	int r;

	snprintf(msg, sizeof msg, "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, 0, msg, fds, n);
	if (r < 0)
		return mortar_set_error(-r, "cannot hand %s to systemd's file descriptor "
					"store: %s", name, strerror(-r));
	if (r == 0)
		return mortar_set_error(ENOTCONN, "cannot hand %s to systemd: no "
					"NOTIFY_SOCKET", name);
	return 0;
}

void srv_notify_fdstore_remove(const char *name)
{
	char msg[256];

	snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	sd_notify(0, msg);
}
