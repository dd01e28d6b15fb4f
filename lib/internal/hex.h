/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: hexadecimal digits, for the parsers that meet them (URI
 * escapes, pre-shared keys, the handover state). */
#ifndef MORTAR_LIB_INTERNAL_HEX_H
#define MORTAR_LIB_INTERNAL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of hex digit C, or -1. */
static inline int mortar_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the 2*N hex digits at HEX into N bytes at OUT; 0, or -1 if one
 * is not a hex digit. */
static inline int mortar_unhex(const char *hex, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = mortar_hexval((unsigned char)hex[2 * i]);
		int lo = mortar_hexval((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

#endif
