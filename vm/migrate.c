/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration after hotplug, the source's side (vm.h).  The target QEMU
 * must be started with the source's topology as it is now, or it refuses
 * the incoming state: its command line is built from the state like the
 * boot one, with every plugged device cold-plugged.  On this host it
 * runs beside the source with its own pid file, sockets and console,
 * and takes over the VM's files once the source has quit; on another
 * host `mortar vm incoming` (incoming.c) starts it there, reached through
 * the command the user gave (remote.h).
 *
 * Who writes the disks, when: the target starts paused with its disks
 * inactive; at the end of the copy the source stops the guest and
 * flushes its disks through its mortar serve (QEMU's inactivation), and
 * only once the source reports the migration complete is the target told
 * to run the guest and open its disks for writing.  Until then a failure
 * leaves the source running, or resumes it. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argv.h"
#include "capacity.h"
#include "error.h"
#include "migstat.h"
#include "mirror.h"
#include "remote.h"
#include "target.h"
#include "vm-json.h"
#include "vm-internal.h"

/* Measured on QEMU 10.0.2 under TCG: a pseries guest with more than one
 * vCPU never ran again on the target, whether the second was a
 * hot-plugged core (spapr-cpu-core, replayed on the target's command
 * line: 7 of 7 trials, on one host and between two) or a boot vCPU with
 * nothing plugged (6 of 6, also with the guest polling when idle rather
 * than ceding): there a vCPU's decrementer has expired and stays so, its
 * interrupt never delivered (MSR[EE] set, the vCPU running), and the
 * guest's watchdog reports a hard lockup of it (tests/vm/manual/
 * migrate-ppc64-smp.sh).  With one vCPU, hot-plugged DIMMs or not, it
 * moves fine. */
static int refuse_ppc_smp(const struct vm_state *st)
{
	char what[160];

	if (st->arch != VM_ARCH_PPC64 || strcmp(st->accel, "tcg") ||
	    st->boot_cpus + st->ncpus <= 1)
		return 0;
	if (st->ncpus)
		snprintf(what, sizeof what, "%zu hot-plugged core%s (%s first)", st->ncpus,
			 st->ncpus == 1 ? "" : "s", st->cpus[0].id);
	else
		snprintf(what, sizeof what, "%u boot vCPUs", st->boot_cpus);
	return mortar_set_error(ENOTSUP, "refused: VM '%s' is a pseries guest with %s, and "
				"under TCG pseries guests of more than one vCPU did not run again "
				"on the target in any trial (QEMU 10.0.2: a vCPU's decrementer "
				"interrupt is lost in the move); use KVM or a single vCPU, or "
				"pass --force to migrate anyway", st->name, what);
}

static int migration_uri(const struct mortar_vm *vm, struct mortar_vm_migration *m)
{
	if (!m->to && !m->via)
		snprintf(m->uri, sizeof m->uri, "unix:%s/migrate.sock", vm->dir);
	else if (m->to && !strncmp(m->to, "tcp:", 4) && strrchr(m->to, ':') > m->to + 4)
		snprintf(m->uri, sizeof m->uri, "%s", m->to);
	else if (m->to && !strncmp(m->to, "unix:", 5) && !m->via)
		snprintf(m->uri, sizeof m->uri, "%s", m->to);
	else
		return mortar_set_error(EINVAL, m->via ? "--via wants --to tcp:HOST:PORT, HOST "
					"being the target host's address" :
					"--to wants unix:PATH or tcp:HOST:PORT");
	return 0;
}

/* What must hold before anything starts. */
static int check(struct mortar_vm *vm, struct mortar_vm_migration *m)
{
	int r;

	if ((!m->force && (r = refuse_ppc_smp(&vm->st)) < 0) || (r = migration_uri(vm, m)) < 0)
		return r;
	/* A vhost-user disk's server is the writer, not QEMU: nothing
	 * flushes it when the source stops, so another host's server could
	 * read the image before this one's last writes reach it; nor can
	 * QEMU copy it (it has no block node for it). */
	for (size_t i = 0; m->via && i < vm->st.ndisks; i++)
		if (vm->st.disks[i].protocol == VM_DISK_VHOST_USER)
			return mortar_set_error(ENOTSUP, "disk %zu of VM '%s' is a vhost-user-blk "
						"disk: its server here is not flushed when the guest "
						"stops (the target host's server could read the image "
						"before its last writes), and QEMU cannot copy it; to "
						"migrate to another host, start the VM with "
						"--disk-protocol nbd (QEMU flushes those disks at the "
						"switchover)", i, vm->st.name);
	for (size_t i = 0; i < MORTAR_VM_MAX_DISKS; i++) {
		if (!m->disk_to[i])
			continue;
		if (!m->via)
			return mortar_set_error(EINVAL, "--disk-to copies a disk to another "
						"host's storage: give --via too");
		if (i >= vm->st.ndisks)
			return mortar_set_error(EINVAL, "--disk-to: VM '%s' has no disk %zu",
						vm->st.name, i);
	}
	/* (another host checks for itself, with its own QEMU and memory) */
	return m->via ? 0 : vm_capacity_check(&vm->st, m->target_qemu);
}

/* The receiving side, here or on another host. */
struct target {
	struct qmp *qmp;		/* here */
	struct vm_remote rm;		/* there */
	bool remote;
	unsigned moving;		/* bit I: disk I is copied */
	char *mirror[MORTAR_VM_MAX_DISKS];	/* "HOST PORT NAME" of each copy */
};

/* The size of disk I as the source QEMU sees it. */
static int disk_size(struct qmp *q, unsigned i, uint64_t *size)
{
	json_object *args = json_object_new_object(), *nodes;
	char node[16];
	int r;

	snprintf(node, sizeof node, "disk%u", i);
	json_object_object_add(args, "flat", json_object_new_boolean(1));
	if ((r = qmp_execute(q, "query-named-block-nodes", args, &nodes)) < 0)
		return r;
	r = mortar_set_error(ENOENT, "QEMU does not list disk %u (node %s)", i, node);
	for (size_t k = 0; k < vm_json_len(nodes); k++) {
		json_object *n = json_object_array_get_idx(nodes, k);

		if (!strcmp(vm_json_str(n, "node-name"), node)) {
			*size = (uint64_t)vm_json_int(vm_json_obj(n, "image"), "virtual-size", 0);
			r = 0;
		}
	}
	json_object_put(nodes);
	return r;
}

/* The arguments of `mortar vm incoming` on the target host into SV. */
static int incoming_args(struct mortar_vm *vm, const struct mortar_vm_migration *m,
			 const struct vm_guest *g0, struct vm_strv *sv)
{
	uint64_t size = 0;
	int r;

	vm_strv_add(sv, "vm");
	vm_strv_add(sv, "incoming");
	vm_strv_add(sv, vm->st.name);
	vm_strv_add(sv, "--listen");
	vm_strv_add(sv, m->uri);
	vm_strv_add(sv, "--timeout");
	vm_strv_addf(sv, "%d", m->timeout_s);
	if (m->target_qemu) {
		vm_strv_add(sv, "--qemu");
		vm_strv_add(sv, m->target_qemu);
	}
	for (unsigned i = 0; i < MORTAR_VM_MAX_DISKS; i++) {
		if (!m->disk_to[i])
			continue;
		if ((r = disk_size(vm->qmp, i, &size)) < 0)
			return r;
		vm_strv_add(sv, "--disk-to");
		vm_strv_addf(sv, "%u=%" PRIu64 ":%s", i, size, m->disk_to[i]);
	}
	if (m->wait) {
		vm_strv_add(sv, "--wait");
		vm_strv_add(sv, "--expect");
		vm_strv_addf(sv, "%d:%" PRId64 "%s", g0->valid ? (int)g0->cpus : -1,
			     g0->valid ? (int64_t)g0->mem_kib : -1, g0->from_agent ? ":agent" : "");
	}
	return vm_strv_error(sv);
}

/* Start `mortar vm incoming` through m->via, hand it the state, and wait
 * until its QEMU listens (learning where each moving disk goes). */
static int remote_open(struct mortar_vm *vm, const struct mortar_vm_migration *m,
		       const struct vm_guest *g0, struct target *t)
{
	struct vm_strv sv = VM_STRV_INIT;
	char *state = NULL, *line;
	unsigned i;
	int r = incoming_args(vm, m, g0, &sv), n;

	t->remote = true;
	if (r == 0)
		r = vm_remote_start(&t->rm, m->via, sv.v);
	vm_strv_free(&sv);
	if (r == 0 && !(state = vm_state_text(&vm->st)))
		r = -ENOMEM;
	/* (one that quit at once, on a bad argument, said why: that first) */
	if (r == 0 && (r = vm_remote_send(&t->rm, state)) == -EPIPE &&
	    vm_remote_recv(&t->rm, &line, 5000) == 0)
		r = mortar_set_error(EPIPE, "the target host's mortar is gone");
	free(state);
	/* (the target may create and serve images and start QEMU first) */
	while (r == 0 && (r = vm_remote_recv(&t->rm, &line, 120000)) == 0 &&
	       strcmp(line, "ready")) {
		if (sscanf(line, "disk %u %n", &i, &n) != 1 || i >= MORTAR_VM_MAX_DISKS ||
		    !(t->mirror[i] = strdup(line + n)))
			r = mortar_set_error(EPROTO, "the target host's mortar said '%.80s': is it "
					     "the same version as this one?", line);
		else
			t->moving |= 1u << i;
	}
	return r;
}

/* Start copying each moving disk to where the target said. */
static int mirrors_start(struct qmp *q, struct target *t)
{
	for (unsigned i = 0; i < MORTAR_VM_MAX_DISKS; i++) {
		char host[256], port[16], name[256];
		int r;

		if (!(t->moving & 1u << i))
			continue;
		if (sscanf(t->mirror[i], "%255s %15s %255s", host, port, name) != 3)
			return mortar_set_error(EPROTO, "the target gave no export for disk %u", i);
		if ((r = vm_mirror_start(q, i, host, port, name)) < 0) {
			vm_mirror_abort(q, t->moving & ((1u << i) - 1));
			return r;
		}
	}
	return 0;
}

static void report(const struct mortar_vm_migration *m, struct mortar_vm_progress *p,
		   const char *phase, long t0)
{
	p->phase = phase;
	p->elapsed_ms = vm_now_ms() - t0;
	if (m->progress)
		m->progress(m->opaque, p);
}

/* Copy the moving disks until they are in sync (the guest runs on). */
static int mirrors_sync(struct mortar_vm *vm, struct mortar_vm_migration *m,
			struct target *t, long t0)
{
	long end = vm_now_ms() + m->timeout_s * 1000L, shown = 0;
	bool ready = false;
	int r = 0;

	while (r == 0 && !ready) {
		r = vm_mirror_poll(vm->qmp, &m->last, &ready);
		if (vm_now_ms() - shown >= 500 || ready) {
			report(m, &m->last, "disks", t0);
			shown = vm_now_ms();
		}
		if (r == 0 && !ready && vm_now_ms() > end)
			r = mortar_set_error(ETIMEDOUT, "the disks were not copied within %d s "
					     "(--timeout)", m->timeout_s);
		if (r == 0 && !ready)
			usleep(100000);
	}
	if (r < 0)
		vm_mirror_abort(vm->qmp, t->moving);
	return r;
}

/* Whether the guest must stay stopped while its memory is copied.
 * Under TCG, QEMU learns of the guest's writes through its TLB: a page
 * clean for the migration loses its fast write path, and each pass of
 * the copy must take that path away again from the pages it found dirty.
 * QEMU 9.0 to 10.0.2 (and upstream since, as of its late-2025 code) do
 * that for the RAM block at offset 0 only (the offset within the block
 * is taken for an address of all RAM: cpu_physical_memory_sync_dirty_
 * bitmap), QEMU before 9.0 for none: what the guest writes after a pass
 * into any other block (before 9.0: any block) is not sent again.  The
 * other blocks are a second NUMA node's boot memory, the DIMMs and
 * virtio-mem: with two nodes, the kernel's own data on node 1 arrived
 * stale and the guest oopsed or hung on the target in 7 of 29 moves
 * (list corruption, "stack is corrupted"); plain QEMU lost updates to
 * 5-20 pages of node 1 in 4 of 13 moves, never of node 0
 * (tests/vm/manual/migrate-tcg-dirty-x86.sh).  A stopped guest writes
 * nothing: the copy is whole, the guest paused for all of it (2-3 s for
 * 640 MiB under TCG here). */
static bool copy_stopped(const struct vm_state *st)
{
	return !strcmp(st->accel, "tcg") && (st->qemu_version < 90000 || st->numa > 1 ||
					     st->ndimms || st->virtio_mem);
}

/* Run the memory copy to its end, finishing the disk copies at the
 * switchover; the source's guest is stopped when it returns 0. */
static int copy_memory(struct mortar_vm *vm, struct mortar_vm_migration *m,
		       struct target *t, long t0)
{
	json_object *args = json_object_new_object();
	long end = vm_now_ms() + m->timeout_s * 1000L, shown = 0, stopped = 0;
	char status[32] = "";
	int r;

	m->last.live = !copy_stopped(&vm->st);
	if (!m->last.live) {
		if ((r = qmp_execute(vm->qmp, "stop", NULL, NULL)) < 0) {
			json_object_put(args);
			return r;
		}
		stopped = vm_now_ms();
	}
	vm_json_put_str(args, "uri", m->uri);
	if ((r = qmp_execute(vm->qmp, "migrate", args, NULL)) < 0) {
		if (stopped)
			qmp_execute(vm->qmp, "cont", NULL, NULL);
		return r;
	}
	while ((r = vm_migrate_poll(vm->qmp, &m->last, status, sizeof status)) == 0 &&
	       strcmp(status, "completed")) {
		if (!strcmp(status, "pre-switchover")) {
			report(m, &m->last, "switchover", t0);
			args = json_object_new_object();
			vm_json_put_str(args, "state", "pre-switchover");
			if ((r = vm_mirror_finish(vm->qmp, t->moving, 30000)) < 0 ||
			    (r = qmp_execute(vm->qmp, "migrate-continue", args, NULL)) < 0)
				break;
			t->moving = 0;
		} else if (!strcmp(status, "cancelled")) {
			r = mortar_set_error(ECANCELED, "the migration was cancelled");
			break;
		} else if (vm_now_ms() > end) {
			r = mortar_set_error(ETIMEDOUT, "the migration did not complete within "
					     "%d s (--timeout; a guest that dirties memory faster "
					     "than it is sent needs a larger --max-downtime or "
					     "--bandwidth)", m->timeout_s);
			break;
		}
		if (vm_now_ms() - shown >= 500) {
			report(m, &m->last, "memory", t0);
			shown = vm_now_ms();
		}
		usleep(50000);
	}
	if (r < 0) {
		qmp_execute(vm->qmp, "migrate_cancel", NULL, NULL);
		vm_mirror_abort(vm->qmp, t->moving);
		if (stopped)
			qmp_execute(vm->qmp, "cont", NULL, NULL);
	} else if (stopped) {
		/* (QEMU counts from its own stop, at the end of the copy) */
		m->last.downtime_ms = vm_now_ms() - stopped;
	}
	return r;
}

/* The target runs the guest now: the source quits, and on this host the
 * target's files take the VM's names; QMP and the view follow.  A QEMU
 * that quits unlinks the paths it was started with, and a source that
 * was itself a target was started with the names the target has now:
 * each target file gets a second name before the source quits, which
 * replaces the VM's name only once the source is gone. */
static int adopt_here(struct mortar_vm *vm, const struct mortar_vm_migration *m)
{
	const char *from[] = { vm_target_files.pid, vm_target_files.qmp, vm_target_files.qga,
			       vm_target_files.console };
	const char *to[] = { vm_boot_files.pid, vm_boot_files.qmp, vm_boot_files.qga,
			     vm_boot_files.console };
	const size_t n = sizeof from / sizeof from[0];
	pid_t old = mortar_vm_pid(vm);
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX + 8];
	bool linked[sizeof from / sizeof from[0]];
	int r;

	for (size_t i = 0; i < n; i++) {
		vm_path(a, sizeof a, vm->dir, from[i]);
		vm_path(b, sizeof b, vm->dir, to[i]);
		snprintf(c, sizeof c, "%s.new", b);
		unlink(c);
		linked[i] = link(a, c) == 0;
	}
	qmp_execute(vm->qmp, "quit", NULL, NULL);
	qmp_close(vm->qmp);
	vm->qmp = NULL;
	for (int i = 0; i < 50 && vm_qemu_alive(old); i++)
		usleep(100000);
	/* The console before the move stays readable beside the target's,
	 * as a rotated log does (one generation: the last host's). */
	vm_path(b, sizeof b, vm->dir, vm_boot_files.console);
	snprintf(c, sizeof c, "%s.1", b);
	rename(b, c);
	for (size_t i = 0; i < n; i++) {
		vm_path(a, sizeof a, vm->dir, from[i]);
		vm_path(b, sizeof b, vm->dir, to[i]);
		snprintf(c, sizeof c, "%s.new", b);
		/* (no second name: the first, if the source left it) */
		if (linked[i])
			unlink(a);
		rename(linked[i] ? c : a, b);
	}
	if (m->target_qemu && (r = vm_state_set_qemu(&vm->st, m->target_qemu)) < 0)
		return r;
	/* qemu_argv stays the boot command line: a later migration
	 * replays the devices from the lists again. */
	vm->st.migrated++;
	if ((r = vm_state_save(vm->dir, &vm->st)) < 0)
		return r;
	vm_view_init(&vm->view, vm->dir, vm_boot_files.console, NULL);
	if ((r = vm_connect(vm)) == 0 && (r = qmp_version(vm->qmp)) > 0) {
		vm->st.qemu_version = r;
		r = vm_state_save(vm->dir, &vm->st);
	}
	return r;
}

/* The VM lives on another host now: its QEMU and disk servers here go. */
static void leave_here(struct mortar_vm *vm)
{
	pid_t old = mortar_vm_pid(vm);

	qmp_execute(vm->qmp, "quit", NULL, NULL);
	qmp_close(vm->qmp);
	vm->qmp = NULL;
	for (int i = 0; i < 50 && vm_qemu_alive(old); i++)
		usleep(100000);
	if (vm_qemu_alive(old))
		kill(old, SIGKILL);
	vm_cleanup(vm->dir, &vm->st);
}

/* Have the target run the guest; its QEMU's pid into m->target_pid. */
static int target_go(struct mortar_vm *vm, struct mortar_vm_migration *m, struct target *t)
{
	char *line, p[PATH_MAX];
	int r, pid;

	if (!t->remote) {
		r = vm_target_resume(t->qmp, 30);
		vm_path(p, sizeof p, vm->dir, vm_target_files.pid);
		m->target_pid = vm_read_pid(p);
		return r;
	}
	if ((r = vm_remote_send(&t->rm, "go")) < 0 ||
	    (r = vm_remote_recv(&t->rm, &line, 60000)) < 0)
		return r;
	if (sscanf(line, "running %d", &pid) != 1)
		return mortar_set_error(EPROTO, "the target host's mortar said '%.80s'", line);
	m->target_pid = pid;
	return 0;
}

static void target_abort(struct mortar_vm *vm, struct target *t)
{
	if (t->remote) {
		vm_remote_abort(&t->rm, 30000);
	} else {
		vm_target_kill(vm->dir, VM_ARGV_TARGET, t->qmp);
		qmp_close(t->qmp);
		t->qmp = NULL;
	}
}

static void target_free(struct target *t)
{
	if (t->remote)
		vm_remote_end(&t->rm, 30000);
	qmp_close(t->qmp);
	for (unsigned i = 0; i < MORTAR_VM_MAX_DISKS; i++)
		free(t->mirror[i]);
}

/* With --wait: the guest, on the target, shows what it showed before. */
static int wait_guest(struct mortar_vm *vm, const struct mortar_vm_migration *m,
		      struct target *t, const struct vm_guest *g0)
{
	struct vm_guest g;
	char *line;

	if (t->remote)
		return vm_remote_recv(&t->rm, &line, (m->timeout_s + 30) * 1000);
	/* (counted the way they were counted before: agent or console; at
	 * least the memory it had: a block it was still onlining when the
	 * copy began may be online by now, seen once in 12 moves) */
	return vm_view_wait(&vm->view, &(struct vm_expect){
		g0->valid ? (int)g0->cpus : -1, g0->valid ? (int64_t)g0->mem_kib : -1,
		-1, !g0->valid ? VM_FROM_ANY :
		g0->from_agent ? VM_FROM_AGENT : VM_FROM_CONSOLE }, 30, &g);
}

/* Copy disks and memory, then switch over to the target. */
static int move(struct mortar_vm *vm, struct mortar_vm_migration *m, struct target *t, long t0)
{
	long done;
	int r = vm_migrate_limits(vm->qmp, m->max_downtime_ms, m->bandwidth);

	/* (the copies finish with the guest stopped, before the switchover) */
	if (r == 0)
		r = vm_migrate_capability(vm->qmp, "pause-before-switchover", t->moving != 0);
	if (r == 0 && t->moving && (r = mirrors_start(vm->qmp, t)) == 0)
		r = mirrors_sync(vm, m, t, t0);
	if (r == 0)
		r = copy_memory(vm, m, t, t0);
	if (r < 0) {
		target_abort(vm, t);
		return r;
	}
	done = vm_now_ms();
	if ((r = target_go(vm, m, t)) < 0) {
		/* The source's disks are as it left them: it runs on. */
		mortar_error_prefix("the target did not take over");
		target_abort(vm, t);
		qmp_execute(vm->qmp, "cont", NULL, NULL);
		return r;
	}
	m->last.resume_ms = vm_now_ms() - done;
	report(m, &m->last, "done", t0);
	return 0;
}

int mortar_vm_migrate(struct mortar_vm *vm, struct mortar_vm_migration *m)
{
	struct target t = { 0 };
	struct vm_guest g0;
	long t0 = vm_now_ms();
	int r;

	m->last = (struct mortar_vm_progress){ .expected_downtime_ms = -1, .downtime_ms = -1,
					       .resume_ms = -1, .qemu_total_ms = -1 };
	if ((r = check(vm, m)) < 0)
		return r;
	/* What the guest shows now, from the source (the agent's session
	 * ends with it: the target's agent is another port) */
	vm_view_read(&vm->view, false, &g0);
	vm_view_close(&vm->view);
	if (m->via) {
		r = remote_open(vm, m, &g0, &t);
	} else {
		struct vm_state st = vm->st;

		/* (a target QEMU of another path, same host: an upgrade) */
		st.qemu = m->target_qemu ? (char *)m->target_qemu : vm->st.qemu;
		r = vm_target_start(&st, vm->dir, VM_ARGV_TARGET, m->uri, &t.qmp);
	}
	if (r == 0)
		r = move(vm, m, &t, t0);
	else
		target_abort(vm, &t);
	if (r == 0 && !t.remote) {
		/* (QEMU's QMP takes one client at a time: ours from now on) */
		qmp_close(t.qmp);
		t.qmp = NULL;
		r = adopt_here(vm, m);
	}
	else if (r == 0)
		leave_here(vm);
	if (r == 0 && m->wait)
		r = wait_guest(vm, m, &t, &g0);
	target_free(&t);
	return r;
}
