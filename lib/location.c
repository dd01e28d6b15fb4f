/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: parsing and formatting locations (see mortar/location.h).
 *
 * A location is what a user types to name an image: a plain path, a
 * file:// URI, one of QEMU's gluster URIs (plus Mortar's list of volfile
 * servers), QEMU's json: pseudo-protocol for the gluster driver, or an NBD
 * URI as described by the NBD project's doc/uri.md.
 *
 * The parser is hand-written rather than built on a generic URI library
 * for two reasons: every error must point at the character that caused it,
 * and the accepted language must be exactly what the man page
 * mortar-location(7) promises, no more.  It takes untrusted text (the
 * fuzzer feeds it anything), so every length is computed, never assumed.
 *
 * Canonical form: mortar_location_format() writes text that parses back
 * to an equal structure.  Values that the structure does not keep (the
 * NBD tls-* parameters, gluster's debug and logfile options in json:) are
 * accepted and dropped; the man page says so.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mortar/location.h>

#include "error.h"
#include "location-syntax.h"

/* ---- Schemes ------------------------------------------------------------ */

const char *mortar_scheme_name(enum mortar_scheme scheme)
{
	switch (scheme) {
	case MORTAR_SCHEME_FILE:
		return "file";
	case MORTAR_SCHEME_GLUSTER:
		return "gluster";
	case MORTAR_SCHEME_NBD:
		return "nbd";
	}
	return "unknown";
}

/* ---- Location memory ---------------------------------------------------- */

static void loc_server_clear(struct mortar_server *s)
{
	free(s->host);
	free(s->socket);
	s->host = NULL;
	s->socket = NULL;
}

void mortar_location_free(struct mortar_location *loc)
{
	size_t i;

	if (!loc)
		return;
	free(loc->path);
	free(loc->volume);
	free(loc->export_name);
	for (i = 0; i < loc->nservers && loc->servers; i++)
		loc_server_clear(&loc->servers[i]);
	free(loc->servers);
	free(loc);
}

static char *loc_strdup_opt(const char *s, bool *failed)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*failed = true;
	return d;
}

int mortar_location_with_path(const struct mortar_location *loc, const char *path,
			      struct mortar_location **out)
{
	struct mortar_location *d = calloc(1, sizeof *d);
	bool failed = !d;

	*out = NULL;
	if (d) {
		*d = (struct mortar_location){ .scheme = loc->scheme, .file_uri = loc->file_uri,
					       .tls = loc->tls };
		d->path = loc_strdup_opt(path, &failed);
		d->volume = loc_strdup_opt(loc->volume, &failed);
		d->export_name = loc_strdup_opt(loc->export_name, &failed);
		if (loc->nservers && !(d->servers = calloc(loc->nservers, sizeof *d->servers)))
			failed = true;
		for (size_t i = 0; d->servers && i < loc->nservers; i++) {
			d->servers[i] = loc->servers[i];
			d->servers[i].host = loc_strdup_opt(loc->servers[i].host, &failed);
			d->servers[i].socket = loc_strdup_opt(loc->servers[i].socket, &failed);
			d->nservers = i + 1;
		}
	}
	if (failed) {
		mortar_location_free(d);
		return loc_nomem();
	}
	*out = d;
	return 0;
}

int mortar_location_dup(const struct mortar_location *loc, struct mortar_location **out)
{
	return mortar_location_with_path(loc, loc->path, out);
}

/* ---- Comparing locations ------------------------------------------------ */

static int loc_default_port(enum mortar_scheme scheme)
{
	return scheme == MORTAR_SCHEME_GLUSTER ? MORTAR_GLUSTER_DEFAULT_PORT :
	       scheme == MORTAR_SCHEME_NBD ? MORTAR_NBD_DEFAULT_PORT : 0;
}

static bool loc_same_server(const struct mortar_server *a, const struct mortar_server *b,
			    int default_port)
{
	if (a->transport != b->transport)
		return false;
	if (a->socket || b->socket)
		return a->socket && b->socket && !strcmp(a->socket, b->socket);
	/* QEMU reads an empty host as localhost. */
	return !strcmp(a->host && a->host[0] ? a->host : "localhost",
		       b->host && b->host[0] ? b->host : "localhost") &&
	       (a->port ? a->port : default_port) == (b->port ? b->port : default_port);
}

bool mortar_location_same_volume(const struct mortar_location *a,
				 const struct mortar_location *b)
{
	int port = loc_default_port(a->scheme);

	if (a->scheme != b->scheme)
		return false;
	if (a->scheme == MORTAR_SCHEME_FILE)
		return true;
	if (a->scheme == MORTAR_SCHEME_NBD &&
	    (a->tls != b->tls || strcmp(a->export_name, b->export_name)))
		return false;
	if (a->scheme == MORTAR_SCHEME_GLUSTER && strcmp(a->volume, b->volume))
		return false;
	for (size_t i = 0; i < a->nservers; i++)
		for (size_t j = 0; j < b->nservers; j++)
			if (loc_same_server(&a->servers[i], &b->servers[j], port))
				return true;
	return false;
}

bool mortar_location_same_image(const struct mortar_location *a,
				const struct mortar_location *b)
{
	struct stat sa, sb;

	if (!mortar_location_same_volume(a, b))
		return false;
	if (a->scheme == MORTAR_SCHEME_FILE && stat(a->path, &sa) == 0 &&
	    stat(b->path, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return (!a->path && !b->path) || (a->path && b->path && !strcmp(a->path, b->path));
}

/* ---- Entry point -------------------------------------------------------- */

int mortar_location_parse(const char *text, struct mortar_location **out,
			  size_t *errpos)
{
	struct loc_parser p = { .text = text, .errpos = errpos };
	struct mortar_location *loc;
	const struct loc_scheme *s;
	size_t slen;
	int r;

	if (out)
		*out = NULL;
	if (!text || !out) {
		if (errpos)
			*errpos = 0;
		return mortar_set_error(EINVAL, "invalid location: mortar_location_parse() needs a text and a place for the result");
	}
	p.len = strlen(text);
	if (p.len == 0)
		return loc_error(&p, 0, "the location is empty; give a file path, or a gluster://, nbd:// or file:// URI");

	loc = calloc(1, sizeof *loc);
	if (!loc)
		return loc_nomem();

	slen = loc_scheme_len(text);
	if (strncmp(text, "json:", 5) == 0) {
		r = loc_parse_json(&p, loc);
	} else if (slen && strncmp(text + slen, "://", 3) == 0) {
		s = loc_find_scheme(text, slen);
		if (s)
			r = loc_parse_uri(&p, s, slen, loc);
		else
			r = loc_error(&p, 0, "unknown scheme '%.*s'; Mortar understands %s (to name a local file, write ./%.*s...)",
				      (int)(slen > 30 ? 30 : slen), text, LOC_SUPPORTED,
				      (int)(slen > 30 ? 30 : slen), text);
	} else if (slen && text[slen] == ':' && loc_find_scheme(text, slen)) {
		/* "gluster:/vol/img" or QEMU's old "nbd:host:port" would
		 * otherwise name a local file and fail much later with
		 * ENOENT; say what was probably meant instead. */
		r = loc_error(&p, slen + 1, "'%.*s:' must be followed by '//', as in %.*s://...; to name a local file, write ./%.*s",
			      (int)slen, text, (int)slen, text,
			      (int)(p.len > 40 ? 40 : p.len), text);
	} else {
		loc->scheme = MORTAR_SCHEME_FILE;
		loc->path = strdup(text);
		r = loc->path ? 0 : loc_nomem();
	}
	if (r < 0) {
		mortar_location_free(loc);
		return r;
	}
	*out = loc;
	return 0;
}
