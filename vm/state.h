/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What mortar vm records about a VM (state.c): how it was started, what
 * was plugged since, where its disks are served.  It lives in
 * state.json in the VM's runtime directory; every command reads it,
 * changes it and writes it back whole (temporary file + rename). */
#ifndef MORTAR_VM_STATE_H
#define MORTAR_VM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "membk.h"
#include "rules.h"

#define VM_NAME_MAX 64
#define VM_ID_MAX 64			/* device ids, ours or the user's */
#define VM_CPU_PROPS_MAX 8
#define VM_SOCKET_MAX 108		/* sizeof sockaddr_un.sun_path */

/* One property of a vCPU slot as QEMU names it ("socket-id": 2). */
struct vm_cpu_prop {
	char name[32];
	int64_t value;
};

/* A hot-plugged vCPU: a socket on q35, a core on pseries. */
struct vm_cpu {
	char id[VM_ID_MAX];
	char driver[96];		/* QEMU's type, "qemu64-x86_64-cpu" */
	int64_t slot;
	struct vm_cpu_prop props[VM_CPU_PROPS_MAX];
	unsigned nprops;
};

/* A hot-plugged DIMM and its memory backend object. */
struct vm_dimm {
	char id[VM_ID_MAX];
	char memdev[VM_ID_MAX + 8];	/* "mem-" + id */
	uint64_t size;
	int node;
	struct vm_membk backend;
};

/* How a disk reaches the guest (disk.h). */
enum vm_disk_protocol {
	VM_DISK_VHOST_USER,	/* vhost-user-blk: guest memory shared, no copies */
	VM_DISK_NBD,		/* QEMU's NBD client under a virtio-blk device */
};

/* A disk: a Mortar location served by a `mortar serve` of the VM. */
struct vm_disk {
	char *location;
	char socket[VM_SOCKET_MAX];
	pid_t server_pid;
	enum vm_disk_protocol protocol;
};

struct vm_state {
	char name[VM_NAME_MAX + 1];
	enum vm_arch arch;
	char accel[8];			/* "kvm" or "tcg" */
	char cpu_model[64];		/* -cpu; "" on pseries (the machine's own) */
	char *kernel, *initrd, *append;	/* append: the user's part, may be NULL */
	unsigned boot_cpus, max_cpus, slots, numa;
	uint64_t memory, max_memory;	/* boot and most memory, bytes */
	uint64_t virtio_mem, virtio_mem_requested;
	struct vm_membk membk;		/* boot memory, and DIMMs by default */
	char *qemu;			/* --qemu: the binary; NULL: the system's */
	char machine[64];		/* QEMU's versioned machine type ("pc-q35-10.0"),
					 * "" until known: a target must have it */
	int qemu_version;		/* major*10000+minor*100+micro; 0: unknown */
	unsigned cpu_plugs;		/* vCPUs plugged over the VM's life */
	bool cpu_unplugged;
	unsigned dimm_seq;		/* for the default DIMM ids */
	unsigned migrated;
	struct vm_cpu *cpus;
	size_t ncpus;
	struct vm_dimm *dimms;
	size_t ndimms;
	struct vm_disk *disks;
	size_t ndisks;
	char **qemu_argv;		/* the boot command line (a record); NULL-terminated */
};

/* Read DIR/state.json into ST (which the caller frees with
 * vm_state_free, also on failure).  -ENOENT when there is none; -EINVAL
 * with a message naming the key when it is damaged. */
int vm_state_load(const char *dir, struct vm_state *st);
/* Write ST to DIR/state.json atomically.  0 or -errno with a message. */
int vm_state_save(const char *dir, const struct vm_state *st);
void vm_state_free(struct vm_state *st);
/* The state as one line of JSON (a new string; NULL when out of memory),
 * and back: a state another host sent, checked like state.json, ORIGIN
 * naming it in messages. */
char *vm_state_text(const struct vm_state *st);
int vm_state_parse(const char *text, const char *origin, struct vm_state *st);

/* Append a copy of C, D or K.  0 or -ENOMEM. */
int vm_state_add_cpu(struct vm_state *st, const struct vm_cpu *c);
int vm_state_add_dimm(struct vm_state *st, const struct vm_dimm *d);
int vm_state_add_disk(struct vm_state *st, const char *location, const char *socket,
		      pid_t server_pid, enum vm_disk_protocol protocol);
/* Whether a disk of ST is attached with vhost-user (its memory must then
 * be shared with the disk servers). */
bool vm_state_vhost(const struct vm_state *st);
/* The QEMU binary (a copy of QEMU).  0 or -ENOMEM. */
int vm_state_set_qemu(struct vm_state *st, const char *qemu);
/* Drop the vCPU or DIMM at index I. */
void vm_state_del_cpu(struct vm_state *st, size_t i);
void vm_state_del_dimm(struct vm_state *st, size_t i);
/* The index of the vCPU or DIMM with id ID, or -1. */
ssize_t vm_state_find_cpu(const struct vm_state *st, const char *id);
ssize_t vm_state_find_dimm(const struct vm_state *st, const char *id);
/* Bytes in DIMMs. */
uint64_t vm_state_dimm_bytes(const struct vm_state *st);
/* The view of ST the hotplug rules check (rules.h), PRESENT_CPUS being
 * what QEMU has now. */
void vm_state_topo(const struct vm_state *st, unsigned present_cpus, struct vm_topo *t);

#endif
