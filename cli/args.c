/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option values, parsed strictly: the whole argument is the value or it
 * is refused ("10x", "", " 5", "-1" and "5.0" are not counts), and every
 * refusal names the option, the accepted range and what was given.
 * atoi() would read "10x" as 10 and "x" as 0. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <mortar/mortar.h>
#include "cli.h"

int cli_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*s)
		return -EINVAL;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

/* The value of the digits S in BASE (8 or 16), at most 255. */
static int parse_small(const char *s, unsigned base, uint64_t *out)
{
	const char *digits = base == 8 ? "01234567" : "0123456789abcdefABCDEF";
	uint64_t v = 0;

	if (!*s || strspn(s, digits) != strlen(s))
		return -EINVAL;
	for (; *s && v <= 255; s++)
		v = v * base + (unsigned)(isdigit((unsigned char)*s) ? *s - '0' :
					  tolower((unsigned char)*s) - 'a' + 10);
	if (v > 255)
		return -ERANGE;
	*out = v;
	return 0;
}

int cli_parse_byte(const char *s, unsigned *out)
{
	uint64_t v = 0;
	int r;

	/* qemu-io's spellings: 171, 0xab, 0253. */
	if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		r = parse_small(s + 2, 16, &v);
	else if (s && s[0] == '0' && s[1])
		r = parse_small(s + 1, 8, &v);
	else
		r = cli_parse_uint(s, 0, 255, &v);
	if (r == 0)
		*out = (unsigned)v;
	return r;
}

int cli_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct { const char *suffix; uint64_t ms; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 }, { "h", 3600000 },
	};
	size_t digits = 0;
	char num[24];
	uint64_t v;
	int r;

	while (s && isdigit((unsigned char)s[digits]))
		digits++;
	if (!digits || digits >= sizeof num)
		return !digits ? -EINVAL : -ERANGE;
	memcpy(num, s, digits);
	num[digits] = '\0';
	r = cli_parse_uint(num, 0, UINT64_MAX, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s + digits, units[i].suffix))
			continue;
		if (v > UINT64_MAX / units[i].ms)
			return -ERANGE;
		*ms = v * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

int cli_opt_uint(const char *cmd, const char *opt, const char *arg,
		 unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t v;

	if (cli_parse_uint(arg, lo, hi, &v) < 0) {
		cli_usage(cmd, "%s wants a whole number from %u to %u, not '%s'",
			  opt, lo, hi, arg);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

int cli_opt_size(const char *cmd, const char *opt, const char *arg,
		 uint64_t lo, uint64_t hi, uint64_t *out)
{
	char min[32], max[32];
	uint64_t v;

	if (mortar_parse_size(arg, &v) < 0) {
		cli_usage(cmd, "%s: %s", opt, mortar_errmsg());
		return -EINVAL;
	}
	if (v < lo || v > hi) {
		cli_usage(cmd, "%s wants a size from %s to %s, not '%s'", opt,
			  cli_human_size(lo, min, sizeof min),
			  cli_human_size(hi, max, sizeof max), arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cli_opt_seconds(const char *cmd, const char *opt, const char *arg,
		    unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t ms;

	if (cli_parse_duration_ms(arg, &ms) < 0 || ms % 1000 ||
	    ms / 1000 < lo || ms / 1000 > hi) {
		cli_usage(cmd, "%s wants a duration from %u to %u seconds (e.g. 30, "
			  "30s, 2m), not '%s'", opt, lo, hi, arg);
		return -EINVAL;
	}
	*out = (unsigned)(ms / 1000);
	return 0;
}

int cli_parse_output(const char *cmd, const char *arg, enum output_format *out)
{
	if (!strcmp(arg, "human")) {
		*out = OUTPUT_HUMAN;
		return 0;
	}
	if (!strcmp(arg, "json")) {
		*out = OUTPUT_JSON;
		return 0;
	}
	cli_usage(cmd, "unknown output format '%s' (use human or json)", arg);
	return -EINVAL;
}
