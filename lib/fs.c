/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The namespace around an image (fs.h), from the backend that serves it. */
#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "fs.h"
#include "registry.h"

int mortar_fs_open(const struct mortar_location *loc, struct mortar_fs **out)
{
	const struct mortar_backend *be;
	struct mortar_fs *fs;
	char *text = mortar_location_format(loc);
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	r = mortar_backend_find(loc, text, &be);
	if (r == 0 && !be->ns_open)
		r = mortar_set_error(ENOTSUP, "%s: the %s backend has no folder to keep "
				     "files beside an image", text, be->name);
	free(text);
	if (r < 0)
		return r;
	fs = calloc(1, sizeof *fs);
	if (!fs)
		return mortar_set_error(ENOMEM, "out of memory");
	r = mortar_location_dup(loc, &fs->loc);
	if (r == 0)
		r = be->ns_open(loc, &fs->ops, &fs->ctx);
	if (r < 0) {
		mortar_location_free(fs->loc);
		free(fs);
		return r;
	}
	*out = fs;
	return 0;
}

void mortar_fs_close(struct mortar_fs *fs)
{
	if (!fs)
		return;
	fs->ops->close(fs->ctx);
	mortar_location_free(fs->loc);
	free(fs);
}

int mortar_fs_location(const struct mortar_fs *fs, const char *path,
		       struct mortar_location **out)
{
	return mortar_location_with_path(fs->loc, path, out);
}
