/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Messages and exit codes: one place decides what "mortar CMD: ..." looks
 * like, so that scripts and tests can rely on it. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "cli.h"

const char *progname = "mortar";

/* CMD "" is mortar itself: "mortar: ...".  FMT may use %m. */
__attribute__((format(printf, 2, 0)))
static void report(const char *cmd, const char *fmt, va_list ap)
{
	int err = errno;

	fprintf(stderr, "%s%s%s: ", progname, *cmd ? " " : "", cmd);
	errno = err;
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(cmd, fmt, ap);
	va_end(ap);
	return EXIT_ERROR;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s%s%s --help'.\n", progname, *cmd ? " " : "", cmd);
	return EXIT_USAGE;
}

int cli_fail_lib(const char *cmd)
{
	return cli_error(cmd, "%s", mortar_errmsg());
}

int cli_fail_open(const char *cmd, int err, unsigned flags)
{
	bool hint = (err == -EACCES || err == -EPERM || err == -EROFS) &&
		    !(flags & MORTAR_OPEN_RDONLY);

	return cli_error(cmd, "%s%s", mortar_errmsg(),
			 hint ? " (or pass --read-only to only read it)" : "");
}

int cli_bad_option(const char *cmd, char **argv)
{
	const char *word = optind > 0 ? argv[optind - 1] : "";

	/* A short option inside a cluster ("-qx") is not the whole word. */
	if (optopt > 0 && optopt < 256 && strncmp(word, "--", 2))
		return cli_usage(cmd, "unknown option '-%c', or it needs a value", optopt);
	return cli_usage(cmd, "unknown or incomplete option '%s'", word);
}
