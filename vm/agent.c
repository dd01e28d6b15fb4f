/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest agent's view and onlining (agent.h).  qemu-ga reports what
 * sysfs says: a vCPU or memory block QEMU plugged stays offline in guests
 * that do not online it themselves (no udev rule, memhp_default_state
 * offline) until someone writes to sysfs; the agent can, on our behalf. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "error.h"
#include "vm-json.h"

/* Memory blocks are 128 MiB (x86) to 2 GiB; a size above this is not one. */
#define MAX_BLOCK_SIZE (1ll << 40)

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

void vm_cpu_list(const int *ids, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len;) {
		size_t j = i;

		while (j + 1 < n && ids[j + 1] == ids[j] + 1)
			j++;
		used += (size_t)snprintf(buf + used, len - used, "%s%d", used ? "," : "", ids[i]);
		if (j > i && used < len)
			used += (size_t)snprintf(buf + used, len - used, "-%d", ids[j]);
		i = j + 1;
	}
}

int vm_agent_view(struct qmp *a, struct vm_guest *g)
{
	json_object *vcpus = NULL, *blocks = NULL, *info = NULL;
	int ids[256], r;
	size_t n = 0;
	int64_t bsize, online_blocks = 0;

	memset(g, 0, sizeof *g);
	if ((r = qmp_execute(a, "guest-get-vcpus", NULL, &vcpus)) < 0 ||
	    (r = qmp_execute(a, "guest-get-memory-block-info", NULL, &info)) < 0 ||
	    (r = qmp_execute(a, "guest-get-memory-blocks", NULL, &blocks)) < 0)
		goto out;
	for (size_t i = 0; i < vm_json_len(vcpus) && n < 256; i++) {
		json_object *c = json_object_array_get_idx(vcpus, i);

		if (vm_json_bool(c, "online"))
			ids[n++] = (int)vm_json_int(c, "logical-id", -1);
	}
	qsort(ids, n, sizeof *ids, cmp_int);
	g->cpus = (unsigned)n;
	vm_cpu_list(ids, n, g->cpu_list, sizeof g->cpu_list);
	/* (the guest runs the agent: its numbers are checked, not trusted) */
	bsize = vm_json_int(info, "size", -1);
	for (size_t i = 0; i < vm_json_len(blocks); i++)
		online_blocks += vm_json_bool(json_object_array_get_idx(blocks, i), "online");
	if (bsize <= 0 || bsize > MAX_BLOCK_SIZE) {
		r = mortar_set_error(EPROTO, "the guest agent gave no memory block size (or "
				     "one above 1 TiB)");
		goto out;
	}
	g->mem_kib = (uint64_t)online_blocks * (uint64_t)(bsize >> 10);
	g->valid = true;
	g->from_agent = true;
out:
	json_object_put(vcpus);
	json_object_put(info);
	json_object_put(blocks);
	return r;
}

/* Ask the agent to online every entry of LIST (from CMD_GET) whose
 * "online" is false, through CMD_SET with ARG_NAME: [{KEY, online}]. */
static int online_all(struct qmp *a, const char *cmd_get, const char *cmd_set,
		      const char *arg_name, const char *key, unsigned *count)
{
	json_object *list = NULL, *want, *args;
	int r;

	if (count)
		*count = 0;
	if ((r = qmp_execute(a, cmd_get, NULL, &list)) < 0)
		return r;
	want = json_object_new_array();
	for (size_t i = 0; i < vm_json_len(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *w;

		if (vm_json_bool(e, "online") || vm_json_int(e, key, -1) < 0)
			continue;
		w = json_object_new_object();
		json_object_object_add(w, key, json_object_new_int64(vm_json_int(e, key, -1)));
		json_object_object_add(w, "online", json_object_new_boolean(1));
		json_object_array_add(want, w);
	}
	json_object_put(list);
	if (json_object_array_length(want) == 0) {
		json_object_put(want);
		return 0;
	}
	if (count)
		*count = (unsigned)json_object_array_length(want);
	args = json_object_new_object();
	json_object_object_add(args, arg_name, want);
	return qmp_execute(a, cmd_set, args, NULL);
}

int vm_agent_online(struct qmp *a, unsigned *cpus, unsigned *blocks)
{
	int r = online_all(a, "guest-get-vcpus", "guest-set-vcpus", "vcpus", "logical-id", cpus);

	if (r < 0)
		return r;
	return online_all(a, "guest-get-memory-blocks", "guest-set-memory-blocks", "mem-blks",
			  "phys-index", blocks);
}
