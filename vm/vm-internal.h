/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the files of the VM library, not by its users. */
#ifndef MORTAR_VM_INTERNAL_H
#define MORTAR_VM_INTERNAL_H

#include "qmp.h"
#include "rundir.h"
#include "state.h"
#include "view.h"
#include "vm.h"

/* How long QEMU may take to answer one QMP command. */
#define VM_QMP_TIMEOUT_MS 10000

struct mortar_vm {
	char dir[VM_DIR_MAX];
	struct vm_state st;
	struct qmp *qmp;		/* NULL until connected */
	struct vm_view view;
};

/* A handle for the VM in DIR with state ST (taken over), not connected. */
int vm_handle_new(const char *dir, struct vm_state *st, struct mortar_vm **out);
/* Connect VM to its QEMU's QMP (and the view to it). */
int vm_connect(struct mortar_vm *vm);

/* Run QEMU with ARGV (it daemonises) and its output in LOG.  0, or -EIO
 * with the first line QEMU printed as the message. */
int vm_qemu_launch(char *const *argv, const char *log);

/* Make DIR ready for a new VM NAME: refuse while one runs there, clean
 * up what a dead one left (never blocks a restart). */
int vm_claim_dir(const char *name, const char *dir);

/* Stop the disk servers of ST and remove the runtime directory DIR. */
void vm_cleanup(const char *dir, const struct vm_state *st);

/* Record the VM's state, then, with WAIT_S > 0, wait that long for the
 * guest to show E. */
int vm_save_and_wait(struct mortar_vm *vm, const struct vm_expect *e, int wait_s);

#endif
