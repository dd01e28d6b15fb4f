/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU command lines (argv.h).  Every value that QEMU parses as an option
 * list (-chardev, -qmp, -object, -blockdev, -device) and that holds a
 * path gets its commas doubled; -kernel, -initrd, -append and -pidfile
 * take their value whole. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "disk.h"
#include "error.h"
#include "qemu.h"

const struct vm_files vm_boot_files = {
	.pid = "qemu.pid", .qmp = "qmp.sock", .qga = "qga.sock", .console = "serial.log",
	.log = "qemu.log",
};
/* (each socket its own: a QEMU that quits unlinks its sockets' paths,
 * and a second QEMU binding the same path takes it from the first) */
const struct vm_files vm_target_files = {
	.pid = "qemu-target.pid", .qmp = "qmp-target.sock", .qga = "qga-target.sock",
	.console = "serial-target.log", .log = "qemu-target.log",
};

/* -object for a memory backend ID of SIZE bytes from B. */
static void add_membk(struct vm_strv *sv, const struct vm_membk *b, const char *id,
		      uint64_t size)
{
	char buf[2 * PATH_MAX + 128];
	int r = vm_membk_cmdline(b, id, size, buf, sizeof buf);

	if (r < 0)
		vm_strv_fail(sv, r);
	vm_strv_add(sv, "-object");
	vm_strv_add(sv, buf);
}

static void add_machine(struct vm_strv *sv, const struct vm_state *st)
{
	bool ppc = st->arch == VM_ARCH_PPC64, tcg = !strcmp(st->accel, "tcg");
	const char *qemu = vm_qemu_binary(st->qemu, st->arch);
	/* The machine type QEMU resolved at boot, once known: a target of
	 * another QEMU version must emulate the same machine. */
	const char *m = st->machine[0] ? st->machine : ppc ? "pseries" : "q35";
	char data[PATH_MAX];

	vm_strv_add(sv, qemu);
	if (vm_qemu_datadir(qemu, data, sizeof data)) {
		vm_strv_add(sv, "-L");
		vm_strv_add(sv, data);
	}
	vm_strv_add(sv, "-M");
	/* pseries: QEMU's minimal firmware (VOF) boots in 3 s instead of
	 * SLOF's 7; under TCG the speculation capabilities it cannot
	 * emulate are declared broken instead of warned about. */
	if (!ppc)
		vm_strv_add(sv, m);
	else
		vm_strv_addf(sv, "%s,x-vof=on%s", m, tcg ? ",cap-cfpc=broken,cap-sbbc=broken,"
			     "cap-ibs=broken,cap-ccf-assist=off" : "");
	vm_strv_add(sv, "-accel");
	/* TCG: multi-threaded, since thread=single aborts on CPU unplug. */
	vm_strv_add(sv, tcg ? "tcg,thread=multi" : st->accel);
	if (st->cpu_model[0]) {		/* (pseries: the machine's default CPU) */
		vm_strv_add(sv, "-cpu");
		vm_strv_add(sv, st->cpu_model);
	}
}

/* vCPUs and memory, laid out for hotplug; TARGET: for a migration's
 * target. */
static void add_topology(struct vm_strv *sv, const struct vm_state *st, bool target)
{
	/* One vCPU per hotplug unit: a socket on q35 (NUMA nodes are whole
	 * sockets: a first hot-added CPU of a node sharing a socket with
	 * another node can take 30 s to come online), a core on pseries. */
	vm_strv_add(sv, "-smp");
	if (st->arch == VM_ARCH_PPC64)
		vm_strv_addf(sv, "%u,maxcpus=%u,sockets=1,cores=%u,threads=1", st->boot_cpus,
			     st->max_cpus, st->max_cpus);
	else
		vm_strv_addf(sv, "%u,maxcpus=%u,sockets=%u,cores=1,threads=1", st->boot_cpus,
			     st->max_cpus, st->max_cpus);
	vm_strv_add(sv, "-m");
	if (st->slots)
		vm_strv_addf(sv, "%" PRIu64 "M,slots=%u,maxmem=%" PRIu64 "M", st->memory >> 20,
			     st->slots, st->max_memory >> 20);
	else
		vm_strv_addf(sv, "%" PRIu64 "M", st->memory >> 20);
	if (st->numa > 1) {
		unsigned per = st->max_cpus / st->numa;

		for (unsigned i = 0; i < st->numa; i++) {
			char id[16];

			snprintf(id, sizeof id, "numa%u", i);
			add_membk(sv, &st->membk, id, st->memory / st->numa);
			vm_strv_add(sv, "-numa");
			vm_strv_addf(sv, "node,nodeid=%u,cpus=%u-%u,memdev=numa%u", i, i * per,
				     i * per + per - 1, i);
		}
	} else if (st->membk.type != VM_MEMBK_RAM) {
		/* one backend object for the boot memory */
		add_membk(sv, &st->membk, "ram0", st->memory);
		vm_strv_add(sv, "-machine");
		vm_strv_add(sv, "memory-backend=ram0");
	} else if (target && st->ndimms) {
		/* The boot memory's block first, before the DIMMs' backends
		 * (QEMU makes it after every -object otherwise), under the name
		 * the source's has (the machine's default RAM id): QEMU 10.0.2
		 * under TCG aborted in the next outgoing migration of a target
		 * whose DIMMs' blocks came first ("tlb_reset_dirty_range_all:
		 * Assertion ... failed"), x86 and pseries alike. */
		const char *id = st->arch == VM_ARCH_PPC64 ? "ppc_spapr.ram" : "pc.ram";

		vm_strv_add(sv, "-object");
		vm_strv_addf(sv, "memory-backend-ram,id=%s,size=%" PRIu64
			     ",x-use-canonical-path-for-ramblock-id=off", id, st->memory);
		vm_strv_add(sv, "-machine");
		vm_strv_addf(sv, "memory-backend=%s", id);
	}
	if (st->virtio_mem) {
		/* virtio-mem: one device whose plugged size moves in 2 MiB
		 * steps; the x86 guest onlines it in 128 MiB blocks. */
		vm_strv_add(sv, "-object");
		/* (shared when vhost-user disks must reach it too) */
		vm_strv_addf(sv, "memory-backend-%s,id=vmem0,size=%" PRIu64 "M",
			     vm_state_vhost(st) ? "memfd,share=on" : "ram", st->virtio_mem >> 20);
		vm_strv_add(sv, "-device");
		vm_strv_add(sv, "virtio-mem-pci,id=vmem,memdev=vmem0,node=0,requested-size=0");
	}
}

/* The guest agent's port, the console, QMP and the pid file, in EDIR
 * (the runtime directory, escaped). */
static void add_channels(struct vm_strv *sv, const char *edir, const char *dir,
			 const struct vm_files *f)
{
	/* The QEMU guest agent's port, used when the guest runs qemu-ga. */
	vm_strv_add(sv, "-device");
	vm_strv_add(sv, "virtio-serial-pci,id=vser0");
	vm_strv_add(sv, "-chardev");
	vm_strv_addf(sv, "socket,id=qga0,path=%s/%s,server=on,wait=off", edir, f->qga);
	vm_strv_add(sv, "-device");
	vm_strv_add(sv, "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0");
	vm_strv_add(sv, "-display");
	vm_strv_add(sv, "none");
	vm_strv_add(sv, "-nodefaults");
	vm_strv_add(sv, "-no-user-config");
	vm_strv_add(sv, "-no-reboot");
	vm_strv_add(sv, "-chardev");
	vm_strv_addf(sv, "file,id=console,path=%s/%s", edir, f->console);
	vm_strv_add(sv, "-serial");
	vm_strv_add(sv, "chardev:console");
	vm_strv_add(sv, "-qmp");
	vm_strv_addf(sv, "unix:%s/%s,server=on,wait=off", edir, f->qmp);
	vm_strv_add(sv, "-pidfile");
	vm_strv_addf(sv, "%s/%s", dir, f->pid);
}

/* A migration target must have the source's topology as it is now:
 * every hot-plugged vCPU and DIMM cold-plugged with the same id, or
 * QEMU refuses the incoming state. */
static void add_plugged(struct vm_strv *sv, const struct vm_state *st)
{
	for (size_t i = 0; i < st->ncpus; i++) {
		const struct vm_cpu *c = &st->cpus[i];
		char *s = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&s, &len);

		if (!f) {
			vm_strv_fail(sv, ENOMEM);
			return;
		}
		fprintf(f, "%s,id=%s", c->driver, c->id);
		for (unsigned k = 0; k < c->nprops; k++)
			fprintf(f, ",%s=%" PRId64, c->props[k].name, c->props[k].value);
		if (fclose(f) != 0)
			vm_strv_fail(sv, ENOMEM);
		vm_strv_add(sv, "-device");
		vm_strv_add(sv, s ? s : "");
		free(s);
	}
	for (size_t i = 0; i < st->ndimms; i++) {
		const struct vm_dimm *d = &st->dimms[i];

		add_membk(sv, &d->backend, d->memdev, d->size);
		vm_strv_add(sv, "-device");
		vm_strv_addf(sv, "pc-dimm,id=%s,memdev=%s,node=%d", d->id, d->memdev, d->node);
	}
}

int vm_argv_build(const struct vm_state *st, const char *dir, enum vm_argv_role role,
		  struct vm_strv *out)
{
	char *edir = vm_qemu_escape(dir);

	if (!edir)
		return mortar_set_error(ENOMEM, "out of memory");
	if (!st->kernel || !st->kernel[0] || !st->initrd || !st->initrd[0]) {
		free(edir);
		return mortar_set_error(EINVAL, "the state of VM '%s' names no kernel and "
					"initrd (started by an older mortar?): restart it",
					st->name);
	}
	add_machine(out, st);
	add_topology(out, st, role != VM_ARGV_BOOT);
	vm_strv_add(out, "-kernel");
	vm_strv_add(out, st->kernel);
	vm_strv_add(out, "-initrd");
	vm_strv_add(out, st->initrd);
	vm_strv_add(out, "-append");
	vm_strv_addf(out, "console=%s memhp_default_state=online_movable panic=-1 quiet %s",
		     st->arch == VM_ARCH_PPC64 ? "hvc0" : "ttyS0", st->append ? st->append : "");
	for (size_t i = 0; i < st->ndisks; i++)
		vm_disk_argv(out, (unsigned)i, &st->disks[i]);
	add_channels(out, edir, dir, role == VM_ARGV_TARGET ? &vm_target_files : &vm_boot_files);
	if (role != VM_ARGV_BOOT) {
		add_plugged(out, st);
		vm_strv_add(out, "-incoming");
		vm_strv_add(out, "defer");
		/* Paused after the migration: the guest runs here only once
		 * the source has stopped for good (vm_target_resume). */
		vm_strv_add(out, "-S");
	}
	vm_strv_add(out, "-daemonize");
	free(edir);
	return vm_strv_error(out);
}
