/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar bench: the same fio jobs over every way this machine has of
 * reaching one image, side by side (bench.c: the command and the tables;
 * bench-paths.c: the ways; bench-plot.c: the picture). */
#ifndef MORTAR_CLI_BENCH_H
#define MORTAR_CLI_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <mortar/mortar.h>

struct bench_job {
	const char *name;
	const char *rw;		/* fio rw= */
	unsigned bs, iodepth;
	unsigned rwmix;		/* read percentage for randrw, else 0 */
	bool quick;		/* part of --quick */
};

struct bench_ctx {
	const char *location;		/* the benchmark image */
	struct mortar_location *loc;
	const char *mortar;		/* this binary, for `mortar serve` */
	char tmpdir[64];
	bool gluster;
};

/* A path that is running: a server child on SOCK, or a FUSE mount. */
struct bench_running {
	pid_t pid;
	char sock[128];
	char mnt[128];
	char log[128];			/* the server's stderr */
};

struct bench_path {
	const char *name;
	const char *what;		/* one line for the legend */
	bool for_file, for_gluster;
	/* Can it run here?  False with WHY filled ("nbdkit is not installed"). */
	bool (*available)(const struct bench_ctx *ctx, char *why, size_t len);
	/* Start it; false with WHY filled when it would not start. */
	bool (*start)(const struct bench_ctx *ctx, struct bench_running *r,
		      char *why, size_t len);
	/* fio [global] lines that aim the jobs at it. */
	void (*fio_target)(const struct bench_ctx *ctx, const struct bench_running *r,
			   FILE *f);
	void (*stop)(const struct bench_ctx *ctx, struct bench_running *r);
};

extern const struct bench_path bench_paths[];
extern const size_t bench_npaths;

/* Is PROG in $PATH? */
bool bench_have(const char *prog);

/* Write the plot of RATIO[path][job] (medians, min, max relative to the
 * direct path) as PNG and SVG under DIR; fills the two paths.  Returns
 * false with WHY filled when gnuplot is missing or fails. */
struct bench_plot_series {
	const char *name;
	double *med, *lo, *hi;		/* per job; NAN when not measured */
};
bool bench_plot(const char *dir, const char *scratch, const char *title, const struct bench_job *jobs,
		size_t njobs, const struct bench_plot_series *s, size_t ns,
		char *png, char *svg, size_t len, char *why, size_t wlen);

#endif
