/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory backends of a VM's boot memory and DIMMs (membk.c): anonymous
 * RAM, memfd (shareable, e.g. with vhost-user), or huge pages from a
 * hugetlbfs mount, checked for room before QEMU is asked to map them. */
#ifndef MORTAR_VM_MEMBK_H
#define MORTAR_VM_MEMBK_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

enum vm_membk_type {
	VM_MEMBK_RAM,
	VM_MEMBK_MEMFD,
	VM_MEMBK_HUGETLBFS,
};

struct vm_membk {
	enum vm_membk_type type;
	char path[PATH_MAX];		/* hugetlbfs: its mount point */
};

#define VM_HUGETLBFS_DEFAULT "/dev/hugepages"

/* SPEC: "ram", "memfd", "hugetlbfs" or "hugetlbfs:PATH".  0, or -EINVAL
 * with WHY set. */
int vm_membk_parse(const char *spec, struct vm_membk *b, char *why, size_t len);

/* The spec that parses back into B ("hugetlbfs:/dev/hugepages"). */
void vm_membk_spec(const struct vm_membk *b, char *buf, size_t len);

/* Add the spec of B to the JSON object O as KEY. */
void vm_membk_put(json_object *o, const char *key, const struct vm_membk *b);

/* Whether SIZE more bytes can come from B now: for hugetlbfs, PATH must
 * be a hugetlbfs mount, SIZE a multiple of its page size, and that many
 * pages free and unreserved.  0, or a negative errno with WHY set to one
 * line that says what to do. */
int vm_membk_check(const struct vm_membk *b, uint64_t size, char *why, size_t len);

/* The -object argument for a backend object ID of SIZE bytes (the path
 * with its commas doubled, as QEMU's option syntax wants).  0, or
 * -ENAMETOOLONG when BUF is too small. */
int vm_membk_cmdline(const struct vm_membk *b, const char *id, uint64_t size, char *buf,
		     size_t len);

/* The same as object-add arguments (a new object). */
json_object *vm_membk_qmp(const struct vm_membk *b, const char *id, uint64_t size);

#endif
