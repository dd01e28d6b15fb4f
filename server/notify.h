/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to server/: systemd's notification protocol (notify.c). */
#ifndef MORTAR_SERVER_NOTIFY_H
#define MORTAR_SERVER_NOTIFY_H

#include <stdbool.h>

/* Is systemd (or a test playing it) listening? */
bool srv_notify_enabled(void);
/* "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..." */
void srv_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Put FDS into the store under NAME.  0, or -errno with the message. */
int srv_notify_fdstore(const char *name, const int *fds, unsigned n);
/* Forget what the store holds under NAME. */
void srv_notify_fdstore_remove(const char *name);

#endif
