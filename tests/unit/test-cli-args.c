/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command line's strict parsers (cli/args.c): whole numbers, ranges,
 * durations, and the refusals that atoi() would have let through. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tap.h"

static void ok_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t want)
{
	uint64_t got = 0;
	int r = cli_parse_uint(s, lo, hi, &got);

	tap_ok(r == 0 && got == want, "'%s' in [%llu, %llu] = %llu (got %llu, r=%d)", s,
	       (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)want,
	       (unsigned long long)got, r);
}

static void bad_uint(const char *s, uint64_t lo, uint64_t hi, int want)
{
	uint64_t got = 12345;
	int r = cli_parse_uint(s, lo, hi, &got);

	tap_ok(r == want && got == 12345, "'%s' in [%llu, %llu] refused with %d (got %d)",
	       s ? s : "(null)", (unsigned long long)lo, (unsigned long long)hi, want, r);
}

static void ok_ms(const char *s, uint64_t want)
{
	uint64_t got = 0;
	int r = cli_parse_duration_ms(s, &got);

	tap_ok(r == 0 && got == want, "duration '%s' = %llu ms (got %llu, r=%d)", s,
	       (unsigned long long)want, (unsigned long long)got, r);
}

static void bad_ms(const char *s, int want)
{
	uint64_t got = 0;
	int r = cli_parse_duration_ms(s, &got);

	tap_ok(r == want, "duration '%s' refused with %d (got %d)", s, want, r);
}

static void byte(const char *s, int want_r, unsigned want)
{
	unsigned got = 999;
	int r = cli_parse_byte(s, &got);

	tap_ok(r == want_r && (r < 0 ? got == 999 : got == want),
	       "byte '%s': %d, %u (got %d, %u)", s, want_r, want, r, got);
}

/* The cli_opt_* wrappers print a usage message on stderr that names the
 * option, the range and the argument. */
static void opt_message(void)
{
	char buf[512] = "";
	unsigned v = 7;
	FILE *saved = stderr, *f = tmpfile();
	int r;

	if (!f)
		TAP_BAIL("tmpfile: %m");
	stderr = f;
	r = cli_opt_uint("bench", "--runs", "10x", 1, 64, &v);
	stderr = saved;
	rewind(f);
	if (fread(buf, 1, sizeof buf - 1, f) == 0)
		buf[0] = '\0';
	fclose(f);
	for (char *p = buf; (p = strchr(p, '\n'));)
		*p = ' ';
	tap_ok(r == -EINVAL && v == 7, "cli_opt_uint refuses '10x' and leaves the value");
	tap_ok(strstr(buf, "mortar bench: --runs wants a whole number from 1 to 64, not '10x'") &&
	       strstr(buf, "Try 'mortar bench --help'"), "its message: %s", buf);
	tap_ok(cli_opt_seconds("serve", "-t", "2m", 1, 3600, &v) == 0 && v == 120,
	       "cli_opt_seconds reads 2m as 120");
}

int main(void)
{
	ok_uint("0", 0, 10, 0);
	ok_uint("10", 0, 10, 10);
	ok_uint("007", 0, 10, 7);
	ok_uint("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
	bad_uint("", 0, 10, -EINVAL);
	bad_uint(NULL, 0, 10, -EINVAL);
	bad_uint("10x", 0, 100, -EINVAL);	/* atoi: 10 */
	bad_uint("x", 0, 100, -EINVAL);	/* atoi: 0 */
	bad_uint(" 5", 0, 100, -EINVAL);
	bad_uint("5 ", 0, 100, -EINVAL);
	bad_uint("+5", 0, 100, -EINVAL);
	bad_uint("-1", 0, 100, -EINVAL);	/* strtoul: ULONG_MAX */
	bad_uint("5.0", 0, 100, -EINVAL);
	bad_uint("0x10", 0, 100, -EINVAL);
	bad_uint("11", 0, 10, -ERANGE);
	bad_uint("0", 1, 10, -ERANGE);
	bad_uint("18446744073709551616", 0, UINT64_MAX, -ERANGE);
	bad_uint("99999999999999999999999", 0, UINT64_MAX, -ERANGE);

	ok_ms("30", 30000);
	ok_ms("30s", 30000);
	ok_ms("500ms", 500);
	ok_ms("2m", 120000);
	ok_ms("1h", 3600000);
	ok_ms("0", 0);
	bad_ms("", -EINVAL);
	bad_ms("s", -EINVAL);
	bad_ms("10x", -EINVAL);
	bad_ms("1.5s", -EINVAL);
	bad_ms("-1", -EINVAL);
	bad_ms("10 s", -EINVAL);
	bad_ms("99999999999999999999h", -ERANGE);
	bad_ms("18446744073709551615h", -ERANGE);

	byte("0", 0, 0);
	byte("171", 0, 171);
	byte("255", 0, 255);
	byte("0xab", 0, 0xab);
	byte("0XAB", 0, 0xab);
	byte("0x0", 0, 0);
	byte("0377", 0, 255);
	byte("010", 0, 8);
	byte("0400", -ERANGE, 0);
	byte("08", -EINVAL, 0);
	byte("256", -ERANGE, 0);
	byte("0x100", -ERANGE, 0);
	byte("0x", -EINVAL, 0);
	byte("0xg1", -EINVAL, 0);
	byte("-1", -EINVAL, 0);
	byte("1a", -EINVAL, 0);
	byte("", -EINVAL, 0);

	opt_message();
	return tap_done();
}
