/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hotplug rules of mortar vm (vm/rules.c) and the guest's status
 * lines (vm/guest.c): each refusal names its rule, each allowed request
 * passes. */
#include <errno.h>
#include <string.h>

#include "agent.h"
#include "guest.h"
#include "rules.h"
#include "tap.h"

static struct vm_topo base(void)
{
	return (struct vm_topo){
		.boot_cpus = 1, .max_cpus = 4, .present_cpus = 1, .tcg = true,
		.qemu_version = 70222, .boot_mem = 512ull << 20, .max_mem = 2048ull << 20,
		.slots = 4, .nodes = 2,
	};
}

static int says(int r, const char *why, const char *needle)
{
	return r == -EINVAL && strstr(why, needle) != NULL;
}

int main(void)
{
	char why[512];
	struct vm_topo t = base();
	struct vm_guest g;

	/* start */
	tap_ok(vm_rule_start(VM_ARCH_X86_64, 1, 4, 512ull << 20, 2048ull << 20, 4, 2, why, sizeof why) == 0,
	       "a good topology starts");
	tap_ok(says(vm_rule_start(VM_ARCH_X86_64, 2, 1, 512ull << 20, 512ull << 20, 0, 1, why, sizeof why),
		    why, "at most --max-cpus"), "boot above max vCPUs: %s", why);
	tap_ok(says(vm_rule_start(VM_ARCH_X86_64, 1, 1, 500ull << 20, 512ull << 20, 1, 1, why, sizeof why),
		    why, "128 MiB"), "unaligned memory: %s", why);
	tap_ok(says(vm_rule_start(VM_ARCH_X86_64, 1, 1, 512ull << 20, 256ull << 20, 1, 1, why, sizeof why),
		    why, "below --memory"), "maxmem below memory: %s", why);
	tap_ok(says(vm_rule_start(VM_ARCH_X86_64, 1, 1, 512ull << 20, 1024ull << 20, 0, 1, why, sizeof why),
		    why, "--slots"), "maxmem without slots: %s", why);
	tap_ok(says(vm_rule_start(VM_ARCH_X86_64, 1, 3, 512ull << 20, 512ull << 20, 0, 2, why, sizeof why),
		    why, "divide evenly"), "uneven NUMA split: %s", why);

	/* cpus */
	tap_ok(vm_rule_cpus(&t, 4, why, sizeof why) == 0, "1 -> 4 vCPUs");
	tap_ok(says(vm_rule_cpus(&t, 5, why, sizeof why), why, "--max-cpus 4"),
	       "above maxcpus: %s", why);
	tap_ok(says(vm_rule_cpus(&t, 0, why, sizeof why), why, "cannot be unplugged"),
	       "below the boot vCPUs: %s", why);
	t.present_cpus = 2;
	t.cpu_plugs = 3;	/* plugged 3, unplugged 2 since: a TCG context each */
	t.qemu_version = 100002;
	tap_ok(says(vm_rule_cpus(&t, 3, why, sizeof why), why, "TCG"),
	       "TCG: boot + plugs over life > maxcpus: %s", why);
	t.tcg = false;
	tap_ok(vm_rule_cpus(&t, 3, why, sizeof why) == 0, "the TCG rule does not bind KVM");
	t = base();
	t.present_cpus = 2;
	t.cpu_unplugged = true;
	tap_ok(says(vm_rule_cpus(&t, 3, why, sizeof why), why, "10.0.2"),
	       "QEMU 7.2 after an unplug: %s", why);
	tap_ok(vm_rule_cpus(&t, 1, why, sizeof why) == 0, "unplugging further is allowed");
	t.qemu_version = 100002;
	tap_ok(vm_rule_cpus(&t, 3, why, sizeof why) == 0, "QEMU 10.0.2 plugs after an unplug");

	/* DIMMs */
	t = base();
	tap_ok(vm_rule_dimm(&t, 256ull << 20, 1, why, sizeof why) == 0, "256 MiB on node 1");
	tap_ok(says(vm_rule_dimm(&t, 100ull << 20, 0, why, sizeof why), why, "128 MiB blocks"),
	       "100 MiB: %s", why);
	tap_ok(says(vm_rule_dimm(&t, 256ull << 20, 2, why, sizeof why), why, "NUMA node"),
	       "node 2 of 2: %s", why);
	tap_ok(says(vm_rule_dimm(&t, 2048ull << 20, 0, why, sizeof why), why, "--max-memory"),
	       "past maxmem: %s", why);
	t.slots_used = 4;
	tap_ok(says(vm_rule_dimm(&t, 128ull << 20, 0, why, sizeof why), why, "no free DIMM slot"),
	       "slots full: %s", why);
	t = base();
	t.cpu_unplugged = true;
	tap_ok(says(vm_rule_dimm(&t, 128ull << 20, 0, why, sizeof why), why, "10.0.2"),
	       "DIMM after a CPU unplug on 7.2: %s", why);

	/* pseries: 256 MiB granules, 32 slots, plugs after an unplug */
	tap_ok(vm_rule_start(VM_ARCH_PPC64, 1, 4, 512ull << 20, 2048ull << 20, 32, 1, why,
			     sizeof why) == 0, "pseries: a good topology starts");
	tap_ok(says(vm_rule_start(VM_ARCH_PPC64, 1, 4, 384ull << 20, 2048ull << 20, 4, 1, why,
				  sizeof why), why, "256 MiB"), "pseries: 384 MiB boot: %s", why);
	tap_ok(says(vm_rule_start(VM_ARCH_PPC64, 1, 4, 512ull << 20, 2048ull << 20, 33, 1, why,
				  sizeof why), why, "at most 32 DIMM slots"), "pseries: 33 slots: %s", why);
	t = base();
	t.arch = VM_ARCH_PPC64;
	tap_ok(says(vm_rule_dimm(&t, 100ull << 20, 0, why, sizeof why), why, "multiples of 256 MiB"),
	       "pseries: 100 MiB DIMM: %s", why);
	tap_ok(says(vm_rule_dimm(&t, 128ull << 20, 0, why, sizeof why), why, "multiples of 256 MiB"),
	       "pseries: 128 MiB DIMM: %s", why);
	tap_ok(vm_rule_dimm(&t, 256ull << 20, 0, why, sizeof why) == 0, "pseries: 256 MiB DIMM");
	t.cpu_unplugged = true;
	t.present_cpus = 2;
	tap_ok(vm_rule_cpus(&t, 3, why, sizeof why) == 0,
	       "pseries: CPUs plug again after an unplug on QEMU 7.2");
	tap_ok(says(vm_rule_dimm(&t, 256ull << 20, 0, why, sizeof why), why, "dies on the next DIMM"),
	       "pseries: a DIMM after a CPU unplug on 7.2: %s", why);

	/* guest lines */
	tap_ok(vm_guest_parse("MORTAR-GUEST v1 seq=7 cpus=3 cpu_list=0-1,3 mem_kib=676948 "
			      "nodes=256348,420600\r", &g) && g.seq == 7 && g.cpus == 3 &&
	       !strcmp(g.cpu_list, "0-1,3") && g.mem_kib == 676948 && g.nnodes == 2 &&
	       g.node_kib[1] == 420600, "a status line parses");
	tap_ok(!vm_guest_parse("MORTAR-GUEST v2 seq=1", &g), "another version is ignored");
	tap_ok(!vm_guest_parse("[    1.2] random kernel line", &g), "kernel noise is ignored");
	/* what the old sscanf parser read, and fuzz-guest-line found */
	tap_ok(!vm_guest_parse("MORTAR-GUEST v1 seq=0 cpus=6 cpu_list=0 mem_kib=4nodes=,", &g),
	       "fields run together are not a line");
	tap_ok(!vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=1 cpu_list=0 mem_kib=1 nodes=1,,2", &g) &&
	       !vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=1 cpu_list=0 mem_kib=1 nodes=1,", &g) &&
	       !vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=1 cpu_list=0 mem_kib=1 nodes=1,2x", &g),
	       "an empty or bad node is not a line");
	tap_ok(!vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=-1 cpu_list=0 mem_kib=1 nodes=1", &g) &&
	       !vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=4294967296 cpu_list=0 mem_kib=1 nodes=1", &g) &&
	       !vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=1 cpu_list=0 mem_kib=18446744073709551616 "
			       "nodes=1", &g), "negative and overflowing numbers are not a line");
	tap_ok(!vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=1 cpu_list=0 mem_kib=1 nodes=1 [ 2.1] usb",
			       &g) &&
	       !vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=1 cpu_list=a mem_kib=1 nodes=1", &g),
	       "a line the kernel wrote into, a cpu list that is not one: not a line");
	tap_ok(vm_guest_parse("MORTAR-GUEST v1 seq=1 cpus=1 cpu_list=0 mem_kib=1 nodes=1,2,3,4,5,6,7,"
			      "8,9,10,11,12,13,14,15,16,17,18\r\n", &g) && g.nnodes == VM_MAX_NODES &&
	       g.node_kib[15] == 16, "the first %d nodes are kept", VM_MAX_NODES);
	{
		const int ids[] = { 0, 1, 2, 5, 7, 8 }, one[] = { 3 };
		char list[64];

		vm_cpu_list(ids, 6, list, sizeof list);
		tap_ok(!strcmp(list, "0-2,5,7-8"), "agent vCPU ids as the kernel's list: %s", list);
		vm_cpu_list(one, 1, list, sizeof list);
		tap_ok(!strcmp(list, "3"), "one vCPU: %s", list);
		vm_cpu_list(one, 0, list, sizeof list);
		tap_ok(!strcmp(list, ""), "none: '%s'", list);
	}
	return tap_done();
}
