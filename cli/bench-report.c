/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar bench: the results as tables, as JSON and as a plot. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

static bool shown(const struct bench_result *r)
{
	return r->applies && r->available;
}

/* ---- the plot: every path that produced numbers, the jobs that ran ---- */

#define PLOT_MAX_SERIES 16

void bench_report_plot(const struct bench_ctx *ctx, const struct bench_opts *o,
		       const struct bench_result *res, char *png, char *svg, size_t len)
{
	static double med[PLOT_MAX_SERIES][BENCH_NJOBS], lo[PLOT_MAX_SERIES][BENCH_NJOBS],
		      hi[PLOT_MAX_SERIES][BENCH_NJOBS];
	struct bench_plot_series s[PLOT_MAX_SERIES];
	struct bench_job pj[BENCH_NJOBS];
	size_t ns = 0, nj = 0;
	char title[512], why[256];

	for (size_t j = 0; j < BENCH_NJOBS; j++)
		if (o->sel[j])
			pj[nj++] = bench_jobs[j];
	for (size_t i = 0; i < bench_npaths && ns < PLOT_MAX_SERIES; i++) {
		size_t k = 0;

		if (!shown(&res[i]))
			continue;
		for (size_t j = 0; j < BENCH_NJOBS; j++) {
			if (!o->sel[j])
				continue;
			med[ns][k] = res[i].rmed[j];
			lo[ns][k] = res[i].rlo[j];
			hi[ns][k] = res[i].rhi[j];
			k++;
		}
		s[ns] = (struct bench_plot_series){ bench_paths[i].name, med[ns], lo[ns], hi[ns] };
		ns++;
	}
	snprintf(title, sizeof title, "mortar bench %s", ctx->location);
	if (!bench_plot(o->plot_dir, ctx->tmpdir, title, pj, nj, s, ns, png, svg, len,
			why, sizeof why)) {
		cli_error("bench", "no plot: %s", why);
		png[0] = svg[0] = '\0';
	}
}

/* ---- JSON ---- */

static json_object *json_paths(const struct bench_result *res)
{
	json_object *jp = json_object_new_array();

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
	return jp;
}

/* What path R measured for job J, or NULL when it did not. */
static json_object *json_cell(const struct bench_opts *o, const struct bench_result *r,
			      size_t j)
{
	json_object *v, *runs;

	if (!r->available || isnan(r->med[j]))
		return NULL;
	v = json_object_new_object();
	json_object_object_add(v, "iops", json_object_new_double(r->med[j]));
	json_object_object_add(v, "iops_min", json_object_new_double(r->lo[j]));
	json_object_object_add(v, "iops_max", json_object_new_double(r->hi[j]));
	json_object_object_add(v, "mib_s", json_object_new_double(r->mib[j]));
	if (!isnan(r->rmed[j]))
		json_object_object_add(v, "ratio_to_direct", json_object_new_double(r->rmed[j]));
	runs = json_object_new_array();
	for (unsigned k = 0; k < o->runs; k++)
		json_object_array_add(runs, isnan(r->iops[j][k]) ? NULL :
				      json_object_new_double(r->iops[j][k]));
	json_object_object_add(v, "runs", runs);
	return v;
}

void bench_report_json(const struct bench_ctx *ctx, const struct bench_opts *o,
		       const struct bench_result *res, const char *png, const char *svg)
{
	json_object *top = json_object_new_object(), *ja = json_object_new_array();

	json_object_object_add(top, "location", json_object_new_string(ctx->location));
	json_object_object_add(top, "backend",
			       json_object_new_string(ctx->gluster ? "gluster" : "file"));
	json_object_object_add(top, "date", json_object_new_string(ctx->when));
	json_object_object_add(top, "runs", json_object_new_int((int)o->runs));
	json_object_object_add(top, "runtime", json_object_new_int((int)o->runtime));
	json_object_object_add(top, "size", json_object_new_uint64(o->size));
	json_object_object_add(top, "paths", json_paths(res));
	for (size_t j = 0; j < BENCH_NJOBS; j++) {
		json_object *jj;

		if (!o->sel[j])
			continue;
		jj = json_object_new_object();
		json_object_object_add(jj, "job", json_object_new_string(bench_jobs[j].name));
		for (size_t i = 0; i < bench_npaths; i++)
			if (res[i].applies)
				json_object_object_add(jj, bench_paths[i].name,
						       json_cell(o, &res[i], j));
		json_object_array_add(ja, jj);
	}
	json_object_object_add(top, "results", ja);
	json_object_object_add(top, "plot_png", png[0] ? json_object_new_string(png) : NULL);
	json_object_object_add(top, "plot_svg", svg[0] ? json_object_new_string(svg) : NULL);
	cli_print_json(top);
}

/* ---- tables ---- */

static void table_head(const struct bench_result *res, int width)
{
	printf("%-20s", "job");
	for (size_t i = 0; i < bench_npaths; i++)
		if (shown(&res[i]))
			printf(" %*s", width, bench_paths[i].name);
	putchar('\n');
}

static void table_iops(const struct bench_opts *o, const struct bench_result *res)
{
	printf("\nIOPS: median (spread of runs, %% of the median)\n");
	table_head(res, 16);
	for (size_t j = 0; j < BENCH_NJOBS; j++) {
		if (!o->sel[j])
			continue;
		printf("%-20s", bench_jobs[j].name);
		for (size_t i = 0; i < bench_npaths; i++) {
			const struct bench_result *r = &res[i];
			char cell[32];

			if (!shown(r))
				continue;
			if (isnan(r->med[j]))
				snprintf(cell, sizeof cell, "failed");
			else
				snprintf(cell, sizeof cell, "%.0f (%.0f%%)", r->med[j],
					 r->med[j] > 0 ? 100 * (r->hi[j] - r->lo[j]) / r->med[j] : 0);
			printf(" %16s", cell);
		}
		putchar('\n');
	}
}

static void table_ratios(const struct bench_opts *o, const struct bench_result *res,
			 int direct)
{
	printf("\nrelative to direct (%s)\n", bench_paths[direct].what);
	table_head(res, 10);
	for (size_t j = 0; j < BENCH_NJOBS; j++) {
		if (!o->sel[j])
			continue;
		printf("%-20s", bench_jobs[j].name);
		for (size_t i = 0; i < bench_npaths; i++)
			if (shown(&res[i]))
				printf(" %10.2f", res[i].rmed[j]);
		putchar('\n');
	}
}

void bench_report_human(const struct bench_ctx *ctx, const struct bench_opts *o,
			const struct bench_result *res, int direct, const char *png,
			const char *svg)
{
	printf("mortar bench %s (%s), %u run%s of %u s per job, %s\n", ctx->location,
	       ctx->gluster ? "gluster" : "file", o->runs, o->runs == 1 ? "" : "s",
	       o->runtime, ctx->when);
	table_iops(o, res);
	if (direct >= 0 && res[direct].available)
		table_ratios(o, res, direct);
	putchar('\n');
	for (size_t i = 0; i < bench_npaths; i++)
		if (shown(&res[i]))
			printf("%-10s %s\n", bench_paths[i].name, bench_paths[i].what);
	for (size_t i = 0; i < bench_npaths; i++)
		if (res[i].applies && !res[i].available)
			printf("%-10s not available here: %s\n", bench_paths[i].name,
			       res[i].why);
	if (png[0])
		printf("\nplot: %s\nplot: %s\n", png, svg);
}
