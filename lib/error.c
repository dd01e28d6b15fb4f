/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-thread error messages, in the manner of libnbd's nbd_get_error():
 * the errno travels in return values, the sentence for humans here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define MSG_MAX 1024

static _Thread_local char last_msg[MSG_MAX];
static _Thread_local int last_errno;

const char *mortar_errmsg(void)
{
	return last_msg;
}

int mortar_errno(void)
{
	return last_errno;
}

int mortar_set_error(int err, const char *fmt, ...)
{
	va_list ap;

	if (err < 0)
		err = -err;
	last_errno = err;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof last_msg, fmt, ap);
	va_end(ap);
	return -err;
}

void mortar_error_prefix(const char *fmt, ...)
{
	char prefix[MSG_MAX], old[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, last_msg, sizeof old);
	/* Truncation is acceptable: the start of the message matters most. */
	if (snprintf(last_msg, sizeof last_msg, "%.*s: %.*s", 256, prefix,
		     (int)sizeof last_msg - 260, old) < 0)
		last_msg[0] = '\0';
}

void mortar_clear_error(void)
{
	last_msg[0] = '\0';
	last_errno = 0;
}
