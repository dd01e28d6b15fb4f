/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Temporaries beside an image (temp.h). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "temp.h"

#define STALE_OTHER_HOST (24 * 3600)	/* seconds */

/* This host's name as it appears in tags: a '/' would make a path of it. */
static void tmp_host(char *host, size_t len)
{
	host[0] = '\0';
	gethostname(host, len - 1);
	host[len - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == '/')
			*p = '_';
}

int mortar_tmp_tag(char *buf, size_t len)
{
	char host[256];
	int n;

	tmp_host(host, sizeof host);
	n = snprintf(buf, len, "%ld@%s", (long)getpid(), host);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool mortar_tmp_abandoned(const char *tag, time_t mtime)
{
	char host[256];
	const char *at = strchr(tag, '@');
	char *end;
	long pid = strtol(tag, &end, 10);

	tmp_host(host, sizeof host);
	if (at && end == at && pid > 0 && !strcmp(at + 1, host)) {
		if (pid == (long)getpid())
			return false;
		return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
	}
	return time(NULL) - mtime > STALE_OTHER_HOST;
}

int mortar_tmp_name(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	char tag[300];
	int n = -1;

	if (mortar_tmp_tag(tag, sizeof tag) == 0)
		n = slash ? snprintf(buf, len, "%.*s/.%s.tmp-%s", (int)(slash - path),
				     path, slash + 1, tag) :
			snprintf(buf, len, ".%s.tmp-%s", path, tag);
	if (n < 0 || (size_t)n >= len)
		return mortar_set_error(ENAMETOOLONG, "%s: name too long", path);
	return 0;
}

void mortar_tmp_remove_prefixed(const struct mortar_fs_ops *ops, void *ctx,
				const char *dir, const char *prefix)
{
	size_t plen = strlen(prefix), n = 0;
	char **names = NULL, path[PATH_MAX];
	struct stat st;

	if (ops->list(ctx, dir, &names, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], prefix, plen))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
			continue;
		if (ops->stat(ctx, path, &st) == 0 &&
		    mortar_tmp_abandoned(names[i] + plen, st.st_mtime))
			ops->unlink(ctx, path);
	}
	mortar_names_free(names, n);
}

void mortar_tmp_remove_stale(const struct mortar_fs_ops *ops, void *ctx, const char *path)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 16];
	const char *base;

	if (mortar_path_split(path, dir, sizeof dir, &base) == 0 &&
	    snprintf(prefix, sizeof prefix, ".%s.tmp-", base) < (int)sizeof prefix)
		mortar_tmp_remove_prefixed(ops, ctx, dir, prefix);
}

int mortar_path_split(const char *path, char *dir, size_t dlen, const char **base)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (!slash)
		n = snprintf(dir, dlen, ".");
	else if (slash == path)
		n = snprintf(dir, dlen, "/");
	else
		n = snprintf(dir, dlen, "%.*s", (int)(slash - path), path);
	*base = slash ? slash + 1 : path;
	return n < 0 || (size_t)n >= dlen ? -ENAMETOOLONG : 0;
}
