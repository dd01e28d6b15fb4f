/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar bench: the seeds' FIO tables, on this machine, in one command.
 *
 * One benchmark image (created here, filled with data, removed at the
 * end), a fixed set of fio jobs, and every path to the image this machine
 * offers (bench-paths.c), run side by side (bench-run.c) and reported as
 * tables, JSON and a plot (bench-report.c).  This file parses the command
 * line and holds the steps together.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "bench.h"
#include "cli.h"
#include "commands.h"

static const char bench_usage[] =
	"Usage: mortar bench [--quick] [--runs N] [--runtime SECONDS] [--size SIZE]\n"
	"                    [--paths P1,P2,...] [--plot-dir DIR] [--force] [--keep]\n"
	"                    [--output=human|json] LOCATION\n"
	"\n"
	"Run fio's jobs over every path to the image LOCATION that this machine has:\n"
	"the storage directly, the GlusterFS FUSE mount, mortar serve, qemu-nbd,\n"
	"nbdkit, qemu-storage-daemon.  LOCATION is created (filled with data) and\n"
	"removed at the end; it must not exist unless --force.  See mortar-bench(1).\n"
	"\n"
	"  --quick            two jobs, one run of 2 s each: a smoke test (~30 s)\n"
	"  --runs N           runs per job and path (default 3); medians are shown\n"
	"  --runtime S        seconds per job (default 8)\n"
	"  --size SIZE        benchmark image size (default 1G; --quick: 256M)\n"
	"  --paths LIST       only these paths (direct,fuse,mortar,qemu-nbd,nbdkit,qsd)\n"
	"  --plot-dir DIR     where the PNG and SVG plots go (default: .)\n"
	"  --keep             keep the benchmark image\n"
	"  --output=json      the results as JSON on stdout\n"
	"\n"
	"       mortar bench --in-guest [--quick] [--runs N] [--size SIZE] [--brick DIR]\n"
	"                    [--paths LIST] DIR|gluster://HOST/VOLUME\n"
	"\n"
	"fio inside a guest, the seeds' job (4 streams of 128 KiB, iodepths 4/32/8/16)\n"
	"on each path's disk: QEMU's file driver, FUSE, QEMU's gluster driver, Mortar\n"
	"NBD, Mortar vhost-user-blk, qemu-storage-daemon vhost-user-blk (bench/in-guest.sh).\n";

/* ---- parse ---- */

const struct option bench_options[] = {
	{ "quick", no_argument, NULL, 'Q' },
	{ "runs", required_argument, NULL, 'n' },
	{ "runtime", required_argument, NULL, 't' },
	{ "size", required_argument, NULL, 'S' },
	{ "paths", required_argument, NULL, 'p' },
	{ "plot-dir", required_argument, NULL, 'P' },
	{ "force", no_argument, NULL, 'F' },
	{ "keep", no_argument, NULL, 'k' },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ "in-guest", no_argument, NULL, 'G' },
	{ "brick", required_argument, NULL, 'B' },
	{ NULL, 0, NULL, 0 },
};

/* Returns -1 to go on, else the exit status to return at once. */
static int bench_getopt(int argc, char **argv, struct bench_opts *o)
{
	const char *cmd = "bench";
	int c, bad = 0;

	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, "h", bench_options, NULL)) != -1) {
		switch (c) {
		case 'Q': o->quick = true; break;
		case 'n':
			bad = cli_opt_uint(cmd, "--runs", optarg, 1, BENCH_MAX_RUNS, &o->runs);
			break;
		case 't':
			bad = cli_opt_seconds(cmd, "--runtime", optarg, 1, 3600, &o->runtime);
			break;
		case 'S':
			bad = cli_opt_size(cmd, "--size", optarg, 16u << 20, UINT64_MAX, &o->size);
			break;
		case 'p': o->paths = optarg; break;
		case 'P': o->plot_dir = optarg; break;
		case 'F': o->force = true; break;
		case 'k': o->keep = true; break;
		case 'o': bad = cli_parse_output(cmd, optarg, &o->out); break;
		case 'h': fputs(bench_usage, stdout); return EXIT_OK;
		case 'B': return cli_usage(cmd, "--brick is for --in-guest");
		default: return cli_bad_option(cmd, argv);
		}
	}
	if (bad)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one LOCATION for the benchmark image");
	o->location = argv[optind];
	/* --quick: one short run of two jobs, unless told otherwise. */
	o->runs = o->runs ? o->runs : o->quick ? 1 : 3;
	o->runtime = o->runtime ? o->runtime : o->quick ? 2 : 8;
	o->size = o->size ? o->size : o->quick ? (256u << 20) : (1u << 30);
	for (size_t j = 0; j < BENCH_NJOBS; j++)
		o->sel[j] = !o->quick || bench_jobs[j].quick;
	return -1;
}

/* ---- setup and teardown ---- */

static int bench_setup(struct bench_ctx *ctx, const struct bench_opts *o)
{
	static char self[4096];
	time_t now = time(NULL);
	ssize_t n;

	if (!bench_have("fio"))
		return cli_error("bench", "fio is not installed (apt install fio)");
	ctx->location = o->location;
	if (mortar_location_parse(ctx->location, &ctx->loc, NULL) < 0)
		return cli_fail_lib("bench");
	if (ctx->loc->scheme == MORTAR_SCHEME_NBD)
		return cli_error("bench", "benchmark a file or gluster:// location, not an "
				 "NBD export");
	ctx->gluster = ctx->loc->scheme == MORTAR_SCHEME_GLUSTER;
	/* mortar serve is this very binary. */
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	ctx->mortar = n > 0 ? self : "/proc/self/exe";
	strftime(ctx->when, sizeof ctx->when, "%Y-%m-%d %H:%M", localtime(&now));
	snprintf(ctx->tmpdir, sizeof ctx->tmpdir, "/tmp/mortar-bench.XXXXXX");
	if (!mkdtemp(ctx->tmpdir)) {
		ctx->tmpdir[0] = '\0';
		return cli_error("bench", "cannot make a temporary directory: %m");
	}
	return EXIT_OK;
}

/* Create and fill the image; *CREATED once it exists (ours to remove). */
static int bench_make_image(const struct bench_opts *o, bool *created)
{
	char size[32];
	int r;

	if (mortar_image_create_text(o->location, o->size, MORTAR_PREALLOC_OFF,
				o->force ? MORTAR_CREATE_FORCE : 0) < 0) {
		if (mortar_errno() == EEXIST)
			return cli_error("bench", "%s exists; the benchmark writes over its "
					 "image: name a new one, or pass --force", o->location);
		return cli_fail_lib("bench");
	}
	*created = true;
	fprintf(stderr, "bench: preparing %s (%s of data)\n", o->location,
		cli_human_size(o->size, size, sizeof size));
	r = bench_fill_image(o->location, o->size);
	if (r < 0)
		return r == -ENOMEM ? cli_error("bench", "out of memory") : cli_fail_lib("bench");
	return EXIT_OK;
}

static void bench_cleanup(struct bench_ctx *ctx)
{
	static const char *const files[] = { "job.fio", "fio.json", "fio.err" };
	char path[128];

	if (ctx->tmpdir[0] == '/') {
		for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
			snprintf(path, sizeof path, "%s/%s", ctx->tmpdir, files[i]);
			unlink(path);
		}
		for (size_t i = 0; i < bench_npaths; i++) {
			snprintf(path, sizeof path, "%s/%s.log", ctx->tmpdir, bench_paths[i].name);
			unlink(path);
		}
		rmdir(ctx->tmpdir);
	}
	mortar_location_free(ctx->loc);
}

/* ---- the command ---- */

int cmd_bench(int argc, char **argv)
{
	struct bench_opts o = { .plot_dir = ".", .out = OUTPUT_HUMAN };
	struct bench_ctx ctx = { 0 };
	struct bench_result *res = NULL;
	char png[4200] = "", svg[4200] = "";
	bool created = false;
	int rc, direct;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--in-guest"))
			return bench_in_guest(argc, argv);
	if ((rc = bench_getopt(argc, argv, &o)) >= 0)
		return rc;
	if ((rc = bench_setup(&ctx, &o)) != EXIT_OK)
		goto out;
	res = calloc(bench_npaths, sizeof *res);
	if (!res) {
		rc = cli_error("bench", "out of memory");
		goto out;
	}
	direct = bench_select_paths(&ctx, &o, res);
	if ((rc = bench_make_image(&o, &created)) != EXIT_OK)
		goto out;
	if (!bench_run(&ctx, &o, res)) {
		rc = cli_error("bench", "interrupted");
		goto out;
	}
	bench_stats(&o, res, direct);
	bench_report_plot(&ctx, &o, res, png, svg, sizeof png);
	if (o.out == OUTPUT_JSON)
		bench_report_json(&ctx, &o, res, png, svg);
	else
		bench_report_human(&ctx, &o, res, direct, png, svg);
out:
	bench_cleanup(&ctx);
	if (created && !o.keep && mortar_image_remove_text(o.location) < 0)
		cli_error("bench", "could not remove %s: %s", o.location, mortar_errmsg());
	free(res);
	return rc;
}
