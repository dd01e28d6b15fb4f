/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a source image is, before anything reads it.
 *
 * An image that a guest could have written is input from the guest: its
 * header may name a backing file (/etc/shadow), a qcow2 external data
 * file or VMDK extents anywhere on the host, and a "raw" disk may hold a
 * qcow2 header that the guest wrote into its first sector.  QEMU follows
 * all of these when it opens the image with a probed format, so a
 * conversion would copy host files into the output (the class of
 * OpenStack's image-format CVEs, e.g. CVE-2024-32498).  So the probe
 * reports every file the image names besides itself, and the command
 * refuses to follow any unless the user named the format.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "convert-probe.h"

/* What OpenStack allows qemu-img info on an uploaded image. */
#define PROBE_AS_BYTES (1ull << 30)
#define PROBE_CPU_S 30

/* Run ARGV with stdout captured (at most LEN-1 bytes; the rest is read
 * and dropped, so that the child never blocks on a full pipe), under the
 * probe's limits; exit status, or -1. */
static int run_capture(char *const argv[], char *buf, size_t len)
{
	int pfd[2], status;
	size_t n = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		struct rlimit as = { PROBE_AS_BYTES, PROBE_AS_BYTES };
		struct rlimit cpu = { PROBE_CPU_S, PROBE_CPU_S };

		dup2(pfd[1], STDOUT_FILENO);
		if (setrlimit(RLIMIT_AS, &as) == 0 && setrlimit(RLIMIT_CPU, &cpu) == 0)
			execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char drop[4096];
		ssize_t r = n < len - 1 ? read(pfd[0], buf + n, len - 1 - n) :
					  read(pfd[0], drop, sizeof drop);

		if (r <= 0)
			break;
		if (n < len - 1)
			n += (size_t)r;
	}
	buf[n] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *jstring(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

/* Is NAME (as qemu-img printed it: relative to where we run) PATH itself? */
static bool same_file(const char *name, const char *path)
{
	struct stat a, b;

	return stat(name, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void refer(struct convert_probe *p, const char *kind, const char *name)
{
	if (p->ref[0])
		return;
	snprintf(p->ref, sizeof p->ref, "%s", name);
	p->ref_kind = kind;
}

void convert_probe_refs(json_object *info, const char *path, struct convert_probe *p)
{
	json_object *spec, *data, *extents;
	const char *name;

	p->ref[0] = '\0';
	p->ref_kind = NULL;
	if ((name = jstring(info, "full-backing-filename")) ||
	    (name = jstring(info, "backing-filename")))
		refer(p, "backing file", name);
	if (!json_object_object_get_ex(info, "format-specific", &spec) ||
	    !json_object_object_get_ex(spec, "data", &data))
		return;
	if ((name = jstring(data, "data-file")))
		refer(p, "external data file", name);
	if (!json_object_object_get_ex(data, "extents", &extents) ||
	    !json_object_is_type(extents, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(extents); i++) {
		name = jstring(json_object_array_get_idx(extents, i), "filename");
		/* A monolithic VMDK's one extent is the file itself. */
		if (!name || !same_file(name, path))
			refer(p, "extent", name ? name : "(unnamed)");
	}
}

int convert_probe(const char *cmd, const char *path, struct convert_probe *p)
{
	char *argv[] = { "qemu-img", "info", "--output=json", "--", (char *)path, NULL };
	static char out[1 << 20];
	const char *fmt;
	json_object *info;
	int rc = run_capture(argv, out, sizeof out);

	if (rc == 127 || rc < 0)
		return cli_error(cmd, "cannot run qemu-img to detect the format of %s; "
				 "install qemu-utils or pass -f FORMAT", path);
	info = rc == 0 ? json_tokener_parse(out) : NULL;
	fmt = info ? jstring(info, "format") : NULL;
	if (!fmt) {
		json_object_put(info);
		return cli_error(cmd, "qemu-img cannot read %s (exit %d); is it an image?",
				 path, rc);
	}
	snprintf(p->format, sizeof p->format, "%s", fmt);
	convert_probe_refs(info, path, p);
	json_object_put(info);
	return EXIT_OK;
}
