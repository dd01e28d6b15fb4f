/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM library behind `mortar vm`: a struct mortar_vm is one VM, its
 * runtime directory, its recorded state (state.h), its QMP connection
 * and this process's view of its guest (view.h).  Every call returns 0
 * or a negative errno with a sentence in mortar_errmsg() that names the
 * cause and the fix; nothing here prints (notes go to a callback).
 *
 * A VM outlives the process: each command opens it, acts, records the
 * new state and closes it.  Requests are checked against the hotplug
 * rules (rules.h) before QEMU sees them, so that a refusal is a sentence
 * and the VM stays as it was. */
#ifndef MORTAR_VM_VM_H
#define MORTAR_VM_VM_H

#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <mortar/location.h>

#include "guest.h"
#include "membk.h"
#include "rules.h"
#include "state.h"

struct mortar_vm;

/* ---- starting: the settings of `mortar vm start` (config.c) ---- */

#define MORTAR_VM_MAX_DISKS 8

struct mortar_vm_config {
	enum vm_arch arch;
	struct vm_membk membk;		/* boot memory, and DIMMs by default */
	unsigned cpus, max_cpus, slots, numa;	/* 0: the default */
	uint64_t mem, max_mem, vmem;	/* vmem: virtio-mem capacity, 0: none */
	char *kernel, *initrd, *append;
	char *accel;			/* NULL: kvm when usable, else tcg */
	char *qemu;			/* the QEMU binary; NULL: qemu-system-ARCH */
	char *disks[MORTAR_VM_MAX_DISKS];
	unsigned ndisks;
	enum vm_disk_protocol disk_protocol;	/* vhost-user by default */
	/* Called with notes for the user (a fallback taken, a likely
	 * failure), without a prefix; may be NULL. */
	void (*note)(void *opaque, const char *text);
	void *opaque;
};

/* Defaults: 1 vCPU, 512 MiB, x86_64, anonymous RAM. */
void mortar_vm_config_init(struct mortar_vm_config *c);
/* One setting, KEY being a long option of `mortar vm start` without its
 * dashes ("max-cpus", "disk"...).  0, or -EINVAL with a message. */
int mortar_vm_config_set(struct mortar_vm_config *c, const char *key, const char *value);
/* Settings from a file of key=value lines ('#' starts a comment). */
int mortar_vm_config_file(struct mortar_vm_config *c, const char *path);
void mortar_vm_config_free(struct mortar_vm_config *c);

/* Start VM NAME as C says (a name whose QEMU died is cleaned up and
 * reused): its disks served, QEMU launched (daemonised), the state
 * recorded.  With WAIT_S > 0, wait that long for the guest to report
 * in; if it does not, QEMU keeps running and the error says where to
 * look.  *OUT (optional) is the open VM on success. */
int mortar_vm_start(const char *name, const struct mortar_vm_config *c, int wait_s,
		    struct mortar_vm **out);

/* ---- opening, stopping, describing (vm.c, status.c) ---- */

/* A running VM: its state and QMP.  -ENOENT: no such VM; -ESRCH: its
 * QEMU is gone. */
int mortar_vm_open(const char *name, struct mortar_vm **out);
/* A VM's state only, running or not (for status and stop). */
int mortar_vm_load(const char *name, struct mortar_vm **out);
void mortar_vm_close(struct mortar_vm *vm);

/* Ask the guest to power off, quit QEMU after TIMEOUT_S (FORCE: at
 * once), stop the disk servers, remove the runtime directory. */
int mortar_vm_stop(const char *name, bool force, int timeout_s);

/* The VM as `mortar vm status --output=json` prints it (mortar-vm(1),
 * STATUS): a new object. */
json_object *mortar_vm_describe(struct mortar_vm *vm);
/* Every VM with a runtime directory, described: a new array. */
json_object *mortar_vm_list(void);

/* The name of a running VM that has LOCATION as one of its disks (the
 * same image however written: mortar_location_same_image) into NAME, of
 * LEN bytes (VM_NAME_MAX + 1 hold any).  0, or -ENOENT with a message
 * when no running VM has it. */
int mortar_vm_find_disk(const struct mortar_location *location, char *name, size_t len);

/* ---- the guest's filesystems, through its agent (fsfreeze.c) ---- */

/* Freeze the guest's filesystems (guest-fsfreeze-freeze), every wait
 * bounded by TIMEOUT_S; *NFS (optional): how many the agent froze.  On
 * failure nothing stays frozen: -ENOTSUP, the guest runs no agent;
 * -EIO, the agent refused (its reason in the message); -ETIMEDOUT or
 * another errno, the agent did not answer (before the freeze was sent,
 * or after it, and the thaw sent then worked); -EBUSY, that thaw failed
 * too: the message says THEY MAY STILL BE FROZEN and how to thaw them
 * by hand, for the user to see at once. */
int mortar_vm_fsfreeze(struct mortar_vm *vm, int timeout_s, unsigned *nfs);
/* Thaw them (guest-fsfreeze-thaw; 0 when none was frozen); *NFS
 * (optional): how many.  On failure the message says the same as
 * -EBUSY above. */
int mortar_vm_fsthaw(struct mortar_vm *vm, int timeout_s, unsigned *nfs);

/* ---- hotplug (hotplug-cpu.c, hotplug-mem.c) ---- */

/* How a plug or unplug is done.  Each call records the VM's new state,
 * also when it fails halfway (some vCPUs of several plugged). */
struct mortar_vm_plug {
	int node;			/* NUMA node; -1: any (vCPUs), 0 (DIMMs) */
	int slot;			/* cpu add: the slot; -1: the lowest free */
	const char *id;			/* the new device's id; NULL: a default */
	const char *backend;		/* a DIMM's memory backend; NULL: the VM's */
	int timeout_s;			/* for an unplug to complete, and to wait */
	bool wait;			/* return once the guest shows the change */
	char id_out[VM_ID_MAX];		/* the id the new device got */
};

#define MORTAR_VM_PLUG_INIT { .node = -1, .slot = -1, .timeout_s = 30 }

/* Plug or unplug vCPUs (the newest first) until N are present. */
int mortar_vm_cpus(struct mortar_vm *vm, unsigned n, struct mortar_vm_plug *p);
/* Plug one vCPU into p->slot (or the lowest free one, on p->node). */
int mortar_vm_cpu_add(struct mortar_vm *vm, struct mortar_vm_plug *p);
/* Unplug the hot-plugged vCPU ID. */
int mortar_vm_cpu_remove(struct mortar_vm *vm, const char *id, struct mortar_vm_plug *p);
/* Plug a DIMM of SIZE bytes with its own memory backend object. */
int mortar_vm_dimm_add(struct mortar_vm *vm, uint64_t size, struct mortar_vm_plug *p);
/* Unplug DIMM ID and free its backend object. */
int mortar_vm_dimm_remove(struct mortar_vm *vm, const char *id, struct mortar_vm_plug *p);
/* Set the guest's total memory to TOTAL bytes through its virtio-mem
 * device (its requested size). */
int mortar_vm_mem_set(struct mortar_vm *vm, uint64_t total, struct mortar_vm_plug *p);

/* ---- migration (migrate.c, incoming.c) ---- */

/* How far a migration is, as QEMU reports it (query-migrate,
 * query-block-jobs); sizes in bytes, times in milliseconds, -1 when not
 * known (yet). */
struct mortar_vm_progress {
	const char *phase;		/* "disks" (copying moving disks), "memory",
					 * "switchover", "done" */
	uint64_t disk_total, disk_done;	/* the disks that move */
	uint64_t ram_total, ram_done, ram_remaining;
	uint64_t rate;			/* bytes per second, now */
	unsigned passes;		/* dirty-memory passes so far */
	int64_t expected_downtime_ms;
	int64_t elapsed_ms;
	int64_t downtime_ms;		/* done: the guest paused that long in
					 * QEMU's switchover ... */
	int64_t resume_ms;		/* ... and then until the target ran it */
	int64_t qemu_total_ms;		/* done: QEMU's own total-time (its
					 * setup, copy and switchover) */
	bool live;			/* the guest ran while its memory was
					 * copied (not under TCG with more than
					 * one RAM block: migrate.c) */
};

struct mortar_vm_migration {
	const char *to;			/* unix:PATH or tcp:HOST:PORT; NULL: a
					 * socket in the runtime directory */
	const char *via;		/* the command that runs mortar on the
					 * target host ("ssh b mortar"); NULL:
					 * the target is on this host */
	const char *target_qemu;	/* QEMU on the target; NULL: the VM's */
	const char *disk_to[MORTAR_VM_MAX_DISKS];	/* with via: disk I is
					 * copied to this location on the target's
					 * storage; NULL: both hosts reach it */
	uint64_t bandwidth;		/* bytes per second; 0: QEMU's default */
	int max_downtime_ms;		/* 0: QEMU's default (300 ms) */
	bool force;			/* also where migration is known to break */
	int timeout_s;			/* for the migration to complete */
	bool wait;			/* for the guest to report on the target */
	/* Called about twice a second while the migration runs, and once
	 * at its end; may be NULL. */
	void (*progress)(void *opaque, const struct mortar_vm_progress *p);
	void *opaque;
	char uri[PATH_MAX + 16];	/* where it went */
	pid_t target_pid;		/* QEMU on the target, once it runs */
	struct mortar_vm_progress last;	/* the figures at the end */
};

#define MORTAR_VM_MIGRATION_INIT { .timeout_s = 120 }

/* Move VM to a new QEMU started with its topology as it is now (every
 * plugged vCPU and DIMM cold-plugged under the same id): on this host,
 * where it takes over the VM's files, or with m->via on another host,
 * where `mortar vm incoming` receives it and the VM is then known.
 * Checks that the target can take the VM first; whatever fails before
 * the target runs the guest leaves the VM running here untouched. */
int mortar_vm_migrate(struct mortar_vm *vm, struct mortar_vm_migration *m);

/* The target half of a migration from another host. */
struct mortar_vm_incoming {
	const char *listen;		/* tcp:HOST:PORT, HOST an address here */
	const char *qemu;		/* NULL: the VM's */
	const char *disk_to[MORTAR_VM_MAX_DISKS];	/* disk I is copied to
					 * this new image (served on HOST,
					 * port PORT+1+I, during the copy) */
	uint64_t disk_size[MORTAR_VM_MAX_DISKS];
	int timeout_s;			/* the source's --timeout */
	bool wait;			/* for the guest to show: */
	int expect_cpus;		/* -1: any */
	int64_t expect_kib;		/* -1: any */
	bool expect_agent;		/* the figures are the agent's */
};

/* Receive VM NAME from the source that runs this through its --via
 * command, talking to it on standard input and output (remote.h): its
 * state, checked against this host's capacity; its disks served here;
 * QEMU (in->qemu, or the VM's) waiting for the migration on
 * in->listen; once the source says go, the guest run here and the VM
 * known on this host.  Whatever fails before that is undone here.  0,
 * or -errno with a message (also sent to the source). */
int mortar_vm_incoming(const char *name, const struct mortar_vm_incoming *in);

const struct vm_state *mortar_vm_state(const struct mortar_vm *vm);
const char *mortar_vm_dir(const struct mortar_vm *vm);
/* QEMU's pid (from its pid file), 0 when unknown. */
pid_t mortar_vm_pid(const struct mortar_vm *vm);

#endif
