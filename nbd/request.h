/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to nbd/: the rules every transmission path applies to a
 * request before running it, and the spec's error numbers. */
#ifndef MORTAR_NBD_REQUEST_H
#define MORTAR_NBD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nbd_request {
	uint16_t flags, type;
	uint64_t cookie, offset;
	uint32_t len;
};

/* What a connection allows: the export and what was negotiated. */
struct nbd_limits {
	uint64_t size;
	uint32_t bmax;
	bool read_only;
	bool structured;
	bool meta_alloc;
};

/* 0, or a negative errno for the reply with a message in MSG. */
int nbd_request_check(const struct nbd_request *q, const struct nbd_limits *l,
		      char *msg, size_t msz);

/* The NBD spec's error number for a host errno (either sign). */
uint32_t nbd_wire_errno(int err);

#endif
