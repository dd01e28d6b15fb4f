/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration after hotplug (vm.h).  The target QEMU must be started with
 * the source's topology as it is now, or it refuses the incoming state:
 * its command line is built from the state like the boot one, with
 * every plugged device cold-plugged and its own pid file, QMP socket and
 * console beside the source's, which it takes over once the source has
 * quit. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "argv.h"
#include "error.h"
#include "vm-json.h"
#include "vm-internal.h"

/* Measured on QEMU 7.2 under TCG (tests/vm/manual/): migrated guests
 * broke on the target in about a third of the trials (page faults, RCU
 * stalls, "stack is corrupted" panics), more often after a hotplug, also
 * without one when the guest had NUMA nodes and an NBD disk.  Possible,
 * but only knowingly. */
static int refuse_unreliable(const struct vm_state *st)
{
	if (strcmp(st->accel, "tcg") || st->qemu_version >= 100000)
		return 0;
	return mortar_set_error(ENOTSUP, "refused: on QEMU %d.%d under TCG, guests migrated "
				"here broke on the target in about 1 of 3 trials (memory "
				"corruption, RCU stalls; more often after a hotplug); use KVM "
				"or QEMU 10, or pass --force to migrate anyway",
				st->qemu_version / 10000, st->qemu_version / 100 % 100);
}

static int migration_uri(const struct mortar_vm *vm, struct mortar_vm_migration *m)
{
	if (!m->to)
		snprintf(m->uri, sizeof m->uri, "unix:%s/migrate.sock", vm->dir);
	else if (!strncmp(m->to, "unix:", 5) || !strncmp(m->to, "tcp:", 4))
		snprintf(m->uri, sizeof m->uri, "%s", m->to);
	else
		return mortar_set_error(EINVAL, "--to wants unix:PATH or tcp:HOST:PORT");
	return 0;
}

/* Run QMP command CMD with the one argument "uri": URI. */
static int execute_uri(struct qmp *q, const char *cmd, const char *uri)
{
	json_object *args = json_object_new_object();

	vm_json_put_str(args, "uri", uri);
	return qmp_execute(q, cmd, args, NULL);
}

/* Start the target QEMU, waiting for the migration on URI; its QMP in
 * *TQ (set as soon as connected, for the cleanup). */
static int target_start(struct mortar_vm *vm, const char *uri, struct qmp **tq)
{
	struct vm_strv sv = VM_STRV_INIT;
	char p[PATH_MAX];
	int r = vm_argv_build(&vm->st, vm->dir, VM_ARGV_TARGET, &sv);

	vm_path(p, sizeof p, vm->dir, vm_target_files.log);
	if (r == 0 && (r = vm_qemu_launch(sv.v, p)) < 0)
		mortar_error_prefix("the target QEMU did not start");
	vm_strv_free(&sv);
	vm_path(p, sizeof p, vm->dir, vm_target_files.qmp);
	if (r == 0)
		r = qmp_connect(p, VM_QMP_TIMEOUT_MS, tq);
	if (r == 0)
		r = execute_uri(*tq, "migrate-incoming", uri);
	return r;
}

/* Quit and remove a target that did not become the VM. */
static void target_kill(const char *dir, struct qmp *tq)
{
	char p[PATH_MAX];
	pid_t pid;

	if (tq)
		qmp_execute(tq, "quit", NULL, NULL);
	vm_path(p, sizeof p, dir, vm_target_files.pid);
	pid = vm_read_pid(p);
	if (vm_qemu_alive(pid))
		kill(pid, SIGKILL);
	unlink(p);
	vm_path(p, sizeof p, dir, vm_target_files.qmp);
	unlink(p);
	vm_path(p, sizeof p, dir, vm_target_files.qga);
	unlink(p);
}

/* Poll the source until the migration is over: 0 when completed. */
static int migrate_wait(struct qmp *q, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10; i++) {
		json_object *ret;
		const char *s;
		int r = qmp_execute(q, "query-migrate", NULL, &ret);

		if (r < 0)
			return r;
		s = vm_json_str(ret, "status");
		if (!strcmp(s, "completed")) {
			json_object_put(ret);
			return 0;
		}
		if (!strcmp(s, "failed") || !strcmp(s, "cancelled")) {
			r = mortar_set_error(EIO, "migration %s: %s", s,
					     vm_json_str(ret, "error-desc")[0] ?
					     vm_json_str(ret, "error-desc") : "(no reason given)");
			json_object_put(ret);
			return r;
		}
		json_object_put(ret);
		usleep(100000);
	}
	qmp_execute(q, "migrate_cancel", NULL, NULL);
	return mortar_set_error(ETIMEDOUT, "migration did not complete within %d s; cancelled",
				timeout_s);
}

/* The target runs the guest now: the source goes, the target's files
 * take the VM's names (once the source is gone: it unlinks its sockets'
 * paths as it quits), and QMP and the view are the target's. */
static int target_adopt(struct mortar_vm *vm)
{
	const char *from[] = { vm_target_files.pid, vm_target_files.qmp, vm_target_files.qga,
			       vm_target_files.console };
	const char *to[] = { vm_boot_files.pid, vm_boot_files.qmp, vm_boot_files.qga,
			     vm_boot_files.console };
	pid_t old = mortar_vm_pid(vm);
	char a[PATH_MAX], b[PATH_MAX];
	int r;

	qmp_execute(vm->qmp, "quit", NULL, NULL);
	qmp_close(vm->qmp);
	vm->qmp = NULL;
	for (int i = 0; i < 50 && vm_qemu_alive(old); i++)
		usleep(100000);
	for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
		vm_path(a, sizeof a, vm->dir, from[i]);
		vm_path(b, sizeof b, vm->dir, to[i]);
		rename(a, b);
	}
	/* qemu_argv stays the boot command line: a later migration
	 * replays the devices from the lists again. */
	vm->st.migrated++;
	if ((r = vm_state_save(vm->dir, &vm->st)) < 0)
		return r;
	vm_view_init(&vm->view, vm->dir, vm_boot_files.console, NULL);
	return vm_connect(vm);
}

int mortar_vm_migrate(struct mortar_vm *vm, struct mortar_vm_migration *m)
{
	struct qmp *tq = NULL;
	struct vm_guest g0, g;
	int r;

	if ((!m->force && (r = refuse_unreliable(&vm->st)) < 0) || (r = migration_uri(vm, m)) < 0)
		return r;
	/* What the guest shows now, from the source that the agent ends with
	 * (the target's agent is another port) */
	vm_view_read(&vm->view, false, &g0);
	vm_view_close(&vm->view);
	r = target_start(vm, m->uri, &tq);
	if (r == 0)
		r = execute_uri(vm->qmp, "migrate", m->uri);
	if (r == 0)
		r = migrate_wait(vm->qmp, m->timeout_s);
	if (r < 0) {
		target_kill(vm->dir, tq);
		qmp_close(tq);
		return r;
	}
	qmp_close(tq);
	if ((r = target_adopt(vm)) < 0 || !m->wait)
		return r;
	/* The guest's next status line lands in the target's console, and
	 * its agent answers on the target's port: it must show what it
	 * showed before, counted the same way. */
	vm->view.agent_first = g0.from_agent;
	return vm_view_wait(&vm->view, &(struct vm_expect){
		g0.valid ? (int)g0.cpus : -1, g0.valid ? (int64_t)g0.mem_kib : -1,
		g0.valid ? (int64_t)g0.mem_kib : -1 }, 30, &g);
}
