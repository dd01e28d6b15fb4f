/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend: images on sharded volumes (block status and a
 * safe shrink), and the SEEK_DATA/SEEK_HOLE walk every image's block
 * status uses.  (Writes not yet flushed are dirty.c's: the caller asks
 * it first.)
 *
 * Block status.  With features.shard on (the virt profile), an image is a base file that
 * holds its first shard (64 MiB by default) and files /.shard/GFID.N for
 * the others, created on first write.  The shard translator answers
 * SEEK_DATA/SEEK_HOLE with ENOTSUP for every file, and refuses clients
 * any look at /.shard (EPERM), so through the volume's own graph an image
 * is "all data": clones, maps and NBD clients would copy and read every
 * byte of a 1 TiB image that holds 300 MiB.
 *
 * glusterd's volfile says what the graph is; the same graph without the
 * shard translator (backend-gluster-volfile.c) reaches the files as the bricks
 * hold them: the base file and each shard answer SEEK_DATA/SEEK_HOLE, and
 * a shard never written does not exist.  That graph is a second client
 * of the volume, made on the first block status of a sharded image and
 * kept with the connection.  It is only ever used to look: lookups,
 * read-only opens and seeks.  A write through it would bypass the shard
 * translator and corrupt the image.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glusterfs/api/glfs.h>
#include <glusterfs/api/glfs-handles.h>

#include "backend-gluster.h"
#include "error.h"
#include "backend-gluster-volfile.h"

#define GL_SHARD_XLATOR "features/shard"
#define GL_MAX_SHARDS 256		/* shards looked at per request */

struct gl_shards {
	glfs_t *raw;
	char *path;
	char gfid[40];			/* of the base file, as text */
	uint64_t block;			/* shard size; UINT64_MAX: not sharded */
};

static pthread_mutex_t gl_raw_lock = PTHREAD_MUTEX_INITIALIZER;

/* gfapi reads a volfile from a path: give it one that exists only in
 * this process. */
static int gl_raw_init(struct gl_conn *c, const char *volfile, glfs_t **out)
{
	char path[64];
	size_t len = strlen(volfile);
	int fd = memfd_create("mortar-volfile", MFD_CLOEXEC), r = 0;
	glfs_t *fs;

	if (fd < 0)
		return -errno;
	if (write(fd, volfile, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (!(fs = glfs_new(c->volume)))
		r = -ENOMEM;
	else if (glfs_set_volfile(fs, path) < 0)
		r = -(errno ? errno : EINVAL);
	else {
		if (c->logfile)
			glfs_set_logging(fs, c->logfile, 5 /* warnings */);
		if (gl_init_bounded(fs) < 0)
			r = -(errno ? errno : EIO);	/* (not finalised: ~10 s) */
	}
	close(fd);
	if (r == 0)
		*out = fs;
	return r;
}

/* C's graph without the shard translator; made once per connection. */
static int gl_raw(struct gl_conn *c, glfs_t **out)
{
	struct gl_volfile *v = NULL;
	char *text = NULL;
	int r;

	pthread_mutex_lock(&gl_raw_lock);
	if (c->raw || c->raw_err) {
		r = c->raw ? 0 : c->raw_err;
		goto out;
	}
	r = gl_conn_volfile(c, &v);
	if (r == 0 && !gl_volfile_find(v, GL_SHARD_XLATOR))
		r = -ENOTSUP;	/* not sharded: the seek was refused elsewhere */
	if (r == 0)
		r = gl_volfile_render_without(v, GL_SHARD_XLATOR, &text);
	if (r == 0)
		r = gl_raw_init(c, text, &c->raw);
	if (r < 0)
		c->raw_err = r;
	gl_volfile_free(v);
	free(text);
out:
	*out = c->raw;
	pthread_mutex_unlock(&gl_raw_lock);
	return r;
}

/* The GFID of PATH, as shards are named: 8-4-4-4-12 hex digits. */
int gl_gfid(glfs_t *fs, const char *path, char text[static 37])
{
	unsigned char g[GFAPI_HANDLE_LENGTH];
	struct glfs_object *o;
	struct stat st;
	int n;

	if (!(o = glfs_h_lookupat(fs, NULL, path, &st, 0)))
		return -errno;
	n = glfs_h_extract_handle(o, g, sizeof g);
	glfs_h_close(o);
	if (n != GFAPI_HANDLE_LENGTH)
		return -EIO;
	for (int i = 0, k = 0; i < GFAPI_HANDLE_LENGTH; i++) {
		k += sprintf(text + k, "%02x", g[i]);
		if (i == 3 || i == 5 || i == 7 || i == 9)
			text[k++] = '-';
	}
	text[36] = 0;
	return 0;
}

int gl_shards_open(struct gl_conn *c, const char *path, struct gl_shards **out)
{
	struct gl_shards *s;
	unsigned char be[8];
	glfs_t *raw;

	*out = NULL;
	if (gl_raw(c, &raw) < 0)
		return 0;	/* (why is in the gfapi log; the answer stays "data") */
	if (!(s = calloc(1, sizeof *s)) || !(s->path = strdup(path))) {
		free(s);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	s->raw = raw;
	if (gl_gfid(c->fs, path, s->gfid) < 0) {
		gl_shards_close(s);
		return 0;
	}
	/* The size a file was sharded with is in its base file (files made
	 * before sharding was turned on have none, and no shards). */
	s->block = UINT64_MAX;
	if (glfs_getxattr(raw, path, "trusted.glusterfs.shard.block-size", be, 8) == 8) {
		s->block = 0;
		for (int i = 0; i < 8; i++)
			s->block = s->block << 8 | be[i];
		if (s->block == 0)
			s->block = UINT64_MAX;
	}
	*out = s;
	return 0;
}

void gl_shards_close(struct gl_shards *s)
{
	if (!s)
		return;
	free(s->path);
	free(s);
}

/* SEEK_DATA/SEEK_HOLE with the quirks seen in the field: ENXIO means
 * zeroes to the end; an offset before the start is nonsense (error).
 * Errors other than -ENOTSUP come with a message. */
int gl_seek_extents(glfs_fd_t *fd, uint64_t shift, uint64_t limit, struct mortar_req *req,
		    size_t *cap, uint64_t *pos, uint64_t end, const char *name)
{
	const uint32_t zero = MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO;
	int r = 0;

	if (end > limit)
		end = limit;
	while (*pos < end && r == 0 && !gl_extents_full(req)) {
		off_t data, hole;
		uint64_t stop;

		data = glfs_lseek(fd, (off_t)(*pos - shift), SEEK_DATA);
		if (data < 0 && errno == ENXIO) {
			r = mortar_req_add_extent(req, cap, *pos, end - *pos, zero);
			*pos = end;
			break;
		}
		if (data < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP || errno == EINVAL))
			return -ENOTSUP;
		if (data < 0)
			return mortar_set_error(errno, "%s: block status at offset %" PRIu64
				" failed: %m; check 'gluster volume status'", name, *pos);
		if ((uint64_t)data + shift < *pos)
			return mortar_set_error(EIO, "%s: the server answered SEEK_DATA at %"
				PRIu64 " with an earlier offset %lld; not trusting it",
				name, *pos - shift, (long long)data);
		if ((uint64_t)data + shift > *pos) {
			stop = (uint64_t)data + shift < end ? (uint64_t)data + shift : end;
			r = mortar_req_add_extent(req, cap, *pos, stop - *pos, zero);
		} else {
			hole = glfs_lseek(fd, (off_t)(*pos - shift), SEEK_HOLE);
			if (hole < 0 || (uint64_t)hole + shift <= *pos)
				hole = (off_t)(end - shift);
			stop = (uint64_t)hole + shift < end ? (uint64_t)hole + shift : end;
			r = mortar_req_add_extent(req, cap, *pos, stop - *pos, 0);
		}
		*pos = stop;
		if (req->flags & MORTAR_REQ_ONE)
			break;
	}
	return r;
}

int gl_shards_extents(struct gl_shards *s, struct mortar_req *req, size_t *cap,
		      uint64_t *pos, uint64_t end, const char *name)
{
	const uint32_t zero = MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO;
	char path[128];
	int r = 0;

	for (unsigned n = 0; *pos < end && n < GL_MAX_SHARDS && r == 0 && !gl_extents_full(req);
	     n++) {
		uint64_t i = s->block == UINT64_MAX ? 0 : *pos / s->block;
		uint64_t shift = i * (s->block == UINT64_MAX ? 0 : s->block);
		uint64_t limit = s->block == UINT64_MAX ? end : shift + s->block;
		const char *file = s->path;
		glfs_fd_t *fd;

		if (i > 0) {
			snprintf(path, sizeof path, "/.shard/%s.%" PRIu64, s->gfid, i);
			file = path;
		}
		fd = glfs_open(s->raw, file, O_RDONLY);
		if (!fd && errno == ENOENT) {
			/* never written */
			uint64_t stop = limit < end ? limit : end;
			r = mortar_req_add_extent(req, cap, *pos, stop - *pos, zero);
			*pos = stop;
		} else if (!fd) {
			return mortar_set_error(errno, "%s: block status: cannot open shard %"
						PRIu64 " (%s): %m", name, i, file);
		} else {
			uint64_t before = *pos;

			r = gl_seek_extents(fd, shift, limit, req, cap, pos, end, name);
			glfs_close(fd);
			if (r == -ENOTSUP) {	/* (not seen: the graph has no shard) */
				uint64_t stop = limit < end ? limit : end;
				r = mortar_req_add_extent(req, cap, *pos, stop - *pos, 0);
				*pos = stop;
			}
			if (r == 0 && *pos == before)
				break;	/* (REQ_ONE stopped in the first extent) */
		}
		if (req->flags & MORTAR_REQ_ONE)
			break;
	}
	return r;
}

uint64_t gl_shards_block(const struct gl_shards *s)
{
	return s ? s->block : UINT64_MAX;
}

/* Shrink.  GlusterFS 10.3's shard translator, asked to truncate a file to
 * a multiple of its shard size while a shard past that size exists (a
 * read there is enough to create one, empty), unlinks the shards past it
 * and then truncates the shard before the new end to (size % shard size),
 * that is to nothing: the last 64 MiB kept read back as zeroes
 * (shard_truncate_begin/last_shard; FUSE clients lose it the same way).
 * A truncate to one byte less is right; growing back by that byte only
 * moves the size; the byte is then written back. */
int gl_shards_truncate(glfs_fd_t *fd, const struct gl_shards *s, uint64_t size,
		       uint64_t new_size)
{
	char last = 0;

	if (new_size >= size || new_size == 0 || gl_shards_block(s) == UINT64_MAX ||
	    new_size % gl_shards_block(s) != 0)
		return glfs_ftruncate(fd, (off_t)new_size, NULL, NULL) < 0 ? -errno : 0;
	if (glfs_pread(fd, &last, 1, (off_t)new_size - 1, 0, NULL) != 1 ||
	    glfs_ftruncate(fd, (off_t)new_size - 1, NULL, NULL) < 0 ||
	    glfs_ftruncate(fd, (off_t)new_size, NULL, NULL) < 0)
		return -(errno ? errno : EIO);
	if (last && glfs_pwrite(fd, &last, 1, (off_t)new_size - 1, 0, NULL, NULL) != 1)
		return -(errno ? errno : EIO);
	return 0;
}

/* "64MB", as glusterd writes sizes (binary units). */
static uint64_t gl_parse_gluster_size(const char *v)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	int shift = 0;

	switch (*end) {
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	}
	return n && n < (1ull << 40) ? (uint64_t)n << shift : 0;
}

int gl_size_check(struct gl_conn *c, const char *text, uint64_t size)
{
	uint64_t max = INT64_MAX, block = 0;
	struct gl_volfile *v;
	const struct gl_xlator *x;

	if (size <= (64ull << 40))
		return 0;	/* (below any limit: skip the volfile) */
	if (gl_conn_volfile(c, &v) == 0) {
		if ((x = gl_volfile_find(v, GL_SHARD_XLATOR))) {
			const char *o = gl_xlator_option(x, "shard-block-size");

			block = o ? gl_parse_gluster_size(o) : 0;
			block = block ? block : 64ull << 20;
		}
		gl_volfile_free(v);
	}
	/* The shard translator numbers shards with an int. */
	if (block && block <= INT64_MAX / INT32_MAX)
		max = block * INT32_MAX;
	if (size <= max)
		return 0;
	return mortar_set_error(EFBIG, "%s: %" PRIu64 " bytes is too large for volume "
		"'%s'%s (at most %" PRIu64 ")", text, size, c->volume,
		block ? ", whose shard translator counts at most 2^31 shards" : "", max);
}
