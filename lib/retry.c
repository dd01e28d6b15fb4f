/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How long a request may wait for storage that is out for now
 * (mortar_set_retry_timeout, include/mortar/image.h): a program's choice,
 * made once at startup, read by the backends on every thread. */
#include "backend.h"

static unsigned retry_timeout_ms;

void mortar_set_retry_timeout(unsigned ms)
{
	__atomic_store_n(&retry_timeout_ms, ms, __ATOMIC_RELAXED);
}

unsigned mortar_retry_timeout_ms(void)
{
	return __atomic_load_n(&retry_timeout_ms, __ATOMIC_RELAXED);
}
