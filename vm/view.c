/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's view (view.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "argv.h"
#include "error.h"
#include "view.h"
#include "vm-json.h"

long vm_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void vm_view_init(struct vm_view *v, const char *dir, const char *console, struct qmp *qmp)
{
	memset(v, 0, sizeof *v);
	snprintf(v->console, sizeof v->console, "%s/%s", dir, console);
	snprintf(v->agent_sock, sizeof v->agent_sock, "%s/%s", dir, vm_boot_files.qga);
	v->qmp = qmp;
}

static void agent_drop(struct vm_view *v)
{
	qmp_close(v->agent);
	v->agent = NULL;
}

void vm_view_close(struct vm_view *v)
{
	agent_drop(v);
	v->qmp = NULL;
}

bool vm_agent_port_open(struct qmp *q)
{
	json_object *r;
	bool open = false;

	if (qmp_execute(q, "query-chardev", NULL, &r) < 0)
		return false;
	for (size_t i = 0; json_object_is_type(r, json_type_array) &&
			   i < json_object_array_length(r); i++) {
		json_object *c = json_object_array_get_idx(r, i);

		if (!strcmp(vm_json_str(c, "label"), "qga0"))
			open = vm_json_bool(c, "frontend-open");
	}
	json_object_put(r);
	return open;
}

/* Connect to the agent if the guest runs one (checked at most once a
 * second).  Only when needed: each agent call is a round trip through
 * the guest, which costs under TCG. */
static void agent_connect(struct vm_view *v)
{
	if (v->agent || !v->qmp || vm_now_ms() < v->next_check_ms)
		return;
	v->next_check_ms = vm_now_ms() + 1000;
	if (access(v->agent_sock, F_OK) == 0 && vm_agent_port_open(v->qmp))
		qmp_connect_agent(v->agent_sock, 2000, &v->agent);
}

static bool read_agent(struct vm_view *v, struct vm_guest *g)
{
	agent_connect(v);
	if (!v->agent)
		return false;
	if (vm_agent_view(v->agent, g) == 0)
		return true;
	agent_drop(v);
	g->valid = false;
	return false;
}

/* The console's lines carry MemTotal and the NUMA nodes, which the agent
 * cannot give, so they come first; but once the agent has answered for
 * the guest, it is asked first: the two sources count memory differently
 * (the console MemTotal, the agent online blocks: 414840 and 524288 KiB
 * for one 512 MiB guest), so a figure taken before a plug from the
 * agent, because the console had no line yet, must be compared with the
 * agent's after it. */
void vm_view_read(struct vm_view *v, bool online, struct vm_guest *g)
{
	if (online)
		agent_connect(v);
	if (v->agent && online && vm_agent_online(v->agent, NULL, NULL) < 0)
		agent_drop(v);		/* gone (migrated, stopped) */
	if (v->agent_first && read_agent(v, g))
		return;
	vm_guest_read(v->console, g);
	if (g->valid)
		return;
	v->agent_first = read_agent(v, g);
}

static bool shows(const struct vm_guest *g, const struct vm_expect *e)
{
	if (!g->valid || (e->source && g->from_agent != (e->source == VM_FROM_AGENT)))
		return false;
	if (e->cpus >= 0 && g->cpus != (unsigned)e->cpus)
		return false;
	if (e->kib_min >= 0 && (int64_t)g->mem_kib < e->kib_min)
		return false;
	if (e->kib_max >= 0 && (int64_t)g->mem_kib > e->kib_max)
		return false;
	return true;
}

int vm_view_wait(struct vm_view *v, const struct vm_expect *e, int timeout_s,
		 struct vm_guest *g)
{
	long t0 = vm_now_ms();

	for (bool help = false;;) {
		/* A guest that reports on its console onlines by itself; the
		 * agent onlines for it after 0.5 s, and at once for a guest
		 * that does not report there.  Figures taken from one source
		 * are compared with that source's. */
		if (e->source == VM_FROM_CONSOLE)
			vm_guest_read(v->console, g);
		else
			vm_view_read(v, help, g);
		v->agent_first |= e->source == VM_FROM_AGENT;
		if (shows(g, e))
			return 0;
		if (vm_now_ms() - t0 >= timeout_s * 1000L)
			break;
		help = !g->valid || g->from_agent || vm_now_ms() - t0 >= 500;
		usleep(50000);
	}
	if (!g->valid)
		return mortar_set_error(ETIMEDOUT, "the guest printed no MORTAR-GUEST line "
					"and no guest agent answered within %d s; is its init "
					"the one of scripts/guest-assets.sh (or printing the "
					"protocol), or qemu-ga running in it?", timeout_s);
	if (e->cpus >= 0 && g->cpus != (unsigned)e->cpus)
		return mortar_set_error(ETIMEDOUT, "after %d s the guest shows %u online "
					"vCPUs, not %d: QEMU has them, but the guest did not "
					"online them (its init must write 1 to "
					"/sys/devices/system/cpu/cpuN/online)", timeout_s,
					g->cpus, e->cpus);
	if (e->source && g->from_agent != (e->source == VM_FROM_AGENT))
		return mortar_set_error(ETIMEDOUT, "after %d s the guest's %s did not answer "
					"(its figures before came from there; its %s shows %u "
					"vCPUs and %" PRIu64 " KiB)", timeout_s,
					e->source == VM_FROM_AGENT ? "agent" : "console",
					g->from_agent ? "agent" : "console", g->cpus, g->mem_kib);
	return mortar_set_error(ETIMEDOUT, "after %d s the guest shows %" PRIu64 " KiB of "
				"memory, not %" PRId64 "%s: QEMU plugged it, but the guest did "
				"not online it (boot it with memhp_default_state=online_movable)",
				timeout_s, g->mem_kib, e->kib_min,
				e->kib_max != e->kib_min ? " or more" : "");
}
