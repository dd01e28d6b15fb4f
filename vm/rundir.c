/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM runtime directories and pid files (rundir.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "rundir.h"
#include "runtime.h"
#include "state.h"

int vm_rundir_base(char *buf, size_t len)
{
	const char *env = getenv("MORTAR_VM_DIR");

	if (!env || !*env)
		return mortar_runtime_dir("vm", buf, len) < 0 ? -mortar_errno() : 0;
	if (mkdir(env, 0700) < 0 && errno != EEXIST)
		return mortar_set_error(errno, "%s: %m", env);
	if (snprintf(buf, len, "%s", env) >= (int)len)
		return mortar_set_error(ENAMETOOLONG, "MORTAR_VM_DIR is too long: %s", env);
	return 0;
}

int vm_rundir(const char *name, char *buf, size_t len)
{
	char base[PATH_MAX];
	int r;

	if (len > VM_DIR_MAX)
		len = VM_DIR_MAX;
	if (strchr(name, '/') || name[0] == '.' || !name[0] || strlen(name) > VM_NAME_MAX)
		return mortar_set_error(EINVAL, "bad VM name '%s': use letters, digits, '-', "
					"'_' (no '/', not starting with '.')", name);
	r = vm_rundir_base(base, sizeof base);
	if (r < 0)
		return r;
	if (snprintf(buf, len, "%s/%s", base, name) >= (int)len)
		return mortar_set_error(ENAMETOOLONG, "VM directory %s/%s is too long for its "
					"sockets (at most %d characters): use a shorter "
					"MORTAR_VM_DIR or name", base, name, VM_DIR_MAX - 1);
	return 0;
}

void vm_path(char *buf, size_t len, const char *dir, const char *file)
{
	snprintf(buf, len, "%s/%s", dir, file);
}

void vm_rundir_remove(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d) {
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			vm_path(p, sizeof p, dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

pid_t vm_read_pid(const char *path)
{
	long pid = 0;
	FILE *f = fopen(path, "re");

	if (f) {
		if (fscanf(f, "%ld", &pid) != 1 || pid < 0 || pid > INT_MAX)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

/* The first line of /proc/PID/FILE into BUF ("" when unreadable). */
static void proc_read(pid_t pid, const char *file, char *buf, size_t len)
{
	char p[64];
	FILE *f;

	buf[0] = '\0';
	snprintf(p, sizeof p, "/proc/%d/%s", (int)pid, file);
	f = fopen(p, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
}

bool vm_qemu_alive(pid_t pid)
{
	char comm[64], stat[512];
	const char *paren;

	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	proc_read(pid, "comm", comm, sizeof comm);
	if (strncmp(comm, "qemu", 4))
		return false;
	/* A killed daemonised QEMU may linger as a zombie until its new
	 * parent reaps it: that is dead too.  (The state follows the last
	 * ')': the command name may hold one.) */
	proc_read(pid, "stat", stat, sizeof stat);
	paren = strrchr(stat, ')');
	return !paren || !paren[1] || (paren[2] != 'Z' && paren[2] != 'X');
}

void vm_child_reap(pid_t pid, int timeout_ms)
{
	for (int t = 0; pid > 0 && waitpid(pid, NULL, WNOHANG) == 0; t += 50) {
		if (t >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		usleep(50000);
	}
}
