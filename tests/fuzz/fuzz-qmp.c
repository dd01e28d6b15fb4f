/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the QMP client (vm/qmp.c) and the code that reads
 * what QEMU and the guest agent answer (vm/agent.c, vm/hotplug-*.c).
 *
 * The input is what the peer sends: its first byte says whether it is
 * QEMU (even) or the guest agent (odd), the rest arrives on a socket
 * that the peer then shuts, so that every read ends.  The client runs a
 * fixed session against it: the handshake, then what `mortar vm cpus`,
 * `mem add`, `mem remove`, `mem NAME SIZE` and `cpu remove` ask (with
 * the ids tests/fuzz/corpus/qmp/ was captured with from a real QEMU
 * 7.2 and qemu-ga), or the agent's view and onlining.  Whatever comes,
 * the client must return an error or a result, never crash, hang or
 * leak; a view it reports must be well formed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "qmp.h"
#include "vm-internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AGENT_TOKEN 4242	/* the sync token of the agent seeds */
#define FUZZ_MAX_INPUT 65536		/* below a socket's buffer: the write never blocks */

/* Where the session's VM records its state: in memory when there is a
 * tmpfs for it (a disk write per session is most of the time). */
static char dir[64];

static void remove_dir(void)
{
	vm_rundir_remove(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(dir, sizeof dir, "%s/fuzz-qmp.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	return 0;
}

static void check_view(const struct vm_guest *g)
{
	if (g->valid && (g->cpus > 256 || strnlen(g->cpu_list, sizeof g->cpu_list) ==
			 sizeof g->cpu_list || !g->from_agent))
		abort();
}

static void agent_session(int fd)
{
	struct qmp *a;
	struct vm_guest g;
	unsigned cpus = 0, blocks = 0;

	if (qmp_connect_fd(fd, 1000, AGENT_TOKEN, &a) < 0)
		return;
	if (vm_agent_view(a, &g) == 0)
		check_view(&g);
	vm_agent_online(a, &cpus, &blocks);
	qmp_close(a);
}

/* The VM the QEMU session works on: x86 under TCG on QEMU 7.2, 1 of 4
 * vCPUs, 512 MiB of 1 GiB, two DIMM slots, a virtio-mem device. */
static struct mortar_vm *session_vm(struct qmp *q)
{
	struct vm_state st = {
		.arch = VM_ARCH_X86_64, .accel = "tcg", .boot_cpus = 1, .max_cpus = 4,
		.slots = 2, .numa = 1, .memory = 512ull << 20, .max_memory = 1024ull << 20,
		.virtio_mem = 256ull << 20, .qemu_version = 70222, .name = "fuzz",
	};
	struct mortar_vm *vm;

	if (vm_handle_new(dir, &st, &vm) < 0)
		abort();
	vm->qmp = q;
	vm->view.qmp = q;
	return vm;
}

static void qemu_session(int fd)
{
	struct mortar_vm_plug p = MORTAR_VM_PLUG_INIT, now = MORTAR_VM_PLUG_INIT;
	struct mortar_vm *vm;
	json_object *ev = NULL;
	struct qmp *q;

	if (qmp_connect_fd(fd, 1000, 0, &q) < 0)
		return;
	qmp_version(q);
	vm = session_vm(q);
	p.node = 0;
	p.timeout_s = 1;
	now.timeout_s = 0;
	mortar_vm_cpus(vm, 3, &now);
	mortar_vm_dimm_add(vm, 256ull << 20, &p);
	mortar_vm_dimm_remove(vm, "dimm1", &p);
	mortar_vm_mem_set(vm, 640ull << 20, &now);
	mortar_vm_cpu_remove(vm, "cpu-s2", &now);
	if (qmp_wait_event(q, "DEVICE_DELETED", 1000, &ev) == 0)
		json_object_put(ev);
	if (vm->st.ncpus > 3 || vm->st.ndimms > 1)
		abort();
	mortar_vm_close(vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t done = 0;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	while (done < size - 1) {
		ssize_t n = write(sv[1], data + 1 + done, size - 1 - done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);
	if (data[0] & 1)
		agent_session(sv[0]);
	else
		qemu_session(sv[0]);
	close(sv[1]);
	return 0;
}
