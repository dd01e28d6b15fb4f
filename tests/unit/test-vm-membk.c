/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory backend specs of mortar vm (vm/membk.c): what parses, what is
 * refused with which words, the QEMU arguments each one becomes, and the
 * hugetlbfs checks that need no pool (a path that is not hugetlbfs). */
#include <errno.h>
#include <string.h>

#include "membk.h"
#include "tap.h"

int main(void)
{
	struct vm_membk b;
	char why[512], buf[PATH_MAX + 128];
	json_object *o;

	tap_ok(vm_membk_parse("ram", &b, why, sizeof why) == 0 && b.type == VM_MEMBK_RAM,
	       "ram parses");
	tap_ok(vm_membk_parse("memfd", &b, why, sizeof why) == 0 && b.type == VM_MEMBK_MEMFD,
	       "memfd parses");
	tap_ok(vm_membk_parse("hugetlbfs", &b, why, sizeof why) == 0 &&
	       b.type == VM_MEMBK_HUGETLBFS && !strcmp(b.path, VM_HUGETLBFS_DEFAULT),
	       "hugetlbfs alone means /dev/hugepages");
	tap_ok(vm_membk_parse("hugetlbfs:/mnt/huge", &b, why, sizeof why) == 0 &&
	       !strcmp(b.path, "/mnt/huge"), "hugetlbfs:PATH keeps its path");
	vm_membk_spec(&b, buf, sizeof buf);
	tap_ok(!strcmp(buf, "hugetlbfs:/mnt/huge"), "the spec round-trips (%s)", buf);
	tap_ok(vm_membk_parse("hugetlbfs:rel", &b, why, sizeof why) == -EINVAL &&
	       strstr(why, "absolute"), "a relative mount point: %s", why);
	tap_ok(vm_membk_parse("hugetlbfsX", &b, why, sizeof why) == -EINVAL &&
	       strstr(why, "ram, memfd, hugetlbfs"), "a near miss: %s", why);
	tap_ok(vm_membk_parse("", &b, why, sizeof why) == -EINVAL, "empty: %s", why);

	vm_membk_parse("memfd", &b, why, sizeof why);
	vm_membk_cmdline(&b, "m1", 256ull << 20, buf, sizeof buf);
	tap_ok(!strcmp(buf, "memory-backend-memfd,id=m1,size=268435456,share=on"),
	       "memfd -object: %s", buf);
	vm_membk_parse("hugetlbfs:/mnt/huge", &b, why, sizeof why);
	vm_membk_cmdline(&b, "m2", 2ull << 20, buf, sizeof buf);
	tap_ok(!strcmp(buf, "memory-backend-file,id=m2,size=2097152,mem-path=/mnt/huge,share=on"),
	       "hugetlbfs -object: %s", buf);
	o = vm_membk_qmp(&b, "m2", 2ull << 20);
	tap_ok(!strcmp(json_object_get_string(json_object_object_get(o, "qom-type")),
		       "memory-backend-file") &&
	       !strcmp(json_object_get_string(json_object_object_get(o, "mem-path")), "/mnt/huge") &&
	       json_object_get_boolean(json_object_object_get(o, "share")),
	       "hugetlbfs object-add: %s", json_object_to_json_string(o));
	json_object_put(o);

	vm_membk_parse("ram", &b, why, sizeof why);
	tap_ok(vm_membk_check(&b, 1ull << 40, why, sizeof why) == 0, "ram is never counted");
	vm_membk_parse("hugetlbfs:/", &b, why, sizeof why);
	tap_ok(vm_membk_check(&b, 2ull << 20, why, sizeof why) == -EINVAL &&
	       strstr(why, "/ is not a hugetlbfs mount"), "/ as hugetlbfs: %s", why);
	vm_membk_parse("hugetlbfs:/nonexistent-mortar", &b, why, sizeof why);
	tap_ok(vm_membk_check(&b, 2ull << 20, why, sizeof why) == -ENOENT &&
	       strstr(why, "mount -t hugetlbfs none /nonexistent-mortar"),
	       "a missing mount point: %s", why);
	return tap_done();
}
