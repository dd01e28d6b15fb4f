/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image calls that take a location as text (image.h): parse, call,
 * free.  For callers that use a location once; a command that uses one
 * several times parses it once and passes the struct. */
#include <mortar/image.h>

int mortar_image_create_text(const char *location, uint64_t size,
			     enum mortar_prealloc prealloc, unsigned flags)
{
	struct mortar_location *loc;
	int r = mortar_location_parse(location, &loc, NULL);

	if (r == 0)
		r = mortar_image_create(loc, size, prealloc, flags);
	mortar_location_free(loc);
	return r;
}

int mortar_image_remove_text(const char *location)
{
	struct mortar_location *loc;
	int r = mortar_location_parse(location, &loc, NULL);

	if (r == 0)
		r = mortar_image_remove(loc);
	mortar_location_free(loc);
	return r;
}

int mortar_image_open_text(struct mortar_loop *loop, const char *location,
			   unsigned flags, struct mortar_image **out)
{
	struct mortar_location *loc;
	int r = mortar_location_parse(location, &loc, NULL);

	if (r == 0)
		r = mortar_image_open(loop, loc, flags, out);
	mortar_location_free(loc);
	return r;
}
