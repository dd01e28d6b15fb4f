/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Request buffers of one worker, kept by power-of-two size class.  Large
 * allocations come from mmap, and their munmap cost ~1 ms each once I/O
 * has touched them (measured: 128 KiB reads over NBD ran at 343 IOPS). */
#ifndef MORTAR_SERVER_BUFPOOL_H
#define MORTAR_SERVER_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SRV_POOL_MIN_SHIFT 12		/* 4 KiB */
#define SRV_POOL_CLASSES 14		/* up to 32 MiB */
#define SRV_POOL_MAX_BYTES (64u << 20)	/* cached per worker at most */

struct srv_bufpool {
	void *free[SRV_POOL_CLASSES];
	size_t cached;
};

/* A buffer of at least LEN bytes (LEN > 0), aligned for O_DIRECT; NULL
 * without memory. */
void *srv_buf_get(struct srv_bufpool *p, uint32_t len);
/* Give back B, which srv_buf_get returned for LEN (NULL is fine). */
void srv_buf_put(struct srv_bufpool *p, void *b, uint32_t len);
void srv_bufpool_clear(struct srv_bufpool *p);

#endif
