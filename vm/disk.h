/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How a disk reaches the guest (disk.c): a Mortar location served by a
 * `mortar serve` of the VM on a unix socket in its runtime directory,
 * attached as a vhost-user-blk device (the default: the server reads and
 * writes guest memory itself, so the guest's memory is shared with it)
 * or as a virtio-blk device over QEMU's NBD client (with discard and a
 * reconnect delay). */
#ifndef MORTAR_VM_DISK_H
#define MORTAR_VM_DISK_H

#include "state.h"
#include "strv.h"

/* "vhost-user" or "nbd".  0, or -EINVAL with a message. */
int vm_disk_protocol_parse(const char *text, enum vm_disk_protocol *p);

/* Serve LOCATION as disk I of the VM whose runtime directory is DIR,
 * with the mortar binary running now (/proc/self/exe), in a session of
 * its own, its messages in DIR/diskI.log; once it listens, record it in
 * ST.  0, or -errno with the server's own message. */
int vm_disk_serve(struct vm_state *st, const char *dir, unsigned i, const char *location,
		  enum vm_disk_protocol protocol);

/* Run `mortar serve -f ARGS -P PIDFILE` as vm_disk_serve does, its
 * messages in LOG, until it listens; its pid into *PID.  0, or -errno
 * with the server's own message (LOCATION names what it serves). */
int vm_serve_spawn(char *const *args, const char *pidfile, const char *log,
		   const char *location, pid_t *pid);

/* The QEMU arguments that attach disk I, D, to the guest. */
void vm_disk_argv(struct vm_strv *sv, unsigned i, const struct vm_disk *d);

#endif
