/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writes acknowledged but not yet known to be on the storage, per 64 MiB
 * chunk: the flush epoch of the last write into each.
 *
 * GlusterFS's write-behind acknowledges a write before the bricks have it
 * and has no say in SEEK_DATA, which goes straight to the bricks: a block
 * status right after a write could call its range a hole, and a copier
 * would skip it.  So the gluster backend marks each write here, and
 * reports a chunk written since the last flush that succeeded as data
 * without asking the bricks.  (Trims and zeroes are not acknowledged
 * before the bricks have them.)
 */
#include <stdlib.h>
#include <string.h>

#include "dirty.h"

void dirty_map_mark(struct dirty_map *d, uint64_t off, uint64_t len)
{
	uint64_t last = len ? (off + len - 1) / DIRTY_MAP_CHUNK : off / DIRTY_MAP_CHUNK;

	if (d->cur == 0)
		d->cur = 1;	/* (epoch 0: never written) */
	if (last >= d->n) {
		size_t n = (size_t)last + 1 + 64;
		uint32_t *e = last < (1u << 26) ? realloc(d->epoch, n * sizeof *e) : NULL;

		if (!e) {
			d->all = d->cur;	/* out of memory: everything is dirty */
			return;
		}
		memset(e + d->n, 0, (n - d->n) * sizeof *e);
		d->epoch = e;
		d->n = n;
	}
	for (uint64_t c = off / DIRTY_MAP_CHUNK; c <= last; c++)
		d->epoch[c] = d->cur;
}

uint32_t dirty_map_flush_begin(struct dirty_map *d)
{
	if (d->cur == 0)
		d->cur = 1;
	return d->cur++;
}

void dirty_map_flush_done(struct dirty_map *d, uint32_t epoch)
{
	if (epoch > d->flushed)
		d->flushed = epoch;
}

static bool chunk_dirty(const struct dirty_map *d, uint32_t flushed, uint64_t c)
{
	return (d->all > flushed) || (c < d->n && d->epoch[c] > flushed);
}

bool dirty_map_at_since(const struct dirty_map *d, uint32_t flushed, uint64_t pos,
			uint64_t end, uint64_t *stop)
{
	uint64_t c = pos / DIRTY_MAP_CHUNK, next, last = (end + DIRTY_MAP_CHUNK - 1) / DIRTY_MAP_CHUNK;
	bool dirty;

	if (d->all > flushed) {
		*stop = end;
		return true;
	}
	dirty = chunk_dirty(d, flushed, c);
	for (next = c + 1; next < last; next++) {
		if (next >= d->n) {	/* never written from here on */
			if (!dirty)
				next = last;
			break;
		}
		if (chunk_dirty(d, flushed, next) != dirty)
			break;
	}
	*stop = next * DIRTY_MAP_CHUNK < end ? next * DIRTY_MAP_CHUNK : end;
	return dirty;
}

bool dirty_map_at(const struct dirty_map *d, uint64_t pos, uint64_t end, uint64_t *stop)
{
	return dirty_map_at_since(d, d->flushed, pos, end, stop);
}

void dirty_map_free(struct dirty_map *d)
{
	free(d->epoch);
	memset(d, 0, sizeof *d);
}
