/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar bench: the seeds' FIO tables, on this machine, in one command.
 *
 * One benchmark image (created here, filled with data, removed at the
 * end), a fixed set of fio jobs, and every path to the image this machine
 * offers (bench-paths.c).  Each run starts each path once and runs all
 * jobs through it in one fio invocation; the order of the paths rotates
 * from run to run so that a machine that slows down or speeds up does not
 * favour whoever goes first.  Results: median and spread of IOPS per job
 * and path, ratios to the direct path, JSON, and a plot.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "bench.h"
#include "cli.h"
#include "commands.h"
#include "error.h"

static const struct bench_job jobs[] = {
	{ "randread-4k-qd1", "randread", 4096, 1, 0, false },
	{ "randread-4k-qd32", "randread", 4096, 32, 0, true },
	{ "randwrite-4k-qd1", "randwrite", 4096, 1, 0, false },
	{ "randwrite-4k-qd32", "randwrite", 4096, 32, 0, false },
	{ "read-128k-qd16", "read", 131072, 16, 0, false },
	{ "write-128k-qd16", "write", 131072, 16, 0, true },
	{ "randrw70-4k-qd16", "randrw", 4096, 16, 70, false },
};
#define NJOBS (sizeof jobs / sizeof jobs[0])

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
	"  --output=json      the results as JSON on stdout\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- the image ---- */

static int fill_image(const char *location, uint64_t size)
{
	struct mortar_loop *loop = NULL;
	struct mortar_image *img = NULL;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint64_t *buf;
	int r = 0;

	buf = malloc(4u << 20);
	if (!buf)
		return mortar_set_error(ENOMEM, "out of memory");
	r = mortar_loop_new(0, &loop);
	if (r == 0)
		r = mortar_image_open(loop, location, 0, &img);
	/* Data everywhere, none of it zero: reads of holes would flatter. */
	for (uint64_t off = 0; r == 0 && off < size; off += 4u << 20) {
		size_t n = size - off < (4u << 20) ? (size_t)(size - off) : (4u << 20);
		for (size_t i = 0; i < n / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		r = mortar_image_pwrite_sync(img, buf, n, off, 0);
	}
	if (r == 0)
		r = mortar_image_flush_sync(img);
	if (img && mortar_image_close(img) < 0 && r == 0)
		r = -mortar_errno();
	mortar_loop_free(loop);
	free(buf);
	return r;
}

/* ---- fio ---- */

/* Run the selected jobs through path P; IOPS[j] (NAN when a job failed). */
static bool run_fio(const struct bench_ctx *ctx, const struct bench_path *p,
		    const struct bench_running *rn, const bool *sel, unsigned runtime,
		    const char *size, double *iops, double *mibs, char *why, size_t wlen)
{
	char jobfile[128], outfile[128], errfile[128];
	json_object *root = NULL, *arr;
	char *text = NULL, *start;
	size_t len = 0;
	FILE *f;
	int status;
	pid_t pid;

	for (size_t j = 0; j < NJOBS; j++)
		iops[j] = mibs[j] = NAN;
	snprintf(jobfile, sizeof jobfile, "%s/job.fio", ctx->tmpdir);
	snprintf(outfile, sizeof outfile, "%s/fio.json", ctx->tmpdir);
	snprintf(errfile, sizeof errfile, "%s/fio.err", ctx->tmpdir);
	f = fopen(jobfile, "w");
	if (!f) {
		snprintf(why, wlen, "cannot write %s", jobfile);
		return false;
	}
	fprintf(f, "[global]\ntime_based=1\nruntime=%u\nsize=%s\nrandrepeat=0\n"
		"norandommap=1\n", runtime, size);
	p->fio_target(ctx, rn, f);
	for (size_t j = 0; j < NJOBS; j++) {
		if (!sel[j])
			continue;
		fprintf(f, "[%s]\nstonewall\nrw=%s\nbs=%u\niodepth=%u\n", jobs[j].name,
			jobs[j].rw, jobs[j].bs, jobs[j].iodepth);
		if (jobs[j].rwmix)
			fprintf(f, "rwmixread=%u\n", jobs[j].rwmix);
	}
	fclose(f);
	pid = fork();
	if (pid == 0) {
		FILE *o = freopen(outfile, "w", stdout);
		FILE *e = freopen(errfile, "w", stderr);
		(void)o; (void)e;
		execlp("fio", "fio", "--output-format=json", jobfile, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		snprintf(why, wlen, "cannot run fio");
		return false;
	}
	f = fopen(outfile, "r");
	if (f) {
		text = malloc(1 << 22);
		if (text)
			len = fread(text, 1, (1 << 22) - 1, f);
		fclose(f);
	}
	if (text) {
		text[len] = '\0';
		/* Some engines (nbd) print a line before the JSON. */
		start = strchr(text, '{');
		root = start ? json_tokener_parse(start) : NULL;
	}
	free(text);
	if (!root || !json_object_object_get_ex(root, "jobs", &arr)) {
		char msg[200] = "";
		f = fopen(errfile, "r");
		if (f) {
			if (!fgets(msg, sizeof msg, f))
				msg[0] = '\0';
			fclose(f);
		}
		msg[strcspn(msg, "\n")] = '\0';
		snprintf(why, wlen, "fio failed%s%s", msg[0] ? ": " : "", msg);
		json_object_put(root);
		return false;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *jb = json_object_array_get_idx(arr, i), *v, *rd, *wr, *e;
		const char *name;

		if (!json_object_object_get_ex(jb, "jobname", &v))
			continue;
		name = json_object_get_string(v);
		if (json_object_object_get_ex(jb, "error", &e) && json_object_get_int(e))
			continue;
		for (size_t j = 0; j < NJOBS; j++) {
			if (strcmp(name, jobs[j].name) ||
			    !json_object_object_get_ex(jb, "read", &rd) ||
			    !json_object_object_get_ex(jb, "write", &wr))
				continue;
			json_object_object_get_ex(rd, "iops", &v);
			iops[j] = json_object_get_double(v);
			json_object_object_get_ex(wr, "iops", &v);
			iops[j] += json_object_get_double(v);
			json_object_object_get_ex(rd, "bw", &v);
			mibs[j] = json_object_get_double(v) / 1024;
			json_object_object_get_ex(wr, "bw", &v);
			mibs[j] += json_object_get_double(v) / 1024;
		}
	}
	json_object_put(root);
	return true;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median, min and max of the N values that are not NAN. */
static void stats(const double *v, unsigned n, double *med, double *lo, double *hi)
{
	double s[64];
	unsigned k = 0;

	for (unsigned i = 0; i < n && k < 64; i++)
		if (!isnan(v[i]))
			s[k++] = v[i];
	if (!k) {
		*med = *lo = *hi = NAN;
		return;
	}
	qsort(s, k, sizeof *s, cmp_double);
	*med = k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
	*lo = s[0];
	*hi = s[k - 1];
}

/* ---- the command ---- */

struct result {
	bool applies, available;
	char why[256];
	double iops[NJOBS][64], mibs[NJOBS][64];
	double med[NJOBS], lo[NJOBS], hi[NJOBS], mib[NJOBS];
	double rmed[NJOBS], rlo[NJOBS], rhi[NJOBS];	/* relative to direct */
};

static void progress(bool tty, unsigned run, unsigned runs, const char *path,
		     unsigned step, unsigned steps, double per_step)
{
	int eta = (int)((steps - step) * per_step);

	fprintf(stderr, "%sbench: run %u/%u, %s (%u/%u), ETA %d:%02d%s", tty ? "\r" : "",
		run, runs, path, step + 1, steps, eta / 60, eta % 60, tty ? "\033[K" : "\n");
	fflush(stderr);
}

static bool path_selected(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (!list)
		return true;
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
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
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "bench", *plot_dir = ".", *paths = NULL;
	enum output_format out = OUTPUT_HUMAN;
	unsigned runs = 3, runtime = 8, nsel = 0, navail = 0, steps, step = 0;
	bool quick = false, force = false, keep = false, sel[NJOBS], tty;
	bool runs_set = false, runtime_set = false, created = false;
	struct bench_ctx ctx = { 0 };
	struct result *res = NULL;
	char png[4200] = "", svg[4200] = "", why[256], sizebuf[32], when[32];
	uint64_t size = 0;
	time_t now = time(NULL);
	int c, rc = EXIT_ERROR, direct = -1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'Q': quick = true; break;
		case 'n':
			runs = (unsigned)atoi(optarg);
			if (runs < 1 || runs > 64)
				return cli_usage(cmd, "--runs wants 1-64");
			runs_set = true;
			break;
		case 't':
			runtime = (unsigned)atoi(optarg);
			if (runtime < 1 || runtime > 3600)
				return cli_usage(cmd, "--runtime wants 1-3600 seconds");
			runtime_set = true;
			break;
		case 'S':
			if (mortar_parse_size(optarg, &size) < 0 || size < (16u << 20))
				return cli_usage(cmd, "--size wants a size of at least 16M");
			break;
		case 'p': paths = optarg; break;
		case 'P': plot_dir = optarg; break;
		case 'F': force = true; break;
		case 'k': keep = true; break;
		case 'o':
			if (cli_parse_output(cmd, optarg, &out) < 0)
				return EXIT_USAGE;
			break;
		case 'h': fputs(bench_usage, stdout); return EXIT_OK;
		default: return cli_usage(cmd, "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one LOCATION for the benchmark image");
	if (quick) {
		if (!runs_set)
			runs = 1;
		if (!runtime_set)
			runtime = 2;
	}
	if (!size)
		size = quick ? (256u << 20) : (1u << 30);
	for (size_t j = 0; j < NJOBS; j++) {
		sel[j] = !quick || jobs[j].quick;
		nsel += sel[j];
	}
	if (!bench_have("fio")) {
		fprintf(stderr, "%s bench: fio is not installed (apt install fio)\n", progname);
		return EXIT_ERROR;
	}
	ctx.location = argv[optind];
	if (mortar_location_parse(ctx.location, &ctx.loc, NULL) < 0)
		return cli_fail_lib(cmd);
	if (ctx.loc->scheme == MORTAR_SCHEME_NBD) {
		fprintf(stderr, "%s bench: benchmark a file or gluster:// location, not an NBD "
			"export\n", progname);
		goto out;
	}
	ctx.gluster = ctx.loc->scheme == MORTAR_SCHEME_GLUSTER;
	ctx.mortar = "/proc/self/exe";
	{
		static char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n > 0) {
			self[n] = '\0';
			ctx.mortar = self;
		}
	}
	snprintf(ctx.tmpdir, sizeof ctx.tmpdir, "/tmp/mortar-bench.XXXXXX");
	if (!mkdtemp(ctx.tmpdir)) {
		fprintf(stderr, "%s bench: cannot make a temporary directory: %m\n", progname);
		goto out;
	}
	res = calloc(bench_npaths, sizeof *res);
	if (!res)
		goto out;
	for (size_t i = 0; i < bench_npaths; i++) {
		const struct bench_path *p = &bench_paths[i];

		res[i].applies = (ctx.gluster ? p->for_gluster : p->for_file) &&
				 path_selected(paths, p->name);
		if (!res[i].applies)
			continue;
		res[i].available = p->available(&ctx, res[i].why, sizeof res[i].why);
		for (size_t j = 0; j < NJOBS; j++)
			for (unsigned r = 0; r < runs; r++)
				res[i].iops[j][r] = res[i].mibs[j][r] = NAN;
		navail += res[i].available;
		if (!strcmp(p->name, "direct"))
			direct = (int)i;
	}

	if (mortar_image_create(ctx.location, size, MORTAR_PREALLOC_OFF,
				force ? MORTAR_CREATE_FORCE : 0) < 0) {
		if (mortar_errno() == EEXIST)
			fprintf(stderr, "%s bench: %s exists; the benchmark writes over its "
				"image: name a new one, or pass --force\n", progname, ctx.location);
		else
			cli_fail_lib(cmd);
		goto out;
	}
	created = true;	/* from here on, ours to remove (unless --keep) */
	fprintf(stderr, "bench: preparing %s (%s of data)\n", ctx.location,
		cli_human_size(size, sizebuf, sizeof sizebuf));
	if (fill_image(ctx.location, size) < 0) {
		cli_fail_lib(cmd);
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	tty = isatty(STDERR_FILENO);
	steps = runs * navail;
	snprintf(sizebuf, sizeof sizebuf, "%llu", (unsigned long long)size);
	for (unsigned r = 0; r < runs && !interrupted; r++) {
		/* Rotate the order by one path per run. */
		for (size_t k = 0; k < bench_npaths && !interrupted; k++) {
			size_t i = (k + r) % bench_npaths;
			const struct bench_path *p = &bench_paths[i];
			struct bench_running rn = { 0 };
			double iops[NJOBS], mibs[NJOBS];

			if (!res[i].applies || !res[i].available)
				continue;
			progress(tty, r + 1, runs, p->name, step++, steps, nsel * (runtime + 1.5));
			snprintf(rn.sock, sizeof rn.sock, "%s/%s.sock", ctx.tmpdir, p->name);
			snprintf(rn.mnt, sizeof rn.mnt, "%s/%s.mnt", ctx.tmpdir, p->name);
			snprintf(rn.log, sizeof rn.log, "%s/%s.log", ctx.tmpdir, p->name);
			if (!p->start(&ctx, &rn, why, sizeof why)) {
				res[i].available = false;
				snprintf(res[i].why, sizeof res[i].why, "%s", why);
				continue;
			}
			if (!run_fio(&ctx, p, &rn, sel, runtime, sizebuf, iops, mibs, why, sizeof why))
				snprintf(res[i].why, sizeof res[i].why, "%s", why);
			p->stop(&ctx, &rn);
			for (size_t j = 0; j < NJOBS; j++) {
				res[i].iops[j][r] = iops[j];
				res[i].mibs[j][r] = mibs[j];
			}
		}
	}
	if (tty)
		fputc('\n', stderr);
	if (interrupted) {
		fprintf(stderr, "%s bench: interrupted\n", progname);
		goto out;
	}

	for (size_t i = 0; i < bench_npaths; i++) {
		for (size_t j = 0; j < NJOBS; j++) {
			double dummy;

			stats(res[i].iops[j], runs, &res[i].med[j], &res[i].lo[j], &res[i].hi[j]);
			stats(res[i].mibs[j], runs, &res[i].mib[j], &dummy, &dummy);
		}
	}
	for (size_t i = 0; i < bench_npaths; i++) {
		for (size_t j = 0; j < NJOBS; j++) {
			double d = direct >= 0 ? res[direct].med[j] : NAN;
			res[i].rmed[j] = d > 0 ? res[i].med[j] / d : NAN;
			res[i].rlo[j] = d > 0 ? res[i].lo[j] / d : NAN;
			res[i].rhi[j] = d > 0 ? res[i].hi[j] / d : NAN;
		}
	}

	/* The plot: every path that produced numbers. */
	{
		/* Only the jobs that ran, in order. */
		static double med[16][NJOBS], lo[16][NJOBS], hi[16][NJOBS];
		struct bench_plot_series s[16];
		struct bench_job pj[NJOBS];
		size_t ns = 0, nj = 0;
		char title[512];

		for (size_t j = 0; j < NJOBS; j++)
			if (sel[j])
				pj[nj++] = jobs[j];
		for (size_t i = 0; i < bench_npaths && ns < 16; i++) {
			size_t k = 0;

			if (!res[i].applies || !res[i].available)
				continue;
			for (size_t j = 0; j < NJOBS; j++) {
				if (!sel[j])
					continue;
				med[ns][k] = res[i].rmed[j];
				lo[ns][k] = res[i].rlo[j];
				hi[ns][k] = res[i].rhi[j];
				k++;
			}
			s[ns] = (struct bench_plot_series){ bench_paths[i].name, med[ns],
							    lo[ns], hi[ns] };
			ns++;
		}
		snprintf(title, sizeof title, "mortar bench %s", ctx.location);
		if (!bench_plot(plot_dir, ctx.tmpdir, title, pj, nj, s, ns, png, svg, sizeof png,
				why, sizeof why)) {
			fprintf(stderr, "%s bench: no plot: %s\n", progname, why);
			png[0] = svg[0] = '\0';
		}
	}

	strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
	if (out == OUTPUT_JSON) {
		json_object *o = json_object_new_object(), *ja = json_object_new_array();
		json_object *jp = json_object_new_array();

		json_object_object_add(o, "location", json_object_new_string(ctx.location));
		json_object_object_add(o, "backend", json_object_new_string(ctx.gluster ? "gluster" : "file"));
		json_object_object_add(o, "date", json_object_new_string(when));
		json_object_object_add(o, "runs", json_object_new_int((int)runs));
		json_object_object_add(o, "runtime", json_object_new_int((int)runtime));
		json_object_object_add(o, "size", json_object_new_uint64(size));
		for (size_t i = 0; i < bench_npaths; i++) {
			json_object *p;

			if (!res[i].applies)
				continue;
			p = json_object_new_object();
			json_object_object_add(p, "name", json_object_new_string(bench_paths[i].name));
			json_object_object_add(p, "what", json_object_new_string(bench_paths[i].what));
			json_object_object_add(p, "available", json_object_new_boolean(res[i].available));
			json_object_object_add(p, "reason", res[i].available && !res[i].why[0] ? NULL :
					       json_object_new_string(res[i].why));
			json_object_array_add(jp, p);
		}
		json_object_object_add(o, "paths", jp);
		for (size_t j = 0; j < NJOBS; j++) {
			json_object *jj;

			if (!sel[j])
				continue;
			jj = json_object_new_object();
			json_object_object_add(jj, "job", json_object_new_string(jobs[j].name));
			for (size_t i = 0; i < bench_npaths; i++) {
				json_object *v, *runsa;

				if (!res[i].applies)
					continue;
				if (!res[i].available || isnan(res[i].med[j])) {
					json_object_object_add(jj, bench_paths[i].name, NULL);
					continue;
				}
				v = json_object_new_object();
				json_object_object_add(v, "iops", json_object_new_double(res[i].med[j]));
				json_object_object_add(v, "iops_min", json_object_new_double(res[i].lo[j]));
				json_object_object_add(v, "iops_max", json_object_new_double(res[i].hi[j]));
				json_object_object_add(v, "mib_s", json_object_new_double(res[i].mib[j]));
				if (!isnan(res[i].rmed[j]))
					json_object_object_add(v, "ratio_to_direct",
							       json_object_new_double(res[i].rmed[j]));
				runsa = json_object_new_array();
				for (unsigned r = 0; r < runs; r++)
					json_object_array_add(runsa, isnan(res[i].iops[j][r]) ? NULL :
						json_object_new_double(res[i].iops[j][r]));
				json_object_object_add(v, "runs", runsa);
				json_object_object_add(jj, bench_paths[i].name, v);
			}
			json_object_array_add(ja, jj);
		}
		json_object_object_add(o, "results", ja);
		json_object_object_add(o, "plot_png", png[0] ? json_object_new_string(png) : NULL);
		json_object_object_add(o, "plot_svg", svg[0] ? json_object_new_string(svg) : NULL);
		cli_print_json(o);
	} else {
		printf("mortar bench %s (%s), %u run%s of %u s per job, %s\n", ctx.location,
		       ctx.gluster ? "gluster" : "file", runs, runs == 1 ? "" : "s", runtime, when);
		printf("\nIOPS: median (spread of runs, %% of the median)\n%-20s", "job");
		for (size_t i = 0; i < bench_npaths; i++)
			if (res[i].applies && res[i].available)
				printf(" %16s", bench_paths[i].name);
		putchar('\n');
		for (size_t j = 0; j < NJOBS; j++) {
			if (!sel[j])
				continue;
			printf("%-20s", jobs[j].name);
			for (size_t i = 0; i < bench_npaths; i++) {
				char cell[32];

				if (!res[i].applies || !res[i].available)
					continue;
				if (isnan(res[i].med[j]))
					snprintf(cell, sizeof cell, "failed");
				else
					snprintf(cell, sizeof cell, "%.0f (%.0f%%)", res[i].med[j],
						 res[i].med[j] > 0 ? 100 * (res[i].hi[j] - res[i].lo[j]) /
						 res[i].med[j] : 0);
				printf(" %16s", cell);
			}
			putchar('\n');
		}
		if (direct >= 0 && res[direct].available) {
			printf("\nrelative to direct (%s)\n%-20s", bench_paths[direct].what, "job");
			for (size_t i = 0; i < bench_npaths; i++)
				if (res[i].applies && res[i].available)
					printf(" %10s", bench_paths[i].name);
			putchar('\n');
			for (size_t j = 0; j < NJOBS; j++) {
				if (!sel[j])
					continue;
				printf("%-20s", jobs[j].name);
				for (size_t i = 0; i < bench_npaths; i++)
					if (res[i].applies && res[i].available)
						printf(" %10.2f", res[i].rmed[j]);
				putchar('\n');
			}
		}
		putchar('\n');
		for (size_t i = 0; i < bench_npaths; i++)
			if (res[i].applies && res[i].available)
				printf("%-10s %s\n", bench_paths[i].name, bench_paths[i].what);
		for (size_t i = 0; i < bench_npaths; i++)
			if (res[i].applies && !res[i].available)
				printf("%-10s not available here: %s\n", bench_paths[i].name,
				       res[i].why);
		if (png[0])
			printf("\nplot: %s\nplot: %s\n", png, svg);
	}
	rc = EXIT_OK;
out:
	if (ctx.tmpdir[0] == '/') {
		char cmdline[128];
		snprintf(cmdline, sizeof cmdline, "%s/job.fio", ctx.tmpdir);
		unlink(cmdline);
		snprintf(cmdline, sizeof cmdline, "%s/fio.json", ctx.tmpdir);
		unlink(cmdline);
		snprintf(cmdline, sizeof cmdline, "%s/fio.err", ctx.tmpdir);
		unlink(cmdline);
		for (size_t i = 0; i < bench_npaths; i++) {
			snprintf(cmdline, sizeof cmdline, "%s/%s.log", ctx.tmpdir, bench_paths[i].name);
			unlink(cmdline);
		}
		rmdir(ctx.tmpdir);
	}
	if (created && !keep && mortar_image_remove(ctx.location) < 0)
		fprintf(stderr, "%s bench: could not remove %s: %s\n", progname, ctx.location,
			mortar_errmsg());
	mortar_location_free(ctx.loc);
	free(res);
	return rc;
}
