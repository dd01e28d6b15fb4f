/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: recording errors for mortar_errmsg(). */
#ifndef MORTAR_LIB_ERROR_H
#define MORTAR_LIB_ERROR_H

#include <mortar/error.h>

/* Record ERR (positive or negative errno) and a printf-style message for
 * the current thread; returns -abs(ERR) so callers can write
 * "return mortar_set_error(ENOSPC, ...)". */
int mortar_set_error(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the current message with more context: "CONTEXT: old message". */
void mortar_error_prefix(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

void mortar_clear_error(void);

#endif
