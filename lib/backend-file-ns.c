/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The file backend: the namespace beside a local image (POSIX calls on the
 * paths as typed), for snapshots and temporaries. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend-file.h"


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
			mortar_names_free(v, n);
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

const struct mortar_fs_ops mortar_file_ns_ops = {
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

int mortar_file_ns_open(const struct mortar_location *loc, const struct mortar_fs_ops **ops,
			void **ctx)
{
	(void)loc;
	*ops = &mortar_file_ns_ops;
	*ctx = NULL;
	return 0;
}
