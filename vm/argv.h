/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU command line of a VM (argv.c), built from its state alone so
 * that a migration target gets the same machine as the boot did. */
#ifndef MORTAR_VM_ARGV_H
#define MORTAR_VM_ARGV_H

#include "state.h"
#include "strv.h"

/* The files through which mortar reaches one QEMU process, in the VM's
 * runtime directory: a migration target runs beside the source with its
 * own, and takes over the boot names once the source is gone. */
struct vm_files {
	const char *pid, *qmp, *qga, *console, *log;
};
extern const struct vm_files vm_boot_files, vm_target_files;

enum vm_argv_role {
	VM_ARGV_BOOT,		/* the machine as started */
	VM_ARGV_TARGET,		/* + every plugged vCPU and DIMM, -incoming defer,
				 * paused (-S); with vm_target_files */
	VM_ARGV_INCOMING,	/* the same with vm_boot_files: the target on
				 * another host */
};

/* Append to OUT the command line of the VM of ST whose runtime directory
 * is DIR.  ST must hold a kernel and an initrd; its disks must be served
 * (their sockets known).  0, or -errno with a message (the command line
 * would be too long, out of memory). */
int vm_argv_build(const struct vm_state *st, const char *dir, enum vm_argv_role role,
		  struct vm_strv *out);

#endif
