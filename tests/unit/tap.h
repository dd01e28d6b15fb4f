/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A tiny TAP producer for the unit tests: ok/not ok lines, a plan at the
 * end, and an exit code of 0 (all passed) or 1 (something failed). */
#ifndef MORTAR_TEST_TAP_H
#define MORTAR_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count, tap_failed;

__attribute__((format(printf, 2, 3)))
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2)))
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_count);
	return tap_failed ? 1 : 0;
}

/* Abort the whole program as a failure: for setup that must not fail. */
#define TAP_BAIL(...) do { printf("Bail out! "); printf(__VA_ARGS__); \
	putchar('\n'); exit(1); } while (0)

#endif
