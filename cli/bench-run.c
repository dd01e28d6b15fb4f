/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar bench: the jobs, the image they run on, and the runs.
 *
 * Each run starts each path once and runs all jobs through it in one fio
 * invocation; the order of the paths rotates from run to run so that a
 * machine that slows down or speeds up does not favour whoever goes
 * first.  Results: median and spread of IOPS per job and path, and ratios
 * to the direct path.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "bench.h"

const struct bench_job bench_jobs[BENCH_NJOBS] = {
	{ "randread-4k-qd1", "randread", 4096, 1, 0, false },
	{ "randread-4k-qd32", "randread", 4096, 32, 0, true },
	{ "randwrite-4k-qd1", "randwrite", 4096, 1, 0, false },
	{ "randwrite-4k-qd32", "randwrite", 4096, 32, 0, false },
	{ "read-128k-qd16", "read", 131072, 16, 0, false },
	{ "write-128k-qd16", "write", 131072, 16, 0, true },
	{ "randrw70-4k-qd16", "randrw", 4096, 16, 70, false },
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- the image ---- */

#define FILL_CHUNK (4u << 20)

int bench_fill_image(const char *location, uint64_t size)
{
	struct mortar_loop *loop = NULL;
	struct mortar_image *img = NULL;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint64_t *buf;
	int r;

	buf = malloc(FILL_CHUNK);
	if (!buf)
		return -ENOMEM;
	r = mortar_loop_new(0, &loop);
	if (r == 0)
		r = mortar_image_open_text(loop, location, 0, &img);
	/* Data everywhere, none of it zero: reads of holes would flatter. */
	for (uint64_t off = 0; r == 0 && off < size; off += FILL_CHUNK) {
		size_t n = size - off < FILL_CHUNK ? (size_t)(size - off) : FILL_CHUNK;

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

static bool fio_jobfile(const struct bench_ctx *ctx, const struct bench_opts *o,
			const struct bench_path *p, const struct bench_running *rn,
			const char *jobfile)
{
	FILE *f = fopen(jobfile, "w");

	if (!f)
		return false;
	fprintf(f, "[global]\ntime_based=1\nruntime=%u\nsize=%llu\nrandrepeat=0\n"
		"norandommap=1\n", o->runtime, (unsigned long long)o->size);
	p->fio_target(ctx, rn, f);
	for (size_t j = 0; j < BENCH_NJOBS; j++) {
		const struct bench_job *b = &bench_jobs[j];

		if (!o->sel[j])
			continue;
		fprintf(f, "[%s]\nstonewall\nrw=%s\nbs=%u\niodepth=%u\n", b->name, b->rw,
			b->bs, b->iodepth);
		if (b->rwmix)
			fprintf(f, "rwmixread=%u\n", b->rwmix);
	}
	return fclose(f) == 0;
}

/* fio's JSON report (the first '{' on: some engines print a line before
 * it), or NULL. */
static json_object *fio_exec(const char *jobfile, const char *outfile, const char *errfile)
{
	json_object *root = NULL;
	char *text, *start;
	size_t len = 0;
	int status;
	FILE *f;
	pid_t pid = fork();

	if (pid == 0) {
		if (!freopen(outfile, "w", stdout) || !freopen(errfile, "w", stderr))
			_exit(127);
		execlp("fio", "fio", "--output-format=json", jobfile, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !(f = fopen(outfile, "r")))
		return NULL;
	text = malloc(1 << 22);
	if (text) {
		len = fread(text, 1, (1 << 22) - 1, f);
		text[len] = '\0';
		start = strchr(text, '{');
		root = start ? json_tokener_parse(start) : NULL;
	}
	fclose(f);
	free(text);
	return root;
}

/* The first line of FILE, for a message. */
static void first_line(const char *file, char *buf, size_t len)
{
	FILE *f = fopen(file, "r");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
}

static double fio_sum(json_object *job, const char *key, double scale)
{
	json_object *rd, *wr, *v;
	double sum = 0;

	if (json_object_object_get_ex(job, "read", &rd) &&
	    json_object_object_get_ex(rd, key, &v))
		sum += json_object_get_double(v) / scale;
	if (json_object_object_get_ex(job, "write", &wr) &&
	    json_object_object_get_ex(wr, key, &v))
		sum += json_object_get_double(v) / scale;
	return sum;
}

/* IOPS[j] and MIBS[j] of each job of fio's report ARR that completed. */
static void fio_results(json_object *arr, double *iops, double *mibs)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *jb = json_object_array_get_idx(arr, i), *v, *e;

		if (!json_object_object_get_ex(jb, "jobname", &v) ||
		    (json_object_object_get_ex(jb, "error", &e) && json_object_get_int(e)))
			continue;
		for (size_t j = 0; j < BENCH_NJOBS; j++) {
			if (strcmp(json_object_get_string(v), bench_jobs[j].name))
				continue;
			iops[j] = fio_sum(jb, "iops", 1);
			mibs[j] = fio_sum(jb, "bw", 1024);
		}
	}
}

/* Run the selected jobs through path P; IOPS[j] (NAN when a job failed). */
static bool run_fio(const struct bench_ctx *ctx, const struct bench_opts *o,
		    const struct bench_path *p, const struct bench_running *rn,
		    double *iops, double *mibs, char *why, size_t wlen)
{
	char jobfile[128], outfile[128], errfile[128], msg[200];
	json_object *root, *arr;

	for (size_t j = 0; j < BENCH_NJOBS; j++)
		iops[j] = mibs[j] = NAN;
	snprintf(jobfile, sizeof jobfile, "%s/job.fio", ctx->tmpdir);
	snprintf(outfile, sizeof outfile, "%s/fio.json", ctx->tmpdir);
	snprintf(errfile, sizeof errfile, "%s/fio.err", ctx->tmpdir);
	if (!fio_jobfile(ctx, o, p, rn, jobfile)) {
		snprintf(why, wlen, "cannot write %s", jobfile);
		return false;
	}
	root = fio_exec(jobfile, outfile, errfile);
	if (!root || !json_object_object_get_ex(root, "jobs", &arr)) {
		first_line(errfile, msg, sizeof msg);
		snprintf(why, wlen, "fio failed%s%s", msg[0] ? ": " : "", msg);
		json_object_put(root);
		return false;
	}
	fio_results(arr, iops, mibs);
	json_object_put(root);
	return true;
}

/* ---- the runs ---- */

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

int bench_select_paths(const struct bench_ctx *ctx, const struct bench_opts *o,
		       struct bench_result *res)
{
	int direct = -1;

	for (size_t i = 0; i < bench_npaths; i++) {
		const struct bench_path *p = &bench_paths[i];

		res[i].applies = (ctx->gluster ? p->for_gluster : p->for_file) &&
				 path_selected(o->paths, p->name);
		if (!res[i].applies)
			continue;
		res[i].available = p->available(ctx, res[i].why, sizeof res[i].why);
		for (size_t j = 0; j < BENCH_NJOBS; j++)
			for (unsigned r = 0; r < o->runs; r++)
				res[i].iops[j][r] = res[i].mibs[j][r] = NAN;
		if (!strcmp(p->name, "direct"))
			direct = (int)i;
	}
	return direct;
}

static void progress(bool tty, unsigned run, unsigned runs, const char *path,
		     unsigned step, unsigned steps, double per_step)
{
	int eta = (int)((steps - step) * per_step);

	fprintf(stderr, "%sbench: run %u/%u, %s (%u/%u), ETA %d:%02d%s", tty ? "\r" : "",
		run, runs, path, step + 1, steps, eta / 60, eta % 60, tty ? "\033[K" : "\n");
	fflush(stderr);
}

/* Run 1-based R of path I: start it, run fio through it, stop it. */
static void bench_run_path(const struct bench_ctx *ctx, const struct bench_opts *o,
			   size_t i, unsigned r, struct bench_result *res)
{
	const struct bench_path *p = &bench_paths[i];
	struct bench_running rn = { 0 };
	double iops[BENCH_NJOBS], mibs[BENCH_NJOBS];
	char why[256];

	snprintf(rn.sock, sizeof rn.sock, "%s/%s.sock", ctx->tmpdir, p->name);
	snprintf(rn.mnt, sizeof rn.mnt, "%s/%s.mnt", ctx->tmpdir, p->name);
	snprintf(rn.log, sizeof rn.log, "%s/%s.log", ctx->tmpdir, p->name);
	if (!p->start(ctx, &rn, why, sizeof why)) {
		res->available = false;
		snprintf(res->why, sizeof res->why, "%s", why);
		return;
	}
	if (!run_fio(ctx, o, p, &rn, iops, mibs, why, sizeof why))
		snprintf(res->why, sizeof res->why, "%s", why);
	p->stop(ctx, &rn);
	for (size_t j = 0; j < BENCH_NJOBS; j++) {
		res->iops[j][r] = iops[j];
		res->mibs[j][r] = mibs[j];
	}
}

bool bench_run(const struct bench_ctx *ctx, const struct bench_opts *o,
	       struct bench_result *res)
{
	bool tty = isatty(STDERR_FILENO);
	unsigned navail = 0, nsel = 0, step = 0, steps;

	for (size_t i = 0; i < bench_npaths; i++)
		navail += res[i].applies && res[i].available;
	for (size_t j = 0; j < BENCH_NJOBS; j++)
		nsel += o->sel[j];
	steps = o->runs * navail;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (unsigned r = 0; r < o->runs && !interrupted; r++) {
		/* Rotate the order by one path per run. */
		for (size_t k = 0; k < bench_npaths && !interrupted; k++) {
			size_t i = (k + r) % bench_npaths;

			if (!res[i].applies || !res[i].available)
				continue;
			progress(tty, r + 1, o->runs, bench_paths[i].name, step++, steps,
				 nsel * (o->runtime + 1.5));
			bench_run_path(ctx, o, i, r, &res[i]);
		}
	}
	if (tty)
		fputc('\n', stderr);
	return !interrupted;
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
	double s[BENCH_MAX_RUNS];
	unsigned k = 0;

	for (unsigned i = 0; i < n && k < BENCH_MAX_RUNS; i++)
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

void bench_stats(const struct bench_opts *o, struct bench_result *res, int direct)
{
	for (size_t i = 0; i < bench_npaths; i++) {
		for (size_t j = 0; j < BENCH_NJOBS; j++) {
			double dummy;

			stats(res[i].iops[j], o->runs, &res[i].med[j], &res[i].lo[j],
			      &res[i].hi[j]);
			stats(res[i].mibs[j], o->runs, &res[i].mib[j], &dummy, &dummy);
		}
	}
	for (size_t i = 0; i < bench_npaths; i++) {
		for (size_t j = 0; j < BENCH_NJOBS; j++) {
			double d = direct >= 0 ? res[direct].med[j] : NAN;

			res[i].rmed[j] = d > 0 ? res[i].med[j] / d : NAN;
			res[i].rlo[j] = d > 0 ? res[i].lo[j] / d : NAN;
			res[i].rhi[j] = d > 0 ? res[i].hi[j] / d : NAN;
		}
	}
}
