/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Location URIs: file://, gluster[+tcp|+unix|+rdma]://, nbd[s][+...]://. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "location-syntax.h"

/* ---- Plain paths and file:// -------------------------------------------- */

static int loc_parse_file_uri(struct loc_parser *p, const struct loc_uri *u,
			      struct mortar_location *loc)
{
	size_t alen = u->auth_end - u->auth;
	int r;

	if (u->has_query)
		return loc_error(p, u->query - 1, "a file URI cannot have a query ('?...'); write %%3F for a '?' in the file name");
	if (alen && !(alen == 9 && strncasecmp(p->text + u->auth, "localhost", 9) == 0)) {
		if (u->path == u->path_end)
			return loc_error(p, u->auth, "a file URI needs an absolute path: 'file://%.*s' names a host, not a file; write file:///%.*s, or a plain path for a relative name",
					 (int)(alen > 40 ? 40 : alen), p->text + u->auth,
					 (int)(alen > 40 ? 40 : alen), p->text + u->auth);
		return loc_error(p, u->auth, "file URIs on another host are not supported; write file:///PATH (or file://localhost/PATH) for a local file");
	}
	if (u->path == u->path_end)
		return loc_error(p, u->path, "the file URI has no path; write file:///ABSOLUTE/PATH");
	r = loc_decode(p, u->path, u->path_end, "a file URI", NULL,
		       &loc->path, NULL);
	if (r < 0)
		return r;
	loc->scheme = MORTAR_SCHEME_FILE;
	loc->file_uri = true;
	return 0;
}

/* ---- gluster:// --------------------------------------------------------- */

/* Volume and image from the decoded path, the QEMU way: leading slashes
 * are skipped, the volume runs to the next '/', and the image is the rest
 * after any further slashes. */
static int loc_gluster_path(struct loc_parser *p, const struct loc_uri *u,
			    struct mortar_location *loc)
{
	size_t *map = NULL, i = 0, v;
	char *d = NULL;
	int r;

	if (u->path == u->path_end)
		return loc_error(p, u->path, "the gluster URI has no /VOLUME/PATH after the server part");
	r = loc_decode(p, u->path, u->path_end, "the gluster path", NULL,
		       &d, &map);
	if (r < 0)
		return r;
	while (d[i] == '/')
		i++;
	v = i;
	while (d[i] && d[i] != '/')
		i++;
	if (i == v) {
		r = loc_error(p, map[i], "the gluster volume name is missing; write /VOLUME/PATH");
		goto out;
	}
	if (!d[i]) {
		r = loc_error(p, map[i], "the image path inside the volume is missing; write /VOLUME/PATH");
		goto out;
	}
	loc->volume = strndup(d + v, i - v);
	while (d[i] == '/')
		i++;
	if (!d[i]) {
		r = loc_error(p, map[i], "the image path inside the volume is missing; write /VOLUME/PATH");
		goto out;
	}
	loc->path = strdup(d + i);
	r = loc->volume && loc->path ? 0 : loc_nomem();
out:
	free(d);
	free(map);
	return r;
}

static int loc_parse_gluster(struct loc_parser *p, const struct loc_uri *u,
			     struct mortar_location *loc)
{
	enum mortar_transport tr = u->scheme->transport;
	struct loc_param *ps = NULL;
	size_t nps = 0, i, n, start, depth;
	const char *t = p->text;
	int r;

	loc->scheme = MORTAR_SCHEME_GLUSTER;
	if (tr == MORTAR_TRANSPORT_UNIX) {
		if (u->auth_end > u->auth)
			return loc_error(p, u->auth, "a gluster+unix URI takes no server or port; give the socket as ?socket=PATH, as in gluster+unix:///VOLUME/PATH?socket=/run/glusterd.socket");
		n = 1;
	} else {
		n = 1;
		depth = 0;
		for (i = u->auth; i < u->auth_end; i++) {
			if (t[i] == '[')
				depth++;
			else if (t[i] == ']' && depth)
				depth--;
			else if (t[i] == ',' && !depth)
				n++;
			else if (t[i] == '@')
				return loc_error(p, i, "user names ('USER@') are not supported in gluster URIs; remove everything up to and including the '@'");
		}
	}
	loc->servers = calloc(n, sizeof *loc->servers);
	if (!loc->servers)
		return loc_nomem();
	loc->nservers = n;

	if (tr == MORTAR_TRANSPORT_UNIX) {
		loc->servers[0].transport = tr;
	} else {
		start = u->auth;
		depth = 0;
		n = 0;
		for (i = u->auth; i <= u->auth_end; i++) {
			if (i < u->auth_end) {
				if (t[i] == '[')
					depth++;
				else if (t[i] == ']' && depth)
					depth--;
				if (t[i] != ',' || depth)
					continue;
			}
			if (i == start && loc->nservers > 1)
				return loc_error(p, i, "the server list has an empty entry; separate servers with single commas, as in gluster://h1,h2:24008,[::1]/VOLUME/PATH");
			loc->servers[n].transport = tr;
			r = loc_parse_hostport(p, start, i, loc->nservers == 1,
					       65535, &loc->servers[n]);
			if (r < 0)
				return r;
			n++;
			start = i + 1;
		}
	}

	r = loc_gluster_path(p, u, loc);
	if (r < 0)
		return r;

	if (u->has_query) {
		r = loc_parse_query(p, u->query, u->query_end, &ps, &nps);
		if (r < 0)
			return r;
	}
	if (tr != MORTAR_TRANSPORT_UNIX) {
		if (nps > 0)
			r = loc_error(p, ps[0].keypos, "a %s URI takes no query parameters (?socket= is only for gluster+unix)",
				      tr == MORTAR_TRANSPORT_RDMA ? "gluster+rdma" : "gluster over tcp");
	} else if (nps == 0) {
		r = loc_error(p, u->has_query ? u->query : u->path_end,
			      "a gluster+unix URI needs the socket path: add ?socket=PATH, as in ?socket=/run/glusterd.socket");
	} else if (strcmp(ps[0].key, "socket") != 0) {
		r = loc_error(p, ps[0].keypos, "unknown query parameter '%.40s'; gluster+unix takes only socket=PATH",
			      ps[0].key);
	} else if (nps > 1) {
		r = loc_error(p, ps[1].keypos, "a gluster+unix URI takes exactly one query parameter, socket=PATH; remove this one");
	} else if (!ps[0].value[0]) {
		r = loc_error(p, ps[0].valpos, "the socket path is empty; write socket=PATH");
	} else {
		loc->servers[0].socket = ps[0].value;
		ps[0].value = NULL;
	}
	loc_params_free(ps, nps);
	return r;
}

/* ---- nbd:// ------------------------------------------------------------- */

static int loc_parse_nbd(struct loc_parser *p, const struct loc_uri *u,
			 struct mortar_location *loc)
{
	enum mortar_transport tr = u->scheme->transport;
	struct mortar_server *srv;
	struct loc_param *ps = NULL;
	const char *t = p->text;
	bool seen_tls[3] = { false, false, false };
	static const char *const tls_keys[3] = {
		"tls-type", "tls-hostname", "tls-verify-peer",
	};
	size_t nps = 0, i, j, depth = 0;
	int r = 0;

	loc->scheme = MORTAR_SCHEME_NBD;
	loc->tls = u->scheme->tls;
	loc->servers = calloc(1, sizeof *loc->servers);
	if (!loc->servers)
		return loc_nomem();
	loc->nservers = 1;
	srv = &loc->servers[0];
	srv->transport = tr;

	for (i = u->auth; i < u->auth_end; i++) {
		if (t[i] == '@')
			return loc_error(p, u->auth, "user names ('USER@') in nbd URIs are not supported; remove everything up to and including the '@'");
		if (t[i] == '[')
			depth++;
		else if (t[i] == ']' && depth)
			depth--;
		else if (t[i] == ',' && !depth && tr != MORTAR_TRANSPORT_UNIX)
			return loc_error(p, i, "an nbd URI names exactly one server; lists of servers are only for gluster");
	}
	switch (tr) {
	case MORTAR_TRANSPORT_UNIX:
		if (u->auth_end > u->auth)
			return loc_error(p, u->auth, "an %s URI takes no server or port; give the socket as ?socket=PATH, as in %s:///EXPORT?socket=/run/nbd.sock",
					 u->scheme->tls ? "nbds+unix" : "nbd+unix",
					 u->scheme->tls ? "nbds+unix" : "nbd+unix");
		break;
	case MORTAR_TRANSPORT_VSOCK:
		for (i = u->auth; i < u->auth_end && t[i] != ':'; i++) {
			if (!loc_is_digit(t[i])) {
				char tmp[16];

				return loc_error(p, i, "%s is not allowed in a vsock CID; the host part of an nbd+vsock URI is a number such as 2",
						 loc_chardesc(t[i], tmp));
			}
		}
		if (i == u->auth)
			return loc_error(p, i, "the vsock CID is missing; write nbd+vsock://CID[:PORT]/EXPORT");
		/* CIDs are 32-bit: compare as numbers, leading zeros aside. */
		for (j = u->auth; j + 1 < i && t[j] == '0'; j++)
			;
		if (i - j > 10 || (i - j == 10 && strncmp(t + j, "4294967295", 10) > 0))
			return loc_error(p, u->auth, "the vsock CID %.*s%s is out of range (0-4294967295)",
					 (int)(i - u->auth > 20 ? 20 : i - u->auth), t + u->auth,
					 i - u->auth > 20 ? "..." : "");
		srv->host = strndup(t + u->auth, i - u->auth);
		if (!srv->host)
			return loc_nomem();
		/* vsock ports are 32-bit too, but must fit the int field. */
		if (i < u->auth_end)
			r = loc_parse_port(p, i + 1, u->auth_end, INT_MAX, &srv->port);
		break;
	default:
		r = loc_parse_hostport(p, u->auth, u->auth_end, true, 65535, srv);
		break;
	}
	if (r < 0)
		return r;

	/* The export is the path without its leading '/': "" for none. */
	if (u->path < u->path_end)
		r = loc_decode(p, u->path + 1, u->path_end, "the export name",
			       NULL, &loc->export_name, NULL);
	else if (!(loc->export_name = strdup("")))
		r = loc_nomem();
	if (r < 0)
		return r;

	if (u->has_query) {
		r = loc_parse_query(p, u->query, u->query_end, &ps, &nps);
		if (r < 0)
			return r;
	}
	for (i = 0; i < nps && r == 0; i++) {
		const char *k = ps[i].key;

		if (strcmp(k, "socket") == 0) {
			if (tr != MORTAR_TRANSPORT_UNIX)
				r = loc_error(p, ps[i].keypos, "socket= is only for nbd+unix:// and nbds+unix:// URIs");
			else if (srv->socket)
				r = loc_error(p, ps[i].keypos, "socket= is given twice; keep one");
			else if (!ps[i].value[0])
				r = loc_error(p, ps[i].valpos, "the socket path is empty; write socket=PATH");
			else {
				srv->socket = ps[i].value;
				ps[i].value = NULL;
			}
			continue;
		}
		/* The spec's TLS parameters are accepted so that URIs made
		 * for other clients work; Mortar has nowhere to keep their
		 * values (see mortar-location(7)). */
		for (j = 0; j < 3; j++)
			if (strcmp(k, tls_keys[j]) == 0)
				break;
		if (j == 3)
			r = loc_error(p, ps[i].keypos, "unknown query parameter '%.40s'; nbd URIs take socket=, tls-type=, tls-hostname= and tls-verify-peer=",
				      k);
		else if (seen_tls[j])
			r = loc_error(p, ps[i].keypos, "%s= is given twice; keep one", k);
		else
			seen_tls[j] = true;
	}
	if (r == 0 && tr == MORTAR_TRANSPORT_UNIX && !srv->socket)
		r = loc_error(p, u->has_query ? u->query : u->path_end,
			      "an %s URI needs the socket path: add ?socket=PATH, as in ?socket=/run/nbd.sock",
			      u->scheme->tls ? "nbds+unix" : "nbd+unix");
	loc_params_free(ps, nps);
	return r;
}

/* ---- Dispatch ---------------------------------------------------------- */

int loc_parse_uri(struct loc_parser *p, const struct loc_scheme *s,
			 size_t slen, struct mortar_location *loc)
{
	const char *t = p->text;
	struct loc_uri u = { .scheme = s };
	size_t i;

	u.auth = slen + 3;
	for (i = u.auth; i < p->len && !strchr("/?#", t[i]); i++)
		;
	u.auth_end = u.path = i;
	while (i < p->len && t[i] != '?' && t[i] != '#')
		i++;
	u.path_end = i;
	if (i < p->len && t[i] == '?') {
		u.has_query = true;
		u.query = ++i;
		while (i < p->len && t[i] != '#')
			i++;
		u.query_end = i;
	}
	if (i < p->len)
		return loc_error(p, i, "'#' starts a fragment, which locations do not use; write %%23 for a '#' in a name");

	switch (s->scheme) {
	case MORTAR_SCHEME_FILE:
		return loc_parse_file_uri(p, &u, loc);
	case MORTAR_SCHEME_GLUSTER:
		return loc_parse_gluster(p, &u, loc);
	case MORTAR_SCHEME_NBD:
		return loc_parse_nbd(p, &u, loc);
	}
	return loc_error(p, 0, "internal error: unhandled scheme");
}
