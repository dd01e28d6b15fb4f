/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for what a vhost-user front-end and its guest control:
 *
 * - messages (first byte even): the input is a stream of vhost-user
 *   messages, framed as the server reads them, each checked and answered
 *   by the connection's own dispatcher (vhost/device.c) on a socket pair,
 *   without file descriptors (so no memory is mapped and no queue
 *   starts: everything else runs);
 * - virtqueues (first byte odd): the input is guest memory holding a
 *   split ring and its descriptors (and an inflight region), and the
 *   device takes every chain the driver made available, gives it back,
 *   and restarts from the inflight region.  Every segment must lie in
 *   guest memory, every head resubmitted must be a real one, once.
 *
 * ASan and UBSan catch the rest; any other failure aborts, and libFuzzer
 * keeps the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../vhost/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GUEST_MEM (64u << 10)

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
}

static void fuzz_messages(const uint8_t *data, size_t size)
{
	static struct srv core;
	static struct srv_export e = {
		.name = (char *)"fuzz", .size = 64 << 20,
		.caps = MORTAR_CAP_FLUSH | MORTAR_CAP_TRIM | MORTAR_CAP_ZERO,
		.bmin = 1, .bpref = 4096, .bmax = 32 << 20,
	};
	struct vhost_server vs;
	struct vhost_dev *d = malloc(sizeof *d);
	struct vhost_msg *m = malloc(sizeof *m);
	int sv[2], fds[VHOST_MSG_MAX_FDS];

	core.nworkers = 1;
	if (!d || !m || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	vhost_server_init(&vs, &core);
	vhost_dev_init(d, &vs, &e, sv[0]);
	while (size >= VHOST_USER_HDR_SIZE) {
		memcpy(&m->hdr, data, VHOST_USER_HDR_SIZE);
		data += VHOST_USER_HDR_SIZE;
		size -= VHOST_USER_HDR_SIZE;
		/* As vhost_msg_recv: too large ends the connection, a short
		 * payload is a closed stream. */
		if (m->hdr.size > VHOST_MSG_MAX || m->hdr.size > size)
			break;
		memset(&m->p, 0, sizeof m->p);
		memcpy(&m->p, data, m->hdr.size);
		data += m->hdr.size;
		size -= m->hdr.size;
		if (vhost_dev_message(d, m, fds, 0) < 0)
			break;
		drain(sv[1]);
	}
	vhost_dev_teardown(d);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	if (d->backend_fd >= 0)
		abort();	/* no descriptor was given: none can be held */
	close(sv[0]);
	close(sv[1]);
	vhost_server_fini(&vs);
	free(m);
	free(d);
}

static void check_chain(const struct vring_chain *c, const uint8_t *mem)
{
	if (c->nout + c->nin > VRING_MAX_IOV)
		abort();
	for (unsigned i = 0; i < c->nout + c->nin; i++) {
		const uint8_t *p = c->iov[i].iov_base;

		if (p < mem || c->iov[i].iov_len > GUEST_MEM || p + c->iov[i].iov_len > mem + GUEST_MEM)
			abort();
	}
}

/* Guest memory from the input: one region of 64 KiB at guest address 0
 * (the ring structures at fixed places in it), split in two regions when
 * asked so that segments cross a region boundary. */
static void fuzz_ring(const uint8_t *data, size_t size)
{
	uint8_t *mem = calloc(1, GUEST_MEM);
	struct vhost_mem vm = { 0 };
	struct vhost_vring vr = { 0 };
	struct vring_chain *c = malloc(sizeof *c);
	uint8_t mode = size > 1 ? data[1] : 0;
	unsigned num = 1u << (1 + (mode & 7));		/* 2..256 */
	size_t fl = vhost_inflight_queue_bytes((uint16_t)num);
	struct vhost_inflight_split *f = calloc(1, fl);
	uint16_t resub[256];
	uint8_t seen[256] = { 0 };
	unsigned n;

	if (!mem || !c || !f)
		abort();
	memcpy(mem, data, size < GUEST_MEM ? size : GUEST_MEM);
	if (size > GUEST_MEM)
		memcpy(f, data + GUEST_MEM, size - GUEST_MEM < fl ? size - GUEST_MEM : fl);
	else if (mode & 0x40)
		memcpy(f, mem + 12288, fl < GUEST_MEM - 12288 ? fl : GUEST_MEM - 12288);
	if (mode & 0x80) {
		vhost_mem_add_host(&vm, 0, GUEST_MEM / 2, 0x100000, mem);
		vhost_mem_add_host(&vm, GUEST_MEM / 2, GUEST_MEM / 2, 0x100000 + GUEST_MEM / 2,
				   mem + GUEST_MEM / 2);
	} else {
		vhost_mem_add_host(&vm, 0, GUEST_MEM, 0x100000, mem);
	}
	vr.mem = &vm;
	vr.num = (uint16_t)num;
	vr.desc = vhost_mem_uva(&vm, 0x100000, vring_desc_bytes(num));
	vr.avail = vhost_mem_uva(&vm, 0x100000 + 4096, vring_avail_bytes(num));
	vr.used = vhost_mem_uva(&vm, 0x100000 + 8192, vring_used_bytes(num));
	vr.event_idx = mode & 8;
	vr.indirect = mode & 16;
	vr.inflight = (mode & 32) ? f : NULL;
	vr.batch = calloc(num, sizeof *vr.batch);
	if (!vr.desc || !vr.avail || !vr.used || !vr.batch)
		abort();

	n = vring_inflight_start(&vr, resub);
	if (n > num)
		abort();
	for (unsigned i = 0; i < n; i++) {
		if (resub[i] >= num || seen[resub[i]]++)
			abort();
		if (vring_walk(&vr, resub[i], c) == 0)
			check_chain(c, mem);
	}
	for (unsigned i = 0; i < 2 * num; i++) {
		int r = vring_pop(&vr, c);

		if (r <= 0)
			break;
		check_chain(c, mem);
		vring_push(&vr, c->head, (uint32_t)c->in_len);
		if (i % 3 == 2)
			vring_publish(&vr);
	}
	vring_publish(&vr);
	vring_kicks_on(&vr);
	free(vr.batch);
	free(f);
	free(c);
	free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_ring(data, size);
	else
		fuzz_messages(data + 1, size - 1);
	return 0;
}
