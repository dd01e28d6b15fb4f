/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: which backend serves a location. */
#ifndef MORTAR_LIB_REGISTRY_H
#define MORTAR_LIB_REGISTRY_H

#include <mortar/location.h>
#include "backend.h"

/* The backend for LOC, or a negative errno and a message naming why none
 * serves it (TEXT names the location in it). */
/* The same, quietly: NULL when none (nor a message). */
const struct mortar_backend *mortar_backend_lookup(const struct mortar_location *loc);
int mortar_backend_find(const struct mortar_location *loc, const char *text,
			const struct mortar_backend **out);

#endif
