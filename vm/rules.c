/* Hotplug rules (rules.h).  QEMU accepts some requests that the guest
 * then refuses, and aborts on others; these checks come first so that the
 * answer is a sentence, not a dead VM. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "rules.h"

static int refuse(char *why, size_t len, const char *msg)
{
	snprintf(why, len, "%s", msg);
	return -EINVAL;
}

int vm_rule_start(unsigned boot_cpus, unsigned max_cpus, uint64_t mem, uint64_t max_mem,
		  unsigned slots, unsigned nodes, char *why, size_t len)
{
	if (boot_cpus < 1 || max_cpus < boot_cpus) {
		snprintf(why, len, "--cpus %u and --max-cpus %u: the boot vCPUs must be at "
			 "least 1 and at most --max-cpus", boot_cpus, max_cpus);
		return -EINVAL;
	}
	if (max_cpus > 255) {
		snprintf(why, len, "--max-cpus %u: q35 takes at most 255 vCPUs here", max_cpus);
		return -EINVAL;
	}
	if (mem % VM_X86_BLOCK || max_mem % VM_X86_BLOCK)
		return refuse(why, len, "--memory and --max-memory must be multiples of "
			      "128 MiB (the x86 guest's memory block size)");
	if (max_mem < mem) {
		snprintf(why, len, "--max-memory (%" PRIu64 " MiB) is below --memory "
			 "(%" PRIu64 " MiB)", max_mem >> 20, mem >> 20);
		return -EINVAL;
	}
	if (max_mem > mem && slots == 0)
		return refuse(why, len, "--max-memory above --memory needs --slots N "
			      "(DIMM slots to plug memory into)");
	if (slots > 256)
		return refuse(why, len, "--slots: at most 256 DIMM slots");
	if (nodes > 1 && (max_cpus % nodes || (mem / nodes) % VM_X86_BLOCK)) {
		snprintf(why, len, "--numa %u: --max-cpus and --memory must divide evenly "
			 "into %u nodes of whole 128 MiB blocks", nodes, nodes);
		return -EINVAL;
	}
	return 0;
}

static int qemu_unplug_bug(const struct vm_topo *t, char *why, size_t len)
{
	if (t->cpu_unplugged && t->qemu_version < VM_QEMU_UNPLUG_FIXED) {
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

		if (qemu_unplug_bug(t, why, len) < 0)
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
	if (qemu_unplug_bug(t, why, len) < 0)
		return -EINVAL;
	if (size == 0 || size % VM_X86_BLOCK) {
		snprintf(why, len, "%" PRIu64 " MiB: x86 guests take memory in 128 MiB "
			 "blocks; QEMU would accept this DIMM but the guest could not use "
			 "it", size >> 20);
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
