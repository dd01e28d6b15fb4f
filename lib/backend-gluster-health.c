/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend: whether the copies of an image agree.
 *
 * AFR (cluster/replicate) keeps, on each brick's copy of a file, one
 * changelog extended attribute per other brick of its replica set,
 * trusted.afr.VOLUME-client-N: three big-endian counters (data, metadata,
 * entry) of operations that brick N missed, so non-zero means "this copy
 * blames N's".  (trusted.afr.dirty, operations begun and not yet
 * confirmed, stays up while a writer holds the file open and after one
 * that exits at once: it says nothing of the copies, and is not read.)
 * Copies that blame each other are in split-brain:
 * AFR cannot tell which is right, and reads fail with EIO until someone
 * decides; a copy that is blamed waits for a self-heal, and until it ends
 * the replica is not redundant.
 *
 * The client's own graph hides these attributes, so each brick is asked
 * directly: a graph of one protocol/client translator per brick, from the
 * volume's volfile, kept with the connection.  The files of an image are
 * its base file and, on a sharded volume, the shards that exist
 * (/.shard/GFID.N, listed on each brick).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glusterfs/api/glfs.h>

#include "backend-gluster.h"
#include "error.h"
#include "backend-gluster-volfile.h"

#define GL_BRICK_TIMEOUT 5		/* seconds to reach one brick */
#define GL_MAX_FILES 4096		/* files of one image looked at */
#define GL_MAX_SET 16			/* bricks in one replica set */

struct gl_brick {
	char *client;			/* its translator's name: VOLUME-client-N */
	char *where;			/* HOST:/BRICK, for messages */
	glfs_t *fs;			/* NULL when it could not be reached */
};

struct gl_set {
	size_t member[GL_MAX_SET];	/* indexes in bricks */
	size_t n;
};

struct gl_bricks {
	struct gl_brick *b;
	size_t n;
	struct gl_set *sets;
	size_t nsets;
};

static pthread_mutex_t gl_bricks_lock = PTHREAD_MUTEX_INITIALIZER;

/* A client of the one translator NAME of V. */
static glfs_t *gl_brick_client(const struct gl_conn *c, const struct gl_volfile *v,
			       const char *name)
{
	char *text = NULL, path[64];
	glfs_t *fs = NULL;
	int fd;

	if (gl_volfile_render_one(v, name, &text) < 0)
		return NULL;
	fd = memfd_create("mortar-brick", MFD_CLOEXEC);
	if (fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text)) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		fs = glfs_new(c->volume);
		if (fs && (glfs_set_volfile(fs, path) < 0 ||
			   (c->logfile && glfs_set_logging(fs, c->logfile, 5) < 0) ||
			   gl_init_within(fs, GL_BRICK_TIMEOUT) < 0))
			fs = NULL;	/* (not finalised: ~10 s) */
	}
	if (fd >= 0)
		close(fd);
	free(text);
	return fs;
}

/* C's bricks and replica sets, from V; bricks not reached before are
 * tried again. */
static int gl_bricks_get(struct gl_conn *c, const struct gl_volfile *v, struct gl_bricks **out)
{
	struct gl_bricks *bs;
	int r = 0;

	pthread_mutex_lock(&gl_bricks_lock);
	if (!(bs = c->bricks)) {
		if (!(bs = calloc(1, sizeof *bs))) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < v->n; i++) {
			const struct gl_xlator *x = &v->xl[i];
			struct gl_set *sets;

			if (strcmp(x->type, "cluster/replicate") || x->nsubvolumes > GL_MAX_SET ||
			    !(sets = realloc(bs->sets, (bs->nsets + 1) * sizeof *sets)))
				continue;
			bs->sets = sets;
			sets[bs->nsets].n = 0;
			for (size_t k = 0; k < x->nsubvolumes; k++) {
				const struct gl_xlator *cl = gl_volfile_get(v, x->subvolumes[k]);
				const char *host = cl ? gl_xlator_option(cl, "remote-host") : NULL;
				const char *dir = cl ? gl_xlator_option(cl, "remote-subvolume") : NULL;
				struct gl_brick *b = realloc(bs->b, (bs->n + 1) * sizeof *b);

				if (!b)
					break;
				bs->b = b;
				b += bs->n;
				memset(b, 0, sizeof *b);
				b->client = strdup(x->subvolumes[k]);
				if (asprintf(&b->where, "%s:%s", host ? host : "?", dir ? dir : "?") < 0)
					b->where = NULL;
				sets[bs->nsets].member[sets[bs->nsets].n++] = bs->n++;
			}
			bs->nsets++;
		}
		c->bricks = bs;
	}
	for (size_t i = 0; i < bs->n; i++)
		if (!bs->b[i].fs && bs->b[i].client)
			bs->b[i].fs = gl_brick_client(c, v, bs->b[i].client);
out:
	pthread_mutex_unlock(&gl_bricks_lock);
	*out = bs;
	return r;
}

/* ---- one file ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The data and metadata counters of attribute KEY on B's copy of PATH: 0
 * when it is absent, -ENOENT when B has no copy, -errno when B cannot be
 * asked. */
static long long gl_counters(const struct gl_brick *b, const char *path, const char *key)
{
	unsigned char v[12];
	ssize_t n;

	if (!b->fs)
		return -EHOSTUNREACH;
	n = glfs_getxattr(b->fs, path, key, v, sizeof v);
	if (n < 0)
		return errno == ENODATA ? 0 : -errno;
	return n >= 8 ? (long long)be32(v) + be32(v + 4) : 0;
}

struct gl_verdict {
	bool pending, split;
	size_t accuser, blamed;		/* bricks, for messages */
};

/* What the copies of PATH in replica set S say of each other. */
static void gl_judge(const struct gl_bricks *bs, const struct gl_set *s, const char *path,
		     struct gl_verdict *out)
{
	bool blames[GL_MAX_SET][GL_MAX_SET] = { { false } }, here[GL_MAX_SET] = { false };
	char key[320];

	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < s->n; i++) {
		const struct gl_brick *b = &bs->b[s->member[i]];

		here[i] = true;
		for (size_t k = 0; k < s->n && here[i]; k++) {
			long long n;

			if (k == i)
				continue;
			snprintf(key, sizeof key, "trusted.afr.%s", bs->b[s->member[k]].client);
			n = gl_counters(b, path, key);
			if (n == -ENOENT || n == -EHOSTUNREACH)
				here[i] = false;	/* no copy there, or not asked */
			if (n > 0) {
				blames[i][k] = out->pending = true;
				out->accuser = s->member[i];
				out->blamed = s->member[k];
			}
		}
	}
	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < s->n; k++)
			if (here[i] && here[k] && blames[i][k] && blames[k][i]) {
				out->split = true;
				out->accuser = s->member[i];
				out->blamed = s->member[k];
			}
}

/* ---- the image ---- */

struct gl_files {
	char **path;
	size_t n;
};

static void gl_files_add(struct gl_files *f, char *path)
{
	char **p;

	if (!path || f->n >= GL_MAX_FILES || !(p = realloc(f->path, (f->n + 1) * sizeof *p))) {
		free(path);
		return;
	}
	f->path = p;
	p[f->n++] = path;
}

/* The shards of the image whose base file has GFID, as any brick lists
 * them. */
static void gl_shard_files(const struct gl_bricks *bs, const char *gfid, struct gl_files *f)
{
	size_t len = strlen(gfid);

	for (size_t i = 0; i < bs->n; i++) {
		struct dirent de, *res;
		glfs_fd_t *d;

		if (!bs->b[i].fs || !(d = glfs_opendir(bs->b[i].fs, "/.shard")))
			continue;
		while (glfs_readdir_r(d, &de, &res) == 0 && res) {
			char *p;
			bool seen = false;

			if (strncmp(de.d_name, gfid, len) || de.d_name[len] != '.' ||
			    asprintf(&p, "/.shard/%s", de.d_name) < 0)
				continue;
			for (size_t k = 0; k < f->n && !seen; k++)
				seen = !strcmp(f->path[k], p);
			if (seen)
				free(p);
			else
				gl_files_add(f, p);
		}
		glfs_closedir(d);
	}
}

static void gl_say(struct mortar_replica_state *st, const char *volume,
		   const struct gl_bricks *bs, const char *split_path,
		   const struct gl_verdict *split, const char *pending_path,
		   const struct gl_verdict *pending)
{
	size_t n = 0, cap = sizeof st->detail;

	if (st->split_brain)
		n += (size_t)snprintf(st->detail + n, cap - n, "%u of %u files of the image in "
			"split-brain (the copies on %s and %s blame each other on %s): reads "
			"there fail; choose the copy to keep: 'gluster volume heal %s "
			"split-brain source-brick %s %s' (or the other brick; or "
			"'latest-mtime %s' where their times differ)", st->split_brain,
			st->files, bs->b[split->accuser].where, bs->b[split->blamed].where,
			split_path, volume, bs->b[split->accuser].where, split_path, split_path);
	else if (st->pending)
		n += (size_t)snprintf(st->detail + n, cap - n, "%u of %u files of the image wait "
			"for a self-heal (%s blames %s's copy of %s): the replica is not "
			"redundant until it ends; 'gluster volume heal %s' starts it, "
			"'gluster volume heal %s info' shows it", st->pending, st->files,
			bs->b[pending->accuser].where, bs->b[pending->blamed].where,
			pending_path, volume, volume);
	else
		n += (size_t)snprintf(st->detail + n, cap - n, "%u copies in sync (%u file%s "
				      "of the image)", st->copies, st->files, st->files > 1 ? "s" : "");
	if (st->unreachable && n < cap)
		snprintf(st->detail + n, cap - n, "; %u brick%s could not be asked ('gluster "
			 "volume status %s')", st->unreachable, st->unreachable > 1 ? "s" : "",
			 volume);
}

static void gl_replica_files(struct gl_conn *c, const struct mortar_location *loc,
			     const struct gl_bricks *bs, struct mortar_replica_state *st)
{
	struct gl_files f = { 0 };
	struct gl_verdict v, split = { 0 }, pending = { 0 };
	const char *split_path = NULL, *pending_path = NULL;
	char gfid[37], *base;

	if (asprintf(&base, "%s%s", loc->path[0] == '/' ? "" : "/", loc->path) < 0)
		base = NULL;
	gl_files_add(&f, base);
	if (gl_gfid(c->fs, loc->path, gfid) == 0)
		gl_shard_files(bs, gfid, &f);
	st->files = (unsigned)f.n;
	for (size_t i = 0; i < f.n; i++) {
		for (size_t s = 0; s < bs->nsets; s++) {
			gl_judge(bs, &bs->sets[s], f.path[i], &v);
			if (v.split && !st->split_brain++) {
				split = v;
				split_path = f.path[i];
			}
			if (v.pending && !v.split && !st->pending++) {
				pending = v;
				pending_path = f.path[i];
			}
		}
	}
	gl_say(st, loc->volume, bs, split_path, &split, pending_path, &pending);
	for (size_t i = 0; i < f.n; i++)
		free(f.path[i]);
	free(f.path);
}

int mortar_gluster_replica(const struct mortar_location *loc, struct mortar_replica_state *st)
{
	struct gl_volfile *v;
	struct gl_bricks *bs;
	struct gl_conn *c;
	int r = gl_conn_get_volfile(loc, &c, &v);

	if (r < 0)
		return r;
	if (!gl_volfile_find(v, "cluster/replicate"))
		goto out;	/* one copy */
	if ((r = gl_bricks_get(c, v, &bs)) < 0) {
		r = mortar_set_error(-r, "out of memory");
		goto out;
	}
	st->replicated = true;
	st->copies = bs->nsets ? (unsigned)bs->sets[0].n : 0;
	for (size_t i = 0; i < bs->n; i++)
		st->unreachable += !bs->b[i].fs;
	gl_replica_files(c, loc, bs, st);
out:
	gl_volfile_free(v);
	gl_conn_put(c);
	return r;
}
