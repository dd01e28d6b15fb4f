/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img: the handlers of its subcommands (the table is in img.c) and
 * what they share: options, opening an image on a fresh loop. */
#ifndef MORTAR_CLI_IMG_H
#define MORTAR_CLI_IMG_H

#include <getopt.h>
#include <stdbool.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "command.h"

int img_create(int argc, char **argv);		/* img.c */
int img_resize(int argc, char **argv);		/* img.c */
int img_info(int argc, char **argv);		/* img-info.c */
int img_map(int argc, char **argv);		/* img-info.c */
int cmd_img_clone(int argc, char **argv);	/* img-clone.c */
extern const struct option img_clone_options[];
int cmd_img_convert(int argc, char **argv);	/* img-convert.c */
extern const struct option img_convert_options[];
extern const struct cli_table img_snapshot_table; /* img-snapshot.c */

/* The options of create, info, map and resize (img_options, in img.c),
 * by their getopt vals: --output, --preallocation, --force, --shrink.
 * Each command takes some of them, named here for its parser and its row
 * in the table alike. */
extern const struct option img_options[];
#define IMG_CREATE_OPTS "pF"
#define IMG_INFO_OPTS "o"
#define IMG_MAP_OPTS "o"
#define IMG_RESIZE_OPTS "S"

struct img_opts {
	enum output_format output;
	enum mortar_prealloc prealloc;
	bool force, shrink;
};

/* Parse ARGV's options for CMD, which takes those whose vals are in
 * ALLOWED (others are usage errors, not ignored) and prints USAGE on
 * --help.  Leaves optind at the first operand.  Sets *DONE when the
 * command must return the exit status returned at once (after --help or
 * a usage error). */
int img_getopt(const char *cmd, const char *usage, const char *allowed, int argc,
	       char **argv, struct img_opts *o, bool *done);

/* Open LOCATION on a fresh loop.  With TRY_RW, open writable where
 * permissions allow (so that info reports what writers get) and fall back
 * to read-only; nothing is written either way.  EXIT_OK or EXIT_ERROR
 * (reported). */
int img_open(const char *cmd, const char *location, unsigned flags, bool try_rw,
	     struct mortar_loop **loop, struct mortar_image **img);
/* Close both; returns RC, or EXIT_ERROR (reported) when RC was EXIT_OK
 * and the close failed. */
int img_close(const char *cmd, struct mortar_loop *loop, struct mortar_image *img, int rc);

#endif
