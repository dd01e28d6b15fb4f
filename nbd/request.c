/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Request checks: whether a request's flags, range and command fit its
 * export and what was negotiated, kept apart from transmission.c so that
 * the rules read in one place and the fuzz target reaches them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "protocol.h"
#include "request.h"

uint32_t nbd_wire_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return 0;
	case EPERM: case EROFS: case EACCES: return NBD_EPERM;
	case ENOMEM: return NBD_ENOMEM;
	case EINVAL: return NBD_EINVAL;
	case ENOSPC: case EDQUOT: case EFBIG: return NBD_ENOSPC;
	case EOVERFLOW: return NBD_EOVERFLOW;
	case ENOTSUP: return NBD_ENOTSUP;
	case ESHUTDOWN: return NBD_ESHUTDOWN;
	default: return NBD_EIO;
	}
}

int nbd_request_check(const struct nbd_request *q, const struct nbd_limits *l,
		      char *msg, size_t msz)
{
	static const uint16_t allowed[] = {
		[NBD_CMD_READ] = NBD_CMD_FLAG_DF,
		[NBD_CMD_WRITE] = NBD_CMD_FLAG_FUA,
		[NBD_CMD_DISC] = 0,
		[NBD_CMD_FLUSH] = 0,
		[NBD_CMD_TRIM] = NBD_CMD_FLAG_FUA,
		[NBD_CMD_CACHE] = 0,
		[NBD_CMD_WRITE_ZEROES] = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
					 NBD_CMD_FLAG_FAST_ZERO,
		[NBD_CMD_BLOCK_STATUS] = NBD_CMD_FLAG_REQ_ONE,
	};
	bool writes = q->type == NBD_CMD_WRITE || q->type == NBD_CMD_TRIM ||
		      q->type == NBD_CMD_WRITE_ZEROES;

	if (q->type > NBD_CMD_BLOCK_STATUS) {
		snprintf(msg, msz, "unknown command %u", q->type);
		return -EINVAL;
	}
	if (q->flags & ~allowed[q->type]) {
		snprintf(msg, msz, "flags 0x%x are not valid for command %u", q->flags,
			 q->type);
		return -EINVAL;
	}
	if ((q->flags & NBD_CMD_FLAG_DF) && !l->structured) {
		snprintf(msg, msz, "DF needs structured replies");
		return -EINVAL;
	}
	if (writes && l->read_only) {
		snprintf(msg, msz, "the export is read-only");
		return -EPERM;
	}
	if (q->type == NBD_CMD_BLOCK_STATUS && !l->meta_alloc) {
		snprintf(msg, msz, "block status without a negotiated meta context");
		return -EINVAL;
	}
	if (q->type == NBD_CMD_FLUSH || q->type == NBD_CMD_DISC)
		return 0;
	if (q->offset > l->size || q->len > l->size - q->offset) {
		snprintf(msg, msz, "%" PRIu64 "+%u is beyond the end of the export "
			 "(%" PRIu64 " bytes)", q->offset, q->len, l->size);
		return q->type == NBD_CMD_WRITE || q->type == NBD_CMD_WRITE_ZEROES ?
			-ENOSPC : -EINVAL;
	}
	if ((q->type == NBD_CMD_READ || q->type == NBD_CMD_WRITE ||
	     q->type == NBD_CMD_CACHE) && q->len > l->bmax) {
		snprintf(msg, msz, "request of %u bytes exceeds the maximum block size "
			 "%u", q->len, l->bmax);
		return l->structured && q->type == NBD_CMD_READ ? -EOVERFLOW : -EINVAL;
	}
	if (q->type == NBD_CMD_BLOCK_STATUS && q->len == 0) {
		snprintf(msg, msz, "block status of zero bytes");
		return -EINVAL;
	}
	return 0;
}
