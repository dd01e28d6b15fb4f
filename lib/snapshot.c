/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Named snapshots beside the image (include/mortar/snapshot.h). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <json-c/json.h>

#include <mortar/mortar.h>
#include <mortar/snapshot.h>
#include "error.h"
#include "fs.h"
#include "temp.h"

/* snprintf for paths: the compiler cannot see the bound of directory
 * entries; an over-long result is an error, never a truncated name. */
static int pathf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return mortar_set_error(ENAMETOOLONG, "path too long: %.60s...", buf);
	return n;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || name[0] == '.' ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789._-") != n)
		return mortar_set_error(EINVAL, "bad snapshot name '%s': use 1 to 64 "
					"letters, digits, '.', '_' or '-', not starting "
					"with '.'", name);
	return 0;
}

/* An image's snapshot folder, on whatever holds the image. */
struct snapdir {
	struct mortar_fs *fs;
	char *text;			/* the image's location, for messages */
	const char *path;		/* the image's path in FS */
	char dir[PATH_MAX];		/* FOLDER/.IMAGE.snapshots */
};

static void snapdir_close(struct snapdir *d)
{
	mortar_fs_close(d->fs);
	d->fs = NULL;
	free(d->text);
	d->text = NULL;
}

static int snapdir_open(const struct mortar_location *loc, struct snapdir *d)
{
	char folder[PATH_MAX];
	const char *base, *image;
	struct stat st;
	int r;

	memset(d, 0, sizeof *d);
	d->text = mortar_location_format(loc);
	if (!d->text)
		return mortar_set_error(ENOMEM, "out of memory");
	image = d->text;
	r = mortar_fs_open(loc, &d->fs);
	if (r == -ENOTSUP)
		return mortar_set_error(ENOTSUP, "%s: snapshots are kept beside images on "
					"local files and GlusterFS volumes; copy this one "
					"with 'mortar img clone'", image);
	if (r < 0) {
		snapdir_close(d);
		return r;
	}
	d->path = d->fs->loc->path;
	if (mortar_path_split(d->path, folder, sizeof folder, &base) < 0 ||
	    (base == d->path ? pathf(d->dir, sizeof d->dir, ".%s.snapshots", base) :
	     pathf(d->dir, sizeof d->dir, "%s/.%s.snapshots", folder, base)) < 0) {
		snapdir_close(d);
		return mortar_set_error(ENAMETOOLONG, "%s: name too long", image);
	}
	r = d->fs->ops->stat(d->fs->ctx, d->path, &st);
	if (r == 0 && !S_ISREG(st.st_mode))
		r = mortar_set_error(ENOTSUP, "%s: snapshots need a regular file "
				     "(block devices have no room beside them)", image);
	else if (r < 0)
		r = mortar_set_error(-r, "%s: %s", image, strerror(-r));
	if (r < 0)
		snapdir_close(d);
	return r;
}

static int fs_stat(struct snapdir *d, const char *path, struct stat *st)
{
	return d->fs->ops->stat(d->fs->ctx, path, st);
}

static bool fs_exists(struct snapdir *d, const char *path)
{
	struct stat st;

	return fs_stat(d, path, &st) == 0;
}

/* Remove what crashed snapshot commands left: temporaries whose writer is
 * gone, and images whose description never got written and whose creator
 * (.NAME.json.tmp-TAG) is gone too. */
static void cleanup(struct snapdir *d)
{
	const struct mortar_fs_ops *ops = d->fs->ops;
	char **names = NULL, path[PATH_MAX];
	size_t count = 0;
	struct stat st;

	if (ops->list(d->fs->ctx, d->dir, &names, &count) < 0)
		return;
	for (size_t i = 0; i < count; i++) {
		const char *name = names[i], *t = strstr(name, ".tmp-");
		size_t n = strlen(name);

		if (pathf(path, sizeof path, "%s/%s", d->dir, name) < 0)
			continue;
		if (name[0] == '.' && t) {
			if (fs_stat(d, path, &st) == 0 && mortar_tmp_abandoned(t + 5, st.st_mtime))
				ops->unlink(d->fs->ctx, path);
		} else if (n > 4 && !strcmp(name + n - 4, ".img")) {
			char json[PATH_MAX], prefix[NAME_MAX + 16];
			bool busy = false;

			pathf(json, sizeof json, "%s/%.*s.json", d->dir, (int)(n - 4), name);
			if (fs_exists(d, json))
				continue;
			pathf(prefix, sizeof prefix, ".%.*s.json.tmp-", (int)(n - 4), name);
			for (size_t j = 0; j < count; j++) {
				char p2[PATH_MAX];

				if (strncmp(names[j], prefix, strlen(prefix)) ||
				    pathf(p2, sizeof p2, "%s/%s", d->dir, names[j]) < 0)
					continue;
				if (fs_stat(d, p2, &st) == 0 &&
				    !mortar_tmp_abandoned(names[j] + strlen(prefix), st.st_mtime))
					busy = true;
			}
			if (!busy)
				ops->unlink(d->fs->ctx, path);
		}
	}
	mortar_names_free(names, count);
}

int mortar_snapshot_create(const struct mortar_location *image, const char *name,
			   mortar_progress_fn progress, void *opaque,
			   struct mortar_snapshot *out)
{
	char img[PATH_MAX], json[PATH_MAX], tmp[PATH_MAX], tag[300];
	enum mortar_clone_method used;
	struct mortar_location *imgloc = NULL;
	struct snapdir d;
	json_object *o;
	struct stat st;
	time_t now = time(NULL);
	const char *text;
	int r;

	if ((r = check_name(name)) < 0 || (r = snapdir_open(image, &d)) < 0)
		return r;
	r = d.fs->ops->mkdir(d.fs->ctx, d.dir, 0755);
	if (r < 0 && r != -EEXIST) {
		r = mortar_set_error(-r, "cannot create %s: %s", d.dir, strerror(-r));
		goto out;
	}
	cleanup(&d);
	if (mortar_tmp_tag(tag, sizeof tag) < 0 ||
	    pathf(img, sizeof img, "%s/%s.img", d.dir, name) < 0 ||
	    pathf(json, sizeof json, "%s/%s.json", d.dir, name) < 0 ||
	    pathf(tmp, sizeof tmp, "%s/.%s.json.tmp-%s", d.dir, name, tag) < 0) {
		r = -ENAMETOOLONG;
		goto out;
	}
	if (fs_exists(&d, json)) {
		r = mortar_set_error(EEXIST, "%s already has a snapshot '%s'; delete it "
				     "first or pick another name", d.text, name);
		goto out;
	}
	/* Claim the name before the (maybe long) copy: the temporary marks
	 * a live creator, so that a concurrent cleanup leaves NAME.img be. */
	r = d.fs->ops->put(d.fs->ctx, tmp, "", 0, true);
	if (r < 0) {
		r = mortar_set_error(-r, "%s: %s", tmp, strerror(-r));
		goto out;
	}
	r = mortar_fs_location(d.fs, img, &imgloc);
	if (r == 0)
		r = mortar_image_clone(image, imgloc, MORTAR_CLONE_FORCE, progress,
				       opaque, &used);
	if (r < 0) {
		d.fs->ops->unlink(d.fs->ctx, tmp);
		goto out;
	}
	d.fs->ops->chmod(d.fs->ctx, img, 0444);	/* a snapshot does not change */
	if ((r = fs_stat(&d, img, &st)) < 0) {
		r = mortar_set_error(-r, "%s: %s", img, strerror(-r));
		goto drop;
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "created", json_object_new_int64(now));
	json_object_object_add(o, "size", json_object_new_uint64((uint64_t)st.st_size));
	json_object_object_add(o, "method", json_object_new_string(mortar_clone_method_name(used)));
	json_object_object_add(o, "shared", json_object_new_boolean(mortar_clone_method_shares(used)));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	/* The description is written last, under the claimed name, and
	 * renamed into place: only then is the snapshot listed. */
	r = d.fs->ops->put(d.fs->ctx, tmp, text, strlen(text), false);
	if (r == 0)
		r = d.fs->ops->rename(d.fs->ctx, tmp, json);
	json_object_put(o);
	if (r < 0) {
		r = mortar_set_error(-r, "%s: %s", json, strerror(-r));
		d.fs->ops->unlink(d.fs->ctx, tmp);
		goto drop;
	}
	if (out) {
		memset(out, 0, sizeof *out);
		snprintf(out->name, sizeof out->name, "%s", name);
		out->location = mortar_location_format(imgloc);
		out->size = (uint64_t)st.st_size;
		out->created = now;
		snprintf(out->method, sizeof out->method, "%s", mortar_clone_method_name(used));
		out->shared = mortar_clone_method_shares(used);
	}
	goto out;
drop:
	d.fs->ops->unlink(d.fs->ctx, img);
out:
	mortar_location_free(imgloc);
	snapdir_close(&d);
	return r;
}

/* The location of PATH beside the image, as text (NULL: out of memory). */
static char *snap_text(struct snapdir *d, const char *path)
{
	struct mortar_location *loc;
	char *text = NULL;

	if (mortar_fs_location(d->fs, path, &loc) == 0)
		text = mortar_location_format(loc);
	mortar_location_free(loc);
	return text;
}

static int read_one(struct snapdir *d, const char *jsonname, struct mortar_snapshot *s)
{
	char path[PATH_MAX], img[PATH_MAX], *text = NULL;
	json_object *o, *v;
	size_t n = strlen(jsonname) - 5;

	if (pathf(path, sizeof path, "%s/%s", d->dir, jsonname) < 0 ||
	    pathf(img, sizeof img, "%s/%.*s.img", d->dir, (int)n, jsonname) < 0 ||
	    !fs_exists(d, img) || d->fs->ops->get(d->fs->ctx, path, &text, 4096) < 0)
		return -1;
	o = json_tokener_parse(text);
	free(text);
	if (!o)
		return -1;
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%.*s", (int)n, jsonname);
	if (json_object_object_get_ex(o, "created", &v))
		s->created = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "size", &v))
		s->size = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "method", &v))
		snprintf(s->method, sizeof s->method, "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "shared", &v))
		s->shared = json_object_get_boolean(v);
	json_object_put(o);
	s->location = snap_text(d, img);
	return s->location ? 0 : -1;
}

static int by_created(const void *a, const void *b)
{
	const struct mortar_snapshot *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->name, y->name);
}

int mortar_snapshot_list(const struct mortar_location *image, struct mortar_snapshot **list, size_t *count)
{
	struct mortar_snapshot *v = NULL;
	char **names = NULL;
	size_t n = 0, nn = 0;
	struct snapdir d;
	int r;

	*list = NULL;
	*count = 0;
	if ((r = snapdir_open(image, &d)) < 0)
		return r;
	r = d.fs->ops->list(d.fs->ctx, d.dir, &names, &nn);
	if (r < 0) {
		r = r == -ENOENT ? 0 : mortar_set_error(-r, "%s: %s", d.dir, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < nn; i++) {
		size_t len = strlen(names[i]);
		struct mortar_snapshot *nv;

		if (names[i][0] == '.' || len <= 5 || strcmp(names[i] + len - 5, ".json"))
			continue;
		nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv) {
			mortar_snapshot_list_free(v, n);
			v = NULL;
			n = 0;
			r = mortar_set_error(ENOMEM, "out of memory");
			goto out;
		}
		v = nv;
		if (read_one(&d, names[i], &v[n]) == 0)
			n++;
	}
	if (n)
		qsort(v, n, sizeof *v, by_created);
	*list = v;
	*count = n;
out:
	mortar_names_free(names, nn);
	snapdir_close(&d);
	return r;
}

void mortar_snapshot_list_free(struct mortar_snapshot *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].location);
	free(list);
}

/* Paths of snapshot NAME's files; -ENOENT with a message if it is not
 * there. */
static int snap_paths(struct snapdir *d, const char *name,
		      char *json, char *img, bool need_both)
{
	if (pathf(json, PATH_MAX, "%s/%s.json", d->dir, name) < 0 ||
	    pathf(img, PATH_MAX, "%s/%s.img", d->dir, name) < 0)
		return -ENAMETOOLONG;
	if (!fs_exists(d, json) || (need_both && !fs_exists(d, img)))
		return mortar_set_error(ENOENT, "%s has no snapshot '%s' (see 'mortar img "
					"snapshot list %s')", d->text, name, d->text);
	return 0;
}

int mortar_snapshot_location(const struct mortar_location *image, const char *name,
			     struct mortar_location **out)
{
	char json[PATH_MAX], img[PATH_MAX];
	struct snapdir d;
	int r;

	*out = NULL;
	if ((r = check_name(name)) < 0 || (r = snapdir_open(image, &d)) < 0)
		return r;
	r = snap_paths(&d, name, json, img, true);
	if (r == 0)
		r = mortar_fs_location(d.fs, img, out);
	snapdir_close(&d);
	return r;
}

int mortar_snapshot_delete(const struct mortar_location *image, const char *name)
{
	char json[PATH_MAX], img[PATH_MAX];
	struct snapdir d;
	int r;

	if ((r = check_name(name)) < 0 || (r = snapdir_open(image, &d)) < 0)
		return r;
	r = snap_paths(&d, name, json, img, false);
	/* The description goes first: from then on the snapshot is not
	 * listed, and a leftover image is cleaned up later. */
	if (r == 0 && (r = d.fs->ops->unlink(d.fs->ctx, json)) < 0)
		r = mortar_set_error(-r, "%s: %s", json, strerror(-r));
	if (r == 0) {
		int u = d.fs->ops->unlink(d.fs->ctx, img);
		if (u < 0 && u != -ENOENT)
			r = mortar_set_error(-u, "%s: %s", img, strerror(-u));
	}
	snapdir_close(&d);
	return r;
}

int mortar_snapshot_revert(const struct mortar_location *image, const char *name,
			   mortar_progress_fn progress, void *opaque)
{
	char json[PATH_MAX], img[PATH_MAX];
	struct mortar_location *snap = NULL;
	struct snapdir d;
	int r;

	if ((r = check_name(name)) < 0 || (r = snapdir_open(image, &d)) < 0)
		return r;
	r = snap_paths(&d, name, json, img, true);
	/* Same file, new content: an export that has it open sees the
	 * snapshot. */
	if (r == 0)
		r = mortar_fs_location(d.fs, img, &snap);
	if (r == 0)
		r = mortar_image_copy_over(snap, image, progress, opaque);
	mortar_location_free(snap);
	snapdir_close(&d);
	return r;
}
