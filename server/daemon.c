/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What makes `mortar serve` a daemon: signals on a signalfd, going into
 * the background with the verdict passed back to the waiting parent,
 * and a pidfile that cannot be turned against a privileged server. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "error.h"
#include "notify.h"

int srv_daemon_signals(struct srv_daemon *d)
{
	sigset_t mask;

	/* Every thread inherits the mask, so none of them is interrupted;
	 * the acceptor polls the signalfd. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &d->oldmask);
	d->sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (d->sfd < 0)
		return mortar_set_error(errno, "signalfd: %m");
	return 0;
}

int srv_daemon_detach(struct srv_daemon *d)
{
	int ready[2], null;
	char byte = 1;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return mortar_set_error(errno, "pipe: %m");
	pid = fork();
	if (pid < 0)
		return mortar_set_error(errno, "fork: %m");
	if (pid > 0) {
		/* The parent exits once the child is ready, with the child's
		 * verdict, so that scripts can rely on the exit code.  The
		 * child owns the sockets now: nothing here removes them. */
		close(ready[1]);
		_exit(read(ready[0], &byte, 1) == 1 && byte == 0 ? 0 : 1);
	}
	close(ready[0]);
	d->ready_fd = ready[1];
	setsid();
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
	return 0;
}

/* Write our pid to PATH without following a symlink planted by another
 * user (a root server would write through it to any file): the pid goes
 * into a new file with a random name, created exclusively, which then
 * replaces PATH (rename replaces a symlink, never its target).  A reader
 * never sees a half-written file. */
static int write_pidfile(const char *path)
{
	char tmp[4096], line[32];
	int fd, n;

	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		return mortar_set_error(ENAMETOOLONG, "pidfile name %s is too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return mortar_set_error(errno, "cannot write pidfile %s: %m", path);
	n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	if (fchmod(fd, 0644) < 0 || write(fd, line, (size_t)n) != n ||
	    close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return mortar_set_error(e, "cannot write pidfile %s: %s", path, strerror(e));
	}
	return 0;
}

/* Remove PATH if it still holds our pid (not someone else's file). */
static void remove_pidfile(const char *path)
{
	char buf[32] = "", want[32];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	snprintf(want, sizeof want, "%d\n", (int)getpid());
	if (n > 0 && !strcmp(buf, want))
		unlink(path);
}

int srv_daemon_ready(struct srv_daemon *d)
{
	char zero = 0;

	if (d->pidfile) {
		int r = write_pidfile(d->pidfile);
		if (r < 0)
			return r;
		d->wrote_pidfile = true;
	}
	srv_notify("READY=1\nMAINPID=%ld", (long)getpid());
	if (d->ready_fd >= 0) {
		if (write(d->ready_fd, &zero, 1) != 1) {
			/* The parent is gone: carry on. */
		}
		close(d->ready_fd);
		d->ready_fd = -1;
	}
	return 0;
}

void srv_daemon_fini(struct srv_daemon *d)
{
	char one = 1;

	if (d->wrote_pidfile)
		remove_pidfile(d->pidfile);
	d->wrote_pidfile = false;
	if (d->ready_fd >= 0) {
		/* Still waiting: the server could not start. */
		if (write(d->ready_fd, &one, 1) < 0) {
			/* nothing more to tell */
		}
		close(d->ready_fd);
		d->ready_fd = -1;
	}
	if (d->sfd >= 0)
		close(d->sfd);
	d->sfd = -1;
}
