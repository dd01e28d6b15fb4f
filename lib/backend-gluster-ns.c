/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend: the namespace of a volume (backend.h's
 * mortar_fs_ops), over the volume's shared connection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "backend-gluster.h"
#include "error.h"

static glfs_t *gfs(void *ctx)
{
	return ((struct gl_conn *)ctx)->fs;
}

static int gfs_stat(void *ctx, const char *path, struct stat *st)
{
	return glfs_stat(gfs(ctx), path, st) < 0 ? -errno : 0;
}

static int gfs_mkdir(void *ctx, const char *path, mode_t mode)
{
	return glfs_mkdir(gfs(ctx), path, mode) < 0 ? -errno : 0;
}

static int gfs_unlink(void *ctx, const char *path)
{
	return glfs_unlink(gfs(ctx), path) < 0 ? -errno : 0;
}

static int gfs_rename(void *ctx, const char *from, const char *to)
{
	return glfs_rename(gfs(ctx), from, to) < 0 ? -errno : 0;
}

static int gfs_chmod(void *ctx, const char *path, mode_t mode)
{
	return glfs_chmod(gfs(ctx), path, mode) < 0 ? -errno : 0;
}

static int gfs_list(void *ctx, const char *dir, char ***names, size_t *count)
{
	glfs_fd_t *d = glfs_opendir(gfs(ctx), dir);
	struct dirent de, *res;
	char **v = NULL;
	size_t n = 0;
	int r = 0;

	*names = NULL;
	*count = 0;
	if (!d)
		return -errno;
	while ((r = glfs_readdir_r(d, &de, &res)) == 0 && res) {
		char **nv;

		if (!strcmp(de.d_name, ".") || !strcmp(de.d_name, ".."))
			continue;
		nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv || !(nv[n] = strdup(de.d_name))) {
			v = nv ? nv : v;
			r = ENOMEM;
			break;
		}
		v = nv;
		n++;
	}
	glfs_closedir(d);
	if (r) {
		mortar_names_free(v, n);
		return -r;
	}
	*names = v;
	*count = n;
	return 0;
}

static int gfs_put(void *ctx, const char *path, const void *data, size_t len, bool excl)
{
	glfs_fd_t *fd = glfs_creat(gfs(ctx), path,
				   O_WRONLY | O_CREAT | (excl ? O_EXCL : O_TRUNC), 0644);
	int r = 0;

	if (!fd)
		return -errno;
	if ((len && glfs_write(fd, data, len, 0) != (ssize_t)len) ||
	    glfs_fsync(fd, NULL, NULL) < 0)
		r = errno ? -errno : -EIO;
	if (glfs_close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int gfs_get(void *ctx, const char *path, char **data, size_t max)
{
	glfs_fd_t *fd = glfs_open(gfs(ctx), path, O_RDONLY);
	char *buf;
	ssize_t n;

	if (!fd)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		glfs_close(fd);
		return -ENOMEM;
	}
	n = glfs_pread(fd, buf, max, 0, 0, NULL);
	glfs_close(fd);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	buf[n] = 0;
	*data = buf;
	return 0;
}

static void gfs_close(void *ctx)
{
	gl_conn_put(ctx);
}

static const struct mortar_fs_ops gluster_fs_ops = {
	.stat = gfs_stat,
	.mkdir = gfs_mkdir,
	.unlink = gfs_unlink,
	.rename = gfs_rename,
	.chmod = gfs_chmod,
	.list = gfs_list,
	.put = gfs_put,
	.get = gfs_get,
	.close = gfs_close,
};

int mortar_gluster_ns_open(const struct mortar_location *loc, const struct mortar_fs_ops **ops,
			   void **ctx)
{
	struct gl_conn *c;
	int r = gl_conn_get_loc(loc, &c);

	if (r < 0)
		return r;
	*ops = &gluster_fs_ops;
	*ctx = c;
	return 0;
}
