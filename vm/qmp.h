/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A QMP client: one unix socket to one QEMU, commands and events. */
#ifndef MORTAR_VM_QMP_H
#define MORTAR_VM_QMP_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct qmp;

/* Connect to SOCKET, read the greeting, negotiate capabilities; every
 * wait is bounded by TIMEOUT_MS.  0 or -errno with mortar_errmsg() set. */
int qmp_connect(const char *socket, int timeout_ms, struct qmp **out);
/* The same over the QEMU guest agent's socket (a chardev of QEMU's):
 * connect and synchronise (guest-sync-delimited); then qmp_execute runs
 * guest-* commands.  -ETIMEDOUT when no agent answers in the guest. */
int qmp_connect_agent(const char *socket, int timeout_ms, struct qmp **out);
/* Either over a socket FD that is already connected (taken over, closed
 * on failure): QEMU's QMP when AGENT_TOKEN is 0, else the agent, with
 * AGENT_TOKEN (not 0) as the synchronisation token. */
int qmp_connect_fd(int fd, int timeout_ms, int64_t agent_token, struct qmp **out);
void qmp_close(struct qmp *q);

/* Run CMD with ARGS (taken over; may be NULL).  On success 0 and *RET
 * (optional) holds the "return" value (caller puts it).  QEMU's error is
 * -EIO with its "desc" as the message; QEMU dying mid-command, -EPIPE. */
int qmp_execute(struct qmp *q, const char *cmd, json_object *args, json_object **ret);

/* Wait up to TIMEOUT_MS for event NAME (events seen while waiting for
 * replies count too).  0 and *DATA (optional) its "data", or -ETIMEDOUT. */
int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, json_object **data);

/* The QEMU version as major*10000+minor*100+micro, or -errno. */
int qmp_version(struct qmp *q);
/* The machine type QEMU runs, versioned ("pc-q35-10.0" for -M q35), into
 * BUF.  0 or -errno with a message. */
int qmp_machine_type(struct qmp *q, char *buf, size_t len);

#endif
