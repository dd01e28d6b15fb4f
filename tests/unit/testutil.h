/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the unit tests: scratch folders on a real disk
 * filesystem (O_DIRECT needs one; /tmp may be tmpfs) and extent lists. */
#ifndef MORTAR_TEST_UTIL_H
#define MORTAR_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mortar/mortar.h>

static inline char *test_tmpdir(void)
{
	const char *base = getenv("MORTAR_TEST_DIR");
	static char path[256];

	if (!base)
		base = access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
	snprintf(path, sizeof path, "%s/mortar-unit.XXXXXX", base);
	if (!mkdtemp(path)) {
		perror("mkdtemp");
		exit(1);
	}
	return path;
}

static inline int test_rm_one(const char *p, const struct stat *sb, int type,
			      struct FTW *ftw)
{
	(void)sb; (void)type; (void)ftw;
	return remove(p);
}

static inline void test_rmdir(const char *dir)
{
	nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct ext_list {
	struct mortar_extent *e;
	size_t n;
};

static inline int test_ext_add(void *opaque, const struct mortar_extent *e)
{
	struct ext_list *l = opaque;
	struct mortar_extent *ne = realloc(l->e, (l->n + 1) * sizeof *ne);

	if (!ne)
		return -1;
	l->e = ne;
	l->e[l->n++] = *e;
	return 0;
}

static inline int collect_extents(struct mortar_image *img, struct ext_list *l)
{
	l->e = NULL;
	l->n = 0;
	return mortar_image_map_sync(img, test_ext_add, l);
}

#endif
