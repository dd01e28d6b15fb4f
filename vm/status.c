/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What `mortar vm status` shows (vm.h): the recorded state, what QEMU
 * says it has now, and what the guest sees, as one JSON document whose
 * keys mortar-vm(1) documents. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "qemu.h"
#include "vm-json.h"
#include "vm-internal.h"

/* QEMU's hot-pluggable vCPU slots, and how many vCPUs it has (-1:
 * unknown). */
static json_object *cpu_slots(struct qmp *q, int *present)
{
	json_object *slots = json_object_new_array(), *r;

	*present = -1;
	if (!q)
		return slots;
	if (qmp_execute(q, "query-cpus-fast", NULL, &r) == 0) {
		if (json_object_is_type(r, json_type_array))
			*present = (int)json_object_array_length(r);
		json_object_put(r);
	}
	if (qmp_execute(q, "query-hotpluggable-cpus", NULL, &r) < 0)
		return slots;
	for (size_t i = 0; json_object_is_type(r, json_type_array) &&
			   i < json_object_array_length(r); i++) {
		json_object *e = json_object_array_get_idx(r, i), *s, *v;
		bool plugged = json_object_object_get_ex(e, "qom-path", &v);

		s = json_object_new_object();
		if (json_object_object_get_ex(e, "props", &v))
			json_object_object_add(s, "props", json_object_get(v));
		json_object_object_add(s, "plugged", json_object_new_boolean(plugged));
		if (json_object_object_get_ex(e, "qom-path", &v))
			json_object_object_add(s, "qom-path", json_object_get(v));
		json_object_array_add(slots, s);
	}
	json_object_put(r);
	return slots;
}

static json_object *describe_cpus(const struct vm_state *st, struct qmp *q,
				  const struct vm_guest *g)
{
	json_object *cpus = json_object_new_object();
	int present;
	json_object *slots = cpu_slots(q, &present);

	vm_json_put_int(cpus, "boot", st->boot_cpus);
	vm_json_put_int(cpus, "max", st->max_cpus);
	json_object_object_add(cpus, "present", present >= 0 ? json_object_new_int(present) : NULL);
	json_object_object_add(cpus, "guest_online", g->valid ? json_object_new_int((int)g->cpus) :
			       NULL);
	vm_json_put_int(cpus, "plugs_over_life", st->cpu_plugs);
	json_object_object_add(cpus, "slots", slots);
	return cpus;
}

static json_object *describe_memory(const struct vm_state *st, const struct vm_guest *g)
{
	json_object *mem = json_object_new_object(), *devs = json_object_new_array();
	uint64_t plugged = 0;

	vm_membk_put(mem, "backend", &st->membk);
	for (size_t i = 0; i < st->ndimms; i++) {
		const struct vm_dimm *d = &st->dimms[i];
		json_object *e = json_object_new_object();

		vm_json_put_str(e, "id", d->id);
		vm_json_put_str(e, "type", "dimm");
		vm_json_put_int(e, "size", (int64_t)d->size);
		vm_json_put_int(e, "node", d->node);
		vm_membk_put(e, "backend", &d->backend);
		plugged += d->size;
		json_object_array_add(devs, e);
	}
	if (st->virtio_mem > 0) {
		json_object *e = json_object_new_object();

		vm_json_put_str(e, "id", "vmem");
		vm_json_put_str(e, "type", "virtio-mem");
		vm_json_put_int(e, "size", (int64_t)st->virtio_mem);
		vm_json_put_int(e, "requested_size", (int64_t)st->virtio_mem_requested);
		vm_json_put_int(e, "node", 0);
		plugged += st->virtio_mem_requested;
		json_object_array_add(devs, e);
	}
	vm_json_put_int(mem, "boot", (int64_t)st->memory);
	vm_json_put_int(mem, "max", (int64_t)st->max_memory);
	vm_json_put_int(mem, "slots", st->slots);
	vm_json_put_int(mem, "plugged", (int64_t)plugged);
	json_object_object_add(mem, "guest_total", g->valid ?
			       json_object_new_int64((int64_t)g->mem_kib * 1024) : NULL);
	json_object_object_add(mem, "devices", devs);
	return mem;
}

/* The NUMA nodes: vCPU sockets and boot memory split evenly. */
static json_object *describe_numa(const struct vm_state *st, const struct vm_guest *g)
{
	json_object *numa = json_object_new_array();
	unsigned nodes = st->numa ? st->numa : 1, per = st->max_cpus / nodes;

	for (unsigned i = 0; i < nodes; i++) {
		json_object *n = json_object_new_object(), *cl = json_object_new_array();

		for (unsigned c = i * per; c < (i + 1) * per; c++)
			json_object_array_add(cl, json_object_new_int((int)c));
		vm_json_put_int(n, "node", i);
		json_object_object_add(n, "cpus", cl);
		vm_json_put_int(n, "memory", (int64_t)(st->memory / nodes));
		json_object_object_add(n, "guest_memory", g->valid && i < g->nnodes ?
				       json_object_new_int64((int64_t)g->node_kib[i] * 1024) : NULL);
		json_object_array_add(numa, n);
	}
	return numa;
}

/* Which QEMU runs the VM: the one it was started (or last migrated) with. */
static json_object *describe_qemu(const struct vm_state *st)
{
	json_object *q = json_object_new_object();
	char v[32];

	vm_json_put_str(q, "binary", vm_qemu_binary(st->qemu, st->arch));
	vm_qemu_version_text(st->qemu_version, v, sizeof v);
	json_object_object_add(q, "version", st->qemu_version ? json_object_new_string(v) : NULL);
	json_object_object_add(q, "machine", st->machine[0] ?
			       json_object_new_string(st->machine) : NULL);
	return q;
}

static json_object *describe_guest(const struct vm_guest *g)
{
	json_object *jg, *n;

	if (!g->valid)
		return NULL;
	jg = json_object_new_object();
	n = json_object_new_array();
	vm_json_put_str(jg, "source", g->from_agent ? "agent" : "console");
	vm_json_put_int(jg, "seq", g->seq);
	vm_json_put_int(jg, "cpus", g->cpus);
	vm_json_put_str(jg, "cpu_list", g->cpu_list);
	vm_json_put_int(jg, "mem_kib", (int64_t)g->mem_kib);
	for (unsigned i = 0; i < g->nnodes; i++)
		json_object_array_add(n, json_object_new_int64((int64_t)g->node_kib[i]));
	json_object_object_add(jg, "nodes", n);
	return jg;
}

json_object *mortar_vm_describe(struct mortar_vm *vm)
{
	const struct vm_state *st = &vm->st;
	json_object *o = json_object_new_object(), *disks = json_object_new_array();
	pid_t pid = mortar_vm_pid(vm);
	bool alive = vm_qemu_alive(pid);
	struct vm_guest g;

	if (alive)
		vm_connect(vm);
	vm_view_read(&vm->view, false, &g);
	vm_json_put_str(o, "name", st->name);
	vm_json_put_str(o, "state", !alive ? "dead" : vm->qmp ? "running" : "unreachable");
	vm_json_put_int(o, "pid", pid);
	vm_json_put_str(o, "arch", st->arch == VM_ARCH_PPC64 ? "ppc64" : "x86_64");
	vm_json_put_str(o, "accel", st->accel);
	json_object_object_add(o, "qemu", describe_qemu(st));
	json_object_object_add(o, "cpus", describe_cpus(st, alive ? vm->qmp : NULL, &g));
	json_object_object_add(o, "memory", describe_memory(st, &g));
	json_object_object_add(o, "numa", describe_numa(st, &g));
	for (size_t i = 0; i < st->ndisks; i++) {
		json_object *x = json_object_new_object();

		vm_json_put_str(x, "location", st->disks[i].location ? st->disks[i].location : "");
		vm_json_put_str(x, "socket", st->disks[i].socket);
		vm_json_put_str(x, "protocol", st->disks[i].protocol == VM_DISK_VHOST_USER ?
				"vhost-user" : "nbd");
		json_object_array_add(disks, x);
	}
	json_object_object_add(o, "disks", disks);
	json_object_object_add(o, "guest", describe_guest(&g));
	return o;
}

json_object *mortar_vm_list(void)
{
	json_object *arr = json_object_new_array();
	char base[PATH_MAX];
	struct dirent *de;
	DIR *dp = vm_rundir_base(base, sizeof base) == 0 ? opendir(base) : NULL;

	while (dp && (de = readdir(dp))) {
		struct mortar_vm *vm;

		if (de->d_name[0] == '.' || mortar_vm_load(de->d_name, &vm) < 0)
			continue;
		json_object_array_add(arr, mortar_vm_describe(vm));
		mortar_vm_close(vm);
	}
	if (dp)
		closedir(dp);
	return arr;
}
