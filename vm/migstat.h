/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A migration as QEMU runs it (migstat.c): its capabilities and limits,
 * and how far it is (query-migrate, query-block-jobs). */
#ifndef MORTAR_VM_MIGSTAT_H
#define MORTAR_VM_MIGSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmp.h"
#include "vm.h"

/* migrate-set-capabilities of one capability NAME. */
int vm_migrate_capability(struct qmp *q, const char *name, bool on);
/* downtime-limit and max-bandwidth; a 0 leaves QEMU's default. */
int vm_migrate_limits(struct qmp *q, int max_downtime_ms, uint64_t bandwidth);
/* The source's query-migrate into P (memory figures, rates, times) and
 * its status word into STATUS ("active", "pre-switchover", "completed",
 * "failed"...).  On "failed", -EIO with QEMU's reason. */
int vm_migrate_poll(struct qmp *q, struct mortar_vm_progress *p, char *status, size_t len);
/* The block jobs' progress (the disks being copied) into P; *READY: every
 * job is in sync.  0 or -errno; a job that failed, -EIO with its reason. */
int vm_mirror_poll(struct qmp *q, struct mortar_vm_progress *p, bool *ready);

#endif
