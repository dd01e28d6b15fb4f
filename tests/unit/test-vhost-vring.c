/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vhost/vring.c and the memory table on guest memory made here (two
 * regions of one buffer), driven the way a virtio driver drives them:
 *
 * - chains: direct, indirect, crossing a region boundary; a loop, a head
 *   past the ring, a readable segment after a writable one, memory
 *   outside every region: refused with a reason, never followed;
 * - the used ring and interrupts: the event index decides, and the flags
 *   without it;
 * - inflight tracking: what a killed server had taken comes back, oldest
 *   first, and a batch published but not yet unmarked is not run again;
 * - the dirty log of a migration: the pages of the used ring's entries
 *   and index, and of guest memory written through a host address, each
 *   bit where the guest physical address says, nothing past the bitmap.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../vhost/internal.h"

#define MEM (64u << 10)
#define NUM 8u
/* Guest physical addresses: memory is two regions, [0, 32K) and [32K,
 * 64K); the rings sit in the first one. */
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA 0x3000u
#define DATA_GPA 0x8000u

static uint8_t *mem;
static struct vhost_mem vm;

static struct vring_desc *desc(unsigned i) { return (struct vring_desc *)(mem + DESC_GPA) + i; }
static struct vring_avail *avail(void) { return (struct vring_avail *)(mem + AVAIL_GPA); }
static struct vring_used *used(void) { return (struct vring_used *)(mem + USED_GPA); }

static void set_desc(unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	*desc(i) = (struct vring_desc){ htole64(gpa), htole32(len), htole16(flags), htole16(next) };
}

/* The driver makes HEAD available. */
static void offer(uint16_t head)
{
	uint16_t idx = le16toh(avail()->idx);

	avail()->ring[idx % NUM] = htole16(head);
	avail()->idx = htole16((uint16_t)(idx + 1));
}

static void ring_init(struct vhost_vring *vr, uint16_t *batch)
{
	memset(mem, 0, MEM);
	memset(vr, 0, sizeof *vr);
	vr->mem = &vm;
	vr->num = NUM;
	vr->desc = vhost_mem_uva(&vm, 0x100000 + DESC_GPA, vring_desc_bytes(NUM));
	vr->avail = vhost_mem_uva(&vm, 0x100000 + AVAIL_GPA, vring_avail_bytes(NUM));
	vr->used = vhost_mem_uva(&vm, 0x100000 + USED_GPA, vring_used_bytes(NUM));
	vr->indirect = true;
	vr->batch = batch;
}

static void test_chains(void)
{
	struct vhost_vring vr;
	struct vring_chain *c = malloc(sizeof *c);
	uint16_t batch[NUM];
	int r;

	ring_init(&vr, batch);
	/* header (readable), data (writable, crossing into region 2), status */
	set_desc(0, DATA_GPA - 16, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, 0x7f00, 0x200, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(2, DATA_GPA + 0x400, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	r = vring_pop(&vr, c);
	tap_ok(r == 1 && c->head == 0 && c->nout == 1 && c->nin == 3 &&
	       c->out_len == 16 && c->in_len == 0x201, "a chain: 1 readable, the writable "
	       "one split at the region boundary (%u+%u segments)", c->nout, c->nin);
	tap_ok(c->iov[1].iov_base == mem + 0x7f00 && c->iov[1].iov_len == 0x100 &&
	       c->iov[2].iov_base == mem + 0x8000 && c->iov[2].iov_len == 0x100,
	       "the split halves point where the guest addresses are");

	/* indirect: a table of two in the data area */
	*(struct vring_desc *)(mem + DATA_GPA + 0x1000) =
		(struct vring_desc){ htole64(DATA_GPA), htole32(16), htole16(VRING_DESC_F_NEXT), htole16(1) };
	*((struct vring_desc *)(mem + DATA_GPA + 0x1000) + 1) =
		(struct vring_desc){ htole64(DATA_GPA + 64), htole32(1), htole16(VRING_DESC_F_WRITE), 0 };
	set_desc(3, DATA_GPA + 0x1000, 32, VRING_DESC_F_INDIRECT, 0);
	offer(3);
	r = vring_pop(&vr, c);
	tap_ok(r == 1 && c->head == 3 && c->nout == 1 && c->nin == 1,
	       "an indirect table");

	set_desc(4, DATA_GPA, 16, VRING_DESC_F_NEXT, 5);
	set_desc(5, DATA_GPA, 16, VRING_DESC_F_NEXT, 4);
	offer(4);
	r = vring_pop(&vr, c);
	tap_ok(r == -EINVAL && strstr(c->why, "loops"), "a loop: %s", c->why);
	offer(NUM + 3);
	r = vring_pop(&vr, c);
	tap_ok(r == -EINVAL, "a head past the ring: %s", c->why);
	set_desc(6, DATA_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 7);
	set_desc(7, DATA_GPA, 16, 0, 0);
	offer(6);
	r = vring_pop(&vr, c);
	tap_ok(r == -EINVAL && strstr(c->why, "readable after writable"),
	       "readable after writable: %s", c->why);
	set_desc(1, MEM + 0x1000, 16, 0, 0);
	offer(1);
	r = vring_pop(&vr, c);
	tap_ok(r == -EINVAL && strstr(c->why, "outside guest memory"),
	       "outside guest memory: %s", c->why);
	tap_ok(vring_pop(&vr, c) == 0, "nothing more available");
	avail()->idx = htole16((uint16_t)(vr.last_avail + NUM + 1));
	tap_ok(vring_pending(&vr) == -EINVAL, "an available index more than a ring ahead");
	free(c);
}

static void test_notify(void)
{
	struct vhost_vring vr;
	uint16_t batch[NUM];

	ring_init(&vr, batch);
	vring_push(&vr, 2, 10);
	tap_ok(le16toh(used()->idx) == 0, "pushed, not yet published");
	tap_ok(vring_publish(&vr) && le16toh(used()->idx) == 1 &&
	       le32toh(used()->ring[0].id) == 2 && le32toh(used()->ring[0].len) == 10,
	       "published: the driver interrupted, the entry there");
	avail()->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	vring_push(&vr, 3, 1);
	tap_ok(!vring_publish(&vr), "no interrupt when the driver asks for none");
	vr.event_idx = true;
	avail()->ring[NUM] = htole16(5);	/* used_event: interrupt after entry 5 */
	vring_push(&vr, 1, 1);
	tap_ok(!vring_publish(&vr), "event index 5 not reached at 3");
	for (uint16_t h = 0; h < 3; h++)
		vring_push(&vr, h, 1);
	tap_ok(vring_publish(&vr), "event index 5 crossed by 3..6");
	tap_ok(!vring_publish(&vr), "nothing new, nothing published");
}

static void test_inflight(void)
{
	struct vhost_vring vr;
	struct vring_chain *c = malloc(sizeof *c);
	struct vhost_inflight_split *f = calloc(1, vhost_inflight_queue_bytes(NUM));
	uint16_t batch[NUM], resub[NUM];
	unsigned n;

	ring_init(&vr, batch);
	vr.inflight = f;
	tap_ok(vring_inflight_start(&vr, resub) == 0 && f->version == VHOST_INFLIGHT_VERSION &&
	       f->desc_num == NUM, "a fresh region is set up, nothing to run again");
	for (unsigned h = 0; h < 4; h++) {
		set_desc(h, DATA_GPA, 16, 0, 0);
		offer((uint16_t)(3 - h));	/* taken in the order 3, 2, 1, 0 */
	}
	for (unsigned h = 0; h < 4; h++)
		vring_pop(&vr, c);
	vring_push(&vr, 2, 1);
	vring_publish(&vr);		/* 2 done */
	vring_push(&vr, 0, 1);		/* 0 in the used ring, not published */

	/* The server is killed here; a new one starts on the same ring. */
	vr.last_avail = 0;
	vr.nbatch = 0;
	n = vring_inflight_start(&vr, resub);
	tap_ok(n == 3 && resub[0] == 3 && resub[1] == 1 && resub[2] == 0,
	       "3, 1 and 0 run again, in the order they were taken (%u: %u %u %u)", n,
	       resub[0], resub[1], resub[2]);
	tap_ok(vr.last_avail == 4, "and the next one taken is the fifth (%u)", vr.last_avail);

	/* Killed between publishing 1 and unmarking it. */
	vring_push(&vr, 1, 1);
	vr.nbatch = 0;
	used()->idx = htole16((uint16_t)(le16toh(used()->idx) + 1));
	n = vring_inflight_start(&vr, resub);
	tap_ok(n == 2 && resub[0] == 3 && resub[1] == 0,
	       "a batch the used ring has is not run again (%u)", n);
	free(f);
	free(c);
}

static bool bit(const uint8_t *bits, uint64_t page)
{
	return bits[page / 8] & (1u << (page % 8));
}

static void test_log(void)
{
	struct vhost_vring vr;
	uint8_t bits[4] = { 0 };	/* 32 pages: 128 KiB of guest memory */
	struct vhost_log log = { bits, sizeof bits };
	uint16_t batch[NUM];

	vhost_log_gpa(&log, 0x5000, 0x2001);
	tap_ok(bits[0] == 0xe0 && bits[1] == 0, "pages 5, 6 and 7 of [0x5000, 0x7001)");
	vhost_log_gpa(&log, 31 * 4096, 3 * 4096);
	tap_ok(bit(bits, 31) && bits[3] == 0x80, "nothing past the bitmap");
	memset(bits, 0, sizeof bits);
	vhost_log_host(&log, &vm, mem + 0x7ff0, 0x20);
	tap_ok(bits[0] == 0x80 && bits[1] == 0x01,
	       "a host range across the two regions: pages 7 and 8 (%02x %02x)", bits[0], bits[1]);

	memset(bits, 0, sizeof bits);
	ring_init(&vr, batch);
	vr.log = log;
	vr.used_gpa = USED_GPA;
	vring_push(&vr, 1, 1);
	tap_ok(!bits[0] && !bits[1], "a ring that does not log its used ring logs nothing");
	vr.log_used = true;
	vring_push(&vr, 1, 1);
	vring_publish(&vr);
	tap_ok(bits[0] == 0x08 && !bits[1], "the used ring's page (3) logged");
}

int main(void)
{
	mem = aligned_alloc(4096, MEM);
	if (!mem || vhost_mem_add_host(&vm, 0, MEM / 2, 0x100000, mem) < 0 ||
	    vhost_mem_add_host(&vm, MEM / 2, MEM / 2, 0x100000 + MEM / 2, mem + MEM / 2) < 0)
		TAP_BAIL("no guest memory");
	tap_ok(vhost_mem_add_host(&vm, 0x100, 0x100, 0, mem) == -EINVAL, "overlapping regions refused");
	test_chains();
	test_notify();
	test_inflight();
	test_log();
	free(mem);
	return tap_done();
}
