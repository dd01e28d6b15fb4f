/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The target half of a migration from another host (vm.h,
 * mortar_vm_incoming), run by the source through its --via command and
 * talking to it on standard input and output (remote.h).
 *
 * A disk that moves gets a new image here and two servers: the VM's own
 * (a unix socket, for the target QEMU, as at boot) and, while the copy
 * runs, one on the migration's address through which the source QEMU
 * writes the copy.  The source finishes the copy and closes its
 * connection, which flushes it (QEMU flushes a block node it closes),
 * before it reports the migration complete and says go: from then on the
 * copy's server has nothing to write, and the target QEMU, whose disks
 * stayed inactive until then, is the only writer.  The copy's server is
 * stopped as the guest starts here (it takes a second to exit: not
 * waited for in the guest's downtime). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "capacity.h"
#include "disk.h"
#include "error.h"
#include "remote.h"
#include "target.h"
#include "vm-internal.h"

struct incoming {
	const struct mortar_vm_incoming *in;
	struct vm_state st;
	char dir[VM_DIR_MAX];
	bool claimed;			/* the runtime directory is ours */
	char host[256];			/* of in->listen */
	unsigned port;
	struct qmp *q;
	pid_t copy_pid[MORTAR_VM_MAX_DISKS];	/* the copies' servers */
	bool created[MORTAR_VM_MAX_DISKS];	/* images made here */
};

/* HOST and PORT of "tcp:HOST:PORT" ("[v6]" without its brackets). */
static int parse_listen(struct incoming *x)
{
	const char *s = x->in->listen, *colon = s ? strrchr(s, ':') : NULL;
	size_t len;
	char *end;

	if (!s || strncmp(s, "tcp:", 4) || colon <= s + 4)
		return mortar_set_error(EINVAL, "--listen wants tcp:HOST:PORT");
	s += 4;
	len = (size_t)(colon - s);
	if (s[0] == '[' && len > 2 && s[len - 1] == ']')
		s++, len -= 2;
	if (len >= sizeof x->host)
		return mortar_set_error(EINVAL, "--listen: the host is too long");
	memcpy(x->host, s, len);
	x->host[len] = '\0';
	x->port = (unsigned)strtoul(colon + 1, &end, 10);
	if (*end || x->port == 0 || x->port + MORTAR_VM_MAX_DISKS > 65535)
		return mortar_set_error(EINVAL, "--listen: port '%s' must leave room for a port "
					"per disk above it (at most %d)", colon + 1,
					65535 - MORTAR_VM_MAX_DISKS);
	return 0;
}

/* The state the source sent, with this host's QEMU. */
static int receive(struct incoming *x, struct vm_lines *l)
{
	char *line;
	int r = vm_lines_read(l, &line, 60000);

	if (r == 0)
		r = vm_state_parse(line, "the VM's state sent by the source", &x->st);
	if (r == 0 && x->in->qemu)
		r = vm_state_set_qemu(&x->st, x->in->qemu);
	return r;
}

/* Disk I moves here: make its image, and serve it where the source
 * copies it to, told to the source. */
static int copy_target(struct incoming *x, unsigned i, const char *location)
{
	char pidfile[PATH_MAX], log[PATH_MAX], port[16], spec[PATH_MAX + 16];
	char *args[] = { "-b", x->host, "-p", port, spec, NULL };
	int r = mortar_image_create_text(location, x->in->disk_size[i], MORTAR_PREALLOC_OFF, 0);

	if (r < 0)
		return mortar_error_prefix("disk %u cannot move to %s", i, location), r;
	x->created[i] = true;
	snprintf(port, sizeof port, "%u", x->port + 1 + i);
	snprintf(spec, sizeof spec, "disk%u=%s", i, location);
	snprintf(pidfile, sizeof pidfile, "%s/copy%u.pid", x->dir, i);
	snprintf(log, sizeof log, "%s/copy%u.log", x->dir, i);
	r = vm_serve_spawn(args, pidfile, log, location, &x->copy_pid[i]);
	if (r < 0)
		return mortar_error_prefix("the copy of disk %u to %s port %s", i, x->host,
					   port), r;
	vm_remote_say("disk %u %s %s disk%u", i, x->host, port, i);
	return 0;
}

/* Serve every disk here: the same location (storage both hosts reach)
 * or a new image that the source copies the disk to. */
static int serve_disks(struct incoming *x)
{
	size_t n = x->st.ndisks;
	struct vm_disk *old = x->st.disks;
	int r = 0;

	x->st.disks = NULL;
	x->st.ndisks = 0;
	for (unsigned i = 0; i < n && r == 0; i++) {
		const char *loc = x->in->disk_to[i] ? x->in->disk_to[i] : old[i].location;

		if (x->in->disk_to[i])
			r = copy_target(x, i, loc);
		if (r == 0)
			r = vm_disk_serve(&x->st, x->dir, i, loc, old[i].protocol);
	}
	for (size_t i = 0; i < n; i++)
		free(old[i].location);
	free(old);
	return r;
}

/* Stop the copies' servers; with WAIT, until they are gone (reaped:
 * waiting for a zombie child with kill(pid, 0) took the whole 30 s, past
 * the source's patience with an aborted migration, which then killed
 * this process before it removed its runtime directory). */
static void stop_copies(struct incoming *x, bool wait)
{
	for (unsigned i = 0; i < MORTAR_VM_MAX_DISKS; i++) {
		if (x->copy_pid[i] <= 0)
			continue;
		kill(x->copy_pid[i], SIGTERM);
		if (wait) {
			vm_child_reap(x->copy_pid[i], 30000);
			x->copy_pid[i] = 0;
		}
	}
}

static void undo(struct incoming *x)
{
	vm_target_kill(x->dir, VM_ARGV_INCOMING, x->q);
	stop_copies(x, true);
	if (x->claimed)
		vm_cleanup(x->dir, &x->st);
	for (unsigned i = 0; i < MORTAR_VM_MAX_DISKS; i++)
		if (x->created[i])
			mortar_image_remove_text(x->in->disk_to[i]);
}

/* Up to QEMU listening, then wait for the source's word. */
static int prepare(struct incoming *x, const char *name, struct vm_lines *l)
{
	char *line;
	int r = parse_listen(x);

	if (r == 0)
		r = receive(x, l);
	if (r == 0)
		r = vm_capacity_check(&x->st, NULL);
	if (r == 0)
		r = vm_rundir(name, x->dir, sizeof x->dir);
	if (r == 0 && (r = vm_claim_dir(name, x->dir)) == 0)
		x->claimed = true;
	if (r == 0)
		r = serve_disks(x);
	if (r == 0)
		r = vm_state_save(x->dir, &x->st);
	if (r == 0)
		r = vm_target_start(&x->st, x->dir, VM_ARGV_INCOMING, x->in->listen, &x->q);
	if (r < 0)
		return r;
	vm_remote_say("ready");
	/* (the copies and the migration take up to the source's timeout) */
	r = vm_lines_read(l, &line, (2 * x->in->timeout_s + 60) * 1000);
	if (r == 0 && strcmp(line, "go"))
		r = mortar_set_error(ECANCELED, "the source gave the migration up");
	return r;
}

/* Run the guest here: the VM is this host's now. */
static int take_over(struct incoming *x)
{
	int r;

	stop_copies(x, false);
	if ((r = vm_target_resume(x->q, 30)) < 0)
		return r;
	if ((r = qmp_version(x->q)) > 0)
		x->st.qemu_version = r;
	x->st.migrated++;
	/* (QEMU's QMP takes one client at a time: the VM's users' now) */
	qmp_close(x->q);
	x->q = NULL;
	return vm_state_save(x->dir, &x->st);
}

/* With --wait: the guest, here now, shows what it showed there. */
static int wait_guest(struct incoming *x)
{
	struct mortar_vm *vm;
	struct vm_guest g;
	int r = mortar_vm_open(x->st.name, &vm);

	if (r < 0)
		return r;
	/* (at least the memory it had: see migrate.c's wait_guest) */
	r = vm_view_wait(&vm->view, &(struct vm_expect){ x->in->expect_cpus,
			 x->in->expect_kib, -1, x->in->expect_kib < 0 ? VM_FROM_ANY :
			 x->in->expect_agent ? VM_FROM_AGENT : VM_FROM_CONSOLE }, 30, &g);
	if (r == 0)
		vm_remote_say("guest %u %" PRIu64, g.cpus, g.mem_kib);
	mortar_vm_close(vm);
	return r;
}

int mortar_vm_incoming(const char *name, const struct mortar_vm_incoming *in)
{
	struct incoming x = { .in = in };
	struct vm_lines l = { .fd = 0 };
	char p[PATH_MAX];
	int r = prepare(&x, name, &l);

	if (r == 0)
		r = take_over(&x);
	if (r < 0) {
		vm_remote_say("error %s", mortar_errmsg());
		undo(&x);
	} else {
		vm_path(p, sizeof p, x.dir, vm_boot_files.pid);
		vm_remote_say("running %d", (int)vm_read_pid(p));
		stop_copies(&x, true);
		if (in->wait && (r = wait_guest(&x)) < 0)
			vm_remote_say("error %s", mortar_errmsg());
	}
	qmp_close(x.q);
	vm_state_free(&x.st);
	vm_lines_free(&l);
	return r;
}
