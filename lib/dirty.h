/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: writes not yet flushed, per 64 MiB chunk (dirty.c). */
#ifndef MORTAR_LIB_DIRTY_H
#define MORTAR_LIB_DIRTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIRTY_MAP_CHUNK (64ull << 20)

/* Zeroed: nothing written.  Used on one thread. */
struct dirty_map {
	uint32_t *epoch;		/* per chunk: of its last write; 0 never */
	size_t n;
	uint32_t cur;			/* the epoch of writes now */
	uint32_t flushed;		/* writes up to this epoch are flushed */
	uint32_t all;			/* out of memory: all dirty up to this */
};

/* [OFF, OFF+LEN) was written (acknowledged, maybe not on the storage). */
void dirty_map_mark(struct dirty_map *d, uint64_t off, uint64_t len);
/* A flush is sent: the epoch it covers, for dirty_map_flush_done. */
uint32_t dirty_map_flush_begin(struct dirty_map *d);
/* That flush succeeded. */
void dirty_map_flush_done(struct dirty_map *d, uint32_t epoch);
/* Whether POS is in a chunk written since the last flush; *STOP: where
 * the run of chunks in the same state ends (at most END). */
bool dirty_map_at(const struct dirty_map *d, uint64_t pos, uint64_t end, uint64_t *stop);
/* The same for the flushes that had succeeded when d->flushed was FLUSHED
 * (a look that began then and ends now: written since, or not flushed
 * then, is dirty). */
bool dirty_map_at_since(const struct dirty_map *d, uint32_t flushed, uint64_t pos,
			uint64_t end, uint64_t *stop);
void dirty_map_free(struct dirty_map *d);

#endif
