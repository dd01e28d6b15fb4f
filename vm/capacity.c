/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Can this host take the VM (capacity.h)?  Each check names what the
 * target lacks, what the VM needs, and the fix.  QEMU itself would fail
 * later and worse: an unknown machine type after the source paused for
 * nothing, missing memory as an OOM kill of the target half-way through
 * the copy, missing huge pages as "unable to map backing store". */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capacity.h"
#include "error.h"
#include "qemu.h"

static uint64_t membk_bytes(const struct vm_membk *b, uint64_t size, bool huge)
{
	return (b->type == VM_MEMBK_HUGETLBFS) == huge ? size : 0;
}

/* Boot memory, DIMMs and the virtio-mem device's plugged part, from
 * huge pages (HUGE) or not. */
static uint64_t bytes(const struct vm_state *st, bool huge)
{
	uint64_t n = membk_bytes(&st->membk, st->memory, huge);

	for (size_t i = 0; i < st->ndimms; i++)
		n += membk_bytes(&st->dimms[i].backend, st->dimms[i].size, huge);
	if (!huge)
		n += st->virtio_mem_requested;
	return n;
}

void vm_state_needs(const struct vm_state *st, struct vm_needs *n)
{
	n->ram = bytes(st, false);
	n->huge = bytes(st, true);
}

uint64_t vm_mem_available(void)
{
	char line[256];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib << 10;
}

/* "10.0" of "pc-q35-10.0" (the version QEMU added the type in). */
static const char *machine_version(const char *machine)
{
	const char *dash = strrchr(machine, '-');

	return dash && dash[1] >= '0' && dash[1] <= '9' ? dash + 1 : NULL;
}

static int check_qemu(const struct vm_state *st, const char *qemu)
{
	char have[32], src[32];
	int version, r = vm_qemu_probe(qemu, &version);

	if (r < 0)
		return r;
	if (!st->machine[0] || (r = vm_qemu_has_machine(qemu, st->machine)) > 0)
		return r < 0 ? r : 0;
	if (r < 0)
		return r;
	vm_qemu_version_text(version, have, sizeof have);
	vm_qemu_version_text(st->qemu_version, src, sizeof src);
	return mortar_set_error(ENOTSUP, "the target's QEMU %s (%s) does not emulate this VM's "
				"machine type %s (the source runs QEMU %s): it is too old; give "
				"the target QEMU %s or later (--target-qemu PATH)", have, qemu,
				st->machine, src, machine_version(st->machine) ?
				machine_version(st->machine) : src);
}

/* Memory piece I of ST: 0 the boot memory, then each DIMM. */
static const struct vm_membk *piece(const struct vm_state *st, size_t i, uint64_t *size)
{
	if (i == 0) {
		*size = st->memory;
		return &st->membk;
	}
	*size = st->dimms[i - 1].size;
	return &st->dimms[i - 1].backend;
}

/* Every hugetlbfs mount the VM uses must hold all its pages there (each
 * mount counted at its first piece). */
static int check_huge(const struct vm_state *st)
{
	char why[PATH_MAX + 512];

	for (size_t i = 0; i <= st->ndimms; i++) {
		uint64_t size, need = 0;
		const struct vm_membk *b = piece(st, i, &size);
		bool counted = false;

		for (size_t k = 0; b->type == VM_MEMBK_HUGETLBFS && k <= st->ndimms; k++) {
			const struct vm_membk *c = piece(st, k, &size);

			if (c->type != VM_MEMBK_HUGETLBFS || strcmp(c->path, b->path))
				continue;
			counted |= k < i;
			need += size;
		}
		if (need && !counted && vm_membk_check(b, need, why, sizeof why) < 0)
			return mortar_set_error(ENOMEM, "the target cannot give the VM its huge "
						"pages: %s", why);
	}
	return 0;
}

int vm_capacity_check(const struct vm_state *st, const char *qemu)
{
	struct vm_needs need;
	uint64_t avail = vm_mem_available(), boot;
	int r = check_qemu(st, vm_qemu_binary(qemu ? qemu : st->qemu, st->arch));

	if (r < 0)
		return r;
	if (access(st->kernel, R_OK) < 0 || access(st->initrd, R_OK) < 0)
		return mortar_set_error(errno, "the target cannot read the VM's kernel or initrd "
					"(%s, %s): %m; put them at the same paths there",
					st->kernel, st->initrd);
	if ((r = check_huge(st)) < 0)
		return r;
	vm_state_needs(st, &need);
	boot = membk_bytes(&st->membk, st->memory, false);
	if (avail && need.ram > avail)
		return mortar_set_error(ENOMEM, "the target has %" PRIu64 " MiB of memory "
					"available and the VM needs %" PRIu64 " MiB (%" PRIu64
					" MiB at boot, %" PRIu64 " MiB in DIMMs, %" PRIu64 " MiB "
					"of virtio-mem; huge pages apart): free memory there or "
					"choose another target", avail >> 20, need.ram >> 20,
					boot >> 20, (need.ram - boot - st->virtio_mem_requested) >> 20,
					st->virtio_mem_requested >> 20);
	return 0;
}
