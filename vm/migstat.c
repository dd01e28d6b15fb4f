/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration settings and figures (migstat.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "migstat.h"
#include "vm-json.h"

int vm_migrate_capability(struct qmp *q, const char *name, bool on)
{
	json_object *args = json_object_new_object(), *caps = json_object_new_array();
	json_object *c = json_object_new_object();

	vm_json_put_str(c, "capability", name);
	json_object_object_add(c, "state", json_object_new_boolean(on));
	json_object_array_add(caps, c);
	json_object_object_add(args, "capabilities", caps);
	return qmp_execute(q, "migrate-set-capabilities", args, NULL);
}

int vm_migrate_limits(struct qmp *q, int max_downtime_ms, uint64_t bandwidth)
{
	json_object *args = json_object_new_object();

	if (max_downtime_ms > 0)
		vm_json_put_int(args, "downtime-limit", max_downtime_ms);
	if (bandwidth > 0)
		vm_json_put_int(args, "max-bandwidth", (int64_t)bandwidth);
	if (json_object_object_length(args) == 0) {
		json_object_put(args);
		return 0;
	}
	return qmp_execute(q, "migrate-set-parameters", args, NULL);
}

/* A JSON number (QEMU sends mbps as a double) as a double. */
static double num(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)))
		return 0;
	return json_object_get_double(v);
}

int vm_migrate_poll(struct qmp *q, struct mortar_vm_progress *p, char *status, size_t len)
{
	json_object *ret, *ram;
	int r = qmp_execute(q, "query-migrate", NULL, &ret);

	if (r < 0)
		return r;
	snprintf(status, len, "%s", vm_json_str(ret, "status"));
	ram = vm_json_obj(ret, "ram");
	p->ram_total = (uint64_t)vm_json_int(ram, "total", 0);
	p->ram_done = (uint64_t)vm_json_int(ram, "transferred", 0);
	p->ram_remaining = (uint64_t)vm_json_int(ram, "remaining", 0);
	p->passes = (unsigned)vm_json_int(ram, "dirty-sync-count", 0);
	/* (megabits per second) */
	p->rate = (uint64_t)(num(ram, "mbps") * 1e6 / 8);
	p->expected_downtime_ms = vm_json_int(ret, "expected-downtime", -1);
	if (!strcmp(status, "completed")) {
		p->downtime_ms = vm_json_int(ret, "downtime", -1);
		p->qemu_total_ms = vm_json_int(ret, "total-time", -1);
	}
	if (!strcmp(status, "failed"))
		r = mortar_set_error(EIO, "the migration failed: %s",
				     vm_json_str(ret, "error-desc")[0] ?
				     vm_json_str(ret, "error-desc") : "QEMU gave no reason");
	json_object_put(ret);
	return r;
}

int vm_mirror_poll(struct qmp *q, struct mortar_vm_progress *p, bool *ready)
{
	json_object *jobs;
	int r = qmp_execute(q, "query-block-jobs", NULL, &jobs);

	*ready = true;
	if (r < 0)
		return r;
	p->disk_total = p->disk_done = 0;
	for (size_t i = 0; i < vm_json_len(jobs); i++) {
		json_object *j = json_object_array_get_idx(jobs, i);

		p->disk_total += (uint64_t)vm_json_int(j, "len", 0);
		p->disk_done += (uint64_t)vm_json_int(j, "offset", 0);
		*ready &= vm_json_bool(j, "ready");
		if (vm_json_str(j, "error")[0] && r == 0)
			r = mortar_set_error(EIO, "copying disk %s failed: %s",
					     vm_json_str(j, "device"), vm_json_str(j, "error"));
	}
	json_object_put(jobs);
	return r;
}
