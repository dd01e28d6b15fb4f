/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A mortar on another host (remote.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "remote.h"
#include "rundir.h"
#include "strv.h"
#include "view.h"

int vm_lines_read(struct vm_lines *l, char **line, int timeout_ms)
{
	long deadline = vm_now_ms() + timeout_ms;

	if (l->skip) {
		memmove(l->buf, l->buf + l->skip, l->len - l->skip);
		l->len -= l->skip;
		l->skip = 0;
	}
	for (;;) {
		char *nl = l->buf ? memchr(l->buf, '\n', l->len) : NULL;
		struct pollfd p = { .fd = l->fd, .events = POLLIN };
		long left = deadline - vm_now_ms();
		ssize_t n;

		if (nl) {
			*nl = '\0';
			l->skip = (size_t)(nl - l->buf) + 1;
			*line = l->buf;
			return 0;
		}
		if (l->len + 4096 > l->cap) {
			char *b = l->cap + 65536 <= VM_LINE_MAX ? realloc(l->buf, l->cap + 65536) : NULL;

			if (!b)
				return mortar_set_error(E2BIG, "a line of more than %d bytes from "
							"the other host", VM_LINE_MAX);
			l->buf = b;
			l->cap += 65536;
		}
		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return mortar_set_error(ETIMEDOUT, "the other host said nothing for %d s",
						timeout_ms / 1000);
		n = read(l->fd, l->buf + l->len, l->cap - l->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mortar_set_error(errno, "reading from the other host: %m");
		if (n == 0)
			return mortar_set_error(EPIPE, "the other host's mortar ended without a word");
		l->len += (size_t)n;
	}
}

void vm_lines_free(struct vm_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = l->skip = 0;
}

/* S in single quotes for the shell ('\'' for each quote) onto F. */
static void shell_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		fputs(*s == '\'' ? "'\\''" : (char[]){ *s, 0 }, f);
	fputc('\'', f);
}

int vm_remote_start(struct vm_remote *rm, const char *via, char *const *args)
{
	char *cmd = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&cmd, &len);
	int in[2], out[2];

	memset(rm, 0, sizeof *rm);
	rm->in = rm->out.fd = -1;
	if (!f)
		return mortar_set_error(ENOMEM, "out of memory");
	fputs(via, f);
	for (size_t i = 0; args[i]; i++) {
		fputc(' ', f);
		shell_quote(f, args[i]);
	}
	if (fclose(f) != 0 || !cmd)
		return free(cmd), mortar_set_error(ENOMEM, "out of memory");
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		free(cmd);
		return mortar_set_error(errno, "pipe: %m");
	}
	rm->pid = fork();
	if (rm->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	close(in[0]);
	close(out[1]);
	rm->in = in[1];
	rm->out.fd = out[0];
	if (rm->pid < 0) {
		vm_remote_end(rm, 0);
		return mortar_set_error(errno, "fork: %m");
	}
	return 0;
}

/* LINE and a newline to its input; 0 or -errno (no message). */
static int send_line(struct vm_remote *rm, const char *line)
{
	size_t len = strlen(line);
	/* (a target that died must not kill us with SIGPIPE) */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	int r = 0;

	sigaction(SIGPIPE, &ign, &old);
	for (size_t done = 0; done <= len && r == 0;) {
		ssize_t n = done < len ? write(rm->in, line + done, len - done) : write(rm->in, "\n", 1);

		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	sigaction(SIGPIPE, &old, NULL);
	return r;
}

int vm_remote_send(struct vm_remote *rm, const char *line)
{
	int r = send_line(rm, line);

	return r < 0 ? mortar_set_error(-r, "the target host's mortar is gone: %s", strerror(-r))
		     : 0;
}

void vm_remote_abort(struct vm_remote *rm, int timeout_ms)
{
	/* (it may have given up already, having said why: that stays the
	 * message) */
	if (rm->in >= 0)
		send_line(rm, "abort");
	vm_remote_end(rm, timeout_ms);
}

int vm_remote_recv(struct vm_remote *rm, char **line, int timeout_ms)
{
	int r = vm_lines_read(&rm->out, line, timeout_ms);

	if (r == 0 && !strncmp(*line, "error ", 6))
		return mortar_set_error(EIO, "%s", *line + 6);
	return r;
}

void vm_remote_end(struct vm_remote *rm, int timeout_ms)
{
	if (rm->in >= 0)
		close(rm->in);
	rm->in = -1;
	vm_child_reap(rm->pid, timeout_ms);
	rm->pid = 0;
	if (rm->out.fd >= 0)
		close(rm->out.fd);
	rm->out.fd = -1;
	vm_lines_free(&rm->out);
}

void vm_remote_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}
