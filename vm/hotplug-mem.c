/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory hotplug (vm.h): DIMMs, each with a memory backend object of its
 * own, and the requested size of the virtio-mem device.  How much the
 * guest must show afterwards is counted from what it showed before. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "vm-json.h"
#include "vm-internal.h"

/* The DIMM that plugging SIZE bytes from backend SPEC as P asks makes. */
static int dimm_new(struct mortar_vm *vm, uint64_t size, const struct mortar_vm_plug *p,
		    struct vm_dimm *d)
{
	char why[PATH_MAX + 512], spec[PATH_MAX + 16];
	struct vm_topo t;

	memset(d, 0, sizeof *d);
	vm_state_topo(&vm->st, vm->st.boot_cpus, &t);
	/* --backend, else the VM's own */
	vm_membk_spec(&vm->st.membk, spec, sizeof spec);
	if (vm_membk_parse(p->backend ? p->backend : spec, &d->backend, why, sizeof why) < 0 ||
	    vm_rule_dimm(&t, size, p->node, why, sizeof why) < 0 ||
	    vm_membk_check(&d->backend, size, why, sizeof why) < 0)
		return mortar_set_error(EINVAL, "%s", why);
	/* QEMU leaves memory without a file out of what it shares with
	 * vhost-user servers: the guest would put disk buffers there that
	 * the servers cannot reach. */
	if (d->backend.type == VM_MEMBK_RAM && vm_state_vhost(&vm->st))
		return mortar_set_error(EINVAL, "--backend ram: the VM's vhost-user disks "
					"could not reach that memory; plug memfd or hugetlbfs "
					"memory (the default here is the VM's own, %s)", spec);
	if (p->id && strlen(p->id) >= sizeof d->id)
		return mortar_set_error(ENAMETOOLONG, "--id %s: at most %zu characters", p->id,
					sizeof d->id - 1);
	if (p->id)
		strcpy(d->id, p->id);
	else
		snprintf(d->id, sizeof d->id, "dimm%u", vm->st.dimm_seq + 1);
	snprintf(d->memdev, sizeof d->memdev, "mem-%s", d->id);
	d->size = size;
	d->node = p->node < 0 ? 0 : p->node;
	return 0;
}

static int object_del(struct qmp *q, const char *id)
{
	json_object *args = json_object_new_object();

	vm_json_put_str(args, "id", id);
	return qmp_execute(q, "object-del", args, NULL);
}

int mortar_vm_dimm_add(struct mortar_vm *vm, uint64_t size, struct mortar_vm_plug *p)
{
	struct vm_dimm d;
	struct vm_guest g0;
	json_object *args;
	int r = dimm_new(vm, size, p, &d);

	if (r < 0)
		return r;
	vm_view_read(&vm->view, false, &g0);
	r = qmp_execute(vm->qmp, "object-add", vm_membk_qmp(&d.backend, d.memdev, size), NULL);
	if (r < 0)
		return r;
	args = json_object_new_object();
	vm_json_put_str(args, "driver", "pc-dimm");
	vm_json_put_str(args, "id", d.id);
	vm_json_put_str(args, "memdev", d.memdev);
	if (p->node >= 0)
		vm_json_put_int(args, "node", p->node);
	if ((r = qmp_execute(vm->qmp, "device_add", args, NULL)) < 0) {
		char msg[1024];

		snprintf(msg, sizeof msg, "%s", mortar_errmsg());
		object_del(vm->qmp, d.memdev);
		return mortar_set_error(r, "%s", msg);
	}
	if ((r = vm_state_add_dimm(&vm->st, &d)) < 0)
		return r;
	vm->st.dimm_seq++;
	snprintf(p->id_out, sizeof p->id_out, "%s", d.id);
	/* (MemTotal grows by a little less: the memmap of the new memory) */
	return vm_save_and_wait(vm, &(struct vm_expect){
		-1, g0.valid ? (int64_t)(g0.mem_kib + (size >> 10) * 9 / 10) : 0, -1,
		VM_FROM_ANY },
		p->wait ? p->timeout_s : 0);
}

/* Wait for QEMU to say that the guest let DIMM ID go. */
static int dimm_released(struct qmp *q, const char *id, int timeout_s)
{
	long deadline = vm_now_ms() + timeout_s * 1000L;

	for (;;) {
		json_object *data = NULL;
		long left = deadline - vm_now_ms();
		bool mine;

		if (left <= 0 || qmp_wait_event(q, "DEVICE_DELETED", (int)left, &data) < 0)
			return mortar_set_error(ETIMEDOUT, "the guest did not release DIMM %s "
						"within %d s (memory in use by the kernel cannot "
						"go: boot with memhp_default_state=online_movable)",
						id, timeout_s);
		mine = !strcmp(vm_json_str(data, "device"), id);
		json_object_put(data);
		if (mine)
			return 0;
	}
}

int mortar_vm_dimm_remove(struct mortar_vm *vm, const char *id, struct mortar_vm_plug *p)
{
	ssize_t i = vm_state_find_dimm(&vm->st, id);
	struct vm_guest g0;
	json_object *args;
	uint64_t size;
	int r;

	if (i < 0)
		return mortar_set_error(ENOENT, "VM '%s' has no DIMM '%s' (see 'mortar vm "
					"status')", vm->st.name, id);
	vm_view_read(&vm->view, false, &g0);
	args = json_object_new_object();
	vm_json_put_str(args, "id", id);
	if ((r = qmp_execute(vm->qmp, "device_del", args, NULL)) < 0 ||
	    (r = dimm_released(vm->qmp, id, p->timeout_s)) < 0)
		return r;
	object_del(vm->qmp, vm->st.dimms[i].memdev);
	size = vm->st.dimms[i].size;
	vm_state_del_dimm(&vm->st, (size_t)i);
	return vm_save_and_wait(vm, &(struct vm_expect){
		-1, -1, g0.valid ? (int64_t)g0.mem_kib - (int64_t)(size >> 10) * 9 / 10 : -1,
		VM_FROM_ANY },
		p->wait ? p->timeout_s : 0);
}

/* Why TOTAL bytes cannot be the guest's memory, or 0. */
static int mem_set_check(const struct vm_state *st, uint64_t total)
{
	uint64_t base = st->memory + vm_state_dimm_bytes(st), vmax = st->virtio_mem;

	if (!vmax)
		return mortar_set_error(EINVAL, "VM '%s' has no virtio-mem device (start it with "
					"--virtio-mem SIZE); use 'mortar vm mem add|remove' for "
					"DIMMs", st->name);
	if (total % VM_X86_BLOCK || total < base || total > base + vmax)
		return mortar_set_error(EINVAL, "%" PRIu64 " MiB: the total must be a multiple "
					"of 128 MiB (the x86 guest's memory block) between %"
					PRIu64 " and %" PRIu64 " MiB (boot memory + DIMMs, plus "
					"the virtio-mem device's %" PRIu64 " MiB)", total >> 20,
					base >> 20, (base + vmax) >> 20, vmax >> 20);
	return 0;
}

/* The virtio-mem device's property NAME: read, or set to VALUE. */
static int vmem_prop(struct qmp *q, const char *name, int64_t value, int64_t *out)
{
	json_object *args = json_object_new_object(), *ret = NULL;
	int r;

	vm_json_put_str(args, "path", "/machine/peripheral/vmem");
	vm_json_put_str(args, "property", name);
	if (!out)
		vm_json_put_int(args, "value", value);
	r = qmp_execute(q, out ? "qom-get" : "qom-set", args, out ? &ret : NULL);
	if (r == 0 && out && !json_object_is_type(ret, json_type_int))
		r = mortar_set_error(EPROTO, "QEMU gave no size for the virtio-mem device");
	if (r == 0 && out)
		*out = json_object_get_int64(ret);
	json_object_put(ret);
	return r;
}

int mortar_vm_mem_set(struct mortar_vm *vm, uint64_t total, struct mortar_vm_plug *p)
{
	uint64_t want = total - vm->st.memory - vm_state_dimm_bytes(&vm->st);
	struct vm_guest g0;
	int64_t plugged, delta, kib, slack;
	int r = mem_set_check(&vm->st, total);

	if (r < 0)
		return r;
	vm_view_read(&vm->view, false, &g0);
	/* What the device has plugged now is what the guest's MemTotal
	 * (read above) counts: the change to wait for is from there. */
	if ((r = vmem_prop(vm->qmp, "size", 0, &plugged)) < 0 ||
	    (r = vmem_prop(vm->qmp, "requested-size", (int64_t)want, NULL)) < 0)
		return r;
	vm->st.virtio_mem_requested = want;
	if (!g0.valid)
		return vm_save_and_wait(vm, &VM_EXPECT_ANY, 0);
	/* MemTotal moves by what was plugged or unplugged (give or take what
	 * the kernel keeps for the memmap). */
	delta = (int64_t)want - plugged;
	kib = (int64_t)g0.mem_kib + delta / 1024;
	slack = (delta < 0 ? -delta : delta) / 1024 / 10 + 1024;
	return vm_save_and_wait(vm, &(struct vm_expect){ -1, kib - slack, kib + slack,
				VM_FROM_ANY },
				p->wait ? p->timeout_s : 0);
}
