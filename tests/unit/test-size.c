/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar_parse_size: suffixes, fractions, overflow, garbage. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <mortar/mortar.h>
#include "tap.h"

static void ok_size(const char *in, uint64_t want)
{
	uint64_t got = 0;
	int r = mortar_parse_size(in, &got);

	tap_ok(r == 0 && got == want, "'%s' = %llu (got %llu, r=%d %s)", in,
	       (unsigned long long)want, (unsigned long long)got, r, mortar_errmsg());
}

static void bad_size(const char *in, int want_err, const char *want_msg)
{
	uint64_t got = 0;
	int r = mortar_parse_size(in, &got);

	tap_ok(r == -want_err && strstr(mortar_errmsg(), want_msg),
	       "'%s' refused with %d and '%s' (got %d: %s)", in, -want_err,
	       want_msg, r, mortar_errmsg());
}

int main(void)
{
	ok_size("0", 0);
	ok_size("4096", 4096);
	ok_size("512B", 512);
	ok_size("1K", 1024);
	ok_size("1k", 1024);
	ok_size("1KiB", 1024);
	ok_size("1KB", 1024);
	ok_size("1M", 1ull << 20);
	ok_size("512MiB", 512ull << 20);
	ok_size("1G", 1ull << 30);
	ok_size("1.5G", 3ull << 29);
	ok_size("0.5K", 512);
	ok_size("2T", 2ull << 40);
	ok_size("1P", 1ull << 50);
	ok_size("15E", 15ull << 60);
	ok_size("18446744073709551615", UINT64_MAX);
	ok_size("1.000000000000000000001K", 1024);
	bad_size("", EINVAL, "empty size");
	bad_size("G", EINVAL, "invalid size");
	bad_size("-1", EINVAL, "invalid size");
	bad_size("1Q", EINVAL, "invalid size");
	bad_size("1GG", EINVAL, "invalid size");
	bad_size("1 G", EINVAL, "invalid size");
	bad_size("0x10", EINVAL, "invalid size");
	bad_size("1.5", EINVAL, "fraction of a byte");
	bad_size("16E", ERANGE, "too large");
	bad_size("18446744073709551616", ERANGE, "too large");
	bad_size("99999999999999999999999", ERANGE, "too large");
	bad_size("17179869184G", ERANGE, "too large");
	return tap_done();
}
