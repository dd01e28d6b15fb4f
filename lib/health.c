/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The health of an image's storage (include/mortar/health.h): asked of
 * the backend that serves the location; storage without replicas or
 * settings to review has nothing to say. */
#include <errno.h>
#include <string.h>

#include <mortar/health.h>
#include "registry.h"

int mortar_replica_state(const struct mortar_location *loc, struct mortar_replica_state *out)
{
	const struct mortar_backend *be = mortar_backend_lookup(loc);

	memset(out, 0, sizeof *out);
	out->copies = 1;
	if (!be || !be->replica)
		return 0;
	return be->replica(loc, out);
}

int mortar_volume_review(const struct mortar_location *loc, mortar_advice_fn fn, void *opaque)
{
	const struct mortar_backend *be = mortar_backend_lookup(loc);

	if (!be || !be->review)
		return 0;
	return be->review(loc, fn, opaque);
}
