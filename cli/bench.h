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
#include "cli.h"

#define BENCH_NJOBS 7
#define BENCH_MAX_RUNS 64

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
	char when[32];			/* when it started, for the reports */
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

/* ---- bench.c: the command line ---- */

struct bench_opts {
	const char *location, *plot_dir;
	const char *paths;		/* --paths: a comma-separated list, or NULL */
	enum output_format out;
	unsigned runs, runtime;		/* runs per job and path; seconds per job */
	uint64_t size;
	bool quick, force, keep;
	bool sel[BENCH_NJOBS];		/* the jobs that run */
};

/* ---- bench-run.c: running fio through the paths ---- */

extern const struct bench_job bench_jobs[BENCH_NJOBS];

/* What one path measured; statistics over the runs of each job. */
struct bench_result {
	bool applies, available;
	char why[256];			/* why not available, or why fio failed */
	double iops[BENCH_NJOBS][BENCH_MAX_RUNS], mibs[BENCH_NJOBS][BENCH_MAX_RUNS];
	double med[BENCH_NJOBS], lo[BENCH_NJOBS], hi[BENCH_NJOBS], mib[BENCH_NJOBS];
	double rmed[BENCH_NJOBS], rlo[BENCH_NJOBS], rhi[BENCH_NJOBS];	/* / direct */
};

/* Create LOCATION's data: SIZE bytes of pseudo-random data, flushed.
 * 0 or -errno with mortar_errmsg() set. */
int bench_fill_image(const char *location, uint64_t size);
/* Which paths apply to CTX and O (RES[i] for bench_paths[i]) and which of
 * them can run here; returns the index of the direct path or -1. */
int bench_select_paths(const struct bench_ctx *ctx, const struct bench_opts *o,
		       struct bench_result *res);
/* Run O's jobs through every available path, O->runs times, the order of
 * the paths rotating from run to run.  False when a signal stopped it. */
bool bench_run(const struct bench_ctx *ctx, const struct bench_opts *o,
	       struct bench_result *res);
/* Medians and spreads, and ratios to the path DIRECT (-1: none). */
void bench_stats(const struct bench_opts *o, struct bench_result *res, int direct);

/* ---- bench-report.c: the results ---- */

/* The plot (PNG and SVG paths in PNG, SVG), or a note on stderr. */
void bench_report_plot(const struct bench_ctx *ctx, const struct bench_opts *o,
		       const struct bench_result *res, char *png, char *svg, size_t len);
void bench_report_json(const struct bench_ctx *ctx, const struct bench_opts *o,
		       const struct bench_result *res, const char *png, const char *svg);
void bench_report_human(const struct bench_ctx *ctx, const struct bench_opts *o,
			const struct bench_result *res, int direct, const char *png,
			const char *svg);

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

/* bench-guest.c: mortar bench --in-guest (runs bench/in-guest.sh). */
int bench_in_guest(int argc, char **argv);

#endif
