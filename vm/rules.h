/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rules a hotplug request must follow, checked before QEMU sees it,
 * each refusal naming its rule (rules.c). */
#ifndef MORTAR_VM_RULES_H
#define MORTAR_VM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vm_arch {
	VM_ARCH_X86_64,		/* q35 */
	VM_ARCH_PPC64,		/* pseries */
};

struct vm_topo {
	enum vm_arch arch;
	unsigned boot_cpus, max_cpus, present_cpus;
	unsigned cpu_plugs;		/* CPUs plugged over the VM's life */
	bool cpu_unplugged;		/* a CPU was unplugged at some point */
	bool tcg;
	int qemu_version;		/* major*10000 + minor*100 + micro */
	uint64_t boot_mem, max_mem, plugged_mem;
	unsigned slots, slots_used, nodes;
};

#define VM_X86_BLOCK (128ull << 20)	/* the x86 guest's memory block */
#define VM_PPC_BLOCK (256ull << 20)	/* pseries: QEMU's hotplug granule */
#define VM_PPC_MAX_SLOTS 32
#define VM_MAX_NUMA 128		/* QEMU's MAX_NODES */

/* The granule of boot and hotplugged memory on ARCH. */
uint64_t vm_mem_block(enum vm_arch arch);
#define VM_QEMU_UNPLUG_FIXED 100002	/* QEMU 10.0.2 */

/* Each: 0, or -EINVAL with WHY set to one line that names the rule. */
int vm_rule_start(enum vm_arch arch, unsigned boot_cpus, unsigned max_cpus, uint64_t mem, uint64_t max_mem,
		  unsigned slots, unsigned nodes, char *why, size_t len);
int vm_rule_cpus(const struct vm_topo *t, unsigned target, char *why, size_t len);
int vm_rule_dimm(const struct vm_topo *t, uint64_t size, int node, char *why, size_t len);

#endif
