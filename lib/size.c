/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sizes as users type them: "1G", "512MiB", "1.5T", "4096". */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <mortar/image.h>
#include "error.h"

static int size_shift(const char *suffix, unsigned *shift)
{
	static const char units[] = "BKMGTPE";
	const char *u;
	char c = (char)toupper((unsigned char)suffix[0]);

	if (c == '\0') {
		*shift = 0;
		return 0;
	}
	u = strchr(units, c);
	if (!u)
		return -1;
	*shift = (unsigned)(u - units) * 10;
	suffix++;
	if (c == 'B')
		return *suffix ? -1 : 0;
	/* K, KB, KiB (all binary, as qemu-img reads them) */
	if (*suffix == 'i' || *suffix == 'I')
		suffix++;
	if (*suffix == 'b' || *suffix == 'B')
		suffix++;
	return *suffix ? -1 : 0;
}

int mortar_parse_size(const char *text, uint64_t *out)
{
	const char *p = text;
	uint64_t whole = 0, frac_num = 0, frac_den = 1;
	unsigned shift;
	bool digits = false;

	if (!text || !*text)
		return mortar_set_error(EINVAL, "empty size: give a number of bytes "
			"with an optional suffix, e.g. 10G or 512M");
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p - '0');

		if (whole > UINT64_MAX / 10 ||
		    (whole == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return mortar_set_error(ERANGE, "size '%s' is too large "
				"(the limit is 16 EiB - 1)", text);
		whole = whole * 10 + d;
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			/* Beyond 18 decimals the digits cannot change the result. */
			if (frac_den < 1000000000000000000ull) {
				frac_num = frac_num * 10 + (uint64_t)(*p - '0');
				frac_den *= 10;
			}
			p++;
			digits = true;
		}
	}
	if (!digits || size_shift(p, &shift) < 0)
		return mortar_set_error(EINVAL, "invalid size '%s': use a number with "
			"an optional suffix B, K, M, G, T, P or E (binary, K = 1024), "
			"e.g. 10G", text);
	if (shift >= 64 || (shift && whole > (UINT64_MAX >> shift)))
		return mortar_set_error(ERANGE, "size '%s' is too large "
			"(the limit is 16 EiB - 1)", text);
	whole <<= shift;
	if (frac_num) {
		/* Fraction of one unit, rounded down to whole bytes. */
		unsigned __int128 f = (unsigned __int128)frac_num << shift;
		f /= frac_den;
		if (whole > UINT64_MAX - (uint64_t)f)
			return mortar_set_error(ERANGE, "size '%s' is too large", text);
		whole += (uint64_t)f;
		if (shift == 0 && frac_num)
			return mortar_set_error(EINVAL, "size '%s' has a fraction of a "
				"byte", text);
	}
	*out = whole;
	return 0;
}
