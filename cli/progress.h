/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A progress display for long copies: a bar on a terminal, JSON lines
 * for programs, nothing when quiet or when stderr is not a terminal. */
#ifndef MORTAR_CLI_PROGRESS_H
#define MORTAR_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cli.h"

struct cli_progress {
	const char *what;	/* "clone", "convert", "snapshot" */
	bool bar;		/* draw on stderr (a terminal) */
	bool json;		/* {"progress": ...} lines on stdout */
	struct timespec start;
	double last_shown;	/* seconds since start */
	uint64_t done, total;
};

void cli_progress_init(struct cli_progress *p, const char *what,
		       enum output_format out, bool quiet);
/* A mortar_progress_fn: OPAQUE is the struct cli_progress. */
void cli_progress_update(void *opaque, uint64_t done, uint64_t total);
/* Draw the final state (100% when everything was done) and end the line. */
void cli_progress_end(struct cli_progress *p, bool ok);
double cli_progress_elapsed(const struct cli_progress *p);

#endif
