/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img: the table of its subcommands, their shared options, and
 * the two that change an image's size: create and resize. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "command.h"
#include "commands.h"
#include "img.h"
#include "../server/control.h"

static const char img_usage[] =
	"Usage: mortar img COMMAND [OPTIONS] ARGS...\n"
	"\n"
	"Images at any location: files, block devices, gluster://.  SIZE takes\n"
	"binary suffixes: K, M, G, T, P, E (K = 1024), e.g. 10G.  See mortar-img(1).\n";

static const struct cli_command img_cmds[] = {
	{ "create", "make a new raw image of a size", img_create, NULL,
	  img_options, IMG_CREATE_OPTS, true },
	{ "info", "size, allocation, capabilities, storage and snapshots", img_info, NULL,
	  img_options, IMG_INFO_OPTS, true },
	{ "map", "which ranges hold data, zeroes or holes", img_map, NULL,
	  img_options, IMG_MAP_OPTS, true },
	{ "resize", "grow (or with --shrink, shrink) an image", img_resize, NULL,
	  img_options, IMG_RESIZE_OPTS, true },
	{ "clone", "copy an image as cheaply as its storage allows", cmd_img_clone, NULL,
	  img_clone_options, NULL, true },
	{ "convert", "copy qcow2, vmdk, vhdx... into a raw image", cmd_img_convert, NULL,
	  img_convert_options, NULL, true },
	{ "snapshot", "create, list, delete and revert snapshots", NULL,
	  &img_snapshot_table, NULL, NULL, false },
};

const struct cli_table img_table = {
	"img", img_usage, img_cmds, CLI_NCMDS(img_cmds), NULL,
};

/* ---- options and opening, for create, info, map, resize ---- */

/* The vals are letters (IMG_*_OPTS) though only -h is a short option. */
const struct option img_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "output", required_argument, NULL, 'o' },
	{ "preallocation", required_argument, NULL, 'p' },
	{ "force", no_argument, NULL, 'F' },
	{ "shrink", no_argument, NULL, 'S' },
	{ NULL, 0, NULL, 0 },
};

static int img_prealloc(const char *cmd, const char *arg, enum mortar_prealloc *out)
{
	static const char *const names[] = {
		[MORTAR_PREALLOC_OFF] = "off",
		[MORTAR_PREALLOC_FALLOC] = "falloc",
		[MORTAR_PREALLOC_FULL] = "full",
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (names[i] && !strcmp(arg, names[i])) {
			*out = (enum mortar_prealloc)i;
			return 0;
		}
	}
	cli_usage(cmd, "unknown preallocation '%s' (use off, falloc or full)", arg);
	return -EINVAL;
}

static const char *img_opt_name(int c)
{
	for (const struct option *o = img_options; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

int img_getopt(const char *cmd, const char *usage, const char *allowed, int argc,
	       char **argv, struct img_opts *o, bool *done)
{
	int c;

	*done = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", img_options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		if (c == '?' || c == ':')
			return cli_bad_option(cmd, argv);
		if (!strchr(allowed, c))
			return cli_usage(cmd, "--%s is not an option of this command",
					 img_opt_name(c));
		if (c == 'o' && cli_parse_output(cmd, optarg, &o->output) < 0)
			return EXIT_USAGE;
		if (c == 'p' && img_prealloc(cmd, optarg, &o->prealloc) < 0)
			return EXIT_USAGE;
		o->force |= c == 'F';
		o->shrink |= c == 'S';
	}
	*done = false;
	return EXIT_OK;
}

int img_open(const char *cmd, const char *location, unsigned flags, bool try_rw,
	     struct mortar_loop **loop, struct mortar_image **img)
{
	int r;

	if (mortar_loop_new(0, loop) < 0)
		return cli_fail_lib(cmd);
	r = mortar_image_open_text(*loop, location, try_rw ? flags & ~MORTAR_OPEN_RDONLY : flags, img);
	if (try_rw && (r == -EACCES || r == -EPERM || r == -EROFS))
		r = mortar_image_open_text(*loop, location, flags | MORTAR_OPEN_RDONLY, img);
	if (r < 0) {
		r = cli_fail_lib(cmd);
		mortar_loop_free(*loop);
		return r;
	}
	return EXIT_OK;
}

int img_close(const char *cmd, struct mortar_loop *loop, struct mortar_image *img, int rc)
{
	if (mortar_image_close(img) < 0 && rc == EXIT_OK)
		rc = cli_fail_lib(cmd);
	mortar_loop_free(loop);
	return rc;
}

/* ---- create ---- */

static const char create_usage[] =
	"Usage: mortar img create [--preallocation=off|falloc|full] [--force] LOCATION SIZE\n"
	"\n"
	"Make a raw image of SIZE bytes (suffixes K, M, G, T, P, E; K = 1024).\n"
	"  --preallocation=falloc  reserve the space; full: also write zeroes\n"
	"  --force                 replace LOCATION if it exists\n";

int img_create(int argc, char **argv)
{
	const char *cmd = "img create";
	struct img_opts o = { 0 };
	uint64_t size;
	bool done;
	int r;

	r = img_getopt(cmd, create_usage, IMG_CREATE_OPTS, argc, argv, &o, &done);
	if (done)
		return r;
	if (argc - optind != 2)
		return cli_usage(cmd, "expected LOCATION SIZE");
	if (mortar_parse_size(argv[optind + 1], &size) < 0)
		return cli_usage(cmd, "%s", mortar_errmsg());
	if (mortar_image_create_text(argv[optind], size, o.prealloc,
				o.force ? MORTAR_CREATE_FORCE : 0) < 0)
		return cli_fail_lib(cmd);
	return EXIT_OK;
}

/* ---- resize ---- */

static const char resize_usage[] =
	"Usage: mortar img resize [--shrink] LOCATION [+|-]SIZE\n"
	"\n"
	"Set the image's size to SIZE, or grow (+) or shrink (-) it by SIZE.\n"
	"  --shrink  allow the image to become smaller (its end is lost)\n";

/* "-1G" would look like an option to getopt: move the size operand (the
 * last argument, or any that starts with '-' and a digit) to the end, as
 * qemu-img reads it, and return it. */
static const char *resize_take_size(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9') {
			char *size = argv[i];

			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i - 1) * sizeof *argv);
			argv[argc - 1] = size;
			break;
		}
	}
	return argv[argc - 1];
}

/* The new size: SIZEARG applied to CUR.  EXIT_OK or EXIT_ERROR (reported). */
static int resize_target(const char *cmd, int sign, uint64_t delta, uint64_t cur,
			 uint64_t *size)
{
	if (sign > 0 && delta > UINT64_MAX - cur)
		return cli_error(cmd, "the new size would overflow");
	if (sign < 0 && delta > cur)
		return cli_error(cmd, "cannot shrink by more than the image's size "
				 "(%" PRIu64 " bytes)", cur);
	*size = sign > 0 ? cur + delta : sign < 0 ? cur - delta : delta;
	return EXIT_OK;
}

/* An image that a mortar serve exports is resized by the server, through
 * its own handles, so that it tells its clients (a vhost-user-blk guest
 * sees the new capacity at once); any other here.  EXIT_OK or the exit
 * code (reported). */
static int resize_image(const char *cmd, struct mortar_image *img, uint64_t size,
			unsigned flags)
{
	int n = 0;

	/* A shrink without --shrink is refused here, with its message. */
	if (size >= mortar_image_size(img) || (flags & MORTAR_REQ_SHRINK))
		n = serve_resize(mortar_image_location(img), size, flags);
	if (n == 0 && mortar_image_resize_sync(img, size, flags) < 0)
		n = -1;
	return n < 0 ? cli_fail_lib(cmd) : EXIT_OK;
}

int img_resize(int argc, char **argv)
{
	const char *cmd = "img resize";
	struct img_opts o = { 0 };
	struct mortar_loop *loop;
	struct mortar_image *img;
	const char *sizearg;
	uint64_t size = 0, delta;
	int sign = 0;
	bool done;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(resize_usage, stdout);
			return EXIT_OK;
		}
	}
	if (argc < 2)
		return cli_usage(cmd, "expected LOCATION SIZE");
	sizearg = resize_take_size(argc, argv);
	r = img_getopt(cmd, resize_usage, IMG_RESIZE_OPTS, argc - 1, argv, &o, &done);
	if (done)
		return r;
	if (argc - 1 - optind != 1)
		return cli_usage(cmd, "expected LOCATION SIZE");
	if (*sizearg == '+' || *sizearg == '-')
		sign = *sizearg++ == '+' ? 1 : -1;
	if (mortar_parse_size(sizearg, &delta) < 0)
		return cli_usage(cmd, "%s", mortar_errmsg());
	if ((r = img_open(cmd, argv[optind], 0, false, &loop, &img)))
		return r;
	r = resize_target(cmd, sign, delta, mortar_image_size(img), &size);
	if (r == EXIT_OK)
		r = resize_image(cmd, img, size, o.shrink ? MORTAR_REQ_SHRINK : 0);
	return img_close(cmd, loop, img, r);
}
