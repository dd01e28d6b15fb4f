/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar bench --in-guest: the seeds' table measured inside a guest.  The
 * work (a guest with every path's disk, fio carried into it, the servers,
 * the table) is bench/in-guest.sh of the source tree this mortar was
 * built in; this runs it with the same binary. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

int bench_in_guest(int argc, char **argv)
{
	char exe[PATH_MAX], build[PATH_MAX], script[PATH_MAX + 32];
	const char *dir = getenv("MORTAR_BENCH_DIR");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char **args = calloc((size_t)argc + 2, sizeof *args);
	int k = 0;

	if (n <= 0 || !args)
		return cli_error("bench", "cannot find the mortar binary (/proc/self/exe): %m");
	exe[n] = '\0';
	/* build/cli/mortar: the build directory is two levels up, the
	 * source tree's bench/ beside it (or MORTAR_BENCH_DIR). */
	snprintf(build, sizeof build, "%s", dirname(dirname(exe)));
	if (dir)
		snprintf(script, sizeof script, "%s/in-guest.sh", dir);
	else
		snprintf(script, sizeof script, "%s/../bench/in-guest.sh", build);
	if (access(script, X_OK) < 0)
		return cli_error("bench", "--in-guest runs %s, which is not there (%m): it "
				 "comes with the source tree; set MORTAR_BENCH_DIR to its "
				 "bench/ folder", script);
	setenv("MORTAR_BUILD", build, 0);
	args[k++] = script;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--in-guest"))
			args[k++] = argv[i];
	args[k] = NULL;
	fflush(stdout);
	execv(script, args);
	return cli_error("bench", "cannot run %s: %m", script);
}
