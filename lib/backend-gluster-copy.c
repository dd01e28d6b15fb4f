/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend: copies made by the bricks, and the probe of what
 * a volume can do. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "backend-gluster.h"
#include "error.h"
#include "runtime.h"
#include "temp.h"

#define PROBE_DATA (1u << 20)

/* A brick without reflinks copied the holes as zeroes: punch them again,
 * so a thin image stays thin.  Best effort. */
static void gl_repunch(glfs_fd_t *in, glfs_fd_t *out, off_t size)
{
	off_t pos = 0;

	while (pos < size) {
		off_t data = glfs_lseek(in, pos, SEEK_DATA), hole;

		if (data < 0 && errno != ENXIO)
			break;		/* no SEEK_DATA (sharded): leave it */
		if (data < 0 || data > size)
			data = size;
		if (data < pos)
			break;
		if (data > pos && glfs_discard(out, pos, (size_t)(data - pos)) < 0)
			break;		/* cannot punch: keep the zeroes */
		if (data >= size)
			break;
		hole = glfs_lseek(in, data, SEEK_HOLE);
		if (hole <= data || hole > size)
			break;
		pos = hole;
	}
}

/* Copy SRC to DST inside one volume with glfs_copy_file_range: the bricks
 * copy the data themselves (a reflink when a brick's filesystem can: XFS
 * made with reflink=1), nothing crosses the network.  Data extents only,
 * so holes stay holes.  Made under a temporary name and renamed into
 * place.  -ENOTSUP (no message) when the volume cannot: the caller then
 * copies through the client. */
static int gl_server_copy(const struct mortar_location *src, const struct mortar_location *dst,
			  bool force, uint64_t *size_out, bool *shared)
{
	char *text = mortar_location_format(dst);
	char tmp[PATH_MAX];
	glfs_fd_t *in = NULL, *out = NULL;
	struct gl_conn *c = NULL;
	struct stat st;
	off_t size;
	int r = 0;

	if (!text) {
		r = mortar_set_error(ENOMEM, "out of memory");
		goto out;
	}
	if (!mortar_location_same_volume(src, dst)) {
		r = -ENOTSUP;	/* two volumes: no server-side path */
		goto out;
	}
	r = gl_conn_get(src, text, &c);
	if (r < 0)
		goto out;
	if (!force && glfs_stat(c->fs, dst->path, &st) == 0) {
		r = mortar_set_error(EEXIST, "%s already exists; pass --force to replace it",
				     text);
		goto out;
	}
	r = mortar_tmp_name(dst->path, tmp, sizeof tmp);
	if (r < 0)
		goto out;
	in = glfs_open(c->fs, src->path, O_RDONLY);
	if (!in || glfs_fstat(in, &st) < 0) {
		r = gl_open_error(text, src, errno ? errno : EIO, MORTAR_OPEN_RDONLY);
		goto out;
	}
	size = st.st_size;
	out = glfs_creat(c->fs, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (!out || glfs_ftruncate(out, size, NULL, NULL) < 0) {
		r = mortar_set_error(errno ? errno : EIO, "%s: cannot create %s: %m", text, tmp);
		goto out;
	}
	/* One call for the whole file, from offset 0: with other source
	 * offsets the bricks of GlusterFS 10.3 copied from offset 0 anyway
	 * (measured: the data landed at the right place in the target but
	 * came from the start of the source).  A partial copy would need
	 * such offsets, so it falls back to the client copy. */
	if (shared)
		*shared = false;
	if (size > 0) {
		off_t oi = 0, oo = 0;
		struct statvfs v0, v1;
		bool vfs = glfs_statvfs(c->fs, "/", &v0) == 0;
		ssize_t n = glfs_copy_file_range(in, &oi, out, &oo, (size_t)size, 0,
						 NULL, NULL, NULL);
		if (n != size) {
			int e = n < 0 ? errno : EIO;
			r = (n >= 0 || e == EXDEV || e == ENOTSUP || e == EOPNOTSUPP ||
			     e == ENOSYS || e == EINVAL) ? -ENOTSUP :
				mortar_set_error(e, "%s: server-side copy failed: %s", text,
						 strerror(e));
		}
		/* Did the bricks share blocks (reflink) or copy them?  The
		 * client cannot ask; the volume's free space tells: a copy
		 * takes about the source's allocation, a reflink nothing.
		 * Other writers on the volume can blur it; it is only said,
		 * never relied on. */
		if (r == 0 && shared && vfs && glfs_statvfs(c->fs, "/", &v1) == 0) {
			uint64_t before = (uint64_t)v0.f_bfree * v0.f_frsize;
			uint64_t after = (uint64_t)v1.f_bfree * v1.f_frsize;
			uint64_t used = before > after ? before - after : 0;
			*shared = used < (uint64_t)st.st_blocks * 512 / 10;
		}
	}
	if (r == 0)
		gl_repunch(in, out, size);
	if (r == 0 && glfs_fsync(out, NULL, NULL) < 0)
		r = mortar_set_error(errno, "%s: fsync failed: %m", text);
	if (out && glfs_close(out) < 0 && r == 0)
		r = mortar_set_error(errno, "%s: close failed: %m", text);
	out = NULL;
	if (r == 0 && glfs_rename(c->fs, tmp, dst->path) < 0)
		r = mortar_set_error(errno, "%s: rename failed: %m", text);
	if (r < 0)
		glfs_unlink(c->fs, tmp);
	else if (size_out)
		*size_out = (uint64_t)size;
out:
	if (out)
		glfs_close(out);
	if (in)
		glfs_close(in);
	if (c)
		gl_conn_put(c);
	free(text);
	return r;
}

static int gl_volume_id(const struct mortar_location *loc, char *buf, size_t len)
{
	char *text = mortar_location_format(loc);
	unsigned char id[16];
	struct gl_conn *c;
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	if (len < 37) {
		free(text);
		return mortar_set_error(EINVAL, "buffer too small for a volume id");
	}
	r = gl_conn_get(loc, text, &c);
	if (r == 0) {
		if (glfs_get_volumeid(c->fs, (char *)id, sizeof id) != (int)sizeof id)
			r = mortar_set_error(EIO, "%s: no volume id", text);
		else
			snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
				 "%02x%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3],
				 id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11],
				 id[12], id[13], id[14], id[15]);
		gl_conn_put(c);
	}
	free(text);
	return r;
}

/* A scratch file PATH of LEN bytes of data beside the image, on C. */
static bool gl_scratch(struct gl_conn *c, const char *path, const uint8_t *data, size_t len)
{
	glfs_fd_t *fd = glfs_creat(c->fs, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	bool ok;

	if (!fd)
		return false;
	ok = glfs_pwrite(fd, data, len, 0, 0, NULL, NULL) == (ssize_t)len &&
	     glfs_fsync(fd, NULL, NULL) == 0;
	if (glfs_close(fd) < 0)
		ok = false;
	return ok;
}

/* Can the bricks copy, and do they share blocks?  Try it on two scratch
 * files beside the image; 1 MiB of data, so that a real copy shows in the
 * volume's free space and a reflink does not. */
static bool gl_probe_copy(const struct mortar_location *loc, bool *shared)
{
	struct mortar_location a = *loc, b = *loc;
	char pa[PATH_MAX], pb[PATH_MAX];
	const char *slash = strrchr(loc->path, '/');
	int dlen = slash ? (int)(slash - loc->path) + 1 : 0;
	uint8_t *data = malloc(PROBE_DATA);
	struct gl_conn *c = NULL;
	bool ok = false;

	if (!data || gl_conn_get_loc(loc, &c) < 0)
		goto out;
	memset(data, 0x5a, PROBE_DATA);
	snprintf(pa, sizeof pa, "%.*s.mortar-probe-%ld-a", dlen, loc->path, (long)getpid());
	snprintf(pb, sizeof pb, "%.*s.mortar-probe-%ld-b", dlen, loc->path, (long)getpid());
	a.path = pa;
	b.path = pb;
	ok = gl_scratch(c, pa, data, PROBE_DATA) &&
	     gl_server_copy(&a, &b, true, NULL, shared) == 0;
	glfs_unlink(c->fs, pb);
	glfs_unlink(c->fs, pa);
out:
	if (c)
		gl_conn_put(c);
	free(data);
	return ok;
}

/* What the probe found, remembered per volume (by its UUID) in the
 * user's runtime folder.  Each probe costs the bricks a descriptor that
 * they never close, and the blocks of the deleted scratch copy until
 * they restart (GlusterFS never releases the target of a copy_file_range:
 * mortar-img(1), BUGS), so a volume is probed once per user and host, and
 * again only after a reboot empties that folder.  Without a runtime
 * folder or a volume id, the probe runs every time. */
static bool gl_copy_caps(const struct mortar_location *loc, bool *shared)
{
	char id[40], dir[PATH_MAX], path[PATH_MAX + 64], got[16] = "";
	bool known = false, ok;
	FILE *f;

	if (gl_volume_id(loc, id, sizeof id) == 0 &&
	    mortar_runtime_dir("gluster-copy", dir, sizeof dir) == 0 &&
	    snprintf(path, sizeof path, "%s/%s", dir, id) < (int)sizeof path) {
		known = true;
		f = fopen(path, "re");
		if (f) {
			bool read = fgets(got, sizeof got, f) != NULL;

			fclose(f);
			if (read && (!strcmp(got, "shared\n") || !strcmp(got, "copy\n"))) {
				*shared = got[0] == 's';
				return true;
			}
		}
	}
	/* (a probe that failed is not remembered: it may have failed for
	 * this folder only, say for want of write permission) */
	ok = gl_probe_copy(loc, shared);
	if (ok && known && (f = fopen(path, "we"))) {
		fputs(*shared ? "shared\n" : "copy\n", f);
		fclose(f);
	}
	return ok;
}
/* Only a copy that shares blocks is left to the bricks.  GlusterFS never
 * closes the target of a copy made by the bricks, so a full copy deleted
 * later keeps all its blocks on them until they restart (mortar-img(1),
 * BUGS): snapshots taken and dropped every night would fill the volume.
 * Through the client, the data crosses the network twice, and nothing
 * stays behind. */
int mortar_gluster_copy(const struct mortar_location *src, const struct mortar_location *dst,
			unsigned flags, mortar_progress_fn progress, void *opaque,
			enum mortar_clone_method *used)
{
	const struct mortar_fs_ops *ops;
	bool shared = false;
	uint64_t size = 0;
	void *ctx;
	int r;

	if ((flags & MORTAR_CLONE_COPY_ONLY) || !mortar_location_same_volume(src, dst) ||
	    !gl_copy_caps(dst, &shared) || !shared)
		return -ENOTSUP;
	if (mortar_gluster_ns_open(dst, &ops, &ctx) == 0) {
		mortar_tmp_remove_stale(ops, ctx, dst->path);
		ops->close(ctx);
	}
	r = gl_server_copy(src, dst, flags & MORTAR_CLONE_FORCE, &size, &shared);
	if (r == -ENOTSUP)
		return r;
	*used = shared ? MORTAR_CLONE_SERVER_REFLINK : MORTAR_CLONE_SERVER_COPY;
	if (r == 0 && progress)
		progress(opaque, size, size);
	return r;
}

/* GlusterFS keeps no per-file snapshot or clone since the BD translator
 * went (6.0); copy_file_range on the bricks is what remains (a reflink
 * where a brick's filesystem has them). */
int mortar_gluster_probe(const struct mortar_location *loc, struct mortar_storage_caps *caps)
{
	bool shared = false;
	struct gl_conn *c;
	struct stat st;

	snprintf(caps->how, sizeof caps->how, "gluster: clones and snapshots are full "
		 "sparse copies through the client");
	if (gl_copy_caps(loc, &shared)) {
		caps->offload_copy = caps->offload_snapshot = shared;
		snprintf(caps->how, sizeof caps->how, shared ?
			 "gluster: clones and snapshots within the volume are "
			 "reflinks made by the bricks (copy_file_range)" :
			 "gluster: clones and snapshots are full sparse copies "
			 "through the client, as the bricks' filesystem cannot "
			 "share blocks (see BUGS in mortar-img(1))");
	}
	/* The bricks punch holes and zero ranges (gl_trim, gl_zero). */
	if (gl_conn_get_loc(loc, &c) == 0) {
		if (glfs_stat(c->fs, loc->path, &st) == 0) {
			caps->discard = caps->zero = true;
			caps->thin = (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size;
		}
		gl_conn_put(c);
	}
	return 0;
}
