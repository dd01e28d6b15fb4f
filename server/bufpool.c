/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Request buffers by size class (see bufpool.h). */
#include <stdlib.h>

#include "bufpool.h"

static int pool_class(uint32_t len)
{
	int c = 0;

	while (((size_t)1 << (SRV_POOL_MIN_SHIFT + c)) < len)
		c++;
	return c < SRV_POOL_CLASSES ? c : -1;
}

void *srv_buf_get(struct srv_bufpool *p, uint32_t len)
{
	int c = pool_class(len);
	void *b;

	if (c >= 0 && p->free[c]) {
		b = p->free[c];
		p->free[c] = *(void **)b;
		p->cached -= (size_t)1 << (SRV_POOL_MIN_SHIFT + c);
		return b;
	}
	/* Aligned so that O_DIRECT images need no bounce buffer. */
	if (posix_memalign(&b, 4096, c >= 0 ? (size_t)1 << (SRV_POOL_MIN_SHIFT + c) : len))
		return NULL;
	return b;
}

void srv_buf_put(struct srv_bufpool *p, void *b, uint32_t len)
{
	int c = pool_class(len);
	size_t size;

	if (!b)
		return;
	size = c >= 0 ? (size_t)1 << (SRV_POOL_MIN_SHIFT + c) : 0;
	if (c < 0 || p->cached + size > SRV_POOL_MAX_BYTES) {
		free(b);
		return;
	}
	*(void **)b = p->free[c];
	p->free[c] = b;
	p->cached += size;
}

void srv_bufpool_clear(struct srv_bufpool *p)
{
	for (int c = 0; c < SRV_POOL_CLASSES; c++) {
		while (p->free[c]) {
			void *next = *(void **)p->free[c];
			free(p->free[c]);
			p->free[c] = next;
		}
	}
	p->cached = 0;
}
