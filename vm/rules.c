/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hotplug rules (rules.h).  QEMU accepts some requests that the guest
 * then refuses, and aborts on others; these checks come first so that the
 * answer is a sentence, not a dead VM. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "rules.h"

static int refuse(char *why, size_t len, const char *msg)
{
	snprintf(why, len, "%s", msg);
	return -EINVAL;
}

uint64_t vm_mem_block(enum vm_arch arch)
{
	return arch == VM_ARCH_PPC64 ? VM_PPC_BLOCK : VM_X86_BLOCK;
}

/* Why memory comes in blocks on ARCH, for the messages. */
static const char *block_reason(enum vm_arch arch)
{
	return arch == VM_ARCH_PPC64 ?
		"256 MiB (pseries: QEMU refuses other sizes)" :
		"128 MiB (the x86 guest's memory block size)";
}

int vm_rule_start(enum vm_arch arch, unsigned boot_cpus, unsigned max_cpus, uint64_t mem,
		  uint64_t max_mem, unsigned slots, unsigned nodes, char *why, size_t len)
{
	uint64_t block = vm_mem_block(arch);

	if (boot_cpus < 1 || max_cpus < boot_cpus) {
		snprintf(why, len, "--cpus %u and --max-cpus %u: the boot vCPUs must be at "
			 "least 1 and at most --max-cpus", boot_cpus, max_cpus);
		return -EINVAL;
	}
	if (max_cpus > 255) {
		snprintf(why, len, "--max-cpus %u: %s takes at most 255 vCPUs here", max_cpus,
			 arch == VM_ARCH_PPC64 ? "pseries" : "q35");
		return -EINVAL;
	}
	if (mem % block || max_mem % block) {
		snprintf(why, len, "--memory and --max-memory must be multiples of %s",
			 block_reason(arch));
		return -EINVAL;
	}
	if (max_mem < mem) {
		snprintf(why, len, "--max-memory (%" PRIu64 " MiB) is below --memory "
			 "(%" PRIu64 " MiB)", max_mem >> 20, mem >> 20);
		return -EINVAL;
	}
	if (max_mem > mem && slots == 0)
		return refuse(why, len, "--max-memory above --memory needs --slots N "
			      "(DIMM slots to plug memory into)");
	if (arch == VM_ARCH_PPC64 && slots > VM_PPC_MAX_SLOTS) {
		snprintf(why, len, "--slots %u: pseries takes at most %u DIMM slots", slots,
			 VM_PPC_MAX_SLOTS);
		return -EINVAL;
	}
	if (slots > 256)
		return refuse(why, len, "--slots: at most 256 DIMM slots");
	if (nodes > VM_MAX_NUMA) {
		snprintf(why, len, "--numa %u: QEMU takes at most %u NUMA nodes", nodes,
			 VM_MAX_NUMA);
		return -EINVAL;
	}
	if (nodes > 1 && (max_cpus % nodes || (mem / nodes) % block)) {
		snprintf(why, len, "--numa %u: --max-cpus and --memory must divide evenly "
			 "into %u nodes of whole %" PRIu64 " MiB blocks", nodes, nodes, block >> 20);
		return -EINVAL;
	}
	return 0;
}

/* QEMU before 10.0.2 after a vCPU unplug: on x86 the next CPU or DIMM
 * plug crashes QEMU or hangs the guest; on pseries the next DIMM plug
 * kills QEMU (seen with 7.2; CPU plugs go on working there). */
static int qemu_unplug_bug(const struct vm_topo *t, bool dimm, char *why, size_t len)
{
	if (!t->cpu_unplugged || t->qemu_version >= VM_QEMU_UNPLUG_FIXED)
		return 0;
	if (t->arch == VM_ARCH_PPC64 && dimm) {
		snprintf(why, len, "refused: a vCPU was unplugged from this VM, and QEMU "
			 "%d.%d.%d on pseries dies on the next DIMM plug after that (seen "
			 "with 7.2); restart the VM to plug memory again",
			 t->qemu_version / 10000, t->qemu_version / 100 % 100,
			 t->qemu_version % 100);
		return -EINVAL;
	}
	if (t->arch == VM_ARCH_X86_64) {
		snprintf(why, len, "refused: a vCPU was unplugged from this VM, and QEMU "
			 "%d.%d.%d crashes or hangs the guest on the next CPU or DIMM plug "
			 "after that (fixed in QEMU 10.0.2); restart the VM to plug again",
			 t->qemu_version / 10000, t->qemu_version / 100 % 100,
			 t->qemu_version % 100);
		return -EINVAL;
	}
	return 0;
}

int vm_rule_cpus(const struct vm_topo *t, unsigned target, char *why, size_t len)
{
	if (target > t->max_cpus) {
		snprintf(why, len, "%u vCPUs: this VM was started with --max-cpus %u",
			 target, t->max_cpus);
		return -EINVAL;
	}
	if (target < t->boot_cpus) {
		snprintf(why, len, "%u vCPUs: the %u boot vCPU%s cannot be unplugged",
			 target, t->boot_cpus, t->boot_cpus == 1 ? "" : "s");
		return -EINVAL;
	}
	if (target > t->present_cpus) {
		unsigned more = target - t->present_cpus;

		if (qemu_unplug_bug(t, false, why, len) < 0)
			return -EINVAL;
		if (t->tcg && t->boot_cpus + t->cpu_plugs + more > t->max_cpus) {
			snprintf(why, len, "%u more vCPUs: under TCG every vCPU ever plugged "
				 "keeps its translation context, so boot vCPUs (%u) plus all "
				 "plugs over the VM's life (%u so far) must stay within "
				 "--max-cpus %u, or QEMU aborts", more, t->boot_cpus,
				 t->cpu_plugs, t->max_cpus);
			return -EINVAL;
		}
	}
	return 0;
}

int vm_rule_dimm(const struct vm_topo *t, uint64_t size, int node, char *why, size_t len)
{
	if (qemu_unplug_bug(t, true, why, len) < 0)
		return -EINVAL;
	if (size == 0 || size % vm_mem_block(t->arch)) {
		if (t->arch == VM_ARCH_PPC64)
			snprintf(why, len, "%" PRIu64 " MiB: pseries takes hotplugged memory "
				 "in multiples of 256 MiB (QEMU would refuse this DIMM)",
				 size >> 20);
		else
			snprintf(why, len, "%" PRIu64 " MiB: x86 guests take memory in 128 "
				 "MiB blocks; QEMU would accept this DIMM but the guest could "
				 "not use it", size >> 20);
		return -EINVAL;
	}
	if (node >= 0 && (unsigned)node >= (t->nodes ? t->nodes : 1)) {
		snprintf(why, len, "node %d: this VM has %u NUMA node%s (0-%u)", node,
			 t->nodes ? t->nodes : 1, t->nodes > 1 ? "s" : "",
			 (t->nodes ? t->nodes : 1) - 1);
		return -EINVAL;
	}
	if (t->slots_used >= t->slots) {
		snprintf(why, len, "no free DIMM slot: all %u are used (--slots)", t->slots);
		return -EINVAL;
	}
	if (t->boot_mem + t->plugged_mem + size > t->max_mem) {
		snprintf(why, len, "%" PRIu64 " MiB more would make %" PRIu64 " MiB, above "
			 "--max-memory %" PRIu64 " MiB", size >> 20,
			 (t->boot_mem + t->plugged_mem + size) >> 20, t->max_mem >> 20);
		return -EINVAL;
	}
	return 0;
}
