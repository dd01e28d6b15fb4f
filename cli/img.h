/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img: the handlers of its subcommands (the table is in img.c) and
 * what they share: options, opening an image on a fresh loop. */
#ifndef MORTAR_CLI_IMG_H
#define MORTAR_CLI_IMG_H

#include <stdbool.h>

#include <mortar/mortar.h>
#include "cli.h"

int img_create(int argc, char **argv);		/* img.c */
int img_resize(int argc, char **argv);		/* img.c */
int img_info(int argc, char **argv);		/* img-info.c */
int img_map(int argc, char **argv);		/* img-info.c */
int cmd_img_clone(int argc, char **argv);	/* img-clone.c */
int cmd_img_convert(int argc, char **argv);	/* img-convert.c */
int cmd_img_snapshot(int argc, char **argv);	/* img-snapshot.c */

/* The options of create, info, map and resize; each takes some of them. */
enum { IMG_OPT_OUTPUT = 1, IMG_OPT_PREALLOC = 2, IMG_OPT_FORCE = 4, IMG_OPT_SHRINK = 8 };

struct img_opts {
	enum output_format output;
	enum mortar_prealloc prealloc;
	bool force, shrink;
};

/* Parse ARGV's options for CMD, which takes those in ALLOWED (others are
 * usage errors, not ignored) and prints USAGE on --help.  Leaves optind at
 * the first operand.  Sets *DONE when the command must return the exit
 * status returned at once (after --help or a usage error). */
int img_getopt(const char *cmd, const char *usage, unsigned allowed, int argc,
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
