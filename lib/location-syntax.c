/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The syntax that location parsers and the formatter share
 * (location-syntax.h): growing strings, messages that point at a
 * character, schemes, percent-encoding, hosts and ports, query strings. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "hex.h"
#include "location-syntax.h"

/* ---- Growing strings ---------------------------------------------------- */

void loc_buf_add(struct loc_buf *b, const char *data, size_t n)
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

void loc_buf_str(struct loc_buf *b, const char *s)
{
	loc_buf_add(b, s, strlen(s));
}

void loc_buf_chr(struct loc_buf *b, char c)
{
	loc_buf_add(b, &c, 1);
}

void loc_buf_int(struct loc_buf *b, long v)
{
	char tmp[24];	/* enough for any 64-bit long */

	snprintf(tmp, sizeof tmp, "%ld", v);
	loc_buf_str(b, tmp);
}

/* Hand over the string (never NULL unless allocation failed). */
char *loc_buf_finish(struct loc_buf *b)
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

/* ---- Errors ------------------------------------------------------------- */

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

int loc_error(struct loc_parser *p, size_t pos, const char *fmt, ...)
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

int loc_nomem(void)
{
	return mortar_set_error(ENOMEM, "out of memory while parsing a location");
}

/* ---- Schemes ------------------------------------------------------------ */

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
const struct loc_scheme *loc_find_scheme(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < LOC_NSCHEMES; i++)
		if (strlen(loc_schemes[i].name) == n &&
		    strncasecmp(loc_schemes[i].name, s, n) == 0)
			return &loc_schemes[i];
	return NULL;
}

/* Length of a leading RFC 3986 scheme name in S (0 if none). */
size_t loc_scheme_len(const char *s)
{
	size_t n = 0;

	if (!loc_is_alpha(s[0]))
		return 0;
	while (loc_is_alpha(s[n]) || loc_is_digit(s[n]) || s[n] == '+' ||
	       s[n] == '-' || s[n] == '.')
		n++;
	return n;
}

/* ---- Pieces of URIs ----------------------------------------------------- */

/* Percent-decode text[start, end).  MAP, if wanted, receives for each
 * decoded byte the index it came from (plus one entry for the end), so
 * that checks made after decoding still point at what the user typed.
 * WHAT names the part for messages; NULHINT is appended when the text
 * encodes a NUL byte, which a C string cannot hold. */
int loc_decode(struct loc_parser *p, size_t start, size_t end,
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
		hi = i + 1 < end ? mortar_hexval(t[i + 1]) : -1;
		lo = i + 2 < end ? mortar_hexval(t[i + 2]) : -1;
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
void loc_encode(struct loc_buf *b, const char *s, const char *keep)
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

/* Check a host name or IPv4 address in H[0, N).  Returns NULL when it is
 * fine, else a description, and the offending offset in *BAD. */
const char *loc_check_name(const char *h, size_t n, size_t *bad)
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
const char *loc_check_ipv6(const char *a, size_t an, const char *z,
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
int loc_parse_port(struct loc_parser *p, size_t start, size_t end,
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
int loc_parse_hostport(struct loc_parser *p, size_t start, size_t end,
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

void loc_params_free(struct loc_param *ps, size_t n)
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
int loc_parse_query(struct loc_parser *p, size_t start, size_t end,
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

