/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to the location modules: what the parsers (location.c,
 * location-uri.c, location-json.c) and the formatter (location-format.c)
 * share.  location-syntax.c implements it, except the two parsers
 * declared at the end. */
#ifndef MORTAR_LIB_LOCATION_SYNTAX_H
#define MORTAR_LIB_LOCATION_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <mortar/location.h>

#define LOC_SUPPORTED \
	"file://, gluster://, gluster+tcp://, gluster+unix://, " \
	"gluster+rdma://, nbd://, nbd+tcp://, nbd+unix://, nbd+vsock://, " \
	"nbds://, nbds+tcp://, nbds+unix://, nbds+vsock:// and json:{...}"

/* One buffer type for the formatter and the error messages, so that no
 * output has a fixed maximum size.  After the first allocation failure
 * every call is a no-op and loc_buf_finish() returns NULL. */
struct loc_buf {
	char *s;
	size_t len, cap;
	bool failed;
};

/* Own ASCII tests instead of <ctype.h>: the language must not change with
 * the locale, and ctype functions are undefined for negative chars. */
static inline bool loc_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool loc_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3986 "unreserved". */
static inline bool loc_is_unreserved(unsigned char c)
{
	return loc_is_alpha(c) || loc_is_digit(c) || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

static inline bool loc_is_hostchar(unsigned char c)
{
	return loc_is_alpha(c) || loc_is_digit(c) || c == '-' || c == '.' ||
	       c == '_';
}

/* A printable description of byte C for messages: 'x' or byte 0x07. */
static inline const char *loc_chardesc(unsigned char c, char tmp[16])
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(tmp, 16, "'%c'", c);
	else
		snprintf(tmp, 16, "byte 0x%02x", c);
	return tmp;
}

struct loc_parser {
	const char *text;
	size_t len;
	size_t *errpos;
};

struct loc_scheme {
	const char *name;
	enum mortar_scheme scheme;
	enum mortar_transport transport;
	bool tls;
};

/* Where the parts of SCHEME://AUTHORITY/PATH?QUERY lie in the text. */
struct loc_uri {
	const struct loc_scheme *scheme;
	size_t auth, auth_end;
	size_t path, path_end;
	bool has_query;
	size_t query, query_end;
};

#define LOC_KEEP_PATH "!$&'()*+,;=:@/"
#define LOC_KEEP_SEGMENT "!$&'()*+,;=:@"
#define LOC_KEEP_QUERY "!$'()*+,;:@/"

/* A query's KEY=VALUE pairs, decoded, with where they were typed. */
struct loc_param {
	char *key, *value;
	size_t keypos, valpos;
};

/* Growing strings (after a failed allocation every call is a no-op and
 * loc_buf_finish() returns NULL with errno = ENOMEM). */
void loc_buf_add(struct loc_buf *b, const char *data, size_t n);
void loc_buf_str(struct loc_buf *b, const char *s);
void loc_buf_chr(struct loc_buf *b, char c);
void loc_buf_int(struct loc_buf *b, long v);
char *loc_buf_finish(struct loc_buf *b);

/* "invalid location: ..." with the text and a caret under POS; -EINVAL. */
__attribute__((format(printf, 3, 4)))
int loc_error(struct loc_parser *p, size_t pos, const char *fmt, ...);
int loc_nomem(void);

/* Schemes: the one named by S[0, N) (any case), or NULL; and the length
 * of a leading RFC 3986 scheme name in S (0 if none). */
const struct loc_scheme *loc_find_scheme(const char *s, size_t n);
size_t loc_scheme_len(const char *s);

/* Percent-decoding (with a map back to typed positions) and encoding. */
int loc_decode(struct loc_parser *p, size_t start, size_t end, const char *what,
	       const char *nulhint, char **out, size_t **map);
void loc_encode(struct loc_buf *b, const char *s, const char *keep);

/* Hosts and ports: what is wrong with a name or an IPv6 literal (NULL
 * when nothing, *BAD the offending index), and the parsers of PORT and of
 * HOST[:PORT] into SRV. */
const char *loc_check_name(const char *h, size_t n, size_t *bad);
const char *loc_check_ipv6(const char *a, size_t an, const char *z, size_t zn,
			   size_t *bad);
int loc_parse_port(struct loc_parser *p, size_t start, size_t end, long max, int *port);
int loc_parse_hostport(struct loc_parser *p, size_t start, size_t end, bool allow_empty,
		       long maxport, struct mortar_server *srv);

/* Query strings. */
int loc_parse_query(struct loc_parser *p, size_t start, size_t end,
		    struct loc_param **out, size_t *nout);
void loc_params_free(struct loc_param *ps, size_t n);

/* location-uri.c: SCHEME://... once the scheme (S, SLEN bytes) is known. */
int loc_parse_uri(struct loc_parser *p, const struct loc_scheme *s, size_t slen,
		  struct mortar_location *loc);
/* location-json.c: QEMU's json:{...} pseudo-protocol. */
int loc_parse_json(struct loc_parser *p, struct mortar_location *loc);

#endif
