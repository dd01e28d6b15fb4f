/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Formatting: the canonical text of a location, which parses back to an
 * equal location. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "location-syntax.h"

/* ---- Formatting --------------------------------------------------------- */

static void loc_format_host(struct loc_buf *b, const struct mortar_server *s)
{
	const char *h = s->host ? s->host : "", *pct;

	if (strchr(h, ':')) {
		pct = strchr(h, '%');
		loc_buf_chr(b, '[');
		if (pct) {
			loc_buf_add(b, h, pct - h);
			loc_buf_str(b, "%25");
			loc_buf_str(b, pct + 1);
		} else {
			loc_buf_str(b, h);
		}
		loc_buf_chr(b, ']');
	} else {
		loc_buf_str(b, h);
	}
	if (s->port) {
		loc_buf_chr(b, ':');
		loc_buf_int(b, s->port);
	}
}

/* Several servers that one URI cannot hold: json: then. */
static char *loc_format_gluster_json(const struct mortar_location *loc)
{
	struct json_object *o, *arr, *srv;
	const char *type, *s;
	struct loc_buf b = { 0 };
	bool ok;
	size_t i;

	o = json_object_new_object();
	arr = json_object_new_array();
	ok = o && arr;
	ok = ok && !json_object_object_add(o, "driver", json_object_new_string("gluster"));
	ok = ok && !json_object_object_add(o, "volume", json_object_new_string(loc->volume));
	ok = ok && !json_object_object_add(o, "path", json_object_new_string(loc->path));
	for (i = 0; ok && i < loc->nservers; i++) {
		const struct mortar_server *sv = &loc->servers[i];

		srv = json_object_new_object();
		ok = srv && !json_object_array_add(arr, srv);
		if (!ok) {
			json_object_put(srv);
			break;
		}
		type = sv->transport == MORTAR_TRANSPORT_UNIX ? "unix" :
		       sv->transport == MORTAR_TRANSPORT_RDMA ? "rdma" : "tcp";
		ok = !json_object_object_add(srv, "type", json_object_new_string(type));
		if (sv->transport == MORTAR_TRANSPORT_UNIX) {
			ok = ok && !json_object_object_add(srv, "socket",
					json_object_new_string(sv->socket ? sv->socket : ""));
		} else {
			ok = ok && !json_object_object_add(srv, "host",
					json_object_new_string(sv->host ? sv->host : ""));
			if (sv->port)
				ok = ok && !json_object_object_add(srv, "port",
						json_object_new_int(sv->port));
		}
	}
	if (ok) {
		ok = !json_object_object_add(o, "server", arr);
		arr = NULL;
	}
	s = ok ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	if (s) {
		loc_buf_str(&b, "json:");
		loc_buf_str(&b, s);
	} else {
		b.failed = true;
	}
	json_object_put(arr);
	json_object_put(o);
	return loc_buf_finish(&b);
}

static char *loc_format_gluster(const struct mortar_location *loc)
{
	enum mortar_transport tr;
	struct loc_buf b = { 0 };
	size_t i;

	if (!loc->volume || !loc->path || !loc->servers || !loc->nservers) {
		errno = EINVAL;
		return NULL;
	}
	tr = loc->servers[0].transport;
	for (i = 1; i < loc->nservers; i++)
		if (loc->servers[i].transport != tr)
			return loc_format_gluster_json(loc);
	if (tr == MORTAR_TRANSPORT_UNIX && loc->nservers > 1)
		return loc_format_gluster_json(loc);

	switch (tr) {
	case MORTAR_TRANSPORT_UNIX:
		loc_buf_str(&b, "gluster+unix://");
		break;
	case MORTAR_TRANSPORT_RDMA:
		loc_buf_str(&b, "gluster+rdma://");
		break;
	default:
		loc_buf_str(&b, "gluster://");
		for (i = 0; i < loc->nservers; i++) {
			if (i)
				loc_buf_chr(&b, ',');
			loc_format_host(&b, &loc->servers[i]);
		}
		break;
	}
	if (tr == MORTAR_TRANSPORT_RDMA) {
		for (i = 0; i < loc->nservers; i++) {
			if (i)
				loc_buf_chr(&b, ',');
			loc_format_host(&b, &loc->servers[i]);
		}
	}
	loc_buf_chr(&b, '/');
	loc_encode(&b, loc->volume, LOC_KEEP_SEGMENT);
	loc_buf_chr(&b, '/');
	loc_encode(&b, loc->path, LOC_KEEP_PATH);
	if (tr == MORTAR_TRANSPORT_UNIX) {
		loc_buf_str(&b, "?socket=");
		loc_encode(&b, loc->servers[0].socket ? loc->servers[0].socket : "",
			   LOC_KEEP_QUERY);
	}
	return loc_buf_finish(&b);
}

static char *loc_format_nbd(const struct mortar_location *loc)
{
	const struct mortar_server *s;
	struct loc_buf b = { 0 };

	if (!loc->servers || loc->nservers != 1) {
		errno = EINVAL;
		return NULL;
	}
	s = &loc->servers[0];
	loc_buf_str(&b, loc->tls ? "nbds" : "nbd");
	if (s->transport == MORTAR_TRANSPORT_UNIX)
		loc_buf_str(&b, "+unix");
	else if (s->transport == MORTAR_TRANSPORT_VSOCK)
		loc_buf_str(&b, "+vsock");
	loc_buf_str(&b, "://");
	if (s->transport != MORTAR_TRANSPORT_UNIX)
		loc_format_host(&b, s);
	loc_buf_chr(&b, '/');
	loc_encode(&b, loc->export_name ? loc->export_name : "", LOC_KEEP_PATH);
	if (s->transport == MORTAR_TRANSPORT_UNIX) {
		loc_buf_str(&b, "?socket=");
		loc_encode(&b, s->socket ? s->socket : "", LOC_KEEP_QUERY);
	}
	return loc_buf_finish(&b);
}

static char *loc_format_file(const struct mortar_location *loc)
{
	struct loc_buf b = { 0 };
	size_t slen;

	if (!loc->path || !loc->path[0]) {
		errno = EINVAL;
		return NULL;
	}
	if (loc->file_uri) {
		if (loc->path[0] != '/') {
			errno = EINVAL;
			return NULL;
		}
		loc_buf_str(&b, "file://");
		loc_encode(&b, loc->path, LOC_KEEP_PATH);
		return loc_buf_finish(&b);
	}
	/* A plain path that would read as a URI (only possible in a
	 * structure not made by the parser) gets "./", which names the
	 * same file and keeps it a path. */
	slen = loc_scheme_len(loc->path);
	if (strncmp(loc->path, "json:", 5) == 0 ||
	    (slen && loc->path[slen] == ':' &&
	     (strncmp(loc->path + slen, "://", 3) == 0 ||
	      loc_find_scheme(loc->path, slen))))
		loc_buf_str(&b, "./");
	loc_buf_str(&b, loc->path);
	return loc_buf_finish(&b);
}

char *mortar_location_format(const struct mortar_location *loc)
{
	if (!loc) {
		errno = EINVAL;
		return NULL;
	}
	switch (loc->scheme) {
	case MORTAR_SCHEME_FILE:
		return loc_format_file(loc);
	case MORTAR_SCHEME_GLUSTER:
		return loc_format_gluster(loc);
	case MORTAR_SCHEME_NBD:
		return loc_format_nbd(loc);
	}
	errno = EINVAL;
	return NULL;
}
