/* Named snapshots beside the image (include/mortar/snapshot.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <json-c/json.h>

#include <mortar/mortar.h>
#include <mortar/snapshot.h>
#include "error.h"

#define COPY_CHUNK (4u << 20)

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

/* The image's path and its snapshot directory, for a local image. */
static int snap_dir(const char *image, char *path, size_t plen, char *dir, size_t dlen)
{
	struct mortar_location *loc;
	char *d1, *d2;
	struct stat st;
	int r, n;

	r = mortar_location_parse(image, &loc, NULL);
	if (r < 0)
		return r;
	if (loc->scheme != MORTAR_SCHEME_FILE) {
		r = mortar_set_error(ENOTSUP, "%s: snapshots are kept for local images "
				     "only so far; copy a %s image with 'mortar img clone'",
				     image, mortar_scheme_name(loc->scheme));
		mortar_location_free(loc);
		return r;
	}
	n = snprintf(path, plen, "%s", loc->path);
	mortar_location_free(loc);
	if (n < 0 || (size_t)n >= plen)
		return mortar_set_error(ENAMETOOLONG, "%s: name too long", image);
	if (stat(path, &st) < 0)
		return mortar_set_error(errno, "%s: %m", path);
	if (!S_ISREG(st.st_mode))
		return mortar_set_error(ENOTSUP, "%s: snapshots need a regular file "
					"(block devices have no room beside them)", path);
	d1 = strdup(path);
	d2 = strdup(path);
	if (!d1 || !d2)
		n = -1;
	else
		n = snprintf(dir, dlen, "%s/.%s.snapshots", dirname(d1), basename(d2));
	free(d1);
	free(d2);
	if (n < 0 || (size_t)n >= dlen)
		return mortar_set_error(ENAMETOOLONG, "%s: name too long", image);
	return 0;
}

static bool pid_dead(const char *digits)
{
	char *end;
	long pid = strtol(digits, &end, 10);

	return !*end && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Remove what crashed snapshot commands left: temporaries of dead
 * processes, and images whose description never got written. */
static void cleanup(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((de = readdir(dp))) {
		const char *t = strstr(de->d_name, ".tmp-");
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' && t && pid_dead(t + 5)) {
			pathf(path, sizeof path, "%s/%s", dir, de->d_name);
			unlink(path);
		} else if (n > 4 && !strcmp(de->d_name + n - 4, ".img")) {
			/* NAME.img without NAME.json and without a live
			 * creator (.NAME.json.tmp-PID) is a leftover. */
			char json[PATH_MAX], prefix[NAME_MAX + 16];
			struct dirent *de2;
			bool busy = false;
			DIR *dp2;

			pathf(json, sizeof json, "%s/%.*s.json", dir, (int)(n - 4), de->d_name);
			if (access(json, F_OK) == 0)
				continue;
			pathf(prefix, sizeof prefix, ".%.*s.json.tmp-", (int)(n - 4), de->d_name);
			if ((dp2 = opendir(dir))) {
				while ((de2 = readdir(dp2)))
					if (!strncmp(de2->d_name, prefix, strlen(prefix)) &&
					    !pid_dead(de2->d_name + strlen(prefix)))
						busy = true;
				closedir(dp2);
			}
			if (!busy) {
				pathf(path, sizeof path, "%s/%s", dir, de->d_name);
				unlink(path);
			}
		}
	}
	closedir(dp);
}

static int write_file_atomic(const char *path, const char *tmp, const char *text)
{
	size_t len = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r = 0;

	if (fd < 0)
		return mortar_set_error(errno, "%s: %m", tmp);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = mortar_set_error(errno ? errno : EIO, "%s: %m", tmp);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = mortar_set_error(errno, "rename %s: %m", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

int mortar_snapshot_create(const char *image, const char *name,
			   mortar_progress_fn progress, void *opaque,
			   struct mortar_snapshot *out)
{
	char path[PATH_MAX], dir[PATH_MAX], img[PATH_MAX], json[PATH_MAX], tmp[PATH_MAX];
	enum mortar_clone_method used;
	json_object *o;
	struct stat st;
	time_t now = time(NULL);
	int r;

	if ((r = check_name(name)) < 0 || (r = snap_dir(image, path, sizeof path, dir, sizeof dir)) < 0)
		return r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return mortar_set_error(errno, "cannot create %s: %m", dir);
	cleanup(dir);
	if (pathf(img, sizeof img, "%s/%s.img", dir, name) < 0 ||
	    pathf(json, sizeof json, "%s/%s.json", dir, name) < 0 ||
	    pathf(tmp, sizeof tmp, "%s/.%s.json.tmp-%ld", dir, name, (long)getpid()) < 0)
		return -ENAMETOOLONG;
	if (access(json, F_OK) == 0)
		return mortar_set_error(EEXIST, "%s already has a snapshot '%s'; delete it "
					"first or pick another name", image, name);
	/* Claim the name before the (maybe long) copy: the temporary marks
	 * a live creator, so that a concurrent cleanup leaves NAME.img be. */
	r = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (r < 0)
		return mortar_set_error(errno, "%s: %m", tmp);
	close(r);
	r = mortar_image_clone(path, img, MORTAR_CLONE_FORCE, progress, opaque, &used);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	chmod(img, 0444);	/* a snapshot does not change */
	stat(img, &st);
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "created", json_object_new_int64(now));
	json_object_object_add(o, "size", json_object_new_uint64((uint64_t)st.st_size));
	json_object_object_add(o, "method", json_object_new_string(mortar_clone_method_name(used)));
	json_object_object_add(o, "shared", json_object_new_boolean(used == MORTAR_CLONE_REFLINK));
	r = write_file_atomic(json, tmp, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (r < 0) {
		unlink(img);
		return r;
	}
	if (out) {
		memset(out, 0, sizeof *out);
		snprintf(out->name, sizeof out->name, "%s", name);
		out->location = strdup(img);
		out->size = (uint64_t)st.st_size;
		out->created = now;
		snprintf(out->method, sizeof out->method, "%s", mortar_clone_method_name(used));
		out->shared = used == MORTAR_CLONE_REFLINK;
	}
	return 0;
}

static int read_one(const char *dir, const char *jsonname, struct mortar_snapshot *s)
{
	char path[PATH_MAX], img[PATH_MAX];
	json_object *o, *v;
	size_t n = strlen(jsonname) - 5;

	pathf(path, sizeof path, "%s/%s", dir, jsonname);
	pathf(img, sizeof img, "%s/%.*s.img", dir, (int)n, jsonname);
	if (access(img, R_OK) < 0)
		return -1;
	o = json_object_from_file(path);
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
	s->location = strdup(img);
	return s->location ? 0 : -1;
}

static int by_created(const void *a, const void *b)
{
	const struct mortar_snapshot *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->name, y->name);
}

int mortar_snapshot_list(const char *image, struct mortar_snapshot **list, size_t *count)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct mortar_snapshot *v = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *dp;
	int r;

	*list = NULL;
	*count = 0;
	if ((r = snap_dir(image, path, sizeof path, dir, sizeof dir)) < 0)
		return r;
	dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : mortar_set_error(errno, "%s: %m", dir);
	while ((de = readdir(dp))) {
		size_t len = strlen(de->d_name);
		struct mortar_snapshot *nv;

		if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv) {
			closedir(dp);
			mortar_snapshot_list_free(v, n);
			return mortar_set_error(ENOMEM, "out of memory");
		}
		v = nv;
		if (read_one(dir, de->d_name, &v[n]) == 0)
			n++;
	}
	closedir(dp);
	if (n)
		qsort(v, n, sizeof *v, by_created);
	*list = v;
	*count = n;
	return 0;
}

void mortar_snapshot_list_free(struct mortar_snapshot *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].location);
	free(list);
}

char *mortar_snapshot_location(const char *image, const char *name)
{
	char path[PATH_MAX], dir[PATH_MAX], json[PATH_MAX], img[PATH_MAX];
	char *out;

	if (check_name(name) < 0 || snap_dir(image, path, sizeof path, dir, sizeof dir) < 0 ||
	    pathf(json, sizeof json, "%s/%s.json", dir, name) < 0 ||
	    pathf(img, sizeof img, "%s/%s.img", dir, name) < 0) {
		errno = mortar_errno();
		return NULL;
	}
	if (access(json, F_OK) < 0 || access(img, R_OK) < 0) {
		mortar_set_error(ENOENT, "%s has no snapshot '%s' (see 'mortar img "
				 "snapshot list %s')", image, name, image);
		errno = ENOENT;
		return NULL;
	}
	out = strdup(img);
	if (!out)
		errno = ENOMEM;
	return out;
}

int mortar_snapshot_delete(const char *image, const char *name)
{
	char path[PATH_MAX], dir[PATH_MAX], json[PATH_MAX], img[PATH_MAX];
	int r;

	if ((r = check_name(name)) < 0 || (r = snap_dir(image, path, sizeof path, dir, sizeof dir)) < 0)
		return r;
	if (pathf(json, sizeof json, "%s/%s.json", dir, name) < 0 ||
	    pathf(img, sizeof img, "%s/%s.img", dir, name) < 0)
		return -ENAMETOOLONG;
	/* The description goes first: from then on the snapshot is not
	 * listed, and a leftover image is cleaned up later. */
	if (unlink(json) < 0)
		return errno == ENOENT ?
			mortar_set_error(ENOENT, "%s has no snapshot '%s' (see 'mortar img "
					 "snapshot list %s')", image, name, image) :
			mortar_set_error(errno, "%s: %m", json);
	if (unlink(img) < 0 && errno != ENOENT)
		return mortar_set_error(errno, "%s: %m", img);
	return 0;
}

/* Copy SRC over DST in place: data extents copied, holes punched. */
static int copy_in_place(int in, int out, off_t size, mortar_progress_fn progress,
			 void *opaque)
{
	uint8_t *buf = NULL;
	off_t pos = 0;
	int r = 0;

	while (pos < size && r == 0) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;

		if (data < 0)
			data = errno == ENXIO ? size : pos;
		hole = data < size ? lseek(in, data, SEEK_HOLE) : size;
		if (hole < 0 || hole > size)
			hole = size;
		if (data > pos &&
		    fallocate(out, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, data - pos) < 0) {
			/* No hole punching: write zeroes there. */
			if (!buf && !(buf = calloc(1, COPY_CHUNK)))
				return mortar_set_error(ENOMEM, "out of memory");
			memset(buf, 0, COPY_CHUNK);
			for (off_t z = pos; z < data && r == 0;) {
				size_t k = data - z < (off_t)COPY_CHUNK ? (size_t)(data - z) : COPY_CHUNK;
				if (pwrite(out, buf, k, z) != (ssize_t)k)
					r = mortar_set_error(errno ? errno : EIO, "write: %m");
				z += (off_t)k;
			}
		}
		for (pos = data; pos < hole && r == 0;) {
			size_t k = hole - pos < (off_t)COPY_CHUNK ? (size_t)(hole - pos) : COPY_CHUNK;
			ssize_t n;

			if (!buf && !(buf = malloc(COPY_CHUNK)))
				return mortar_set_error(ENOMEM, "out of memory");
			n = pread(in, buf, k, pos);
			if (n <= 0 || pwrite(out, buf, (size_t)n, pos) != n) {
				r = mortar_set_error(n < 0 || errno ? errno : EIO, "copy: %m");
				break;
			}
			pos += n;
			if (progress)
				progress(opaque, (uint64_t)pos, (uint64_t)size);
		}
	}
	free(buf);
	return r;
}

int mortar_snapshot_revert(const char *image, const char *name,
			   mortar_progress_fn progress, void *opaque)
{
	char path[PATH_MAX], dir[PATH_MAX];
	char *snap = mortar_snapshot_location(image, name);
	struct stat st;
	int in, out, r = 0;

	if (!snap)
		return -mortar_errno();
	if ((r = snap_dir(image, path, sizeof path, dir, sizeof dir)) < 0) {
		free(snap);
		return r;
	}
	in = open(snap, O_RDONLY | O_CLOEXEC);
	out = open(path, O_RDWR | O_CLOEXEC);
	if (in < 0 || out < 0 || fstat(in, &st) < 0) {
		r = mortar_set_error(errno, "%s: %m", in < 0 ? snap : path);
		goto out;
	}
	/* Same file, new content: an export that has it open sees the
	 * snapshot.  A reflink shares the blocks again. */
	{
		struct file_clone_range fcr = { .src_fd = in };
		if (ioctl(out, FICLONERANGE, &fcr) == 0) {
			if (ftruncate(out, st.st_size) < 0)
				r = mortar_set_error(errno, "%s: %m", path);
			goto synced;
		}
	}
	if (ftruncate(out, st.st_size) < 0) {
		r = mortar_set_error(errno, "%s: %m", path);
		goto out;
	}
	r = copy_in_place(in, out, st.st_size, progress, opaque);
synced:
	if (r == 0 && fsync(out) < 0)
		r = mortar_set_error(errno, "sync %s: %m", path);
	if (r == 0 && progress)
		progress(opaque, (uint64_t)st.st_size, (uint64_t)st.st_size);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(snap);
	return r;
}
