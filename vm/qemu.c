/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU binaries (qemu.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "qemu.h"

/* How long `qemu-system-* --version` or `-M help` may take. */
#define PROBE_TIMEOUT_MS 20000

const char *vm_qemu_binary(const char *qemu, enum vm_arch arch)
{
	if (qemu && qemu[0])
		return qemu;
	return arch == VM_ARCH_PPC64 ? "qemu-system-ppc64" : "qemu-system-x86_64";
}

bool vm_qemu_datadir(const char *binary, char *buf, size_t len)
{
	char real[PATH_MAX], *slash;
	struct stat sb;

	if (!strchr(binary, '/') || !realpath(binary, real))
		return false;
	slash = strrchr(real, '/');
	*slash = '\0';		/* PREFIX/bin */
	if (!strcmp(real, "/usr/bin") || !strcmp(real, "/bin"))
		return false;
	if (snprintf(buf, len, "%s/../share/qemu", real) >= (int)len)
		return false;
	return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Run ARGV with its standard output (and error) into BUF, at most LEN-1
 * bytes kept; the exit status in *STATUS.  0 or -errno with a message. */
static int run_capture(char *const argv[], char *buf, size_t len, int *status)
{
	int p[2], r = 0;
	size_t used = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return mortar_set_error(errno, "pipe: %m");
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return mortar_set_error(errno, "fork: %m");
	}
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		char tmp[4096];
		ssize_t n;

		if (poll(&pfd, 1, PROBE_TIMEOUT_MS) == 0) {
			kill(pid, SIGKILL);
			r = mortar_set_error(ETIMEDOUT, "%s did not answer within %d s", argv[0],
					     PROBE_TIMEOUT_MS / 1000);
			break;
		}
		n = read(p[0], tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && used + 1 < len; i++)
			buf[used++] = tmp[i];
	}
	buf[used] = '\0';
	close(p[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return r;
}

int vm_qemu_probe(const char *binary, int *version)
{
	char out[1024], *argv[] = { (char *)binary, "--version", NULL };
	int status, major, minor, micro;
	int r = run_capture(argv, out, sizeof out, &status);

	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
		return mortar_set_error(ENOENT, "cannot run QEMU '%s' (not installed? give "
					"--qemu PATH)", binary);
	if (sscanf(out, "QEMU emulator version %d.%d.%d", &major, &minor, &micro) != 3 ||
	    WEXITSTATUS(status) != 0) {
		out[strcspn(out, "\n")] = '\0';
		return mortar_set_error(EINVAL, "'%s --version' does not say which QEMU it is "
					"(%s): is it a qemu-system binary?", binary, out);
	}
	*version = major * 10000 + minor * 100 + micro;
	return 0;
}

int vm_qemu_has_machine(const char *binary, const char *machine)
{
	const size_t len = 1 << 16;
	char *out = malloc(len), *argv[] = { (char *)binary, "-machine", "help", NULL };
	size_t n = strlen(machine);
	int status, r;

	if (!out)
		return mortar_set_error(ENOMEM, "out of memory");
	r = run_capture(argv, out, len, &status);
	if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		r = mortar_set_error(EIO, "'%s -machine help' failed", binary);
	/* One machine per line, its name first. */
	for (const char *l = out; r == 0 && *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
		if (!strncmp(l, machine, n) && (l[n] == ' ' || l[n] == '\n' || l[n] == '\0'))
			r = 1;
	free(out);
	return r;
}

void vm_qemu_version_text(int version, char *buf, size_t len)
{
	snprintf(buf, len, "%d.%d.%d", version / 10000, version / 100 % 100, version % 100);
}
