/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's side of `mortar img snapshot` (snapshot-freeze.c): when
 * the image is a disk of a running `mortar vm` whose guest runs the QEMU
 * guest agent, its filesystems are frozen around the snapshot, which is
 * then application-consistent; else the snapshot is crash-consistent (as
 * if the power had gone), and the reason is kept for the output. */
#ifndef MORTAR_CLI_SNAPSHOT_FREEZE_H
#define MORTAR_CLI_SNAPSHOT_FREEZE_H

#include <signal.h>
#include <stdbool.h>

#include <json-c/json.h>
#include <mortar/location.h>

enum snap_freeze_mode {
	SNAP_FREEZE_TRY,	/* the default: freeze if the guest can, report */
	SNAP_FREEZE_REQUIRE,	/* --quiesce: application-consistent or nothing */
	SNAP_FREEZE_NEVER,	/* --no-freeze */
};

struct snap_freeze {
	struct mortar_vm *vm;	/* while frozen */
	char vm_name[80];	/* the VM of the image, "" when none */
	unsigned nfs;		/* filesystems frozen */
	int timeout_s;
	char reason[600];	/* why crash-consistent ("" when not) */
	sigset_t saved;		/* the signal mask before the freeze */
};

/* Freeze the guest whose disk LOCATION is (VM_NAME: that VM's, NULL:
 * found by the location), as MODE says, waiting at most TIMEOUT_S.  0,
 * or -1 once a message is printed (the freeze was required, or VM_NAME
 * is no running VM, or the guest may be left frozen). */
int snap_freeze_begin(const char *cmd, const struct mortar_location *location,
		      const char *vm_name, enum snap_freeze_mode mode, int timeout_s,
		      struct snap_freeze *f);
/* Thaw what snap_freeze_begin froze (nothing when it froze nothing).
 * 0, or -1 once a loud message says the guest may still be frozen. */
int snap_freeze_end(const char *cmd, struct snap_freeze *f);

/* "application-consistent" or "crash-consistent" and why, into the
 * snapshot's JSON object J, or as one line on stdout. */
void snap_freeze_json(const struct snap_freeze *f, json_object *j);
void snap_freeze_print(const struct snap_freeze *f);

#endif
