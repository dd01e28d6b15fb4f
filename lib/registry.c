/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The backends of this build.  The only file outside a backend's own that
 * knows which backends exist: adding one is a line here and its file. */
#include <errno.h>
#include <stddef.h>

#include "backend-file.h"
#include "error.h"
#include "registry.h"
#ifdef MORTAR_HAVE_GLUSTER
#include "backend-gluster.h"
#endif

static const struct mortar_backend *const registry[] = {
	&mortar_backend_file,
#ifdef MORTAR_HAVE_GLUSTER
	&mortar_backend_gluster,
#endif
};

/* Why no backend serves a scheme in this build. */
static int registry_missing(const struct mortar_location *loc, const char *text)
{
	switch (loc->scheme) {
	case MORTAR_SCHEME_GLUSTER:
		return mortar_set_error(ENOTSUP, "%s: this build of Mortar has no "
			"GlusterFS backend (libgfapi was not found when it was built: "
			"install libglusterfs-dev and rebuild)", text);
	case MORTAR_SCHEME_NBD:
		return mortar_set_error(ENOTSUP, "%s: nbd:// names an NBD server, which "
			"Mortar can serve to but not open as an image; use the image's "
			"own location", text);
	case MORTAR_SCHEME_FILE:
		break;
	}
	return mortar_set_error(EINVAL, "%s: unknown location kind", text);
}

const struct mortar_backend *mortar_backend_lookup(const struct mortar_location *loc)
{
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
		if (registry[i]->scheme == loc->scheme)
			return registry[i];
	return NULL;
}

int mortar_backend_find(const struct mortar_location *loc, const char *text,
			const struct mortar_backend **out)
{
	/* Parsed so that it can be refused clearly, whatever the build. */
	for (size_t i = 0; i < loc->nservers; i++)
		if (loc->servers[i].transport == MORTAR_TRANSPORT_RDMA)
			return mortar_set_error(EPROTONOSUPPORT, "%s: the rdma "
				"transport is not supported (GlusterFS itself "
				"dropped it); use gluster:// or gluster+tcp:// "
				"instead", text);
	*out = mortar_backend_lookup(loc);
	return *out ? 0 : registry_missing(loc, text);
}
