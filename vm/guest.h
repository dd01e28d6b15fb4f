/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the guest says it sees: the last MORTAR-GUEST line on its console
 * (protocol: scripts/guest/README). */
#ifndef MORTAR_VM_GUEST_H
#define MORTAR_VM_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#define VM_MAX_NODES 16

struct vm_guest {
	bool valid;
	unsigned seq, cpus;
	char cpu_list[128];
	uint64_t mem_kib;
	uint64_t node_kib[VM_MAX_NODES];
	unsigned nnodes;
	bool from_agent;	/* read through the guest agent (agent.h) */
};

/* Parse one line; false when it is not a MORTAR-GUEST v1 line. */
bool vm_guest_parse(const char *line, struct vm_guest *g);
/* The last MORTAR-GUEST line in the console log at PATH (g->valid false
 * when there is none yet). */
int vm_guest_read(const char *path, struct vm_guest *g);

#endif
