/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dirty_map: which chunks a block status must call data because writes
 * there may not be on the storage yet, across flushes sent, flushes that
 * succeed, and flushes that overtake one another. */
#include <stdint.h>

#include "dirty.h"
#include "tap.h"

#define C DIRTY_MAP_CHUNK

/* "dirty" or "clean" run from POS, and where it ends. */
static void run(const struct dirty_map *d, uint64_t pos, uint64_t end, int want_dirty,
		uint64_t want_stop, const char *what)
{
	uint64_t stop = 0;
	bool dirty = dirty_map_at(d, pos, end, &stop);

	tap_ok(dirty == want_dirty && stop == want_stop, "%s: %s to %llu (got %s to %llu)",
	       what, want_dirty ? "dirty" : "clean", (unsigned long long)want_stop,
	       dirty ? "dirty" : "clean", (unsigned long long)stop);
}

int main(void)
{
	struct dirty_map d = { 0 };
	uint32_t e1, e2;

	run(&d, 0, 1000 * C, 0, 1000 * C, "nothing written");
	dirty_map_mark(&d, 3 * C + 5, 10);
	dirty_map_mark(&d, 4 * C, C + 1);	/* chunks 4 and 5 */
	run(&d, 0, 1000 * C, 0, 3 * C, "before the writes");
	run(&d, 3 * C, 1000 * C, 1, 6 * C, "the written chunks, as one run");
	run(&d, 3 * C + 7, 4 * C, 1, 4 * C, "a run ends at END");
	run(&d, 6 * C, 1000 * C, 0, 1000 * C, "after them, to the end");

	e1 = dirty_map_flush_begin(&d);
	dirty_map_mark(&d, 9 * C, 1);		/* after the flush was sent */
	dirty_map_flush_done(&d, e1);
	run(&d, 3 * C, 1000 * C, 0, 9 * C, "the flush covers the writes before it");
	run(&d, 9 * C, 1000 * C, 1, 10 * C, "not the one sent after it");

	e1 = dirty_map_flush_begin(&d);
	e2 = dirty_map_flush_begin(&d);
	dirty_map_flush_done(&d, e2);		/* the later flush first */
	dirty_map_flush_done(&d, e1);
	run(&d, 0, 1000 * C, 0, 1000 * C, "the later flush covers all before it");

	dirty_map_mark(&d, 200000 * C, C);	/* far: the map grows */
	run(&d, 199999 * C, 200001 * C + 1, 0, 200000 * C, "far write: before it clean");
	run(&d, 200000 * C, 300000 * C, 1, 200001 * C, "far write: dirty");
	dirty_map_mark(&d, 7 * C, 0);		/* an empty write marks its chunk */
	run(&d, 7 * C, 8 * C, 1, 8 * C, "an empty write at a chunk");
	dirty_map_free(&d);
	run(&d, 0, 10 * C, 0, 10 * C, "freed: nothing written");
	return tap_done();
}
