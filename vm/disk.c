/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disks of a VM (disk.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk.h"
#include "error.h"
#include "rundir.h"

int vm_disk_protocol_parse(const char *text, enum vm_disk_protocol *p)
{
	if (!strcmp(text, "vhost-user"))
		*p = VM_DISK_VHOST_USER;
	else if (!strcmp(text, "nbd"))
		*p = VM_DISK_NBD;
	else
		return mortar_set_error(EINVAL, "--disk-protocol %s: vhost-user (the default) "
					"or nbd", text);
	return 0;
}

int vm_disk_serve(struct vm_state *st, const char *dir, unsigned i, const char *location,
		  enum vm_disk_protocol protocol)
{
	char pidfile[PATH_MAX], sock[VM_SOCKET_MAX], exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	bool vhost = protocol == VM_DISK_VHOST_USER;
	int status;
	pid_t pid;

	if (n <= 0)
		return mortar_set_error(errno ? errno : EIO, "cannot find the mortar binary "
					"(/proc/self/exe): %m");
	exe[n] = '\0';
	snprintf(sock, sizeof sock, "%s/disk%u.sock", dir, i);
	snprintf(pidfile, sizeof pidfile, "%s/disk%u.pid", dir, i);
	pid = fork();
	if (pid == 0) {
		execl(exe, exe, "serve", vhost ? "--vhost-user-blk" : "-s", sock, "-P", pidfile,
		      location, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || (pid = vm_read_pid(pidfile)) <= 0)
		return mortar_set_error(EIO, "cannot serve disk %s (try 'mortar serve %s' to "
					"see why)", location, location);
	return vm_state_add_disk(st, location, sock, pid, protocol);
}

void vm_disk_argv(struct vm_strv *sv, unsigned i, const struct vm_disk *d)
{
	char *sock = vm_qemu_escape(d->socket);

	if (!sock)
		vm_strv_fail(sv, ENOMEM);
	if (d->protocol == VM_DISK_VHOST_USER) {
		/* QEMU comes back to the server if it restarts (an upgrade,
		 * a crash): the inflight region covers what was in flight. */
		vm_strv_add(sv, "-chardev");
		vm_strv_addf(sv, "socket,id=disk%u,path=%s,reconnect=1", i, sock ? sock : "");
		vm_strv_add(sv, "-device");
		vm_strv_addf(sv, "vhost-user-blk-pci,chardev=disk%u,id=vd%u", i, i);
	} else {
		vm_strv_add(sv, "-blockdev");
		vm_strv_addf(sv, "driver=nbd,node-name=disk%u,server.type=unix,server.path=%s,"
			     "cache.direct=on", i, sock ? sock : "");
		vm_strv_add(sv, "-device");
		vm_strv_addf(sv, "virtio-blk-pci,drive=disk%u,id=vd%u", i, i);
	}
	free(sock);
}
