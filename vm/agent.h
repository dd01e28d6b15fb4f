/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's view through the QEMU guest agent (agent.c): online vCPUs
 * and memory, and onlining what QEMU plugged, for guests that run qemu-ga
 * (the alternative to the console status lines of guest.h). */
#ifndef MORTAR_VM_AGENT_H
#define MORTAR_VM_AGENT_H

#include "guest.h"
#include "qmp.h"

/* Fill G from guest-get-vcpus and guest-get-memory-blocks: cpus and
 * cpu_list of the online vCPUs, mem_kib the online memory blocks (not
 * MemTotal: compare agent views with agent views), no nodes.  0 or
 * -errno with mortar_errmsg() set. */
int vm_agent_view(struct qmp *agent, struct vm_guest *g);

/* Online every offline vCPU and memory block the guest can online
 * (guest-set-vcpus, guest-set-memory-blocks); *CPUS and *BLOCKS (optional)
 * count what was onlined.  0 or -errno. */
int vm_agent_online(struct qmp *agent, unsigned *cpus, unsigned *blocks);

/* "0-2,5" from the sorted ids IDS[N] into BUF. */
void vm_cpu_list(const int *ids, size_t n, char *buf, size_t len);

#endif
