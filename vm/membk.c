/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory backends (membk.h).  Huge pages are the one backend that can run
 * out: QEMU then fails with "unable to map backing store" (at start) or
 * refuses object-add with ENOMEM, neither saying how many pages were
 * missing nor where to get them.  So count them first. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include "membk.h"
#include "strv.h"

int vm_membk_parse(const char *spec, struct vm_membk *b, char *why, size_t len)
{
	memset(b, 0, sizeof *b);
	if (!strcmp(spec, "ram")) {
		b->type = VM_MEMBK_RAM;
	} else if (!strcmp(spec, "memfd")) {
		b->type = VM_MEMBK_MEMFD;
	} else if (!strcmp(spec, "hugetlbfs") || !strncmp(spec, "hugetlbfs:", 10)) {
		const char *path = spec[9] ? spec + 10 : VM_HUGETLBFS_DEFAULT;

		b->type = VM_MEMBK_HUGETLBFS;
		if (path[0] != '/' || strlen(path) >= sizeof b->path) {
			snprintf(why, len, "'%s': hugetlbfs wants an absolute mount point "
				 "(hugetlbfs:/dev/hugepages)", spec);
			return -EINVAL;
		}
		snprintf(b->path, sizeof b->path, "%s", path);
	} else {
		snprintf(why, len, "memory backend '%s': ram, memfd, hugetlbfs or "
			 "hugetlbfs:PATH", spec);
		return -EINVAL;
	}
	return 0;
}

void vm_membk_spec(const struct vm_membk *b, char *buf, size_t len)
{
	switch (b->type) {
	case VM_MEMBK_RAM:
		snprintf(buf, len, "ram");
		break;
	case VM_MEMBK_MEMFD:
		snprintf(buf, len, "memfd");
		break;
	case VM_MEMBK_HUGETLBFS:
		snprintf(buf, len, "hugetlbfs:%s", b->path);
		break;
	}
}

void vm_membk_put(json_object *o, const char *key, const struct vm_membk *b)
{
	char spec[PATH_MAX + 16];

	vm_membk_spec(b, spec, sizeof spec);
	json_object_object_add(o, key, json_object_new_string(spec));
}

static long long read_count(const char *dir, const char *file)
{
	char p[256];
	long long v = -1;
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, file);
	f = fopen(p, "r");
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

int vm_membk_check(const struct vm_membk *b, uint64_t size, char *why, size_t len)
{
	struct statfs fs;
	uint64_t page;
	long long nr, free_pages, resv, avail, need;
	char dir[128];

	if (b->type != VM_MEMBK_HUGETLBFS)
		return 0;
	if (statfs(b->path, &fs) < 0) {
		int e = errno;
		snprintf(why, len, "hugetlbfs %s: %s (mount one: mkdir -p %s && mount -t "
			 "hugetlbfs none %s)", b->path, strerror(e), b->path, b->path);
		return -e;
	}
	if ((unsigned long)fs.f_type != HUGETLBFS_MAGIC) {
		snprintf(why, len, "%s is not a hugetlbfs mount (mount -t hugetlbfs none %s)",
			 b->path, b->path);
		return -EINVAL;
	}
	page = (uint64_t)fs.f_bsize;
	if (page == 0 || size % page) {
		snprintf(why, len, "%" PRIu64 " MiB is not a whole number of the %" PRIu64
			 " KiB huge pages of %s", size >> 20, page >> 10, b->path);
		return -EINVAL;
	}
	need = (long long)(size / page);
	/* The pool of that page size: free counts pages that mappings have
	 * reserved but not touched yet, so those are not free for us. */
	snprintf(dir, sizeof dir, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB",
		 page >> 10);
	nr = read_count(dir, "nr_hugepages");
	free_pages = read_count(dir, "free_hugepages");
	resv = read_count(dir, "resv_hugepages");
	if (nr < 0 || free_pages < 0 || resv < 0) {
		snprintf(why, len, "cannot read the huge page pool in %s", dir);
		return -EIO;
	}
	avail = free_pages - resv;
	/* A mount with a size= limit may hold fewer than the pool. */
	if (fs.f_blocks > 0 && fs.f_blocks != (__fsblkcnt_t)-1 &&
	    (long long)fs.f_bavail < avail)
		avail = (long long)fs.f_bavail;
	if (avail < need) {
		snprintf(why, len, "%" PRIu64 " MiB needs %lld huge pages of %" PRIu64 " KiB, "
			 "and %s has %lld free (%lld more are reserved by mappings): reserve more "
			 "(echo %lld > %s/nr_hugepages) or use the ram backend",
			 size >> 20, need, page >> 10, b->path, avail < 0 ? 0 : avail, resv,
			 nr + need - (avail < 0 ? 0 : avail), dir);
		return -ENOMEM;
	}
	return 0;
}

int vm_membk_cmdline(const struct vm_membk *b, const char *id, uint64_t size, char *buf,
		     size_t len)
{
	char *path = NULL;
	int n = -1;

	switch (b->type) {
	case VM_MEMBK_RAM:
		n = snprintf(buf, len, "memory-backend-ram,id=%s,size=%" PRIu64, id, size);
		break;
	case VM_MEMBK_MEMFD:
		n = snprintf(buf, len, "memory-backend-memfd,id=%s,size=%" PRIu64 ",share=on",
			     id, size);
		break;
	case VM_MEMBK_HUGETLBFS:
		/* share=on: the pages are reserved when QEMU maps them, so a
		 * shortage shows at once and not as a SIGBUS in the guest. */
		path = vm_qemu_escape(b->path);
		if (path)
			n = snprintf(buf, len, "memory-backend-file,id=%s,size=%" PRIu64
				     ",mem-path=%s,share=on", id, size, path);
		free(path);
		break;
	}
	return n < 0 ? -ENOMEM : (size_t)n >= len ? -ENAMETOOLONG : 0;
}

json_object *vm_membk_qmp(const struct vm_membk *b, const char *id, uint64_t size)
{
	json_object *a = json_object_new_object();
	static const char *const types[] = {
		[VM_MEMBK_RAM] = "memory-backend-ram",
		[VM_MEMBK_MEMFD] = "memory-backend-memfd",
		[VM_MEMBK_HUGETLBFS] = "memory-backend-file",
	};

	json_object_object_add(a, "qom-type", json_object_new_string(types[b->type]));
	json_object_object_add(a, "id", json_object_new_string(id));
	json_object_object_add(a, "size", json_object_new_int64((int64_t)size));
	if (b->type != VM_MEMBK_RAM)
		json_object_object_add(a, "share", json_object_new_boolean(1));
	if (b->type == VM_MEMBK_HUGETLBFS)
		json_object_object_add(a, "mem-path", json_object_new_string(b->path));
	return a;
}
