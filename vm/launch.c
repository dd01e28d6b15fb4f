/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Starting a VM (vm.h): settings checked against the rules, disks
 * served, QEMU launched from a command line built from the state, with
 * the fallbacks KVM on this kind of host needs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "argv.h"
#include "disk.h"
#include "error.h"
#include "qemu.h"
#include "vm-internal.h"

__attribute__((format(printf, 2, 3)))
static void note(const struct mortar_vm_config *c, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (!c->note)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	c->note(c->opaque, text);
}

int vm_qemu_launch(char *const *argv, const char *log)
{
	char msg[300] = "";
	pid_t pid = fork();
	int status;
	FILE *f;

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %m\n", argv[0]);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		return 0;
	f = fopen(log, "re");
	if (f) {
		if (!fgets(msg, sizeof msg, f))
			msg[0] = '\0';
		fclose(f);
	}
	msg[strcspn(msg, "\n")] = '\0';
	if (!msg[0])
		return mortar_set_error(EIO, "(no message; see %s)", log);
	return mortar_set_error(EIO, "%s", msg);
}

/* Whether KVM can run an ordinary guest kernel here: /dev/kvm usable and
 * backed by hardware virtualization (kvm_intel or kvm_amd).  KVM on PVM
 * (kvm_pvm, nested KVM without hardware support) runs only kernels built
 * as PVM guests: a stock kernel hangs there without a word, so the
 * automatic choice takes TCG.  With SAY, tell why KVM is likely to fail. */
static bool kvm_usable(const struct mortar_vm_config *c, bool say)
{
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		if (say)
			note(c, "/dev/kvm: %m; QEMU will fail to start under KVM (--accel "
			     "tcg emulates)");
		return false;
	}
	if (access("/sys/module/kvm_intel", F_OK) == 0 ||
	    access("/sys/module/kvm_amd", F_OK) == 0)
		return true;
	if (say)
		note(c, "this KVM has no hardware virtualization behind it (%s); stock guest "
		     "kernels may hang under it (--accel tcg emulates)",
		     access("/sys/module/kvm_pvm", F_OK) == 0 ? "kvm_pvm: only PVM guest "
		     "kernels run" : "neither kvm_intel nor kvm_amd is loaded");
	return false;
}

/* The settings of C that are not the rules' business. */
static int check_config(const struct mortar_vm_config *c, const struct vm_state *st)
{
	char why[PATH_MAX + 512];

	if (st->virtio_mem && st->arch == VM_ARCH_PPC64)
		return mortar_set_error(EINVAL, "--virtio-mem: pseries has no virtio-mem in "
					"QEMU; give it DIMM slots (--slots) and use 'mortar vm "
					"mem add'");
	if (st->virtio_mem && (st->virtio_mem % VM_X86_BLOCK ||
			       st->memory + st->virtio_mem > st->max_memory))
		return mortar_set_error(EINVAL, "--virtio-mem %" PRIu64 " MiB must be a "
					"multiple of 128 MiB and fit between --memory and "
					"--max-memory (%" PRIu64 " MiB free)",
					st->virtio_mem >> 20,
					(st->max_memory - st->memory) >> 20);
	if (vm_rule_start(st->arch, st->boot_cpus, st->max_cpus, st->memory, st->max_memory,
			  st->slots, st->numa, why, sizeof why) < 0 ||
	    vm_membk_check(&st->membk, st->memory, why, sizeof why) < 0)
		return mortar_set_error(EINVAL, "%s", why);
	if (!c->kernel || !c->initrd)
		return mortar_set_error(EINVAL, "give --kernel and --initrd");
	return 0;
}

/* The state a VM NAME started as C begins with, the defaults filled in. */
static int state_from_config(const char *name, const struct mortar_vm_config *c,
			     struct vm_state *st)
{
	bool ppc = c->arch == VM_ARCH_PPC64;
	int r;

	memset(st, 0, sizeof *st);
	snprintf(st->name, sizeof st->name, "%s", name);
	st->arch = c->arch;
	st->membk = c->membk;
	if (c->ndisks && c->disk_protocol == VM_DISK_VHOST_USER && st->membk.type == VM_MEMBK_RAM) {
		/* The disk servers read and write guest memory themselves:
		 * it must be a file they can map, shared. */
		st->membk.type = VM_MEMBK_MEMFD;
		note(c, "guest memory comes from memfd, shared with the vhost-user disk "
		     "servers (--disk-protocol nbd keeps anonymous memory)");
	}
	st->boot_cpus = c->cpus;
	st->max_cpus = c->max_cpus ? c->max_cpus : c->cpus;
	st->memory = c->mem;
	st->max_memory = c->max_mem ? c->max_mem : c->mem;
	st->slots = c->slots ? c->slots : st->max_memory > st->memory ? 8 : 0;
	st->numa = c->numa ? c->numa : 1;
	st->virtio_mem = c->vmem;
	/* (KVM runs guests of the host's own architecture only) */
	snprintf(st->accel, sizeof st->accel, "%s", c->accel ? c->accel :
		 !ppc && kvm_usable(c, false) ? "kvm" : "tcg");
	if (!ppc)		/* pseries: the machine's default CPU */
		strcpy(st->cpu_model, !strcmp(st->accel, "kvm") ? "host" : "qemu64");
	st->kernel = c->kernel ? strdup(c->kernel) : NULL;
	st->initrd = c->initrd ? strdup(c->initrd) : NULL;
	st->append = c->append ? strdup(c->append) : NULL;
	st->qemu = c->qemu ? strdup(c->qemu) : NULL;
	if ((c->kernel && !st->kernel) || (c->initrd && !st->initrd) ||
	    (c->append && !st->append) || (c->qemu && !st->qemu))
		return mortar_set_error(ENOMEM, "out of memory");
	if ((r = check_config(c, st)) < 0)
		return r;
	/* (a QEMU that does not run is named now, not by a failed launch) */
	return vm_qemu_probe(vm_qemu_binary(st->qemu, st->arch), &st->qemu_version);
}

/* Launch QEMU for ST in DIR; its command line goes to st->qemu_argv. */
static int launch_once(struct vm_state *st, const char *dir)
{
	struct vm_strv sv = VM_STRV_INIT;
	char log[PATH_MAX];
	int r = vm_argv_build(st, dir, VM_ARGV_BOOT, &sv);

	vm_path(log, sizeof log, dir, vm_boot_files.log);
	if (r == 0)
		r = vm_qemu_launch(sv.v, log);
	for (size_t i = 0; st->qemu_argv && st->qemu_argv[i]; i++)
		free(st->qemu_argv[i]);
	free(st->qemu_argv);
	st->qemu_argv = sv.v;		/* taken over */
	return r;
}

/* Launch, and when KVM fails the way it does on some hosts, again. */
static int launch(const struct mortar_vm_config *c, struct vm_state *st, const char *dir)
{
	bool kvm = !strcmp(st->accel, "kvm"), x86 = st->arch == VM_ARCH_X86_64;
	int r;

	if (kvm && c->accel)
		kvm_usable(c, true);
	r = launch_once(st, dir);
	if (r < 0 && kvm && x86 && strstr(mortar_errmsg(), "MSR 0x10a")) {
		/* Nested KVM may advertise IA32_ARCH_CAPABILITIES and then
		 * refuse QEMU's write of it (QEMU 7.2 aborts): the host
		 * model without that MSR starts, and the guest only loses
		 * the hint that it need not mitigate some CPU bugs. */
		note(c, "KVM refused the host CPU's IA32_ARCH_CAPABILITIES MSR (nested "
		     "virtualization?); using -cpu host,-arch-capabilities");
		strcpy(st->cpu_model, "host,-arch-capabilities");
		r = launch_once(st, dir);
	}
	if (r < 0 && kvm && x86 && !c->accel) {
		note(c, "QEMU failed under KVM (%s); using TCG instead (--accel kvm insists "
		     "on KVM)", mortar_errmsg());
		strcpy(st->accel, "tcg");
		strcpy(st->cpu_model, "qemu64");
		r = launch_once(st, dir);
	}
	if (r < 0)
		mortar_error_prefix("QEMU did not start");
	return r;
}

int vm_claim_dir(const char *name, const char *dir)
{
	char p[PATH_MAX];
	struct vm_state old;
	pid_t pid;

	vm_path(p, sizeof p, dir, vm_boot_files.pid);
	pid = vm_read_pid(p);
	if (vm_qemu_alive(pid))
		return mortar_set_error(EBUSY, "VM '%s' is already running (pid %d)", name,
					(int)pid);
	if (vm_state_load(dir, &old) != -ENOENT || access(dir, F_OK) == 0)
		vm_cleanup(dir, &old);
	vm_state_free(&old);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return mortar_set_error(errno, "%s: %m", dir);
	return 0;
}

/* Kill what was launched in DIR and remove what was made there. */
static void start_undo(const char *dir, const struct vm_state *st)
{
	char p[PATH_MAX];
	pid_t pid;

	vm_path(p, sizeof p, dir, vm_boot_files.pid);
	pid = vm_read_pid(p);
	if (vm_qemu_alive(pid))
		kill(pid, SIGKILL);
	vm_cleanup(dir, st);
}

/* Serve the disks, launch QEMU, connect to it and record what it is. */
static int start_in(const char *dir, const struct mortar_vm_config *c, struct mortar_vm *vm)
{
	int r = 0;

	for (unsigned i = 0; i < c->ndisks && r == 0; i++)
		r = vm_disk_serve(&vm->st, dir, i, c->disks[i], c->disk_protocol);
	if (r == 0)
		r = vm_state_save(dir, &vm->st);
	if (r == 0)
		r = launch(c, &vm->st, dir);
	if (r == 0)
		r = vm_connect(vm);
	if (r == 0 && (r = qmp_version(vm->qmp)) >= 0) {
		vm->st.qemu_version = r;
		r = qmp_machine_type(vm->qmp, vm->st.machine, sizeof vm->st.machine);
	}
	if (r == 0)
		r = vm_state_save(dir, &vm->st);
	if (r < 0)
		start_undo(dir, &vm->st);
	return r;
}

/* Append to the message: the VM keeps running, where to look. */
static int keeps_running(int r, const char *dir, const char *name)
{
	char msg[1024];

	snprintf(msg, sizeof msg, "%s", mortar_errmsg());
	return mortar_set_error(r, "%s; the VM keeps running (see %s/%s, 'mortar vm stop %s')",
				msg, dir, vm_boot_files.console, name);
}

int mortar_vm_start(const char *name, const struct mortar_vm_config *c, int wait_s,
		    struct mortar_vm **out)
{
	char dir[VM_DIR_MAX];
	struct vm_state st;
	struct mortar_vm *vm = NULL;
	struct vm_guest g;
	int r;

	if (out)
		*out = NULL;
	r = state_from_config(name, c, &st);
	if (r == 0)
		r = vm_rundir(name, dir, sizeof dir);
	if (r == 0)
		r = vm_claim_dir(name, dir);
	if (r == 0)
		r = vm_handle_new(dir, &st, &vm);
	vm_state_free(&st);
	if (r == 0)
		r = start_in(dir, c, vm);
	/* (QEMU stays up when the guest does not report, as with virsh:
	 * the console log may tell why) */
	if (r == 0 && wait_s > 0 && vm_view_wait(&vm->view, &VM_EXPECT_ANY, wait_s, &g) < 0)
		r = keeps_running(-ETIMEDOUT, dir, name);
	if (out && r == 0)
		*out = vm;
	else
		mortar_vm_close(vm);
	return r;
}
