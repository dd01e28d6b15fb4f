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
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include <mortar/location.h>

#include "error.h"

#define LOC_SUPPORTED \
	"file://, gluster://, gluster+tcp://, gluster+unix://, " \
	"gluster+rdma://, nbd://, nbd+tcp://, nbd+unix://, nbd+vsock://, " \
	"nbds://, nbds+tcp://, nbds+unix://, nbds+vsock:// and json:{...}"

/* ---- Growing strings ---------------------------------------------------- */

/* One buffer type for the formatter and the error messages, so that no
 * output has a fixed maximum size.  After the first allocation failure
 * every call is a no-op and loc_buf_finish() returns NULL. */
struct loc_buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void loc_buf_add(struct loc_buf *b, const char *data, size_t n)
{
	size_t need, cap;
	char *s;

	if (b->failed)
		return;
	if (n > SIZE_MAX - b->len - 1) {
		b->failed = true;
		return;
	}
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		s = realloc(b->s, cap);
		if (!s) {
			b->failed = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void loc_buf_str(struct loc_buf *b, const char *s)
{
	loc_buf_add(b, s, strlen(s));
}

static void loc_buf_chr(struct loc_buf *b, char c)
{
	loc_buf_add(b, &c, 1);
}

static void loc_buf_int(struct loc_buf *b, long v)
{
	char tmp[24];	/* enough for any 64-bit long */

	snprintf(tmp, sizeof tmp, "%ld", v);
	loc_buf_str(b, tmp);
}

/* Hand over the string (never NULL unless allocation failed). */
static char *loc_buf_finish(struct loc_buf *b)
{
	char *s;

	if (!b->failed && !b->s)
		loc_buf_add(b, "", 0);
	if (b->failed) {
		free(b->s);
		b->s = NULL;
		errno = ENOMEM;
		return NULL;
	}
	s = b->s;
	b->s = NULL;
	return s;
}

/* ---- Character classes -------------------------------------------------- */

/* Own ASCII tests instead of <ctype.h>: the language must not change with
 * the locale, and ctype functions are undefined for negative chars. */
static bool loc_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool loc_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3986 "unreserved". */
static bool loc_is_unreserved(unsigned char c)
{
	return loc_is_alpha(c) || loc_is_digit(c) || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

static bool loc_is_hostchar(unsigned char c)
{
	return loc_is_alpha(c) || loc_is_digit(c) || c == '-' || c == '.' ||
	       c == '_';
}

static int loc_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A printable description of byte C for messages: 'x' or byte 0x07. */
static const char *loc_chardesc(unsigned char c, char tmp[16])
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(tmp, 16, "'%c'", c);
	else
		snprintf(tmp, 16, "byte 0x%02x", c);
	return tmp;
}

/* ---- Errors ------------------------------------------------------------- */

struct loc_parser {
	const char *text;
	size_t len;
	size_t *errpos;
};

/* The input as the second line of a message and a caret under POS as the
 * third.  Long inputs are cut to a window around POS so that the caret
 * stays visible within mortar_errmsg()'s limit; control characters are
 * shown as '?' and UTF-8 continuation bytes take no column, so the caret
 * lines up on a terminal. */
static void loc_echo(struct loc_buf *b, const char *text, size_t len,
		     size_t pos)
{
	const size_t before = 50, width = 80;
	size_t start = 0, end = len, col = 0, i;

	if (len > width) {
		start = pos > before ? pos - before : 0;
		end = len - start > width ? start + width : len;
		while (start < pos && ((unsigned char)text[start] & 0xc0) == 0x80)
			start++;
		while (end > pos && end < len &&
		       ((unsigned char)text[end] & 0xc0) == 0x80)
			end--;
	}
	loc_buf_str(b, "\n  ");
	if (start > 0) {
		loc_buf_str(b, "...");
		col += 3;
	}
	for (i = start; i < end; i++) {
		unsigned char c = text[i];

		loc_buf_chr(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
		if (i < pos && (c & 0xc0) != 0x80)
			col++;
	}
	if (end < len)
		loc_buf_str(b, "...");
	loc_buf_str(b, "\n  ");
	for (i = 0; i < col; i++)
		loc_buf_chr(b, ' ');
	loc_buf_chr(b, '^');
}

__attribute__((format(printf, 3, 4)))
static int loc_error(struct loc_parser *p, size_t pos, const char *fmt, ...)
{
	struct loc_buf b = { 0 };
	char *msg = NULL, *all;
	va_list ap;
	int n;

	if (pos > p->len)
		pos = p->len;
	if (p->errpos)
		*p->errpos = pos;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return mortar_set_error(ENOMEM, "out of memory while parsing a location");
	loc_buf_str(&b, "invalid location: ");
	loc_buf_str(&b, msg);
	free(msg);
	loc_echo(&b, p->text, p->len, pos);
	all = loc_buf_finish(&b);
	if (!all)
		return mortar_set_error(ENOMEM, "out of memory while parsing a location");
	mortar_set_error(EINVAL, "%s", all);
	free(all);
	return -EINVAL;
}

static int loc_nomem(void)
{
	return mortar_set_error(ENOMEM, "out of memory while parsing a location");
}

/* ---- Schemes ------------------------------------------------------------ */

struct loc_scheme {
	const char *name;
	enum mortar_scheme scheme;
	enum mortar_transport transport;
	bool tls;
};

static const struct loc_scheme loc_schemes[] = {
	{ "file", MORTAR_SCHEME_FILE, MORTAR_TRANSPORT_TCP, false },
	{ "gluster", MORTAR_SCHEME_GLUSTER, MORTAR_TRANSPORT_TCP, false },
	{ "gluster+tcp", MORTAR_SCHEME_GLUSTER, MORTAR_TRANSPORT_TCP, false },
	{ "gluster+unix", MORTAR_SCHEME_GLUSTER, MORTAR_TRANSPORT_UNIX, false },
	{ "gluster+rdma", MORTAR_SCHEME_GLUSTER, MORTAR_TRANSPORT_RDMA, false },
	{ "nbd", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_TCP, false },
	{ "nbd+tcp", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_TCP, false },
	{ "nbd+unix", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_UNIX, false },
	{ "nbd+vsock", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_VSOCK, false },
	{ "nbds", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_TCP, true },
	{ "nbds+tcp", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_TCP, true },
	{ "nbds+unix", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_UNIX, true },
	{ "nbds+vsock", MORTAR_SCHEME_NBD, MORTAR_TRANSPORT_VSOCK, true },
};

#define LOC_NSCHEMES (sizeof loc_schemes / sizeof loc_schemes[0])

/* Schemes compare without regard to case (RFC 3986, section 3.1). */
static const struct loc_scheme *loc_find_scheme(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < LOC_NSCHEMES; i++)
		if (strlen(loc_schemes[i].name) == n &&
		    strncasecmp(loc_schemes[i].name, s, n) == 0)
			return &loc_schemes[i];
	return NULL;
}

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

/* ---- Pieces of URIs ----------------------------------------------------- */

/* Where the parts of SCHEME://AUTHORITY/PATH?QUERY lie in the text. */
struct loc_uri {
	const struct loc_scheme *scheme;
	size_t auth, auth_end;
	size_t path, path_end;
	bool has_query;
	size_t query, query_end;
};

/* Percent-decode text[start, end).  MAP, if wanted, receives for each
 * decoded byte the index it came from (plus one entry for the end), so
 * that checks made after decoding still point at what the user typed.
 * WHAT names the part for messages; NULHINT is appended when the text
 * encodes a NUL byte, which a C string cannot hold. */
static int loc_decode(struct loc_parser *p, size_t start, size_t end,
		      const char *what, const char *nulhint,
		      char **out, size_t **map)
{
	const char *t = p->text;
	size_t i, n = 0, *m = NULL;
	char *s;

	s = malloc(end - start + 1);
	if (map)
		m = malloc((end - start + 1) * sizeof *m);
	if (!s || (map && !m)) {
		free(s);
		free(m);
		return loc_nomem();
	}
	for (i = start; i < end; i++) {
		int hi, lo;

		if (m)
			m[n] = i;
		if (t[i] != '%') {
			s[n++] = t[i];
			continue;
		}
		hi = i + 1 < end ? loc_hexval(t[i + 1]) : -1;
		lo = i + 2 < end ? loc_hexval(t[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(s);
			free(m);
			return loc_error(p, i, "'%%' in %s must start an escape of two hex digits, such as %%20 for a space (write %%25 for a '%%' itself)",
					 what);
		}
		if (hi == 0 && lo == 0) {
			free(s);
			free(m);
			return loc_error(p, i, "%s cannot contain a NUL byte (%%00)%s",
					 what, nulhint ? nulhint : "");
		}
		s[n++] = (char)(hi * 16 + lo);
		i += 2;
	}
	s[n] = '\0';
	if (m)
		m[n] = end;
	*out = s;
	if (map)
		*map = m;
	return 0;
}

/* Percent-encode S for a URI part: bytes outside KEEP and the unreserved
 * set become %XX, so that the text survives a reparse whatever S holds. */
static void loc_encode(struct loc_buf *b, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = *s;

		if (loc_is_unreserved(c) || strchr(keep, c)) {
			loc_buf_chr(b, (char)c);
		} else {
			loc_buf_chr(b, '%');
			loc_buf_chr(b, hex[c >> 4]);
			loc_buf_chr(b, hex[c & 15]);
		}
	}
}

/* Path characters that need no escape ("/" only where the part may
 * contain it); query values also keep '&' and '=' escaped. */
#define LOC_KEEP_PATH "!$&'()*+,;=:@/"
#define LOC_KEEP_SEGMENT "!$&'()*+,;=:@"
#define LOC_KEEP_QUERY "!$'()*+,;:@/"

/* Check a host name or IPv4 address in H[0, N).  Returns NULL when it is
 * fine, else a description, and the offending offset in *BAD. */
static const char *loc_check_name(const char *h, size_t n, size_t *bad)
{
	char tmp[INET_ADDRSTRLEN];
	struct in_addr a4;
	bool numeric = true;
	size_t i;

	*bad = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = h[i];

		if (!loc_is_hostchar(c)) {
			*bad = i;
			return "is not allowed in a host name (use letters, digits, '-', '.' and '_', an IPv4 address, or an IPv6 address in brackets)";
		}
		if (!loc_is_digit(c) && c != '.')
			numeric = false;
	}
	/* Something made of digits and dots can only be meant as IPv4;
	 * refusing 1.2.3.400 here beats a resolver error later. */
	if (numeric && n > 0) {
		if (n >= sizeof tmp)
			return "is not a valid IPv4 address";
		memcpy(tmp, h, n);
		tmp[n] = '\0';
		if (inet_pton(AF_INET, tmp, &a4) != 1)
			return "is not a valid IPv4 address";
	}
	return NULL;
}

/* Check an IPv6 address A[0, AN) with an optional zone Z[0, ZN) (no zone
 * when Z is NULL).  The zone is limited to unreserved characters so that
 * it needs no escape beyond the "%25" that introduces it. */
static const char *loc_check_ipv6(const char *a, size_t an, const char *z,
				  size_t zn, size_t *bad)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	size_t i;

	*bad = 0;
	if (an == 0 || an >= sizeof tmp)
		return "is not a valid IPv6 address";
	memcpy(tmp, a, an);
	tmp[an] = '\0';
	if (inet_pton(AF_INET6, tmp, &a6) != 1)
		return "is not a valid IPv6 address";
	if (!z)
		return NULL;
	if (zn == 0) {
		*bad = an;
		return "has an empty zone after '%'";
	}
	for (i = 0; i < zn; i++) {
		if (!loc_is_unreserved(z[i])) {
			*bad = an + 1 + i;
			return "has a zone with a character other than letters, digits, '-', '.', '_' and '~'";
		}
	}
	return NULL;
}

/* Parse the decimal port in text[start, end) into *PORT (0 stays 0: the
 * scheme's default port applies). */
static int loc_parse_port(struct loc_parser *p, size_t start, size_t end,
			  long max, int *port)
{
	long v = 0;
	bool big = false;
	char tmp[16];
	size_t i;

	if (start == end)
		return loc_error(p, start, "the port number after ':' is missing; give one, or drop the ':' for the default port");
	for (i = start; i < end; i++) {
		unsigned char c = p->text[i];

		if (!loc_is_digit(c))
			return loc_error(p, i, "%s is not allowed in a port number; a port is a number from 1 to %ld",
					 loc_chardesc(c, tmp), max);
		if (!big) {
			v = v * 10 + (c - '0');
			big = v > max;
		}
	}
	if (big)
		return loc_error(p, start, "port %.*s%s is out of range (1-%ld)",
				 (int)(end - start > 20 ? 20 : end - start),
				 p->text + start, end - start > 20 ? "..." : "",
				 max);
	*port = (int)v;
	return 0;
}

/* Parse "host[:port]" or "[ipv6[%25zone]][:port]" in text[start, end)
 * into SRV (TCP-like).  An empty host is kept as "" (the backend reads it
 * as localhost) when ALLOW_EMPTY is set. */
static int loc_parse_hostport(struct loc_parser *p, size_t start, size_t end,
			      bool allow_empty, long maxport,
			      struct mortar_server *srv)
{
	const char *t = p->text;
	size_t hend, i, colons = 0, bad;
	const char *why;
	char tmp[16];

	if (start < end && t[start] == '[') {
		size_t close = start + 1, zone = 0, addr_end;
		bool has_zone = false;

		while (close < end && t[close] != ']')
			close++;
		if (close == end)
			return loc_error(p, start, "the IPv6 address opened by '[' has no closing ']'");
		addr_end = close;
		for (i = start + 1; i < close; i++) {
			if (t[i] == '%') {
				if (i + 2 >= close || t[i + 1] != '2' || t[i + 2] != '5')
					return loc_error(p, i, "an IPv6 zone is written with '%%25' before it, as in [fe80::1%%25eth0]");
				has_zone = true;
				addr_end = i;
				zone = i + 3;
				break;
			}
		}
		why = loc_check_ipv6(t + start + 1, addr_end - start - 1,
				     has_zone ? t + zone : NULL,
				     has_zone ? close - zone : 0, &bad);
		if (why) {
			if (bad == 0)
				return loc_error(p, start + 1, "'%.*s' %s",
						 (int)(addr_end - start - 1 > 60 ? 60 : addr_end - start - 1),
						 t + start + 1, why);
			/* Offsets past the address are in the zone, which
			 * follows "%25" rather than a single '%'. */
			return loc_error(p, bad == addr_end - start - 1 ? addr_end :
					 zone + (bad - (addr_end - start - 1) - 1),
					 "the IPv6 address %s", why);
		}
		srv->host = malloc(close - start);
		if (!srv->host)
			return loc_nomem();
		memcpy(srv->host, t + start + 1, addr_end - start - 1);
		srv->host[addr_end - start - 1] = '\0';
		if (has_zone) {
			size_t n = addr_end - start - 1;

			srv->host[n] = '%';
			memcpy(srv->host + n + 1, t + zone, close - zone);
			srv->host[n + 1 + close - zone] = '\0';
		}
		if (close + 1 == end)
			return 0;
		if (t[close + 1] != ':')
			return loc_error(p, close + 1, "%s after the IPv6 address; only ':PORT' may follow ']'",
					 loc_chardesc(t[close + 1], tmp));
		return loc_parse_port(p, close + 2, end, maxport, &srv->port);
	}

	for (i = start; i < end; i++)
		if (t[i] == ':')
			colons++;
	if (colons > 1) {
		return loc_error(p, start, "an IPv6 address must be written in brackets, as in [%.*s]",
				 (int)(end - start > 60 ? 60 : end - start), t + start);
	}
	hend = start;
	while (hend < end && t[hend] != ':')
		hend++;
	if (hend == start && !allow_empty)
		return loc_error(p, start, "a server name is missing here");
	why = hend > start ? loc_check_name(t + start, hend - start, &bad) : NULL;
	if (why) {
		if (loc_is_hostchar(t[start + bad]))
			return loc_error(p, start, "'%.*s' %s",
					 (int)(hend - start > 60 ? 60 : hend - start),
					 t + start, why);
		return loc_error(p, start + bad, "%s %s",
				 loc_chardesc(t[start + bad], tmp), why);
	}
	srv->host = strndup(t + start, hend - start);
	if (!srv->host)
		return loc_nomem();
	if (hend < end)
		return loc_parse_port(p, hend + 1, end, maxport, &srv->port);
	return 0;
}

/* ---- Query strings ------------------------------------------------------ */

struct loc_param {
	char *key, *value;
	size_t keypos, valpos;
};

static void loc_params_free(struct loc_param *ps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(ps[i].key);
		free(ps[i].value);
	}
	free(ps);
}

/* Split text[start, end) at '&' into decoded KEY=VALUE pairs.  Empty
 * pieces ("?" alone, "a=1&&b=2") are skipped, as QEMU's parser does. */
static int loc_parse_query(struct loc_parser *p, size_t start, size_t end,
			   struct loc_param **out, size_t *nout)
{
	const char *t = p->text;
	struct loc_param *ps;
	size_t i, n = 0, cap = 1;
	int r;

	for (i = start; i < end; i++)
		if (t[i] == '&')
			cap++;
	ps = calloc(cap, sizeof *ps);
	if (!ps)
		return loc_nomem();
	i = start;
	while (i < end) {
		size_t pend = i, eq;

		while (pend < end && t[pend] != '&')
			pend++;
		if (pend == i) {
			i++;
			continue;
		}
		eq = i;
		while (eq < pend && t[eq] != '=')
			eq++;
		if (eq == pend) {
			loc_params_free(ps, n);
			return loc_error(p, i, "the query parameter '%.*s' has no value; write NAME=VALUE",
					 (int)(pend - i > 40 ? 40 : pend - i), t + i);
		}
		ps[n].keypos = i;
		ps[n].valpos = eq + 1;
		r = loc_decode(p, i, eq, "a query parameter name", NULL,
			       &ps[n].key, NULL);
		if (r == 0) {
			bool sock = strcmp(ps[n].key, "socket") == 0;

			r = loc_decode(p, eq + 1, pend,
				       sock ? "the socket path" : "a query parameter value",
				       sock ? "; abstract socket names are not supported" : NULL,
				       &ps[n].value, NULL);
			if (r < 0) {
				free(ps[n].key);
				ps[n].key = NULL;
			}
		}
		if (r < 0) {
			loc_params_free(ps, n);
			return r;
		}
		n++;
		i = pend;
	}
	*out = ps;
	*nout = n;
	return 0;
}

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

static int loc_parse_json(struct loc_parser *p, struct mortar_location *loc)
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

/* ---- Entry point -------------------------------------------------------- */

/* Length of a leading RFC 3986 scheme name in S (0 if none). */
static size_t loc_scheme_len(const char *s)
{
	size_t n = 0;

	if (!loc_is_alpha(s[0]))
		return 0;
	while (loc_is_alpha(s[n]) || loc_is_digit(s[n]) || s[n] == '+' ||
	       s[n] == '-' || s[n] == '.')
		n++;
	return n;
}

static int loc_parse_uri(struct loc_parser *p, const struct loc_scheme *s,
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
