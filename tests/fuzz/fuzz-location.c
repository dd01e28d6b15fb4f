/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the location parser and formatter.
 *
 * Whatever parses must format to a canonical text that parses again and
 * formats to the very same text; anything else is a bug in the parser or
 * the formatter, so the target aborts and libFuzzer keeps the input.
 * ASan and UBSan catch the rest (overflows, leaks, bad integer maths).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/error.h>
#include <mortar/location.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mortar_location *loc = NULL, *again = NULL;
	char *text, *canon, *canon2;
	size_t errpos = SIZE_MAX;

	/* The API takes C strings: the input up to its first NUL. */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (mortar_location_parse(text, &loc, &errpos) < 0) {
		/* A failure must say where, inside the text, and leave
		 * nothing allocated behind. */
		if (loc || errpos > strlen(text) || !mortar_errmsg()[0])
			abort();
		free(text);
		return 0;
	}
	canon = mortar_location_format(loc);
	if (!canon)
		abort();
	if (mortar_location_parse(canon, &again, NULL) < 0) {
		fprintf(stderr, "canonical form does not parse: %s\n%s\n",
			canon, mortar_errmsg());
		abort();
	}
	canon2 = mortar_location_format(again);
	if (!canon2 || strcmp(canon, canon2) != 0) {
		fprintf(stderr, "format is not a fixed point:\n  %s\n  %s\n",
			canon, canon2 ? canon2 : "(null)");
		abort();
	}
	free(canon2);
	free(canon);
	mortar_location_free(again);
	mortar_location_free(loc);
	free(text);
	return 0;
}
