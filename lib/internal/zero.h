/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: is a buffer all zeroes?  Used where zeroes become holes
 * (NBD read replies, sparse copies).  Inline: it runs on every read. */
#ifndef MORTAR_LIB_ZERO_H
#define MORTAR_LIB_ZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool mortar_all_zero(const uint8_t *p, size_t n)
{
	/* Compare the buffer with itself shifted by 16 bytes once those are
	 * known to be zero: memcmp is vectorised, and the first non-zero
	 * byte stops it. */
	if (n < 16)
		return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
	for (size_t i = 0; i < 16; i++)
		if (p[i])
			return false;
	return !memcmp(p, p + 16, n - 16);
}

#endif
