/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU command lines of mortar vm (vm/argv.c, vm/strv.c): the machine a
 * state describes, paths with commas read back whole by QEMU's option
 * syntax (a doubled comma is a comma), a migration target's extra
 * devices and files, and the bounds of the string vector. */
#include <inttypes.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "error.h"
#include "strv.h"
#include "tap.h"

/* The value of KEY in the QEMU option list OPTS, as QEMU reads it (a
 * doubled comma is one comma, a single one ends the value), into BUF;
 * KEY "" is an implied first value ("unix:PATH,server=on").  NULL when
 * there is none. */
static const char *opt_value(const char *opts, const char *key, char *buf, size_t len)
{
	size_t k = strlen(key);

	for (const char *p = opts; *p;) {
		char elem[1024];
		size_t n = 0;
		bool first = p == opts;

		/* one element: up to a comma that is not doubled */
		while (*p && !(*p == ',' && p[1] != ',') && n + 1 < sizeof elem) {
			if (*p == ',')
				p++;
			elem[n++] = *p++;
		}
		elem[n] = '\0';
		if (*p == ',')
			p++;
		if (!k && first)
			return snprintf(buf, len, "%s", elem), buf;
		if (k && !strncmp(elem, key, k) && elem[k] == '=')
			return snprintf(buf, len, "%s", elem + k + 1), buf;
	}
	return NULL;
}

/* The argument after the first OPT in ARGV whose value starts with
 * PREFIX (NULL: any), or NULL. */
static const char *arg_after(char **argv, const char *opt, const char *prefix)
{
	for (size_t i = 0; argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], opt) &&
		    (!prefix || !strncmp(argv[i + 1], prefix, strlen(prefix))))
			return argv[i + 1];
	return NULL;
}

static size_t count(char **argv, const char *s)
{
	size_t n = 0;

	for (size_t i = 0; argv[i]; i++)
		n += !strcmp(argv[i], s);
	return n;
}

static void sample(struct vm_state *st)
{
	char why[256];
	struct vm_cpu c = { .id = "cpu-s1", .driver = "qemu64-x86_64-cpu", .slot = 1,
			    .props = { { "socket-id", 1 }, { "core-id", 0 }, { "thread-id", 0 },
				       { "node-id", 0 } }, .nprops = 4 };
	struct vm_dimm d = { .id = "d1", .memdev = "mem-d1", .size = 256ull << 20, .node = 1 };

	memset(st, 0, sizeof *st);
	strcpy(st->name, "t");
	strcpy(st->accel, "tcg");
	strcpy(st->cpu_model, "qemu64");
	st->kernel = strdup("/boot/a,b/vmlinuz");
	st->initrd = strdup("/boot/initrd");
	st->append = strdup("mortar.disk=write");
	st->boot_cpus = 1;
	st->max_cpus = 4;
	st->memory = 512ull << 20;
	st->max_memory = 2048ull << 20;
	st->slots = 4;
	st->numa = 2;
	vm_membk_parse("hugetlbfs:/mnt/huge,1", &st->membk, why, sizeof why);
	vm_state_add_disk(st, "gluster://h/v/a,b.img", "/run/vm,x/t/disk0.sock", 42, VM_DISK_NBD);
	vm_state_add_disk(st, "/img/c.img", "/run/vm,x/t/disk1.vhost", 43, VM_DISK_VHOST_USER);
	vm_state_add_cpu(st, &c);
	vm_membk_parse("memfd", &d.backend, why, sizeof why);
	vm_state_add_dimm(st, &d);
}

static void test_boot(void)
{
	size_t nd;
	struct vm_state st;
	struct vm_strv sv = VM_STRV_INIT;
	char buf[1024];
	const char *a;

	sample(&st);
	tap_ok(vm_argv_build(&st, "/run/vm,x/t", VM_ARGV_BOOT, &sv) == 0, "a boot command line");
	tap_ok(!strcmp(sv.v[0], "qemu-system-x86_64") && sv.v[sv.n] == NULL &&
	       !strcmp(sv.v[sv.n - 1], "-daemonize"), "x86 QEMU, NULL-terminated, daemonised");
	tap_ok(!strcmp(arg_after(sv.v, "-accel", NULL), "tcg,thread=multi") &&
	       !strcmp(arg_after(sv.v, "-cpu", NULL), "qemu64"), "TCG multi-threaded, qemu64");
	tap_ok(!strcmp(arg_after(sv.v, "-smp", NULL), "1,maxcpus=4,sockets=4,cores=1,threads=1") &&
	       !strcmp(arg_after(sv.v, "-m", NULL), "512M,slots=4,maxmem=2048M"),
	       "one vCPU per socket, DIMM slots");
	a = arg_after(sv.v, "-object", "memory-backend-file,id=numa1");
	tap_ok(a && !strcmp(opt_value(a, "mem-path", buf, sizeof buf), "/mnt/huge,1") &&
	       !strcmp(opt_value(a, "size", buf, sizeof buf), "268435456"),
	       "a NUMA node's hugetlbfs path with a comma reads back whole: %s", a);
	tap_ok(!strcmp(arg_after(sv.v, "-numa", "node,nodeid=1"), "node,nodeid=1,cpus=2-3,memdev=numa1"),
	       "node 1 has sockets 2-3");
	tap_ok(!strcmp(arg_after(sv.v, "-kernel", NULL), "/boot/a,b/vmlinuz"),
	       "-kernel takes its path whole (not an option list)");
	tap_ok(!strcmp(arg_after(sv.v, "-append", NULL), "console=ttyS0 memhp_default_state="
			"online_movable panic=-1 quiet mortar.disk=write"), "the kernel command line");
	a = arg_after(sv.v, "-blockdev", NULL);
	tap_ok(a && !strcmp(opt_value(a, "server.path", buf, sizeof buf), "/run/vm,x/t/disk0.sock") &&
	       !strcmp(opt_value(a, "driver", buf, sizeof buf), "nbd"),
	       "the disk's NBD socket reads back whole: %s", a ? a : "(no -blockdev)");
	tap_ok(a && !strcmp(opt_value(a, "discard", buf, sizeof buf), "unmap") &&
	       !strcmp(opt_value(a, "reconnect-delay", buf, sizeof buf), "10"),
	       "the guest's trims reach the image; QEMU waits 10 s for a lost server");
	a = arg_after(sv.v, "-chardev", "socket,id=disk1");
	tap_ok(a && !strcmp(opt_value(a, "path", buf, sizeof buf), "/run/vm,x/t/disk1.vhost") &&
	       !strcmp(opt_value(a, "reconnect", buf, sizeof buf), "1"),
	       "the vhost-user disk's socket reads back whole, reconnecting: %s", a ? a : "(none)");
	tap_ok(!strcmp(arg_after(sv.v, "-device", "vhost-user-blk-pci"),
		       "vhost-user-blk-pci,chardev=disk1,id=vd1"), "a vhost-user-blk device");
	a = arg_after(sv.v, "-qmp", NULL);
	tap_ok(a && !strcmp(opt_value(a, "", buf, sizeof buf), "unix:/run/vm,x/t/qmp.sock") &&
	       !strcmp(opt_value(a, "server", buf, sizeof buf), "on"),
	       "QMP's socket reads back whole: %s", a);
	a = arg_after(sv.v, "-chardev", "file,");
	tap_ok(a && !strcmp(opt_value(a, "path", buf, sizeof buf), "/run/vm,x/t/serial.log"),
	       "the console log reads back whole: %s", a);
	a = arg_after(sv.v, "-chardev", "socket,id=qga0");
	tap_ok(a && !strcmp(opt_value(a, "path", buf, sizeof buf), "/run/vm,x/t/qga.sock"),
	       "the agent's socket reads back whole: %s", a);
	tap_ok(!strcmp(arg_after(sv.v, "-pidfile", NULL), "/run/vm,x/t/qemu.pid"),
	       "-pidfile takes its path whole");
	tap_ok(!count(sv.v, "-incoming") && !arg_after(sv.v, "-device", "pc-dimm"),
	       "no plugged devices at boot");
	vm_strv_free(&sv);

	/* pseries, KVM, ram, one node, no disk */
	st.arch = VM_ARCH_PPC64;
	strcpy(st.accel, "kvm");
	st.cpu_model[0] = '\0';
	st.numa = 1;
	nd = st.ndisks;
	st.ndisks = 0;
	vm_membk_parse("ram", &st.membk, buf, sizeof buf);
	tap_ok(vm_argv_build(&st, "/run/vm/p", VM_ARGV_BOOT, &sv) == 0 &&
	       !strcmp(sv.v[0], "qemu-system-ppc64") &&
	       !strcmp(arg_after(sv.v, "-M", NULL), "pseries,x-vof=on") && !count(sv.v, "-cpu") &&
	       !strcmp(arg_after(sv.v, "-smp", NULL), "1,maxcpus=4,sockets=1,cores=4,threads=1") &&
	       !count(sv.v, "-object") && !count(sv.v, "-blockdev") &&
	       strstr(arg_after(sv.v, "-append", NULL), "console=hvc0"),
	       "pseries: its firmware, one core per vCPU, no -cpu, console hvc0");
	st.ndisks = nd;
	vm_strv_free(&sv);
	vm_state_free(&st);
}

static void test_target(void)
{
	struct vm_state st;
	struct vm_strv sv = VM_STRV_INIT;
	const char *a;
	char buf[1024];

	sample(&st);
	tap_ok(vm_argv_build(&st, "/run/vm,x/t", VM_ARGV_TARGET, &sv) == 0, "a target command line");
	tap_ok(!strcmp(arg_after(sv.v, "-device", "qemu64"),
		       "qemu64-x86_64-cpu,id=cpu-s1,socket-id=1,core-id=0,thread-id=0,node-id=0"),
	       "the plugged vCPU cold-plugged with its id and slot");
	a = arg_after(sv.v, "-object", "memory-backend-memfd");
	tap_ok(a && !strcmp(a, "memory-backend-memfd,id=mem-d1,size=268435456,share=on") &&
	       !strcmp(arg_after(sv.v, "-device", "pc-dimm"), "pc-dimm,id=d1,memdev=mem-d1,node=1"),
	       "the DIMM with its own backend");
	tap_ok(!strcmp(arg_after(sv.v, "-incoming", NULL), "defer") &&
	       !strcmp(sv.v[sv.n - 1], "-daemonize") && count(sv.v, "-daemonize") == 1,
	       "-incoming defer, daemonised once");
	tap_ok(!strcmp(arg_after(sv.v, "-pidfile", NULL), "/run/vm,x/t/qemu-target.pid") &&
	       !strcmp(opt_value(arg_after(sv.v, "-qmp", NULL), "", buf, sizeof buf),
		       "unix:/run/vm,x/t/qmp-target.sock") &&
	       !strcmp(opt_value(arg_after(sv.v, "-chardev", "file,"), "path", buf, sizeof buf),
		       "/run/vm,x/t/serial-target.log"),
	       "the target's own pid file, QMP and console");
	vm_strv_free(&sv);

	/* One node of plain RAM: the boot memory's block comes before the
	 * DIMMs' under the machine's own RAM id, on both architectures. */
	st.numa = 1;
	vm_membk_parse("ram", &st.membk, buf, sizeof buf);
	for (int arch = 0; arch < 2; arch++) {
		const char *id = arch ? "ppc_spapr.ram" : "pc.ram";
		char want[128];

		st.arch = arch ? VM_ARCH_PPC64 : VM_ARCH_X86_64;
		snprintf(want, sizeof want, "memory-backend-ram,id=%s,size=%" PRIu64
			 ",x-use-canonical-path-for-ramblock-id=off", id, st.memory);
		tap_ok(vm_argv_build(&st, "/run/vm/t", VM_ARGV_TARGET, &sv) == 0 &&
		       !strcmp(arg_after(sv.v, "-object", NULL), want) &&
		       arg_after(sv.v, "-machine", "memory-backend=") &&
		       !strcmp(strchr(arg_after(sv.v, "-machine", "memory-backend="), '=') + 1, id),
		       "%s target: the boot memory first, as %s", arch ? "pseries" : "q35", id);
		vm_strv_free(&sv);
	}
	st.arch = VM_ARCH_X86_64;

	free(st.kernel);
	st.kernel = NULL;
	tap_ok(vm_argv_build(&st, "/run/vm/t", VM_ARGV_TARGET, &sv) == -EINVAL &&
	       strstr(mortar_errmsg(), "no kernel"), "no kernel recorded: %s", mortar_errmsg());
	vm_strv_free(&sv);
	st.kernel = calloc(1, VM_STRV_MAX_ARG + 2);
	memset(st.kernel, 'k', VM_STRV_MAX_ARG + 1);
	tap_ok(vm_argv_build(&st, "/run/vm/t", VM_ARGV_BOOT, &sv) == -ENAMETOOLONG &&
	       strstr(mortar_errmsg(), "longer than"), "a kernel path too long: %s",
	       mortar_errmsg());
	vm_strv_free(&sv);
	vm_state_free(&st);
}

static void test_strv(void)
{
	struct vm_strv sv = VM_STRV_INIT;
	char *e;
	size_t i;

	for (i = 0; i < VM_STRV_MAX_ARGS + 10; i++)
		vm_strv_addf(&sv, "a%zu", i);
	tap_ok(sv.n == VM_STRV_MAX_ARGS - 1 && sv.v[sv.n] == NULL && vm_strv_error(&sv) == -E2BIG &&
	       strstr(mortar_errmsg(), "more than"), "bounded at %zu arguments: %s", sv.n,
	       mortar_errmsg());
	vm_strv_free(&sv);
	vm_strv_add(&sv, "x");
	e = calloc(1, VM_STRV_MAX_ARG + 2);
	memset(e, 'x', VM_STRV_MAX_ARG + 1);
	vm_strv_add(&sv, e);
	vm_strv_add(&sv, "after");
	tap_ok(sv.n == 1 && vm_strv_error(&sv) == -ENAMETOOLONG, "an argument too long stops "
	       "the vector (%zu kept)", sv.n);
	free(e);
	vm_strv_free(&sv);
	vm_strv_add(&sv, "a");
	vm_strv_set(&sv, 0, "b");
	vm_strv_set(&sv, 5, "c");
	tap_ok(sv.n == 1 && !strcmp(sv.v[0], "b") && vm_strv_error(&sv) == 0,
	       "set replaces in range, ignores out of range");
	vm_strv_free(&sv);
	e = vm_qemu_escape(",,a,b");
	tap_ok(!strcmp(e, ",,,,a,,b"), "escape doubles every comma: %s", e);
	free(e);
	e = vm_qemu_escape("");
	tap_ok(e && !e[0], "escape of nothing");
	free(e);
}

int main(void)
{
	test_boot();
	test_target();
	test_strv();
	return tap_done();
}
