/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img clone into an NBD export (clone-nbd.c). */
#ifndef MORTAR_CLI_CLONE_NBD_H
#define MORTAR_CLI_CLONE_NBD_H

#include <stdbool.h>

#include <mortar/mortar.h>

/* Whether DST is an NBD URI (nbd://, nbds://, nbd+unix://...). */
bool clone_dst_is_nbd(const char *dst);

/* Write all of SRC into the existing export URI (FORCE: its contents are
 * replaced; refused without).  0 or -errno with mortar_errmsg() set. */
int clone_to_nbd(const char *src, const char *uri, bool force, mortar_progress_fn progress,
		 void *opaque);

#endif
