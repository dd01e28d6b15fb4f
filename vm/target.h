/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU that receives a migration on this host (target.c): beside the
 * source in the VM's runtime directory (VM_ARGV_TARGET), or alone in it
 * when the source is on another host (VM_ARGV_INCOMING).  It starts
 * paused with its disks inactive (late-block-activate), so that it runs
 * the guest, and writes to its disks, only once told to: after the
 * source has stopped and flushed hers for good. */
#ifndef MORTAR_VM_TARGET_H
#define MORTAR_VM_TARGET_H

#include "argv.h"
#include "qmp.h"
#include "state.h"

/* Launch it for ST in DIR and have it listen for the migration on URI;
 * its QMP in *OUT (set as soon as connected, for vm_target_kill).  0, or
 * -errno with a message. */
int vm_target_start(const struct vm_state *st, const char *dir, enum vm_argv_role role,
		    const char *uri, struct qmp **out);
/* Wait up to TIMEOUT_S for the incoming migration to complete, then run
 * the guest.  0, or -errno with a message. */
int vm_target_resume(struct qmp *q, int timeout_s);
/* Quit (or kill) the target of ROLE in DIR and remove its files. */
void vm_target_kill(const char *dir, enum vm_argv_role role, struct qmp *q);

#endif
