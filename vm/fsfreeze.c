/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Freezing a guest's filesystems through its QEMU guest agent (vm.h), so
 * that a snapshot of its disks holds what they would hold after a clean
 * unmount: no journal to replay, no file half written by the guest.
 *
 * qemu-ga has no timeout of its own: a guest left frozen hangs every
 * write of its applications until someone thaws it.  So every wait here
 * is bounded, and a freeze whose answer did not come in time is thawed
 * through a new connection (the agent runs one command at a time: the
 * thaw waits behind the freeze, then undoes it). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "argv.h"
#include "error.h"
#include "vm-internal.h"
#include "vm-json.h"

/* The agent of VM, connected and in step, each wait bounded by
 * TIMEOUT_S.  -ENOTSUP when the guest runs none. */
static int agent_open(struct mortar_vm *vm, int timeout_s, struct qmp **out)
{
	char sock[PATH_MAX];
	int r = vm_connect(vm);

	if (r < 0)
		return r;
	vm_path(sock, sizeof sock, vm->dir, vm_boot_files.qga);
	if (access(sock, F_OK) < 0 || !vm_agent_port_open(vm->qmp))
		return mortar_set_error(ENOTSUP, "VM '%s' runs no guest agent (qemu-ga with "
					"the port org.qemu.guest_agent.0 open in the guest)",
					vm->st.name);
	return qmp_connect_agent(sock, timeout_s * 1000, out);
}

/* Run agent command CMD on A (then closed); its integer answer into
 * *COUNT. */
static int agent_count(struct qmp *a, const char *cmd, unsigned *count)
{
	json_object *ret = NULL;
	int r = qmp_execute(a, cmd, NULL, &ret);

	qmp_close(a);
	if (r == 0 && json_object_is_type(ret, json_type_int) && json_object_get_int64(ret) >= 0)
		*count = (unsigned)json_object_get_int64(ret);
	else if (r == 0)
		r = mortar_set_error(EPROTO, "the guest agent's answer to %s is not a count", cmd);
	json_object_put(ret);
	return r;
}

int mortar_vm_fsthaw(struct mortar_vm *vm, int timeout_s, unsigned *nfs)
{
	char why[512];
	unsigned n = 0;
	struct qmp *a;
	int r = agent_open(vm, timeout_s, &a);

	if (r == 0)
		r = agent_count(a, "guest-fsfreeze-thaw", &n);
	if (nfs)
		*nfs = n;
	if (r == 0)
		return 0;
	snprintf(why, sizeof why, "%s", mortar_errmsg());
	return mortar_set_error(-r, "could not thaw the filesystems of VM '%s' through its "
				"guest agent (%s): THEY MAY STILL BE FROZEN, and every write "
				"in the guest hangs until they are thawed; run 'mortar vm thaw "
				"%s' (or send {\"execute\":\"guest-fsfreeze-thaw\"} to %s/%s)",
				vm->st.name, why, vm->st.name, vm->dir, vm_boot_files.qga);
}

int mortar_vm_fsfreeze(struct mortar_vm *vm, int timeout_s, unsigned *nfs)
{
	char why[512];
	unsigned n = 0;
	struct qmp *a;
	int r = agent_open(vm, timeout_s, &a);

	if (nfs)
		*nfs = 0;
	/* Not in step with the agent: no freeze was sent. */
	if (r < 0 && r != -ENOTSUP) {
		snprintf(why, sizeof why, "%s", mortar_errmsg());
		return mortar_set_error(-r, "VM '%s': %s; nothing was frozen", vm->st.name,
					why);
	}
	if (r < 0)
		return r;
	r = agent_count(a, "guest-fsfreeze-freeze", &n);
	if (nfs)
		*nfs = n;
	if (r == 0)
		return 0;
	snprintf(why, sizeof why, "%s", mortar_errmsg());
	if (r == -EIO)		/* the agent refused, and undid what it had frozen */
		return mortar_set_error(EIO, "the guest agent of VM '%s' refused to freeze its "
					"filesystems: %s", vm->st.name, why);
	/* No answer in time, or the agent went away: it may be freezing. */
	if (mortar_vm_fsthaw(vm, timeout_s, NULL) < 0) {
		snprintf(why, sizeof why, "%s", mortar_errmsg());
		return mortar_set_error(EBUSY, "the guest agent of VM '%s' did not finish "
					"freezing its filesystems within %d s, and %s",
					vm->st.name, timeout_s, why);
	}
	return mortar_set_error(-r, "the guest agent of VM '%s' did not freeze its "
				"filesystems within %d s (%s); they were thawed again",
				vm->st.name, timeout_s, why);
}
