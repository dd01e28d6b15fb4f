/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plot of mortar bench: one group of bars per job, one bar per path,
 * each the median IOPS relative to the direct path with the spread of the
 * runs as an error bar; drawn by gnuplot as PNG and SVG. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static bool run_gnuplot(const char *script, char *why, size_t wlen)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(why, wlen, "gnuplot failed on %s", script);
		return false;
	}
	return true;
}

static void script(FILE *f, const char *term, const char *out, const char *title,
		   const char *data, const struct bench_plot_series *s, size_t ns)
{
	fprintf(f, "set terminal %s\nset output '%s'\n", term, out);
	fprintf(f, "set title \"%s\" noenhanced\n", title);
	fputs("set style data histogram\n"
	      "set style histogram errorbars gap 2 lw 1\n"
	      "set style fill solid 0.7 border -1\n"
	      "set ylabel 'IOPS relative to the direct path (median, spread of runs)'\n"
	      "set yrange [0:*]\n"
	      "set grid ytics\n"
	      "set xtics rotate by -25 noenhanced\n"
	      "set key outside right top noenhanced\n", f);
	fputs("plot ", f);
	for (size_t i = 0; i < ns; i++)
		fprintf(f, "%s'%s' using %zu:%zu:%zu%s title '%s'", i ? ", " : "", data,
			2 + 3 * i, 3 + 3 * i, 4 + 3 * i, i ? "" : ":xtic(1)", s[i].name);
	fputc('\n', f);
}

bool bench_plot(const char *dir, const char *scratch, const char *title, const struct bench_job *jobs,
		size_t njobs, const struct bench_plot_series *s, size_t ns,
		char *png, char *svg, size_t len, char *why, size_t wlen)
{
	char data[4200], gp[4200];
	FILE *f;

	if (!bench_have("gnuplot")) {
		snprintf(why, wlen, "gnuplot is not installed (apt install gnuplot-nox)");
		return false;
	}
	/* The data and the script are scratch; only the pictures stay. */
	snprintf(data, sizeof data, "%s/plot.dat", scratch);
	snprintf(gp, sizeof gp, "%s/plot.gp", scratch);
	snprintf(png, len, "%s/mortar-bench.png", dir);
	snprintf(svg, len, "%s/mortar-bench.svg", dir);
	f = fopen(data, "w");
	if (!f) {
		snprintf(why, wlen, "cannot write %s: %s", data, strerror(errno));
		return false;
	}
	for (size_t j = 0; j < njobs; j++) {
		fprintf(f, "%s", jobs[j].name);
		for (size_t i = 0; i < ns; i++) {
			if (isnan(s[i].med[j]))
				fputs(" - - -", f);	/* gnuplot: missing */
			else
				fprintf(f, " %.4f %.4f %.4f", s[i].med[j], s[i].lo[j], s[i].hi[j]);
		}
		fputc('\n', f);
	}
	fclose(f);
	f = fopen(gp, "w");
	if (!f) {
		snprintf(why, wlen, "cannot write %s: %s", gp, strerror(errno));
		return false;
	}
	fputs("set datafile missing '-'\n", f);
	script(f, "pngcairo size 1100,550", png, title, data, s, ns);
	script(f, "svg size 1100,550", svg, title, data, s, ns);
	fclose(f);
	{
		bool ok = run_gnuplot(gp, why, wlen);
		unlink(gp);
		unlink(data);
		return ok;
	}
}
