/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS client's log: where it goes, and how large it may grow.
 *
 * gfapi writes its own log, and Mortar's diagnoses read it (a brick's
 * refusal, how many bricks are down: gfapi keeps those facts only there).
 * It goes beside the server's logs: $LOGS_DIRECTORY when systemd sets it
 * (the unit's LogsDirectory=mortar), else /var/log/mortar when it exists
 * and is ours to write, else the per-user runtime directory, which for
 * root is /run/mortar, a tmpfs.  Only a directory that no one else can
 * write is used, so that nobody can plant the file or a link in its place.
 *
 * Bounded: a log larger than GL_LOG_MAX when a client is made is renamed
 * to NAME.log.1 (replacing the older one) and a new one begun; at most
 * one old file is kept.  A process that runs long keeps writing the file
 * it opened until its next connection to that volume.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend-gluster.h"
#include "error.h"
#include "runtime.h"

#define GL_LOG_MAX (16 << 20)

/* DIR is a directory of ours that only we can write. */
static bool gl_log_dir_ok(const char *dir)
{
	struct stat st;

	return dir[0] == '/' && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == geteuid() && !(st.st_mode & 022) && access(dir, W_OK) == 0;
}

static int gl_log_dir(char *buf, size_t len)
{
	const char *env = getenv("LOGS_DIRECTORY");
	size_t n;

	/* systemd's value: the unit's log directories, separated by ':'. */
	if (env && (n = strcspn(env, ":")) > 0 && n < len) {
		memcpy(buf, env, n);
		buf[n] = '\0';
		if (gl_log_dir_ok(buf))
			return 0;
	}
	if (gl_log_dir_ok("/var/log/mortar")) {
		snprintf(buf, len, "/var/log/mortar");
		return 0;
	}
	return mortar_runtime_dir(NULL, buf, len);
}

char *gl_log_open(const char *volume, long *start)
{
	char dir[PATH_MAX], *path, *old;
	struct stat st;

	*start = 0;
	/* No log file rather than one in a place we cannot trust. */
	if (gl_log_dir(dir, sizeof dir) < 0 ||
	    asprintf(&path, "%s/gfapi-%s.log", dir, volume) < 0)
		return NULL;
	if (lstat(path, &st) < 0)
		return path;
	if (st.st_size > GL_LOG_MAX && asprintf(&old, "%s.1", path) >= 0) {
		if (rename(path, old) == 0)
			st.st_size = 0;
		free(old);
	}
	/* The diagnoses read what this client adds, from here on. */
	*start = (long)st.st_size;
	return path;
}

/* A line of Mortar's own in C's client log, among gfapi's, where the
 * events it explains are (a move to another volfile server, requests
 * waiting for bricks). */
void gl_note(const struct gl_conn *c, const char *fmt, ...)
{
	va_list ap;
	FILE *f = c->logfile ? fopen(c->logfile, "ae") : NULL;
	time_t t = time(NULL);
	char when[32];

	if (!f)
		return;
	strftime(when, sizeof when, "%F %T", gmtime(&t));
	fprintf(f, "[%s] mortar: ", when);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}
