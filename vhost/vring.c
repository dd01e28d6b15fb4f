/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Split virtqueues (virtio 1.2, 2.7), the device's side: take what the
 * driver made available, walk its descriptor chains into iovecs that
 * point into guest memory, and give buffers back through the used ring,
 * with the event index (or the flags) deciding whether the driver wants
 * an interrupt.  Inflight tracking (vhost-user.rst, "Inflight I/O
 * tracking") rides along: every buffer taken is marked in the shared
 * region before it is used, and unmarked once the used ring holds it, so
 * that a restarted server knows what to do again.
 *
 * Everything here reads memory the guest can change at any moment: each
 * descriptor is copied once before it is checked and used, every index
 * is bounded, and a chain that is too long or loops is refused. */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint16_t load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static uint16_t avail_idx(const struct vhost_vring *vr)
{
	/* Acquire: the ring entries below idx are read after it. */
	return le16toh(__atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE));
}

static uint16_t *used_event(const struct vhost_vring *vr)
{
	return &vr->avail->ring[vr->num];
}

static uint16_t *avail_event(const struct vhost_vring *vr)
{
	return (uint16_t *)&vr->used->ring[vr->num];
}

size_t vring_desc_bytes(unsigned num) { return (size_t)num * sizeof(struct vring_desc); }
size_t vring_avail_bytes(unsigned num) { return 4 + 2 * (size_t)num + 2; }
size_t vring_used_bytes(unsigned num) { return 4 + 8 * (size_t)num + 2; }

/* ---- chains ---- */

__attribute__((format(printf, 2, 3)))
static int chain_fail(struct vring_chain *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Add the guest range [ADDR, ADDR+LEN) to C, split where it crosses
 * memory regions. */
static int chain_add(const struct vhost_vring *vr, struct vring_chain *c, uint64_t addr,
		     uint32_t len, bool writable)
{
	if (!writable && c->nin)
		return chain_fail(c, "descriptor %u: readable after writable (%u)",
				  c->head, c->nin);
	while (len) {
		uint64_t n = len;
		void *p = vhost_mem_gpa(vr->mem, addr, &n);

		if (!p)
			return chain_fail(c, "descriptor chain %u points outside guest "
					  "memory (%u segments in)", c->head,
					  c->nout + c->nin);
		if (c->nout + c->nin == VRING_MAX_IOV)
			return chain_fail(c, "descriptor chain %u has more than %u segments",
					  c->head, VRING_MAX_IOV);
		c->iov[c->nout + c->nin] = (struct iovec){ p, (size_t)n };
		if (writable) {
			c->nin++;
			c->in_len += n;
		} else {
			c->nout++;
			c->out_len += n;
		}
		addr += n;
		len -= (uint32_t)n;
	}
	return 0;
}

/* An indirect table: where it is and how long, or an error. */
static int chain_indirect(const struct vhost_vring *vr, struct vring_chain *c,
			  const struct vring_desc *d, const struct vring_desc **table,
			  unsigned *len)
{
	uint32_t bytes = le32toh(d->len);

	if (!vr->indirect)
		return chain_fail(c, "descriptor chain %u uses an indirect table that "
				  "was not negotiated", c->head);
	if (bytes == 0 || bytes % sizeof *d || bytes / sizeof *d > VRING_MAX_SIZE)
		return chain_fail(c, "descriptor chain %u: indirect table of %u bytes",
				  c->head, bytes);
	if (le16toh(d->flags) & VRING_DESC_F_NEXT)
		return chain_fail(c, "descriptor chain %u: an indirect descriptor with "
				  "NEXT", c->head);
	*table = vhost_mem_gpa_whole(vr->mem, le64toh(d->addr), bytes);
	if (!*table)
		return chain_fail(c, "descriptor chain %u: indirect table outside guest "
				  "memory (%u bytes)", c->head, bytes);
	*len = bytes / sizeof *d;
	return 0;
}

int vring_walk(const struct vhost_vring *vr, uint16_t head, struct vring_chain *c)
{
	const struct vring_desc *table = vr->desc;
	unsigned tlen = vr->num, i = head, steps = 0;
	bool indirect = false;

	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	c->why[0] = '\0';
	if (head >= vr->num)
		return chain_fail(c, "available ring names descriptor %u of %u", head,
				  vr->num);
	for (;;) {
		struct vring_desc d;
		uint16_t flags;
		int r;

		memcpy(&d, (const void *)&table[i], sizeof d);	/* read once */
		flags = le16toh(d.flags);
		if (++steps > tlen)
			return chain_fail(c, "descriptor chain %u loops or is longer than "
					  "its table (%u)", head, tlen);
		if (flags & VRING_DESC_F_INDIRECT) {
			if (indirect)
				return chain_fail(c, "descriptor chain %u: an indirect "
						  "table inside another", head);
			r = chain_indirect(vr, c, &d, &table, &tlen);
			if (r < 0)
				return r;
			indirect = true;
			i = 0;
			steps = 0;
			continue;
		}
		r = chain_add(vr, c, le64toh(d.addr), le32toh(d.len), flags & VRING_DESC_F_WRITE);
		if (r < 0)
			return r;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = le16toh(d.next);
		if (i >= tlen)
			return chain_fail(c, "descriptor chain %u continues at %u, past its "
					  "table", head, i);
	}
}

/* ---- taking and giving back ---- */

int vring_pending(const struct vhost_vring *vr)
{
	uint16_t n = (uint16_t)(avail_idx(vr) - vr->last_avail);

	return n > vr->num ? -EINVAL : n;
}

int vring_pop(struct vhost_vring *vr, struct vring_chain *c)
{
	int n = vring_pending(vr);
	uint16_t head;

	if (n < 0) {
		snprintf(c->why, sizeof c->why, "the available index moved %u entries "
			 "ahead on a ring of %u", (uint16_t)(avail_idx(vr) - vr->last_avail),
			 vr->num);
		return n;
	}
	if (n == 0)
		return 0;
	head = load16(&vr->avail->ring[vr->last_avail % vr->num]);
	vr->last_avail++;
	if (head < vr->num && vr->inflight) {
		struct vhost_inflight_desc *d = &vr->inflight->desc[head];

		d->counter = vr->counter++;
		__atomic_store_n(&d->inflight, 1, __ATOMIC_RELEASE);
	}
	return vring_walk(vr, head, c) < 0 ? -EINVAL : 1;
}

void vring_push(struct vhost_vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vr->used->ring[vr->used_idx % vr->num];

	e->id = htole32(head);
	e->len = htole32(len);
	if (vr->log_used)
		vhost_log_gpa(&vr->log, vr->used_gpa + 4 + 8 * (uint64_t)(vr->used_idx % vr->num), 8);
	vr->used_idx++;
	/* (A driver that reuses a head before it saw it used could make a
	 * batch longer than the ring: the region then keeps it in flight.) */
	if (vr->inflight && vr->nbatch < vr->num) {
		vr->inflight->desc[head].next = vr->inflight->last_batch_head;
		vr->inflight->last_batch_head = head;
		vr->batch[vr->nbatch++] = head;
	}
}

bool vring_publish(struct vhost_vring *vr)
{
	uint16_t old = vr->published, now = vr->used_idx;

	if (old == now)
		return false;
	__atomic_store_n(&vr->used->idx, htole16(now), __ATOMIC_RELEASE);
	if (vr->log_used)
		vhost_log_gpa(&vr->log, vr->used_gpa + 2, 2);
	vr->published = now;
	if (vr->inflight) {
		for (unsigned i = 0; i < vr->nbatch; i++)
			__atomic_store_n(&vr->inflight->desc[vr->batch[i]].inflight, 0,
					 __ATOMIC_RELAXED);
		vr->nbatch = 0;
		__atomic_store_n(&vr->inflight->used_idx, now, __ATOMIC_RELEASE);
	}
	/* The index must be visible before the driver's wishes are read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vr->event_idx) {
		uint16_t ev = load16(used_event(vr));

		return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
	}
	return !(load16(&vr->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
}

bool vring_kicks_on(struct vhost_vring *vr)
{
	if (!vr->event_idx)
		return vring_pending(vr) != 0;
	__atomic_store_n(avail_event(vr), htole16(vr->last_avail), __ATOMIC_RELAXED);
	if (vr->log_used)
		vhost_log_gpa(&vr->log, vr->used_gpa + 4 + 8 * (uint64_t)vr->num, 2);
	/* The driver reads avail_event after publishing its index: one of
	 * the two sides sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vring_pending(vr) != 0;
}

/* ---- inflight: a restart ---- */

static int by_counter(const void *a, const void *b, void *arg)
{
	const struct vhost_inflight_desc *d = arg;
	uint64_t ca = d[*(const uint16_t *)a].counter, cb = d[*(const uint16_t *)b].counter;

	return ca < cb ? -1 : ca > cb;
}

unsigned vring_inflight_start(struct vhost_vring *vr, uint16_t *resubmit)
{
	struct vhost_inflight_split *f = vr->inflight;
	uint16_t used = load16(&vr->used->idx);
	unsigned n = 0;
	uint64_t max = 0;

	vr->used_idx = vr->published = used;
	if (!f)
		return 0;
	if (f->version != VHOST_INFLIGHT_VERSION || f->desc_num != vr->num) {
		/* A fresh region (or one for another ring size): nothing was
		 * in flight that it knows of. */
		memset(f->desc, 0, sizeof f->desc[0] * vr->num);
		f->features = 0;
		f->desc_num = vr->num;
		f->last_batch_head = 0;
		f->used_idx = used;
		__atomic_store_n(&f->version, VHOST_INFLIGHT_VERSION, __ATOMIC_RELEASE);
		vr->counter = 1;
		return 0;
	}
	if (f->used_idx != used) {
		/* Killed between publishing a batch and unmarking it: the
		 * batch list says which entries the used ring already has. */
		uint16_t k = f->last_batch_head;

		for (uint16_t left = (uint16_t)(used - f->used_idx); left && k < vr->num; left--) {
			f->desc[k].inflight = 0;
			k = f->desc[k].next;
		}
		f->used_idx = used;
	}
	for (unsigned i = 0; i < vr->num; i++) {
		if (f->desc[i].inflight != 1)
			continue;
		resubmit[n++] = (uint16_t)i;
		if (f->desc[i].counter > max)
			max = f->desc[i].counter;
	}
	qsort_r(resubmit, n, sizeof *resubmit, by_counter, f->desc);
	vr->counter = max + 1;
	/* Every buffer taken is either in the used ring or in flight. */
	vr->last_avail = (uint16_t)(used + n);
	return n;
}
