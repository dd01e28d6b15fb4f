/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disks of a VM (disk.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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

/* How long a disk's server may take to open its image and listen (a
 * GlusterFS volume is reached first: seconds when a node is slow). */
#define VM_DISK_LISTEN_MS 60000

/* `mortar serve -f ARGS -P PIDFILE` in a session of its own, its messages
 * in LOG.  Not serve's own daemon mode: that forks once the image is
 * open, and a GlusterFS connection does not survive a fork. */
static pid_t disk_spawn(char *exe, char *const *args, const char *pidfile, const char *log)
{
	char *argv[16] = { exe, "serve", "-f" };
	size_t k = 3;
	pid_t pid;
	int fd, null;

	for (size_t i = 0; args[i] && k + 3 < sizeof argv / sizeof argv[0]; i++)
		argv[k++] = args[i];
	argv[k++] = "-P";
	argv[k++] = (char *)pidfile;
	argv[k] = NULL;
	pid = fork();
	if (pid != 0)
		return pid;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (null < 0 || setsid() < 0 || dup2(null, 0) < 0 || dup2(fd >= 0 ? fd : null, 1) < 0 ||
	    dup2(fd >= 0 ? fd : null, 2) < 0)
		_exit(127);
	execv(exe, argv);
	_exit(127);
}

/* The last line of LOG into BUF ("" when there is none). */
static void last_line(const char *log, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen(log, "re");

	buf[0] = '\0';
	while (f && fgets(line, sizeof line, f))
		if (line[0] != '\n')
			snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
	if (f)
		fclose(f);
}

/* Until PID has written its pid to PIDFILE (0), exited or run out of time
 * (-errno with the server's own last words: a failed start removes the
 * VM's directory, the log with it). */
static int disk_wait(pid_t pid, const char *pidfile, const char *log, const char *location)
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };
	char why[512];
	int status, ms;

	for (ms = 0; ms < VM_DISK_LISTEN_MS; ms += 50) {
		if (vm_read_pid(pidfile) == pid)
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		nanosleep(&tick, NULL);
	}
	if (ms >= VM_DISK_LISTEN_MS) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	last_line(log, why, sizeof why);
	if (ms >= VM_DISK_LISTEN_MS)
		return mortar_set_error(ETIMEDOUT, "the server of disk %s did not listen within "
					"%d s%s%s", location, VM_DISK_LISTEN_MS / 1000,
					why[0] ? "; it said: " : "", why);
	return mortar_set_error(EIO, "cannot serve disk %s: %s", location,
				why[0] ? why : "mortar serve exited");
}

int vm_serve_spawn(char *const *args, const char *pidfile, const char *log,
		   const char *location, pid_t *pid)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n <= 0)
		return mortar_set_error(errno ? errno : EIO, "cannot find the mortar binary "
					"(/proc/self/exe): %m");
	exe[n] = '\0';
	*pid = disk_spawn(exe, args, pidfile, log);
	if (*pid < 0)
		return mortar_set_error(errno, "cannot start a server for disk %s: %m", location);
	return disk_wait(*pid, pidfile, log, location);
}

int vm_disk_serve(struct vm_state *st, const char *dir, unsigned i, const char *location,
		  enum vm_disk_protocol protocol)
{
	char pidfile[PATH_MAX], sock[VM_SOCKET_MAX], log[PATH_MAX];
	char *args[] = { protocol == VM_DISK_VHOST_USER ? "--vhost-user-blk" : "-s", sock,
			 (char *)location, NULL };
	pid_t pid;
	int r;

	snprintf(sock, sizeof sock, "%s/disk%u.sock", dir, i);
	snprintf(pidfile, sizeof pidfile, "%s/disk%u.pid", dir, i);
	snprintf(log, sizeof log, "%s/disk%u.log", dir, i);
	r = vm_serve_spawn(args, pidfile, log, location, &pid);
	return r < 0 ? r : vm_state_add_disk(st, location, sock, pid, protocol);
}

/* NBD: discard=unmap, so that the guest's trims reach the image as
 * NBD_CMD_TRIM and punch holes there (QEMU drops them otherwise), and
 * reconnect-delay: when the VM's server goes away (a crash, a restart
 * that could not keep the connection), QEMU reconnects by itself and
 * holds the guest's requests that long instead of failing them at once. */
#define VM_DISK_RECONNECT_DELAY_S 10

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
			     "cache.direct=on,discard=unmap,reconnect-delay=%u", i,
			     sock ? sock : "", VM_DISK_RECONNECT_DELAY_S);
		vm_strv_add(sv, "-device");
		vm_strv_addf(sv, "virtio-blk-pci,drive=disk%u,id=vd%u", i, i);
	}
	free(sock);
}
