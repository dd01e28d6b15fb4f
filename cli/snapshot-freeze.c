/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Freezing the guest around a snapshot (snapshot-freeze.h).
 *
 * The order is that of virsh snapshot-create --quiesce: the guest
 * freezes first (its freeze writes the journal and the superblock to the
 * disk, so the disk's writes must still flow), then mortar serve holds
 * the disk's writes for the clone, then the guest is thawed.  While the
 * guest is frozen, SIGINT, SIGTERM, SIGHUP and SIGQUIT wait: the thaw
 * comes first, then the signal does what it does. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mortar/error.h>
#include "cli.h"
#include "snapshot-freeze.h"
#include "vm.h"

static void block_signals(sigset_t *saved)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	sigaddset(&s, SIGQUIT);
	sigprocmask(SIG_BLOCK, &s, saved);
}

/* Why the snapshot is crash-consistent: WHY, and the VM closed. */
static void crash_consistent(struct snap_freeze *f, const char *why)
{
	snprintf(f->reason, sizeof f->reason, "%s", why);
	mortar_vm_close(f->vm);
	f->vm = NULL;
}

/* Open the VM of the image: VM_NAME, else the one that has LOCATION as
 * a disk.  0 (f->vm set, or a reason), or -1 after a message. */
static int find_vm(const char *cmd, const struct mortar_location *location,
		   const char *vm_name, struct snap_freeze *f)
{
	if (vm_name)
		snprintf(f->vm_name, sizeof f->vm_name, "%s", vm_name);
	else if (mortar_vm_find_disk(location, f->vm_name, sizeof f->vm_name) < 0) {
		crash_consistent(f, mortar_errmsg());
		return 0;
	}
	if (mortar_vm_open(f->vm_name, &f->vm) < 0)
		return cli_fail_lib(cmd), -1;
	return 0;
}

int snap_freeze_begin(const char *cmd, const struct mortar_location *location,
		      const char *vm_name, enum snap_freeze_mode mode, int timeout_s,
		      struct snap_freeze *f)
{
	int r;

	memset(f, 0, sizeof *f);
	f->timeout_s = timeout_s;
	if (mode == SNAP_FREEZE_NEVER) {
		crash_consistent(f, "--no-freeze: the guest was not asked to freeze");
		return 0;
	}
	if (find_vm(cmd, location, vm_name, f) < 0)
		return -1;
	if (f->vm) {
		block_signals(&f->saved);
		r = mortar_vm_fsfreeze(f->vm, timeout_s, &f->nfs);
		if (r == -EBUSY) {
			cli_error(cmd, "%s", mortar_errmsg());
			sigprocmask(SIG_SETMASK, &f->saved, NULL);
			mortar_vm_close(f->vm);
			return -1;
		}
		if (r < 0 || f->nfs == 0) {
			sigprocmask(SIG_SETMASK, &f->saved, NULL);
			crash_consistent(f, r < 0 ? mortar_errmsg() : "the guest agent froze no "
					 "filesystem (none mounted from a disk?)");
		}
	}
	if (mode == SNAP_FREEZE_REQUIRE && !f->vm) {
		cli_error(cmd, "--quiesce: the snapshot would be crash-consistent (%s); none "
			  "was taken", f->reason);
		return -1;
	}
	return 0;
}

int snap_freeze_end(const char *cmd, struct snap_freeze *f)
{
	int r;

	if (!f->vm)
		return 0;
	r = mortar_vm_fsthaw(f->vm, f->timeout_s, NULL);
	if (r < 0)
		cli_error(cmd, "%s", mortar_errmsg());
	sigprocmask(SIG_SETMASK, &f->saved, NULL);
	mortar_vm_close(f->vm);
	f->vm = NULL;
	return r < 0 ? -1 : 0;
}

void snap_freeze_json(const struct snap_freeze *f, json_object *j)
{
	bool app = !f->reason[0];

	json_object_object_add(j, "consistency", json_object_new_string(
		app ? "application-consistent" : "crash-consistent"));
	json_object_object_add(j, "vm", f->vm_name[0] ? json_object_new_string(f->vm_name) :
			       NULL);
	json_object_object_add(j, "frozen-filesystems", json_object_new_int((int)f->nfs));
	if (!app)
		json_object_object_add(j, "consistency-reason", json_object_new_string(f->reason));
}

void snap_freeze_print(const struct snap_freeze *f)
{
	if (!f->reason[0])
		printf("application-consistent: the guest of VM '%s' had its filesystems "
		       "frozen (%u)\n", f->vm_name, f->nfs);
	else
		printf("crash-consistent: %s\n", f->reason);
}
