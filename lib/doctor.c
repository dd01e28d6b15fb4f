/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar_doctor() (doctor.h): walks a location from its syntax to a
 * write, step by step, so that the first step that fails names the cause
 * and its fix.
 *
 * The write step never writes the image: a guest may be using it (through
 * mortar serve, qemu-nbd or QEMU itself), and rewriting even its own bytes
 * would undo a write the guest made in between.  It opens the image
 * read-write (the permission) and writes, syncs, reads back and removes a
 * scratch file beside it (the storage: space, quota, a read-only or
 * failing volume). */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <mortar/doctor.h>
#include <mortar/health.h>
#include <mortar/mortar.h>
#include "diag.h"
#include "error.h"
#include "fs.h"
#include "temp.h"

struct doc {
	mortar_check_fn fn;
	void *opaque;
	int first_err;
	char buf[1200];
};

static void doc_report(struct doc *d, const char *name, enum mortar_check_status st,
		       int err, const char *detail)
{
	struct mortar_check c = { name, st, err, detail };

	if (st == MORTAR_CHECK_FAILED && d->first_err == 0)
		d->first_err = err ? err : -EIO;
	d->fn(d->opaque, &c);
}

static void doc_skip(struct doc *d, const char *name)
{
	doc_report(d, name, MORTAR_CHECK_SKIPPED, 0, "not run: an earlier step failed");
}

/* The gluster-specific steps before the volume: names and glusterd. */
static bool doc_gluster_net(struct doc *d, const struct mortar_location *loc)
{
	bool resolved = true, reached = false;
	size_t n = 0;

	d->buf[0] = '\0';
	for (size_t i = 0; i < loc->nservers; i++) {
		const struct mortar_server *s = &loc->servers[i];
		const char *host = s->host && s->host[0] ? s->host : "localhost";
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;

		if (s->transport == MORTAR_TRANSPORT_UNIX)
			continue;
		if (getaddrinfo(host, NULL, &hints, &res) != 0) {
			if (n < sizeof d->buf)
				n += (size_t)snprintf(d->buf + n, sizeof d->buf - n,
						      "%s'%s' does not resolve", n ? "; " : "",
						      host);
			resolved = false;
			continue;
		}
		freeaddrinfo(res);
	}
	if (!resolved && loc->nservers == 1) {
		if (n < sizeof d->buf)
			snprintf(d->buf + n, sizeof d->buf - n,
				 "; check the name or use an IP address");
		doc_report(d, "resolve", MORTAR_CHECK_FAILED, -EHOSTUNREACH, d->buf);
		doc_skip(d, "glusterd");
		return false;
	}
	doc_report(d, "resolve", MORTAR_CHECK_OK, 0, resolved ?
		   "every server name resolves" : d->buf);

	n = 0;
	d->buf[0] = '\0';
	for (size_t i = 0; i < loc->nservers; i++) {
		const struct mortar_server *s = &loc->servers[i];
		int r = mortar_probe_server(s, MORTAR_GLUSTER_DEFAULT_PORT);
		const char *where = s->transport == MORTAR_TRANSPORT_UNIX ? s->socket :
				    s->host && s->host[0] ? s->host : "localhost";

		if (r == 0)
			reached = true;
		if (n < sizeof d->buf)
			n += (size_t)snprintf(d->buf + n, sizeof d->buf - n, "%s%s: %s",
				n ? "; " : "", where, r == 0 ? "glusterd answers" :
				r == -ECONNREFUSED || r == -ENOENT ? "nothing listens (glusterd "
				"not running, or wrong port/socket)" : r == -EHOSTUNREACH ?
				"does not resolve" : strerror(-r));
	}
	doc_report(d, "glusterd", reached ? MORTAR_CHECK_OK : MORTAR_CHECK_FAILED,
		   reached ? 0 : -ECONNREFUSED, d->buf);
	return reached;
}

/* ---- the write step: a scratch file beside the image ---- */

#define SCRATCH_LEN 65536

/* Text, so that the namespace's get (NUL-terminated) reads it back whole;
 * not zeroes, which some storage would not write at all. */
static void scratch_fill(char *buf, size_t len, const char *tag)
{
	size_t n = 0;

	while (n < len) {
		int k = snprintf(buf + n, len - n + 1, "mortar doctor write probe %s at %zu\n",
				 tag, n);
		if (k < 0)
			break;
		n += (size_t)k;
	}
	buf[len] = '\0';
}

/* Create, fill, sync, read back and remove D->buf's scratch PATH in FS:
 * 0, or a negative errno with the step's sentence in D->buf. */
static int scratch_probe(struct doc *d, struct mortar_fs *fs, const char *path,
			 const char *tag)
{
	char *want = malloc(SCRATCH_LEN + 1), *got = NULL;
	int r = want ? 0 : -ENOMEM;

	if (r == 0) {
		scratch_fill(want, SCRATCH_LEN, tag);
		r = fs->ops->put(fs->ctx, path, want, SCRATCH_LEN, true);
	}
	if (r < 0) {
		snprintf(d->buf, sizeof d->buf, "writing %d KiB to %.600s beside the image "
			 "failed: %s%s", SCRATCH_LEN / 1024, path, strerror(-r),
			 r == -ENOSPC ? "; the storage is full: free or add space, or "
			 "the guest's writes to new blocks fail the same way" :
			 r == -EDQUOT ? "; a quota is exhausted: raise it or free space" :
			 r == -EROFS ? "; the storage is read-only: remount it (or the "
			 "volume) read-write" : "");
	} else if ((r = fs->ops->get(fs->ctx, path, &got, SCRATCH_LEN)) < 0 ||
		   strcmp(got, want)) {
		snprintf(d->buf, sizeof d->buf, "%.600s beside the image %s: %s", path,
			 r < 0 ? "could not be read back" : "read back different bytes",
			 r < 0 ? strerror(-r) : "the storage does not return what was written");
		r = r < 0 ? r : -EIO;
	}
	if (fs->ops->unlink(fs->ctx, path) < 0 && r == 0)
		snprintf(d->buf, sizeof d->buf, "could not remove the scratch file %.600s", path);
	free(want);
	free(got);
	return r;
}

static void doc_write(struct doc *d, struct mortar_image *img)
{
	const struct mortar_location *loc = mortar_image_location(img);
	char dir[PATH_MAX], path[PATH_MAX + 96], prefix[PATH_MAX], tag[300];
	struct mortar_fs *fs = NULL;
	const char *base;
	int r;

	if (!strcmp(mortar_image_backend(img), "block")) {
		doc_report(d, "write", MORTAR_CHECK_SKIPPED, 0, "a block device opens "
			   "read-write, but has no folder beside it for a scratch file, and "
			   "Mortar does not write a disk a guest may be using");
		return;
	}
	r = mortar_fs_open(loc, &fs);
	if (r == 0 && (mortar_path_split(loc->path, dir, sizeof dir, &base) < 0 ||
		       mortar_tmp_tag(tag, sizeof tag) < 0 ||
		       snprintf(prefix, sizeof prefix, ".%s.doctor.tmp-", base) >= (int)sizeof prefix))
		r = mortar_set_error(ENAMETOOLONG, "the image's path is too long for a "
				     "scratch file beside it");
	if (r < 0) {
		doc_report(d, "write", MORTAR_CHECK_FAILED, r, mortar_errmsg());
		mortar_fs_close(fs);
		return;
	}
	/* Those of a doctor that died before removing its own. */
	mortar_tmp_remove_prefixed(fs->ops, fs->ctx, dir, prefix);
	r = snprintf(path, sizeof path, "%s/%s%s", dir, prefix, tag) >= (int)sizeof path ?
	    -ENAMETOOLONG : scratch_probe(d, fs, path, tag);
	if (r == -ENAMETOOLONG)
		snprintf(d->buf, sizeof d->buf, "the image's path is too long for a "
			 "scratch file beside it");
	if (r == -EACCES || r == -EPERM)
		doc_report(d, "write", MORTAR_CHECK_SKIPPED, 0, "the image opens read-write, "
			   "but this user may not create a scratch file beside it to test "
			   "the storage; nothing was written");
	else if (r < 0)
		doc_report(d, "write", MORTAR_CHECK_FAILED, r, d->buf);
	else
		doc_report(d, "write", MORTAR_CHECK_OK, 0, "wrote, synced, read back and "
			   "removed 64 KiB in a scratch file beside the image (the image "
			   "itself is opened read-write, never written)");
	mortar_fs_close(fs);
}

/* Read the first block; then, if asked, the write step. */
static void doc_read(struct doc *d, struct mortar_image *img, unsigned flags)
{
	size_t len = mortar_image_size(img) < 65536 ? mortar_image_size(img) : 65536;
	void *buf = NULL;
	int r;

	if (len && posix_memalign(&buf, 4096, len)) {
		doc_report(d, "read", MORTAR_CHECK_FAILED, -ENOMEM, "out of memory");
		doc_skip(d, "write");
		return;
	}
	r = len ? mortar_image_pread_sync(img, buf, len, 0) : 0;
	free(buf);
	if (r < 0) {
		doc_report(d, "read", MORTAR_CHECK_FAILED, r, mortar_errmsg());
		doc_skip(d, "write");
		return;
	}
	snprintf(d->buf, sizeof d->buf, "read %zu bytes at offset 0", len);
	doc_report(d, "read", MORTAR_CHECK_OK, 0, d->buf);
	if (flags & MORTAR_DOCTOR_WRITE)
		doc_write(d, img);
	else
		doc_report(d, "write", MORTAR_CHECK_SKIPPED, 0, "not asked for (--write "
			   "writes a scratch file beside the image)");
}

/* GlusterFS: do the copies of the image agree?  Before the read, so that
 * a split-brain is named as such rather than as the EIO it causes. */
static void doc_replica(struct doc *d, const struct mortar_location *loc)
{
	struct mortar_replica_state st;
	int r = mortar_replica_state(loc, &st);

	if (r < 0)
		doc_report(d, "replica", MORTAR_CHECK_WARNED, r, mortar_errmsg());
	else if (!st.replicated)
		doc_report(d, "replica", MORTAR_CHECK_OK, 0, "one copy: the volume does "
			   "not replicate");
	else
		doc_report(d, "replica", st.split_brain ? MORTAR_CHECK_FAILED :
			   st.pending || st.unreachable ? MORTAR_CHECK_WARNED : MORTAR_CHECK_OK,
			   st.split_brain ? -EIO : 0, st.detail);
}

static void doc_advice(void *opaque, const char *setting, const char *finding,
		       const char *fix)
{
	struct doc *d = opaque;

	snprintf(d->buf, sizeof d->buf, "%s: %s; fix: %s", setting, finding, fix);
	doc_report(d, "options", MORTAR_CHECK_WARNED, 0, d->buf);
}

/* GlusterFS: the volume's settings against the virt profile. */
static void doc_options(struct doc *d, const struct mortar_location *loc)
{
	int r = mortar_volume_review(loc, doc_advice, d);

	if (r < 0)
		doc_report(d, "options", MORTAR_CHECK_WARNED, r, mortar_errmsg());
	else if (r == 0)
		doc_report(d, "options", MORTAR_CHECK_OK, 0, "the volume's settings suit VM "
			   "images (sharding, client caches, quorum, ping timeout, owner, as "
			   "the virt profile has them)");
}

int mortar_doctor(const char *location, unsigned flags, mortar_check_fn fn, void *opaque)
{
	struct doc d = { .fn = fn, .opaque = opaque };
	struct mortar_location *loc = NULL;
	struct mortar_image *img = NULL;
	struct mortar_loop *loop = NULL;
	char *canon = NULL;
	bool ok;
	int r;

	r = mortar_location_parse(location, &loc, NULL);
	if (r < 0) {
		doc_report(&d, "location", MORTAR_CHECK_FAILED, r, mortar_errmsg());
		return d.first_err;
	}
	canon = mortar_location_format(loc);
	snprintf(d.buf, sizeof d.buf, "%s location %s", mortar_scheme_name(loc->scheme),
		 canon ? canon : location);
	doc_report(&d, "location", MORTAR_CHECK_OK, 0, d.buf);
	free(canon);

	ok = true;
	if (loc->scheme == MORTAR_SCHEME_GLUSTER) {
		ok = doc_gluster_net(&d, loc);
		if (!ok) {
			doc_skip(&d, "open");
			doc_skip(&d, "read");
			doc_skip(&d, "write");
			goto out;
		}
	} else if (loc->scheme == MORTAR_SCHEME_FILE) {
		struct stat st;

		if (stat(loc->path, &st) < 0) {
			r = -errno;
			snprintf(d.buf, sizeof d.buf, "%s: %s%s", loc->path, strerror(errno),
				 errno == ENOENT ? "; create it with 'mortar img create' or "
				 "check the path" : errno == EACCES ? "; a folder on the "
				 "path is not searchable by this user" : "");
			doc_report(&d, "exists", MORTAR_CHECK_FAILED, r, d.buf);
			ok = false;
		} else {
			snprintf(d.buf, sizeof d.buf, "%s, %lld bytes", S_ISBLK(st.st_mode) ?
				 "block device" : S_ISREG(st.st_mode) ? "regular file" :
				 "not a file nor a block device", (long long)st.st_size);
			doc_report(&d, "exists", MORTAR_CHECK_OK, 0, d.buf);
		}
	}

	if (ok && (r = mortar_loop_new(8, &loop)) < 0) {
		doc_report(&d, "open", MORTAR_CHECK_FAILED, r, mortar_errmsg());
		ok = false;
	}
	if (ok) {
		r = mortar_image_open(loop, loc, (flags & MORTAR_DOCTOR_WRITE) ?
				      0 : MORTAR_OPEN_RDONLY, &img);
		if (r < 0) {
			doc_report(&d, "open", MORTAR_CHECK_FAILED, r, mortar_errmsg());
			ok = false;
		} else {
			snprintf(d.buf, sizeof d.buf, "opened %s (%s backend, %llu bytes)",
				 (flags & MORTAR_DOCTOR_WRITE) ? "read-write" : "read-only",
				 mortar_image_backend(img),
				 (unsigned long long)mortar_image_size(img));
			doc_report(&d, "open", MORTAR_CHECK_OK, 0, d.buf);
		}
	} else {
		doc_skip(&d, "open");
	}

	if (ok && loc->scheme == MORTAR_SCHEME_GLUSTER)
		doc_replica(&d, loc);
	if (ok) {
		doc_read(&d, img, flags);
	} else {
		doc_skip(&d, "read");
		doc_skip(&d, "write");
	}
	if (ok && loc->scheme == MORTAR_SCHEME_GLUSTER)
		doc_options(&d, loc);
out:
	if (img && mortar_image_close(img) < 0 && d.first_err == 0)
		d.first_err = -EIO;
	mortar_loop_free(loop);
	mortar_location_free(loc);
	return d.first_err;
}
