/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether this host can take a VM that is to migrate here (capacity.c):
 * its QEMU must emulate the VM's versioned machine type, its memory must
 * hold the VM's RAM and every DIMM, its hugetlbfs pools the huge pages
 * of those backed by them, and the kernel and initrd must be readable
 * here.  Asked before anything starts, so that a refusal is a sentence
 * and the VM runs on untouched. */
#ifndef MORTAR_VM_CAPACITY_H
#define MORTAR_VM_CAPACITY_H

#include <stdint.h>

#include "state.h"

/* What the VM of ST needs of a host, in bytes. */
struct vm_needs {
	uint64_t ram;		/* anonymous and memfd memory */
	uint64_t huge;		/* hugetlbfs memory, all mounts */
};

void vm_state_needs(const struct vm_state *st, struct vm_needs *n);

/* Check that this host can run the VM of ST under QEMU (the binary;
 * NULL: the VM's own).  0, or -errno with a message that says what is
 * missing and what to do. */
int vm_capacity_check(const struct vm_state *st, const char *qemu);

/* The memory this host has for new processes now (MemAvailable), in
 * bytes; 0 when unknown. */
uint64_t vm_mem_available(void);

#endif
