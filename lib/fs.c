/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The namespace around an image (fs.h): local files here; GlusterFS in
 * backend-gluster.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "error.h"
#include "fs.h"

#define STALE_OTHER_HOST (24 * 3600)	/* seconds */

/* ---- local files ---- */

static int lfs_stat(void *ctx, const char *path, struct stat *st)
{
	(void)ctx;
	return stat(path, st) < 0 ? -errno : 0;
}

static int lfs_mkdir(void *ctx, const char *path, mode_t mode)
{
	(void)ctx;
	return mkdir(path, mode) < 0 ? -errno : 0;
}

static int lfs_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path) < 0 ? -errno : 0;
}

static int lfs_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to) < 0 ? -errno : 0;
}

static int lfs_chmod(void *ctx, const char *path, mode_t mode)
{
	(void)ctx;
	return chmod(path, mode) < 0 ? -errno : 0;
}

static int lfs_list(void *ctx, const char *dir, char ***names, size_t *count)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	(void)ctx;
	*names = NULL;
	*count = 0;
	if (!dp)
		return -errno;
	while ((de = readdir(dp))) {
		char **nv;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			v = nv ? nv : v;
			closedir(dp);
			mortar_fs_free_names(v, n);
			return -ENOMEM;
		}
		v = nv;
		n++;
	}
	closedir(dp);
	*names = v;
	*count = n;
	return 0;
}

static int lfs_put(void *ctx, const char *path, const void *data, size_t len, bool excl)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0644);
	int r = 0;

	(void)ctx;
	if (fd < 0)
		return -errno;
	if ((len && write(fd, data, len) != (ssize_t)len) || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}

static int lfs_get(void *ctx, const char *path, char **data, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n;

	(void)ctx;
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, max);
	close(fd);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	buf[n] = 0;
	*data = buf;
	return 0;
}

static void lfs_close(void *ctx)
{
	(void)ctx;
}

static const struct mortar_fs_ops local_ops = {
	.stat = lfs_stat,
	.mkdir = lfs_mkdir,
	.unlink = lfs_unlink,
	.rename = lfs_rename,
	.chmod = lfs_chmod,
	.list = lfs_list,
	.put = lfs_put,
	.get = lfs_get,
	.close = lfs_close,
};

/* ---- common ---- */

int mortar_fs_open(const char *location, struct mortar_fs **out)
{
	struct mortar_fs *fs;
	int r;

	fs = calloc(1, sizeof *fs);
	if (!fs)
		return mortar_set_error(ENOMEM, "out of memory");
	r = mortar_location_parse(location, &fs->loc, NULL);
	if (r < 0) {
		free(fs);
		return r;
	}
	switch (fs->loc->scheme) {
	case MORTAR_SCHEME_FILE:
		fs->ops = &local_ops;
		break;
	case MORTAR_SCHEME_GLUSTER:
#ifdef MORTAR_HAVE_GLUSTER
		r = mortar_gluster_fs(fs->loc, location, &fs->ops, &fs->ctx);
#else
		r = mortar_set_error(ENOTSUP, "%s: this build has no GlusterFS support",
				     location);
#endif
		break;
	default:
		r = mortar_set_error(ENOTSUP, "%s: an %s export has no folder to keep "
				     "files beside it", location,
				     mortar_scheme_name(fs->loc->scheme));
	}
	if (r < 0) {
		mortar_location_free(fs->loc);
		free(fs);
		return r;
	}
	*out = fs;
	return 0;
}

void mortar_fs_close(struct mortar_fs *fs)
{
	if (!fs)
		return;
	fs->ops->close(fs->ctx);
	mortar_location_free(fs->loc);
	free(fs);
}

char *mortar_fs_location(const struct mortar_fs *fs, const char *path)
{
	struct mortar_location l = *fs->loc;
	char *text;

	if (l.scheme == MORTAR_SCHEME_FILE && !l.file_uri) {
		text = strdup(path);
	} else {
		l.path = (char *)path;
		text = mortar_location_format(&l);
	}
	if (!text)
		mortar_set_error(ENOMEM, "out of memory");
	return text;
}

void mortar_fs_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int mortar_fs_split(const char *path, char *dir, size_t dlen, const char **base)
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

int mortar_tmp_tag(char *buf, size_t len)
{
	char host[256] = "";
	int n;

	gethostname(host, sizeof host - 1);
	/* A '/' in a host name would make a path of the tag. */
	for (char *p = host; *p; p++)
		if (*p == '/')
			*p = '_';
	n = snprintf(buf, len, "%ld@%s", (long)getpid(), host);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool mortar_tmp_abandoned(const char *tag, time_t mtime)
{
	char host[256] = "";
	const char *at = strchr(tag, '@');
	char *end;
	long pid = strtol(tag, &end, 10);

	gethostname(host, sizeof host - 1);
	for (char *p = host; *p; p++)
		if (*p == '/')
			*p = '_';
	if (at && end == at && pid > 0 && !strcmp(at + 1, host)) {
		if (pid == (long)getpid())
			return false;
		return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
	}
	return time(NULL) - mtime > STALE_OTHER_HOST;
}

void mortar_fs_remove_stale(struct mortar_fs *fs, const char *dir, const char *prefix)
{
	size_t plen = strlen(prefix), n = 0;
	char **names = NULL, path[PATH_MAX];
	struct stat st;

	if (fs->ops->list(fs->ctx, dir, &names, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], prefix, plen))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
			continue;
		if (fs->ops->stat(fs->ctx, path, &st) == 0 &&
		    mortar_tmp_abandoned(names[i] + plen, st.st_mtime))
			fs->ops->unlink(fs->ctx, path);
	}
	mortar_fs_free_names(names, n);
}
