/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disks that move with a migration (mirror.c), for hosts that share no
 * storage: the source QEMU copies each to a Mortar export of an image on
 * the target's storage, over NBD (blockdev-mirror: a full copy first,
 * then the guest's new writes as they come), while the guest runs; with
 * the guest stopped at the switchover the copies are finished, so that
 * the target image holds what the source's holds, and the target's QEMU
 * then opens it through its own mortar serve.  The source's images are
 * left as they were at that instant. */
#ifndef MORTAR_VM_MIRROR_H
#define MORTAR_VM_MIRROR_H

#include "qmp.h"

/* Start copying disk I (QEMU's node diskI) to export NAME of the NBD
 * server at HOST:PORT.  0 or -errno with a message. */
int vm_mirror_start(struct qmp *q, unsigned i, const char *host, const char *port,
		    const char *name);
/* With the guest stopped: finish the copies of the disks in MASK (bit I:
 * disk I), which must all be in sync, and drop their targets from the
 * source.  0, or -errno with a message. */
int vm_mirror_finish(struct qmp *q, unsigned mask, int timeout_ms);
/* Stop the copies of MASK where they are (the migration failed) and drop
 * their targets; the failure's message stays the current one. */
void vm_mirror_abort(struct qmp *q, unsigned mask);

#endif
