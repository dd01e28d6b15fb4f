/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sparse writes (sparse.h). */
#include "sparse.h"
#include "zero.h"

#define ZERO_GRAIN 4096		/* zero detection granularity */

int mortar_write_data_runs(const uint8_t *buf, size_t n, uint64_t off,
			   mortar_write_fn write, void *dst)
{
	for (size_t pos = 0; pos < n;) {
		size_t run = 0, g;

		while (pos + run < n) {
			g = n - pos - run < ZERO_GRAIN ? n - pos - run : ZERO_GRAIN;
			if (mortar_all_zero(buf + pos + run, g))
				break;
			run += g;
		}
		if (run) {
			int r = write(dst, buf + pos, run, off + pos);
			if (r < 0)
				return r;
			pos += run;
		} else {
			pos += n - pos < ZERO_GRAIN ? n - pos : ZERO_GRAIN;
		}
	}
	return 0;
}

