/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json of mortar vm (vm/state.c): what is saved loads back the
 * same, field by field, and saves to the same bytes; a file of an older
 * version loads with defaults; damaged files are refused with the key
 * named, never read into a QEMU argument. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "state.h"
#include "tap.h"

static char dir[] = "/tmp/test-vm-state.XXXXXX";

static void sample(struct vm_state *st)
{
	char why[256];
	struct vm_cpu c = { .id = "c5", .driver = "power9_v2.0-spapr-cpu-core", .slot = 5,
			    .props = { { "core-id", 5 }, { "node-id", 1 } }, .nprops = 2 };
	struct vm_dimm d = { .id = "dimm1", .memdev = "mem-dimm1", .size = 256ull << 20, .node = 1 };
	static char *argv[] = { "qemu-system-ppc64", "-M", "pseries,x-vof=on", NULL };

	memset(st, 0, sizeof *st);
	strcpy(st->name, "p");
	st->arch = VM_ARCH_PPC64;
	strcpy(st->accel, "tcg");
	st->kernel = strdup("/k/vmlinux");
	st->initrd = strdup("/k/initrd, with a comma");
	st->boot_cpus = 1;
	st->max_cpus = 6;
	st->slots = 4;
	st->numa = 2;
	st->memory = 512ull << 20;
	st->max_memory = 2048ull << 20;
	st->virtio_mem = 0;
	st->virtio_mem_requested = 0;
	vm_membk_parse("hugetlbfs:/mnt/h", &st->membk, why, sizeof why);
	st->qemu_version = 70222;
	st->cpu_plugs = 3;
	st->cpu_unplugged = true;
	st->dimm_seq = 1;
	st->migrated = 2;
	vm_state_add_cpu(st, &c);
	strcpy(c.id, "cpu-s2");
	c.slot = 2;
	c.props[0].value = 2;
	vm_state_add_cpu(st, &c);
	vm_membk_parse("memfd", &d.backend, why, sizeof why);
	vm_state_add_dimm(st, &d);
	vm_state_add_disk(st, "gluster://h/v/d.img", "/run/vm/p/disk0.sock", 1234, VM_DISK_NBD);
	vm_state_add_disk(st, "/img/e.img", "/run/vm/p/disk1.vhost", 1235, VM_DISK_VHOST_USER);
	st->qemu_argv = calloc(4, sizeof *st->qemu_argv);
	for (int i = 0; argv[i]; i++)
		st->qemu_argv[i] = strdup(argv[i]);
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_cpu(const struct vm_cpu *a, const struct vm_cpu *b)
{
	if (strcmp(a->id, b->id) || strcmp(a->driver, b->driver) || a->slot != b->slot ||
	    a->nprops != b->nprops)
		return 0;
	for (unsigned i = 0; i < a->nprops; i++)
		if (strcmp(a->props[i].name, b->props[i].name) || a->props[i].value != b->props[i].value)
			return 0;
	return 1;
}

static int same_dimm(const struct vm_dimm *a, const struct vm_dimm *b)
{
	return !strcmp(a->id, b->id) && !strcmp(a->memdev, b->memdev) && a->size == b->size &&
	       a->node == b->node && a->backend.type == b->backend.type &&
	       !strcmp(a->backend.path, b->backend.path);
}

static int same_state(const struct vm_state *a, const struct vm_state *b)
{
	if (strcmp(a->name, b->name) || a->arch != b->arch || strcmp(a->accel, b->accel) ||
	    strcmp(a->cpu_model, b->cpu_model) || !same_str(a->kernel, b->kernel) ||
	    !same_str(a->initrd, b->initrd) || !same_str(a->append, b->append) ||
	    a->boot_cpus != b->boot_cpus || a->max_cpus != b->max_cpus || a->slots != b->slots ||
	    a->numa != b->numa || a->memory != b->memory || a->max_memory != b->max_memory ||
	    a->virtio_mem != b->virtio_mem || a->virtio_mem_requested != b->virtio_mem_requested ||
	    a->membk.type != b->membk.type || strcmp(a->membk.path, b->membk.path) ||
	    a->qemu_version != b->qemu_version || a->cpu_plugs != b->cpu_plugs ||
	    a->cpu_unplugged != b->cpu_unplugged || a->dimm_seq != b->dimm_seq ||
	    a->migrated != b->migrated || a->ncpus != b->ncpus || a->ndimms != b->ndimms ||
	    a->ndisks != b->ndisks)
		return 0;
	for (size_t i = 0; i < a->ncpus; i++)
		if (!same_cpu(&a->cpus[i], &b->cpus[i]))
			return 0;
	for (size_t i = 0; i < a->ndimms; i++)
		if (!same_dimm(&a->dimms[i], &b->dimms[i]))
			return 0;
	for (size_t i = 0; i < a->ndisks; i++)
		if (!same_str(a->disks[i].location, b->disks[i].location) ||
		    strcmp(a->disks[i].socket, b->disks[i].socket) ||
		    a->disks[i].server_pid != b->disks[i].server_pid ||
		    a->disks[i].protocol != b->disks[i].protocol)
			return 0;
	for (size_t i = 0;; i++) {
		if (!same_str(a->qemu_argv[i], b->qemu_argv[i]))
			return 0;
		if (!a->qemu_argv[i])
			return 1;
	}
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return strdup(buf);
}

static void put(const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof p, "%s/state.json", dir);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

/* Load TEXT as state.json: 0 or -errno, the message in mortar_errmsg(). */
static int load_text(const char *text)
{
	struct vm_state st;
	int r;

	put(text);
	r = vm_state_load(dir, &st);
	vm_state_free(&st);
	return r;
}

static void test_round_trip(void)
{
	struct vm_state a, b;
	char p[256], *first, *second;

	sample(&a);
	tap_ok(vm_state_save(dir, &a) == 0, "saved");
	snprintf(p, sizeof p, "%s/state.json", dir);
	first = slurp(p);
	tap_ok(vm_state_load(dir, &b) == 0, "loaded: %s", mortar_errmsg());
	tap_ok(same_state(&a, &b), "every field loads back the same");
	tap_ok(b.cpus[1].props[0].value == 2 && b.dimms[0].backend.type == VM_MEMBK_MEMFD &&
	       b.membk.type == VM_MEMBK_HUGETLBFS && b.append == NULL,
	       "the lists, the backends, an absent append");
	tap_ok(vm_state_save(dir, &b) == 0, "saved again");
	second = slurp(p);
	tap_ok(!strcmp(first, second), "the same bytes the second time");
	vm_state_del_cpu(&b, 0);
	vm_state_del_dimm(&b, 0);
	tap_ok(b.ncpus == 1 && !strcmp(b.cpus[0].id, "cpu-s2") && b.ndimms == 0 &&
	       vm_state_find_cpu(&b, "cpu-s2") == 0 && vm_state_find_cpu(&b, "c5") == -1 &&
	       vm_state_find_dimm(&b, "dimm1") == -1, "deleting and finding devices");
	free(first);
	free(second);
	vm_state_free(&a);
	vm_state_free(&b);
}

static void test_old_and_damaged(void)
{
	struct vm_state st;

	/* written by the mortar before the library: no kernel, cpu_model,
	 * counters, backend */
	put("{\"name\":\"t\",\"arch\":\"x86_64\",\"accel\":\"tcg\",\"boot_cpus\":1,"
	    "\"max_cpus\":4,\"memory\":536870912,\"max_memory\":2147483648,\"slots\":4,"
	    "\"numa\":2,\"cpus\":[],\"dimms\":[{\"id\":\"d1\",\"memdev\":\"mem-d1\","
	    "\"size\":268435456,\"node\":1}]}");
	tap_ok(vm_state_load(dir, &st) == 0 && st.membk.type == VM_MEMBK_RAM && !st.kernel &&
	       st.ndimms == 1 && st.dimms[0].backend.type == VM_MEMBK_RAM && st.cpu_plugs == 0,
	       "an older file loads with defaults (ram backends)");
	vm_state_free(&st);

	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"max_cpus\":\"4\"}") == -EINVAL &&
	       strstr(mortar_errmsg(), "\"max_cpus\" is not a whole number"), "a string for a "
	       "number: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"sparc\"}") == -EINVAL &&
	       strstr(mortar_errmsg(), "\"arch\""), "an unknown arch: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"numa\":200}") == -EINVAL &&
	       strstr(mortar_errmsg(), "out of range"), "too many nodes: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"dimms\":[{\"id\":\"a\","
			 "\"size\":0}]}") == -EINVAL, "an empty DIMM: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"cpus\":[{\"id\":\"xxxxxxxxxx"
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}") ==
	       -EINVAL && strstr(mortar_errmsg(), "\"id\" is too long"), "an id too long: %s",
	       mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"cpus\":[3]}") == -EINVAL,
	       "a vCPU that is not an object: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"cpus\":[{\"props\":"
			 "{\"core-id\":\"x\"}}]}") == -EINVAL, "a slot property that is not a "
	       "number: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"qemu_argv\":[1]}") == -EINVAL,
	       "an argument that is not a string: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"mem_backend\":\"swap\"}") == -EINVAL,
	       "an unknown memory backend: %s", mortar_errmsg());
	tap_ok(load_text("[]") == -EINVAL, "not an object: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":") == -EINVAL && strstr(mortar_errmsg(), "not JSON"),
	       "not JSON: %s", mortar_errmsg());
	tap_ok(load_text("{\"name\":\"t\",\"arch\":\"x86_64\",\"disks\":{}}") == -EINVAL &&
	       strstr(mortar_errmsg(), "not a list"), "disks not a list: %s", mortar_errmsg());
	tap_ok(vm_state_load("/nonexistent-mortar-vm", &st) == -ENOENT, "no state: -ENOENT");
	vm_state_free(&st);
}

int main(void)
{
	char p[256];

	if (!mkdtemp(dir))
		return 1;
	test_round_trip();
	test_old_and_damaged();
	snprintf(p, sizeof p, "%s/state.json", dir);
	unlink(p);
	rmdir(dir);
	return tap_done();
}
