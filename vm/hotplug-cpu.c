/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vCPU hotplug (vm.h): one vCPU per hotplug unit (a socket on q35, a
 * core on pseries), chosen among the slots QEMU lists, checked against
 * the rules first, recorded with its slot's properties so that a
 * migration target can be started with it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "vm-json.h"
#include "vm-internal.h"

#define PERIPHERAL "/machine/peripheral/"

/* How many vCPUs QEMU has now (the boot ones if it does not say). */
static unsigned present_cpus(struct mortar_vm *vm)
{
	json_object *r;
	unsigned n = vm->st.boot_cpus;

	if (qmp_execute(vm->qmp, "query-cpus-fast", NULL, &r) == 0) {
		if (json_object_is_type(r, json_type_array))
			n = (unsigned)json_object_array_length(r);
		json_object_put(r);
	}
	return n;
}

/* The rules' view of VM now. */
static unsigned topo_now(struct mortar_vm *vm, struct vm_topo *t)
{
	vm_state_topo(&vm->st, present_cpus(vm), t);
	return t->present_cpus;
}

/* The hotplug unit's number: a socket on q35, a core on pseries. */
static int64_t cpu_slot(json_object *props)
{
	json_object *v;

	return json_object_object_get_ex(props, "socket-id", &v) ? json_object_get_int64(v) :
	       vm_json_int(props, "core-id", 0);
}

/* Why slot SLOT cannot take a vCPU, QOM_PATH being what holds it. */
static int slot_taken(int slot, const char *qom_path)
{
	bool ours = !strncmp(qom_path, PERIPHERAL, strlen(PERIPHERAL));

	return mortar_set_error(EBUSY, "slot %d is taken (%s%s); see the free ones in 'mortar "
				"vm status'", slot, ours ? "by vCPU " : "by a boot vCPU",
				ours ? qom_path + strlen(PERIPHERAL) : "");
}

/* Among QEMU's hot-pluggable slots LIST, the free one with the lowest
 * number (on NODE when >= 0), or SLOT when >= 0. */
static int pick_slot(json_object *list, int node, int slot, json_object **best)
{
	int64_t best_slot = INT64_MAX, max_slot = -1;

	*best = NULL;
	for (size_t i = 0; i < vm_json_len(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		json_object *props = vm_json_obj(e, "props");
		int64_t s;

		if (!props)
			continue;
		s = cpu_slot(props);
		if (s > max_slot)
			max_slot = s;
		if (slot >= 0 && s == slot && vm_json_str(e, "qom-path")[0])
			return slot_taken(slot, vm_json_str(e, "qom-path"));
		if (vm_json_str(e, "qom-path")[0] || (node >= 0 && vm_json_int(props, "node-id", 0) != node) ||
		    (slot >= 0 && s != slot) || s >= best_slot)
			continue;
		best_slot = s;
		*best = e;
	}
	if (*best)
		return 0;
	if (slot >= 0 && slot > max_slot)
		return mortar_set_error(ENOENT, "slot %d: this VM has slots 0-%" PRId64, slot,
					max_slot);
	if (slot >= 0)
		return mortar_set_error(ENOENT, "slot %d is not on node %d", slot, node);
	return mortar_set_error(ENOSPC, "no free vCPU slot%s", node >= 0 ? " on that node" : "");
}

/* The vCPU that plugging slot E as ID makes, for the state. */
static int cpu_record(json_object *e, const char *id, struct vm_cpu *c)
{
	json_object *props = vm_json_obj(e, "props");

	memset(c, 0, sizeof *c);
	if (strlen(id) >= sizeof c->id || strlen(vm_json_str(e, "type")) >= sizeof c->driver)
		return mortar_set_error(ENAMETOOLONG, "vCPU id '%s' or type '%s' is too long",
					id, vm_json_str(e, "type"));
	strcpy(c->id, id);
	strcpy(c->driver, vm_json_str(e, "type"));
	c->slot = cpu_slot(props);
	json_object_object_foreach(props, k, v) {
		if (c->nprops == VM_CPU_PROPS_MAX || strlen(k) >= sizeof c->props[0].name ||
		    !json_object_is_type(v, json_type_int))
			return mortar_set_error(EPROTO, "QEMU describes a vCPU slot with a "
						"property Mortar cannot record (%s)", k);
		strcpy(c->props[c->nprops].name, k);
		c->props[c->nprops++].value = json_object_get_int64(v);
	}
	return 0;
}

/* Plug one vCPU into the free slot with the lowest number (on NODE when
 * >= 0), or into SLOT when >= 0, named WANT_ID (NULL: cpu-sSLOT); the id
 * it got goes to ID. */
static int cpu_plug_one(struct mortar_vm *vm, int node, int slot, const char *want_id,
			char *id, size_t idlen)
{
	json_object *list, *best, *args;
	struct vm_cpu c;
	int r;

	if ((r = qmp_execute(vm->qmp, "query-hotpluggable-cpus", NULL, &list)) < 0)
		return r;
	r = pick_slot(list, node, slot, &best);
	if (r == 0) {
		if (want_id)
			snprintf(id, idlen, "%s", want_id);
		else
			snprintf(id, idlen, "cpu-s%" PRId64, cpu_slot(vm_json_obj(best, "props")));
		r = cpu_record(best, id, &c);
	}
	if (r == 0) {
		args = json_object_new_object();
		vm_json_put_str(args, "driver", c.driver);
		vm_json_put_str(args, "id", id);
		json_object_object_foreach(vm_json_obj(best, "props"), k, v)
			json_object_object_add(args, k, json_object_get(v));
		r = qmp_execute(vm->qmp, "device_add", args, NULL);
	}
	if (r == 0 && (r = vm_state_add_cpu(&vm->st, &c)) == 0)
		vm->st.cpu_plugs++;
	json_object_put(list);
	return r;
}

/* Whether QEMU still has vCPU ID (on failure to ask: yes). */
static bool cpu_present(struct qmp *q, const char *id)
{
	json_object *r;
	bool found = false;
	char want[VM_ID_MAX + sizeof PERIPHERAL];
	size_t n;

	n = (size_t)snprintf(want, sizeof want, PERIPHERAL "%s", id);
	if (qmp_execute(q, "query-cpus-fast", NULL, &r) < 0)
		return true;
	/* x86: the CPU's own path; pseries: the core's threads below it */
	for (size_t i = 0; i < vm_json_len(r); i++) {
		const char *path = vm_json_str(json_object_array_get_idx(r, i), "qom-path");

		if (!strncmp(path, want, n) && (path[n] == '\0' || path[n] == '/'))
			found = true;
	}
	json_object_put(r);
	return found;
}

/* Unplug the hot-plugged vCPU at index I of the state's list. */
static int cpu_unplug(struct mortar_vm *vm, size_t i, int timeout_s)
{
	char id[VM_ID_MAX];
	json_object *args = json_object_new_object();
	int r;

	snprintf(id, sizeof id, "%s", vm->st.cpus[i].id);
	vm_json_put_str(args, "id", id);
	if ((r = qmp_execute(vm->qmp, "device_del", args, NULL)) < 0)
		return r;
	/* x86 sends DEVICE_DELETED only for the CPU's lapic: ask QEMU which
	 * CPUs it still has instead. */
	for (int k = 0; k < timeout_s * 20 && cpu_present(vm->qmp, id); k++)
		usleep(50000);
	if (cpu_present(vm->qmp, id))
		return mortar_set_error(ETIMEDOUT, "the guest did not release vCPU %s within "
					"%d s", id, timeout_s);
	vm_state_del_cpu(&vm->st, i);
	vm->st.cpu_unplugged = true;
	return 0;
}

/* Record the state after a failure R, keeping R's message. */
static int save_failed(struct mortar_vm *vm, int r)
{
	char msg[1024];

	snprintf(msg, sizeof msg, "%s", mortar_errmsg());
	vm_state_save(vm->dir, &vm->st);
	mortar_set_error(r, "%s", msg);
	return r;
}

static int rule_cpus(const struct vm_topo *t, unsigned n)
{
	char why[512];

	if (vm_rule_cpus(t, n, why, sizeof why) < 0)
		return mortar_set_error(EINVAL, "%s", why);
	return 0;
}

int mortar_vm_cpus(struct mortar_vm *vm, unsigned n, struct mortar_vm_plug *p)
{
	struct vm_topo t;
	unsigned present = topo_now(vm, &t);
	int r = rule_cpus(&t, n);

	if (r < 0)
		return r;
	for (; present < n; present++) {
		char id[VM_ID_MAX];

		if ((r = cpu_plug_one(vm, p->node, -1, NULL, id, sizeof id)) < 0)
			return save_failed(vm, r);
	}
	for (; present > n && vm->st.ncpus > 0; present--)
		if ((r = cpu_unplug(vm, vm->st.ncpus - 1, p->timeout_s)) < 0)
			return save_failed(vm, r);
	return vm_save_and_wait(vm, &(struct vm_expect){ (int)n, -1, -1, VM_FROM_ANY },
				p->wait ? p->timeout_s : 0);
}

int mortar_vm_cpu_add(struct mortar_vm *vm, struct mortar_vm_plug *p)
{
	struct vm_topo t;
	unsigned present = topo_now(vm, &t);
	int r = rule_cpus(&t, present + 1);

	if (r == 0)
		r = cpu_plug_one(vm, p->node, p->slot, p->id, p->id_out, sizeof p->id_out);
	if (r < 0)
		return save_failed(vm, r);
	return vm_save_and_wait(vm, &(struct vm_expect){ (int)present + 1, -1, -1, VM_FROM_ANY },
				p->wait ? p->timeout_s : 0);
}

int mortar_vm_cpu_remove(struct mortar_vm *vm, const char *id, struct mortar_vm_plug *p)
{
	struct vm_topo t;
	unsigned present = topo_now(vm, &t);
	ssize_t i = vm_state_find_cpu(&vm->st, id);
	int r;

	if (i < 0)
		return mortar_set_error(ENOENT, "VM '%s' has no hot-plugged vCPU '%s' (boot "
					"vCPUs cannot be unplugged; 'mortar vm status' lists the "
					"plugged ones)", vm->st.name, id);
	if ((r = cpu_unplug(vm, (size_t)i, p->timeout_s)) < 0)
		return save_failed(vm, r);
	return vm_save_and_wait(vm, &(struct vm_expect){ (int)present - 1, -1, -1, VM_FROM_ANY },
				p->wait ? p->timeout_s : 0);
}
