/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration file of `mortar serve` (serve-config.c). */
#ifndef MORTAR_CLI_SERVE_CONFIG_H
#define MORTAR_CLI_SERVE_CONFIG_H

#include <getopt.h>

/* The arguments serve parses: argv[0], the file's, then the command
 * line's (whose --config is found and read first). */
struct serve_args {
	int argc;
	char **argv;		/* NULL-terminated, owned */
	const char *config;	/* the file, or NULL */
};

/* Build A from ARGC/ARGV; keys of the file are checked against OPTS.
 * 0, or an exit code once the message is printed. */
int serve_args_build(struct serve_args *a, const struct option *opts, int argc, char **argv);
/* Append the arguments FILE holds to A; 0 or an exit code. */
int serve_config_read(struct serve_args *a, const struct option *opts, const char *file);
void serve_args_free(struct serve_args *a);

#endif
