/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening, closing and stopping VMs (vm.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argv.h"
#include "error.h"
#include "vm-internal.h"

int vm_handle_new(const char *dir, struct vm_state *st, struct mortar_vm **out)
{
	struct mortar_vm *vm = calloc(1, sizeof *vm);

	if (!vm) {
		vm_state_free(st);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	strcpy(vm->dir, dir);
	vm->st = *st;
	memset(st, 0, sizeof *st);
	vm_view_init(&vm->view, vm->dir, vm_boot_files.console, NULL);
	*out = vm;
	return 0;
}

int vm_connect(struct mortar_vm *vm)
{
	char sock[PATH_MAX];
	int r;

	if (vm->qmp)
		return 0;
	vm_path(sock, sizeof sock, vm->dir, "qmp.sock");
	r = qmp_connect(sock, VM_QMP_TIMEOUT_MS, &vm->qmp);
	if (r == 0)
		vm->view.qmp = vm->qmp;
	return r;
}

/* The runtime directory of VM NAME into DIR and its state into ST
 * (which the caller frees).  -ENOENT when there is no such VM. */
static int vm_find(const char *name, char *dir, struct vm_state *st)
{
	int r;

	memset(st, 0, sizeof *st);
	dir[0] = '\0';
	r = vm_rundir(name, dir, VM_DIR_MAX);
	if (r < 0)
		return r;
	r = vm_state_load(dir, st);
	if (r == -ENOENT)
		return mortar_set_error(ENOENT, "no VM named '%s' (see 'mortar vm list')", name);
	return r;
}

int mortar_vm_load(const char *name, struct mortar_vm **out)
{
	char dir[VM_DIR_MAX];
	struct vm_state st;
	int r = vm_find(name, dir, &st);

	*out = NULL;
	if (r < 0) {
		vm_state_free(&st);
		return r;
	}
	return vm_handle_new(dir, &st, out);
}

int mortar_vm_open(const char *name, struct mortar_vm **out)
{
	struct mortar_vm *vm;
	pid_t pid;
	int r = mortar_vm_load(name, &vm);

	*out = NULL;
	if (r < 0)
		return r;
	pid = mortar_vm_pid(vm);
	if (!vm_qemu_alive(pid))
		r = mortar_set_error(ESRCH, "VM '%s' is not running: its QEMU (pid %d) is "
				     "gone; 'mortar vm stop %s' cleans up", name, (int)pid, name);
	else
		r = vm_connect(vm);
	if (r < 0) {
		mortar_vm_close(vm);
		return r;
	}
	*out = vm;
	return 0;
}

void mortar_vm_close(struct mortar_vm *vm)
{
	if (!vm)
		return;
	vm_view_close(&vm->view);
	qmp_close(vm->qmp);
	vm_state_free(&vm->st);
	free(vm);
}

const struct vm_state *mortar_vm_state(const struct mortar_vm *vm)
{
	return &vm->st;
}

const char *mortar_vm_dir(const struct mortar_vm *vm)
{
	return vm->dir;
}

pid_t mortar_vm_pid(const struct mortar_vm *vm)
{
	char p[PATH_MAX];

	vm_path(p, sizeof p, vm->dir, "qemu.pid");
	return vm_read_pid(p);
}

/* Whether a disk of VM is the image LOC. */
static bool has_disk(const struct mortar_vm *vm, const struct mortar_location *loc)
{
	bool same = false;

	for (size_t i = 0; i < vm->st.ndisks && !same; i++) {
		struct mortar_location *d;

		if (mortar_location_parse(vm->st.disks[i].location, &d, NULL) < 0)
			continue;
		same = mortar_location_same_image(d, loc);
		mortar_location_free(d);
	}
	return same;
}

int mortar_vm_find_disk(const struct mortar_location *loc, char *name, size_t len)
{
	char base[PATH_MAX];
	struct dirent *de;
	DIR *dp = vm_rundir_base(base, sizeof base) == 0 ? opendir(base) : NULL;
	bool found = false;

	while (dp && !found && (de = readdir(dp))) {
		struct mortar_vm *vm;

		if (de->d_name[0] == '.' || mortar_vm_load(de->d_name, &vm) < 0)
			continue;
		found = vm_qemu_alive(mortar_vm_pid(vm)) && has_disk(vm, loc);
		if (found)
			snprintf(name, len, "%s", vm->st.name);
		mortar_vm_close(vm);
	}
	if (dp)
		closedir(dp);
	return found ? 0 : mortar_set_error(ENOENT, "no running 'mortar vm' of this user has "
					    "this image as a disk");
}

void vm_cleanup(const char *dir, const struct vm_state *st)
{
	for (size_t i = 0; st && i < st->ndisks; i++)
		if (st->disks[i].server_pid > 0)
			kill(st->disks[i].server_pid, SIGTERM);
	vm_rundir_remove(dir);
}

/* Wait up to TENTHS tenths of a second for PID to be gone. */
static bool gone_within(pid_t pid, int tenths)
{
	for (int i = 0; i < tenths && vm_qemu_alive(pid); i++)
		usleep(100000);
	return !vm_qemu_alive(pid);
}

int mortar_vm_stop(const char *name, bool force, int timeout_s)
{
	char dir[VM_DIR_MAX];
	struct vm_state st;
	struct mortar_vm *vm;
	pid_t pid;
	int r = vm_find(name, dir, &st);

	/* A damaged state names no disk servers, but QEMU's pid file and
	 * the directory are still there to clean up. */
	if (r < 0)
		vm_state_free(&st);
	if ((r < 0 && r != -EINVAL) || (r == -EINVAL && access(dir, F_OK) < 0) ||
	    vm_handle_new(dir, &st, &vm) < 0)
		return r < 0 ? r : -ENOMEM;
	pid = mortar_vm_pid(vm);
	if (vm_qemu_alive(pid) && vm_connect(vm) == 0) {
		/* Ask the guest first; QEMU quits if it does not power off. */
		if (!force) {
			qmp_execute(vm->qmp, "system_powerdown", NULL, NULL);
			gone_within(pid, timeout_s * 10);
		}
		if (vm_qemu_alive(pid))
			qmp_execute(vm->qmp, "quit", NULL, NULL);
	}
	if (!gone_within(pid, 50))
		kill(pid, SIGKILL);
	vm_cleanup(vm->dir, &vm->st);
	mortar_vm_close(vm);
	return 0;
}

int vm_save_and_wait(struct mortar_vm *vm, const struct vm_expect *e, int wait_s)
{
	struct vm_guest g;
	int r = vm_state_save(vm->dir, &vm->st);

	if (r < 0 || wait_s <= 0)
		return r;
	return vm_view_wait(&vm->view, e, wait_s, &g);
}
