/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which QEMU runs a VM (qemu.c): the distribution's by default, or one
 * given with --qemu (QEMU 10 unpacked beside Debian's 7.2 by
 * scripts/qemu-backports.sh); its data folder, version and machine
 * types, asked of the binary itself so that a migration target can be
 * refused before anything starts. */
#ifndef MORTAR_VM_QEMU_H
#define MORTAR_VM_QEMU_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

/* The binary to run for ARCH: QEMU (set) or qemu-system-ARCH. */
const char *vm_qemu_binary(const char *qemu, enum vm_arch arch);

/* The data folder (firmware, option ROMs) that belongs to BINARY when it
 * was unpacked outside /usr: PREFIX/share/qemu beside PREFIX/bin.  A
 * Debian QEMU looks in /usr/share/qemu whatever its path, so that such a
 * copy would boot with the other version's option ROMs.  False when
 * BINARY is the system's (or has no such folder). */
bool vm_qemu_datadir(const char *binary, char *buf, size_t len);

/* Check that BINARY runs, and read its version (major*10000 +
 * minor*100 + micro) into *VERSION.  0, or -errno with a message that
 * names the binary. */
int vm_qemu_probe(const char *binary, int *version);

/* Whether BINARY knows the machine type MACHINE ("pc-q35-10.0").  1, 0,
 * or -errno with a message. */
int vm_qemu_has_machine(const char *binary, const char *machine);

/* "10.0.2" for VERSION into BUF. */
void vm_qemu_version_text(int version, char *buf, size_t len);

#endif
