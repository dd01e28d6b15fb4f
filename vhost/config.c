/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the block device offers: its feature bits and its configuration
 * space, from what the export's image can do (server.h's caps and block
 * sizes, learnt when the export was opened). */
#include <endian.h>
#include <string.h>

#include "internal.h"

#define BIT(n) (1ull << (n))

/* Ranges of one discard or write-zeroes request: large, since the guest
 * splits by them and each costs a message; 1 GiB keeps the sector count
 * in 32 bits with room. */
#define MAX_RANGE_SECTORS (1u << 21)

uint64_t vhost_blk_features(const struct srv_export *e)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		     BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
		     BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     BIT(VIRTIO_BLK_F_TOPOLOGY) | BIT(VIRTIO_BLK_F_MQ) | BIT(VHOST_F_LOG_ALL);
	bool ro = e->caps & MORTAR_CAP_READ_ONLY;

	if (ro)
		f |= BIT(VIRTIO_BLK_F_RO);
	/* Without FLUSH the guest takes the disk for write-through: offer
	 * it whenever the image has a cache to flush. */
	if (e->caps & MORTAR_CAP_FLUSH)
		f |= BIT(VIRTIO_BLK_F_FLUSH);
	if (!ro && (e->caps & MORTAR_CAP_TRIM))
		f |= BIT(VIRTIO_BLK_F_DISCARD);
	if (!ro && (e->caps & MORTAR_CAP_ZERO))
		f |= BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

uint64_t vhost_blk_protocol_features(void)
{
	return BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD) |
	       BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
	       BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ) | BIT(VHOST_USER_PROTOCOL_F_CONFIG) |
	       BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
	       BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE) |
	       BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
}

static unsigned log2u(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

void vhost_blk_config(const struct srv_export *e, uint64_t size, unsigned num_queues,
		      struct virtio_blk_config *c)
{
	/* Logical blocks as the image wants them aligned (direct I/O on a
	 * 4 KiB device), at least a sector, at most a page: a guest kernel
	 * takes nothing larger. */
	uint32_t blk = e->bmin > VIRTIO_BLK_SECTOR ? e->bmin : VIRTIO_BLK_SECTOR;
	uint32_t phys, pref;

	if (blk > 4096 || (blk & (blk - 1)))
		blk = 4096;
	phys = e->bpref > 4096 ? 4096 : e->bpref < blk ? blk : e->bpref;
	pref = e->bpref < blk ? blk : e->bpref;
	memset(c, 0, sizeof *c);
	c->capacity = htole64(size / VIRTIO_BLK_SECTOR);
	/* A chain holds the header, the data and the status: a ring of 128
	 * entries (QEMU's default) leaves 126 for the data. */
	c->seg_max = htole32(126);
	c->blk_size = htole32(blk);
	c->physical_block_exp = (uint8_t)log2u(phys / blk);
	c->min_io_size = htole16((uint16_t)(pref / blk > 0xffff ? 0xffff : pref / blk));
	c->opt_io_size = htole32(pref / blk);
	c->num_queues = htole16((uint16_t)num_queues);
	c->max_discard_sectors = htole32(MAX_RANGE_SECTORS);
	c->max_discard_seg = htole32(VHOST_BLK_MAX_SEG);
	c->discard_sector_alignment = htole32((blk > 4096 ? blk : 4096) / VIRTIO_BLK_SECTOR);
	c->max_write_zeroes_sectors = htole32(MAX_RANGE_SECTORS);
	c->max_write_zeroes_seg = htole32(VHOST_BLK_MAX_SEG);
	c->write_zeroes_may_unmap = (e->caps & MORTAR_CAP_TRIM) ? 1 : 0;
}
