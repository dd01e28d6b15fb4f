/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Progress for long copies (progress.h). */
#include <stdio.h>
#include <unistd.h>

#include "progress.h"

#define BAR_WIDTH 30

double cli_progress_elapsed(const struct cli_progress *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - p->start.tv_sec) +
	       (double)(now.tv_nsec - p->start.tv_nsec) / 1e9;
}

void cli_progress_init(struct cli_progress *p, const char *what,
		       enum output_format out, bool quiet)
{
	*p = (struct cli_progress){ .what = what };
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->json = out == OUTPUT_JSON && !quiet;
	p->bar = !p->json && !quiet && isatty(STDERR_FILENO);
	p->last_shown = -1;
}

static void show(struct cli_progress *p, double t)
{
	double frac = p->total ? (double)p->done / (double)p->total : 1.0;
	double rate = t > 0 ? (double)p->done / t : 0;

	if (p->json) {
		printf("{\"progress\": %.1f, \"done\": %llu, \"total\": %llu, "
		       "\"seconds\": %.2f}\n", frac * 100,
		       (unsigned long long)p->done, (unsigned long long)p->total, t);
		fflush(stdout);
		return;
	}
	if (p->bar) {
		char bar[BAR_WIDTH + 1];
		int fill = (int)(frac * BAR_WIDTH + 0.5);
		char eta[32] = "";

		for (int i = 0; i < BAR_WIDTH; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[BAR_WIDTH] = '\0';
		if (rate > 0 && p->done < p->total) {
			double left = (double)(p->total - p->done) / rate;
			snprintf(eta, sizeof eta, "  ETA %d:%02d", (int)left / 60,
				 (int)left % 60);
		}
		/* \r and clear-to-end: one line, redrawn in place. */
		fprintf(stderr, "\r%s [%s] %3.0f%%  %.1f MiB/s%s\033[K", p->what, bar,
			frac * 100, rate / (1 << 20), eta);
		fflush(stderr);
	}
}

void cli_progress_update(void *opaque, uint64_t done, uint64_t total)
{
	struct cli_progress *p = opaque;
	double t;

	p->done = done;
	p->total = total;
	if (!p->bar && !p->json)
		return;
	t = cli_progress_elapsed(p);
	/* A terminal gets 10 redraws a second, programs one line. */
	if (t - p->last_shown < (p->json ? 1.0 : 0.1))
		return;
	p->last_shown = t;
	show(p, t);
}

void cli_progress_end(struct cli_progress *p, bool ok)
{
	if (!p->bar && !p->json)
		return;
	if (ok)
		p->done = p->total;
	show(p, cli_progress_elapsed(p));
	if (p->bar)
		fputc('\n', stderr);
}
