/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The request pool of an image (backend.h): requests are allocated once,
 * at the size the backend asked for, and kept for reuse.  glibc's calloc
 * bypasses its per-thread cache, and allocation was the largest
 * user-space cost per I/O (callgrind, 4k random reads).  Loop thread
 * only. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "error.h"

#define REQ_POOL_MAX_FREE 256

const char *mortar_req_verb(enum mortar_req_type t)
{
	static const char *const names[] = {
		[MORTAR_REQ_READ] = "read", [MORTAR_REQ_WRITE] = "write",
		[MORTAR_REQ_FLUSH] = "flush", [MORTAR_REQ_TRIM] = "trim",
		[MORTAR_REQ_ZERO] = "zero", [MORTAR_REQ_EXTENTS] = "block status",
		[MORTAR_REQ_RESIZE] = "resize",
	};
	return names[t];
}

static void req_free(struct mortar_req *req)
{
	struct mortar_req_pool *pool = req->pool;

	if (req->iov != req->iov_inline)
		free(req->iov);
	free(req->extents);
	if (pool->nfree < REQ_POOL_MAX_FREE) {
		req->next = pool->free;
		pool->free = req;
		pool->nfree++;
		return;
	}
	free(req);
}

struct mortar_req *mortar_req_new(struct mortar_req_pool *pool, enum mortar_req_type type,
				  uint64_t offset, uint64_t length, unsigned flags,
				  const struct iovec *iov, int iovcnt)
{
	struct mortar_req *req = pool->free;

	if (req) {
		pool->free = req->next;
		pool->nfree--;
		memset(req, 0, pool->size);
	} else {
		req = calloc(1, pool->size);
	}
	if (!req) {
		mortar_set_error(ENOMEM, "out of memory queueing a %s", mortar_req_verb(type));
		return NULL;
	}
	req->pool = pool;
	req->handle = pool->handle;
	req->type = type;
	req->offset = offset;
	req->length = length;
	req->flags = flags;
	if (iovcnt > 0) {
		if (iovcnt <= MORTAR_REQ_INLINE_IOV) {
			req->iov = req->iov_inline;
		} else {
			req->iov = calloc((size_t)iovcnt, sizeof *iov);
			if (!req->iov) {
				req->iov = req->iov_inline;
				req_free(req);
				mortar_set_error(ENOMEM, "out of memory queueing a %s",
						 mortar_req_verb(type));
				return NULL;
			}
		}
		memcpy(req->iov, iov, (size_t)iovcnt * sizeof *iov);
		req->iovcnt = iovcnt;
	}
	pool->in_flight++;
	return req;
}

void mortar_req_complete(struct mortar_req *req, int res)
{
	struct mortar_req_pool *pool = req->pool;

	pool->in_flight--;
	if (res < 0 && mortar_errno() != -res)
		/* A backend forgot its message: say at least what failed. */
		mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: %s",
				 pool->name, mortar_req_verb(req->type), req->offset,
				 strerror(-res));
	if (req->type == MORTAR_REQ_EXTENTS)
		req->ecb(req->opaque, res, res < 0 ? NULL : req->extents,
			 res < 0 ? 0 : req->nextents);
	else
		req->cb(req->opaque, res);
	req_free(req);
}

void mortar_req_pool_drain(struct mortar_req_pool *pool)
{
	while (pool->free) {
		struct mortar_req *next = pool->free->next;

		free(pool->free);
		pool->free = next;
	}
	pool->nfree = 0;
}

int mortar_req_add_extent(struct mortar_req *req, size_t *cap, uint64_t off,
			  uint64_t len, uint32_t flags)
{
	struct mortar_extent *e;

	if (req->nextents) {
		e = &req->extents[req->nextents - 1];
		if (e->flags == flags && e->offset + e->length == off) {
			e->length += len;
			return 0;
		}
	}
	if (req->nextents == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		e = realloc(req->extents, ncap * sizeof *e);
		if (!e)
			return -ENOMEM;
		req->extents = e;
		*cap = ncap;
	}
	req->extents[req->nextents++] = (struct mortar_extent){ off, len, flags };
	return 0;
}
