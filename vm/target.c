/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The receiving QEMU (target.h). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "migstat.h"
#include "target.h"
#include "vm-internal.h"
#include "vm-json.h"

static const struct vm_files *files(enum vm_argv_role role)
{
	return role == VM_ARGV_TARGET ? &vm_target_files : &vm_boot_files;
}

int vm_target_start(const struct vm_state *st, const char *dir, enum vm_argv_role role,
		    const char *uri, struct qmp **out)
{
	struct vm_strv sv = VM_STRV_INIT;
	char p[PATH_MAX];
	json_object *args;
	int r = vm_argv_build(st, dir, role, &sv);

	*out = NULL;
	vm_path(p, sizeof p, dir, files(role)->log);
	if (r == 0 && (r = vm_qemu_launch(sv.v, p)) < 0)
		mortar_error_prefix("the target QEMU did not start");
	vm_strv_free(&sv);
	vm_path(p, sizeof p, dir, files(role)->qmp);
	if (r == 0)
		r = qmp_connect(p, VM_QMP_TIMEOUT_MS, out);
	/* Its disks stay inactive past the migration's end, until cont:
	 * nothing of the target touches them while the source may. */
	if (r == 0)
		r = vm_migrate_capability(*out, "late-block-activate", true);
	if (r == 0) {
		args = json_object_new_object();
		vm_json_put_str(args, "uri", uri);
		r = qmp_execute(*out, "migrate-incoming", args, NULL);
	}
	return r;
}

int vm_target_resume(struct qmp *q, int timeout_s)
{
	for (long end = vm_now_ms() + timeout_s * 1000L;; usleep(20000)) {
		json_object *ret;
		int r = qmp_execute(q, "query-migrate", NULL, &ret);
		const char *s = r == 0 ? vm_json_str(ret, "status") : "";
		bool done = !strcmp(s, "completed"), failed = !strcmp(s, "failed");

		json_object_put(ret);
		if (r < 0)
			return r;
		if (done)
			break;
		if (failed)
			return mortar_set_error(EIO, "the target QEMU failed to load the migrated "
						"VM (its qemu.log may say why)");
		if (vm_now_ms() > end)
			return mortar_set_error(ETIMEDOUT, "the target QEMU had not finished "
						"loading the VM after %d s", timeout_s);
	}
	return qmp_execute(q, "cont", NULL, NULL);
}

void vm_target_kill(const char *dir, enum vm_argv_role role, struct qmp *q)
{
	const struct vm_files *f = files(role);
	char p[PATH_MAX];
	pid_t pid;

	if (q)
		qmp_execute(q, "quit", NULL, NULL);
	vm_path(p, sizeof p, dir, f->pid);
	pid = vm_read_pid(p);
	for (int i = 0; i < 30 && vm_qemu_alive(pid); i++)
		usleep(100000);
	if (vm_qemu_alive(pid))
		kill(pid, SIGKILL);
	unlink(p);
	vm_path(p, sizeof p, dir, f->qmp);
	unlink(p);
	vm_path(p, sizeof p, dir, f->qga);
	unlink(p);
}
