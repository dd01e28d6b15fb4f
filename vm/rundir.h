/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A VM's runtime directory (rundir.c): $MORTAR_VM_DIR/NAME, else vm/NAME
 * in the per-user runtime directory.  It holds state.json, QEMU's
 * sockets, pid file and logs, the guest's console and the disks' NBD
 * sockets, so its path must leave room in a unix socket address. */
#ifndef MORTAR_VM_RUNDIR_H
#define MORTAR_VM_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A directory path's most characters + 1: the longest socket name in it
 * ("/qmp-target.sock") must still fit in sun_path (108 bytes). */
#define VM_DIR_MAX 80

/* The directory of VM NAME into BUF (at least VM_DIR_MAX bytes); the
 * parent is created, the VM's own directory is not.  -EINVAL for a bad
 * name, -ENAMETOOLONG for a path too long, with a message. */
int vm_rundir(const char *name, char *buf, size_t len);
/* The directory that holds every VM's directory. */
int vm_rundir_base(char *buf, size_t len);
/* DIR/FILE into BUF (DIR is at most VM_DIR_MAX: never truncated at
 * PATH_MAX). */
void vm_path(char *buf, size_t len, const char *dir, const char *file);
/* Remove every file of DIR, then DIR. */
void vm_rundir_remove(const char *dir);

/* The pid in the pid file PATH, 0 when there is none. */
pid_t vm_read_pid(const char *path);
/* Whether PID is a live QEMU: not gone, not a zombie, and named qemu*
 * (a pid from an old pid file may belong to something else now). */
bool vm_qemu_alive(pid_t pid);
/* Wait up to TIMEOUT_MS for PID, a child of this process, to exit, then
 * kill it; either way it is reaped (a zombie child still answers
 * kill(pid, 0): only waitpid() says it is gone). */
void vm_child_reap(pid_t pid, int timeout_ms);

#endif
