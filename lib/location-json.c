/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Locations in QEMU's json:{...} pseudo-protocol (gluster only). */
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

/* ---- json: -------------------------------------------------------------- */

/* QEMU's json: syntax nests objects ("file":{"driver":...}) or spells the
 * same keys flat ("file.driver"), and may mix both.  Flattening every
 * object and array into dotted keys, as QEMU's qdict_flatten() does, gives
 * one shape to look at. */
struct loc_kv {
	char *key;
	struct json_object *val;
};

struct loc_flat {
	struct loc_kv *kv;
	size_t n, cap;
};

static void loc_flat_free(struct loc_flat *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->kv[i].key);
	free(f->kv);
}

static int loc_flat_add(struct loc_flat *f, char *key, struct json_object *val)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct loc_kv *kv = reallocarray(f->kv, cap, sizeof *kv);

		if (!kv)
			return -ENOMEM;
		f->kv = kv;
		f->cap = cap;
	}
	f->kv[f->n].key = key;
	f->kv[f->n].val = val;
	f->n++;
	return 0;
}

static char *loc_join_key(const char *prefix, const char *name)
{
	char *k;

	if (!prefix)
		return strdup(name);
	if (asprintf(&k, "%s.%s", prefix, name) < 0)
		return NULL;
	return k;
}

/* Takes ownership of PREFIX (NULL at the top): it becomes the key of a
 * leaf or is freed.  Depth is bounded by json-c's own nesting limit. */
static int loc_flatten(struct loc_flat *f, char *prefix,
		       struct json_object *obj)
{
	enum json_type type = json_object_get_type(obj);
	char *key, idx[24];
	size_t i, n;
	int r = 0;

	if (type == json_type_object) {
		struct json_object_iterator it = json_object_iter_begin(obj);
		struct json_object_iterator end = json_object_iter_end(obj);

		for (; r == 0 && !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it)) {
			key = loc_join_key(prefix, json_object_iter_peek_name(&it));
			r = key ? loc_flatten(f, key, json_object_iter_peek_value(&it))
				: -ENOMEM;
		}
		free(prefix);
		return r;
	}
	if (type == json_type_array) {
		n = json_object_array_length(obj);
		for (i = 0; r == 0 && i < n; i++) {
			snprintf(idx, sizeof idx, "%zu", i);
			key = loc_join_key(prefix, idx);
			r = key ? loc_flatten(f, key, json_object_array_get_idx(obj, i))
				: -ENOMEM;
		}
		free(prefix);
		return r;
	}
	r = prefix ? loc_flat_add(f, prefix, obj) : -EINVAL;
	if (r < 0)
		free(prefix);
	return r;
}

static int loc_kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct loc_kv *)a)->key,
		      ((const struct loc_kv *)b)->key);
}

static struct json_object *loc_flat_get(const struct loc_flat *f,
					const char *key, bool *found)
{
	struct loc_kv k = { .key = (char *)key }, *hit;

	hit = f->n ? bsearch(&k, f->kv, f->n, sizeof k, loc_kv_cmp) : NULL;
	if (found)
		*found = hit != NULL;
	return hit ? hit->val : NULL;
}

/* Where to point for a problem with KEY: the key itself when its quoted
 * text occurs in the input (flat spelling, or a last component that is
 * unambiguous), else the start of the JSON text. */
static size_t loc_json_keypos(struct loc_parser *p, const char *key)
{
	const char *json = p->text + 5, *hit, *last, *again;
	size_t jlen = p->len - 5;
	char *q;

	for (last = key; strchr(last, '.'); last = strchr(last, '.') + 1)
		;
	if (asprintf(&q, "\"%s\"", key) < 0)
		return 5;
	hit = memmem(json, jlen, q, strlen(q));
	free(q);
	if (hit)
		return hit - p->text + 1;
	if (asprintf(&q, "\"%s\"", last) < 0)
		return 5;
	hit = memmem(json, jlen, q, strlen(q));
	again = hit ? memmem(hit + 1, jlen - (hit + 1 - json), q, strlen(q)) : NULL;
	free(q);
	if (hit && !again)
		return hit - p->text + 1;
	return 5;
}

/* The string value of KEY, or an error naming KEY. */
static int loc_json_string(struct loc_parser *p, const char *key,
			   struct json_object *v, const char **out)
{
	const char *s;

	if (json_object_get_type(v) != json_type_string)
		return loc_error(p, loc_json_keypos(p, key), "\"%.80s\" must be a JSON string", key);
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return loc_error(p, loc_json_keypos(p, key), "\"%.80s\" cannot contain a NUL character", key);
	*out = s;
	return 0;
}

/* A port given as a number or as a string of digits; 0 = default. */
static int loc_json_port(struct loc_parser *p, const char *key,
			 struct json_object *v, int *port)
{
	int64_t n = -1;
	const char *s;
	size_t i;

	if (json_object_get_type(v) == json_type_int) {
		n = json_object_get_int64(v);
	} else if (json_object_get_type(v) == json_type_string) {
		s = json_object_get_string(v);
		n = s[0] ? 0 : -1;
		for (i = 0; s[i] && n >= 0 && n <= 65535; i++)
			n = loc_is_digit(s[i]) ? n * 10 + (s[i] - '0') : -1;
		if ((size_t)json_object_get_string_len(v) != strlen(s))
			n = -1;
	}
	if (n < 0 || n > 65535)
		return loc_error(p, loc_json_keypos(p, key), "\"%.80s\" must be a port number from 1 to 65535, as a JSON number or string",
				 key);
	*port = (int)n;
	return 0;
}

/* One server.N of the gluster options while they are collected. */
struct loc_jserver {
	bool seen;
	struct json_object *type, *host, *port, *socket, *path;
	const char *type_key, *host_key, *port_key, *socket_key, *path_key;
};

/* Options of QEMU's generic block layer that may sit beside the gluster
 * ones; they say nothing about where the image is. */
static bool loc_json_ignored(const char *k)
{
	static const char *const keys[] = {
		"node-name", "read-only", "auto-read-only", "force-share",
		"discard", "detect-zeroes", "cache.direct", "cache.no-flush",
	};
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcmp(k, keys[i]) == 0)
			return true;
	return false;
}

static int loc_json_server(struct loc_parser *p, size_t idx,
			   const struct loc_jserver *js, struct mortar_server *srv)
{
	const char *type, *host, *sock, *key, *pct;
	size_t bad;
	int r;

	if (!js->seen)
		return loc_error(p, 5, "the gluster server %zu is missing; number servers from 0 without gaps",
				 idx);
	if (!js->type)
		return loc_error(p, 5, "the gluster server %zu has no \"type\"; give \"tcp\" or \"unix\"",
				 idx);
	r = loc_json_string(p, js->type_key, js->type, &type);
	if (r < 0)
		return r;
	if (strcmp(type, "tcp") == 0 || strcmp(type, "inet") == 0)
		srv->transport = MORTAR_TRANSPORT_TCP;
	else if (strcmp(type, "unix") == 0)
		srv->transport = MORTAR_TRANSPORT_UNIX;
	else if (strcmp(type, "rdma") == 0)
		srv->transport = MORTAR_TRANSPORT_RDMA;
	else
		return loc_error(p, loc_json_keypos(p, js->type_key), "\"%.80s\" must be \"tcp\" (or \"inet\"), \"unix\" or \"rdma\"",
				 js->type_key);

	if (srv->transport == MORTAR_TRANSPORT_UNIX) {
		if (js->host || js->port)
			return loc_error(p, loc_json_keypos(p, js->host ? js->host_key : js->port_key),
					 "\"%.80s\" does not apply to a unix server; give only \"socket\"",
					 js->host ? js->host_key : js->port_key);
		if (js->socket && js->path)
			return loc_error(p, loc_json_keypos(p, js->path_key), "\"%.80s\" and \"socket\" both name the socket; keep one",
					 js->path_key);
		if (!js->socket && !js->path)
			return loc_error(p, 5, "the unix gluster server %zu has no \"socket\"", idx);
		key = js->socket ? js->socket_key : js->path_key;
		r = loc_json_string(p, key, js->socket ? js->socket : js->path, &sock);
		if (r < 0)
			return r;
		if (!sock[0])
			return loc_error(p, loc_json_keypos(p, key), "\"%.80s\" is empty; give the socket path", key);
		srv->socket = strdup(sock);
		return srv->socket ? 0 : loc_nomem();
	}

	if (js->socket || js->path)
		return loc_error(p, loc_json_keypos(p, js->socket ? js->socket_key : js->path_key),
				 "\"%.80s\" only applies to unix servers; give \"host\" and \"port\"",
				 js->socket ? js->socket_key : js->path_key);
	if (!js->host)
		return loc_error(p, 5, "the gluster server %zu has no \"host\"", idx);
	r = loc_json_string(p, js->host_key, js->host, &host);
	if (r < 0)
		return r;
	if (strchr(host, ':')) {
		pct = strchr(host, '%');
		r = loc_check_ipv6(host, pct ? (size_t)(pct - host) : strlen(host),
				   pct ? pct + 1 : NULL, pct ? strlen(pct + 1) : 0,
				   &bad) ? -1 : 0;
	} else {
		r = host[0] && !loc_check_name(host, strlen(host), &bad) ? 0 : -1;
	}
	if (r < 0)
		return loc_error(p, loc_json_keypos(p, js->host_key), "\"%.80s\" is not a valid host name, IPv4 address or IPv6 address (IPv6 without brackets here)",
				 js->host_key);
	srv->host = strdup(host);
	if (!srv->host)
		return loc_nomem();
	if (js->port)
		return loc_json_port(p, js->port_key, js->port, &srv->port);
	return 0;
}

/* Collect server.N.FIELD into JS (N < NMAX); *NSERVERS = highest N + 1. */
static int loc_json_server_key(struct loc_parser *p, const char *full,
			       const char *sub, struct json_object *v,
			       struct loc_jserver *js, size_t nmax,
			       size_t *nservers)
{
	const char *q = sub, *field;
	size_t idx = 0;
	struct loc_jserver *s;

	if (!loc_is_digit(*q) || (q[0] == '0' && loc_is_digit(q[1])))
		goto bad;
	while (loc_is_digit(*q)) {
		idx = idx * 10 + (size_t)(*q - '0');
		if (idx >= nmax)
			return loc_error(p, loc_json_keypos(p, full), "\"%.80s\": servers must be numbered from 0 without gaps",
					 full);
		q++;
	}
	if (*q != '.')
		goto bad;
	field = q + 1;
	s = &js[idx];
	s->seen = true;
	if (strcmp(field, "type") == 0) {
		s->type = v;
		s->type_key = full;
	} else if (strcmp(field, "host") == 0) {
		s->host = v;
		s->host_key = full;
	} else if (strcmp(field, "port") == 0) {
		s->port = v;
		s->port_key = full;
	} else if (strcmp(field, "socket") == 0) {
		s->socket = v;
		s->socket_key = full;
	} else if (strcmp(field, "path") == 0) {
		s->path = v;
		s->path_key = full;
	} else {
		return loc_error(p, loc_json_keypos(p, full), "unknown gluster server option \"%.80s\"; a server takes \"type\", \"host\", \"port\" and \"socket\"",
				 full);
	}
	if (idx + 1 > *nservers)
		*nservers = idx + 1;
	return 0;
bad:
	return loc_error(p, loc_json_keypos(p, full), "\"%.80s\" is not a gluster server option; write server.N.FIELD with N counting from 0",
			 full);
}

static int loc_json_gluster(struct loc_parser *p, const struct loc_flat *f,
			    const char *prefix, struct mortar_location *loc)
{
	size_t plen = strlen(prefix), i, nservers = 0;
	struct loc_jserver *js;
	const char *volume = NULL, *path = NULL, *s, *vkey = NULL, *pkey = NULL;
	int r = 0;

	js = calloc(f->n + 1, sizeof *js);
	if (!js)
		return loc_nomem();
	for (i = 0; i < f->n && r == 0; i++) {
		const char *full = f->kv[i].key, *k = full + plen;
		struct json_object *v = f->kv[i].val;

		if (strncmp(full, prefix, plen) != 0)
			continue;	/* the format layer's own options */
		if (strcmp(k, "driver") == 0 || loc_json_ignored(k)) {
			continue;
		} else if (strcmp(k, "volume") == 0) {
			r = loc_json_string(p, full, v, &volume);
			vkey = full;
		} else if (strcmp(k, "path") == 0) {
			r = loc_json_string(p, full, v, &path);
			pkey = full;
		} else if (strcmp(k, "logfile") == 0) {
			r = loc_json_string(p, full, v, &s);
		} else if (strcmp(k, "debug") == 0) {
			/* Kept by QEMU for libgfapi's log level (0-9);
			 * checked so that a typo is caught, then dropped. */
			s = json_object_get_type(v) == json_type_string ?
			    json_object_get_string(v) : NULL;
			if (s ? !(loc_is_digit(s[0]) && !s[1]) :
			    json_object_get_type(v) != json_type_int ||
			    json_object_get_int64(v) < 0 || json_object_get_int64(v) > 9)
				r = loc_error(p, loc_json_keypos(p, full), "\"%.80s\" must be a number from 0 to 9", full);
		} else if (strncmp(k, "server.", 7) == 0) {
			r = loc_json_server_key(p, full, k + 7, v, js, f->n, &nservers);
		} else {
			r = loc_error(p, loc_json_keypos(p, full), "unknown gluster option \"%.80s\"; the gluster driver takes \"volume\", \"path\" and \"server\"",
				      full);
		}
	}
	if (r < 0)
		goto out;

	if (!volume) {
		r = loc_error(p, 5, "the gluster options have no \"volume\"");
		goto out;
	}
	if (!volume[0] || strchr(volume, '/')) {
		r = loc_error(p, loc_json_keypos(p, vkey), "\"volume\" must be a non-empty volume name without '/'");
		goto out;
	}
	if (!path) {
		r = loc_error(p, 5, "the gluster options have no \"path\" (the image inside the volume)");
		goto out;
	}
	while (*path == '/')
		path++;
	if (!path[0]) {
		r = loc_error(p, loc_json_keypos(p, pkey), "\"path\" must name the image inside the volume");
		goto out;
	}
	if (nservers == 0) {
		r = loc_error(p, 5, "the gluster options have no \"server\"; give at least one, as in \"server\":[{\"type\":\"tcp\",\"host\":\"HOST\"}]");
		goto out;
	}
	loc->scheme = MORTAR_SCHEME_GLUSTER;
	loc->volume = strdup(volume);
	loc->path = strdup(path);
	loc->servers = calloc(nservers, sizeof *loc->servers);
	if (!loc->volume || !loc->path || !loc->servers) {
		r = loc_nomem();
		goto out;
	}
	loc->nservers = nservers;
	for (i = 0; i < nservers && r == 0; i++)
		r = loc_json_server(p, i, &js[i], &loc->servers[i]);
out:
	free(js);
	return r;
}

int loc_parse_json(struct loc_parser *p, struct mortar_location *loc)
{
	const char *json = p->text + 5, *driver = NULL, *prefix;
	size_t jlen = p->len - 5, end, i;
	struct json_object *obj, *d;
	struct loc_flat f = { 0 };
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	bool has_file = false;
	int r;

	if (jlen > INT_MAX)
		return loc_error(p, 5, "the JSON text is too long");
	tok = json_tokener_new();
	if (!tok)
		return loc_nomem();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, json, (int)jlen);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj || jerr != json_tokener_success) {
		json_object_put(obj);
		if (jerr == json_tokener_success)
			return loc_error(p, 5, "json: must be followed by a JSON object, as in json:{\"driver\":\"gluster\",...}");
		if (jerr == json_tokener_continue)
			return loc_error(p, p->len, "the JSON text ends too early; check for a missing '}', ']' or '\"'");
		return loc_error(p, 5 + (end < jlen ? end : jlen), "bad JSON: %s",
				 json_tokener_error_desc(jerr));
	}
	for (i = end; i < jlen; i++) {
		if (!strchr(" \t\r\n", json[i])) {
			json_object_put(obj);
			return loc_error(p, 5 + i, "unexpected text after the JSON object");
		}
	}
	if (json_object_get_type(obj) != json_type_object) {
		json_object_put(obj);
		return loc_error(p, 5, "json: must be followed by a JSON object, as in json:{\"driver\":\"gluster\",...}");
	}
	r = loc_flatten(&f, NULL, obj);
	if (r < 0) {
		r = loc_nomem();
		goto out;
	}
	if (f.n > 1)
		qsort(f.kv, f.n, sizeof *f.kv, loc_kv_cmp);
	for (i = 1; i < f.n; i++) {
		if (strcmp(f.kv[i - 1].key, f.kv[i].key) == 0) {
			r = loc_error(p, loc_json_keypos(p, f.kv[i].key), "the option \"%.80s\" is given twice (perhaps both nested and flat); keep one",
				      f.kv[i].key);
			goto out;
		}
	}

	/* The protocol layer is the object itself or its "file" child
	 * (a format driver such as qcow2 on top of it). */
	d = loc_flat_get(&f, "file.driver", &has_file);
	prefix = "file.";
	if (!has_file) {
		d = loc_flat_get(&f, "driver", NULL);
		prefix = "";
	}
	if (d && json_object_get_type(d) == json_type_string)
		driver = json_object_get_string(d);
	if (!driver) {
		r = loc_error(p, 5, "the JSON object names no \"driver\"; write json:{\"driver\":\"gluster\",\"volume\":...}");
		goto out;
	}
	if (strcmp(driver, "gluster") != 0) {
		r = loc_error(p, loc_json_keypos(p, has_file ? "file.driver" : "driver"),
			      "only the gluster driver can be used in json: locations, not \"%.40s\"; use a plain path, a file:// or an nbd:// URI instead",
			      driver);
		goto out;
	}
	r = loc_json_gluster(p, &f, prefix, loc);
out:
	loc_flat_free(&f);
	json_object_put(obj);
	return r;
}
