/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img clone: copy an image as cheaply as its storage allows. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "clone-nbd.h"
#include "img.h"
#include "progress.h"

static const char clone_usage[] =
	"Usage: mortar img clone [--force] [--no-reflink] [--quiet] [--output=human|json]\n"
	"                        SRC DST\n"
	"\n"
	"Copy the image SRC to DST: a reflink where the filesystem shares blocks\n"
	"(XFS reflink=1, btrfs), else copy_file_range, else a sparse copy; holes stay\n"
	"holes.  DST appears only when complete.  Any locations: files, gluster://;\n"
	"DST may also be an NBD export (nbd://, nbd+unix://...; --force needed):\n"
	"all of SRC is written into it, holes as zero requests.\n"
	"\n"
	"  -F, --force        replace DST if it exists\n"
	"      --no-reflink   read and write every block (no reflink, no copy_file_range,\n"
	"                     which XFS also turns into a reflink)\n"
	"  -q, --quiet        no progress bar\n"
	"      --output=json  progress lines and the result as JSON on stdout\n";

static void clone_print(const char *src, const char *dst, enum output_format out,
			enum mortar_clone_method used, const struct cli_progress *prog)
{
	char size[32];

	if (out == OUTPUT_JSON) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "source", json_object_new_string(src));
		json_object_object_add(o, "destination", json_object_new_string(dst));
		json_object_object_add(o, "method",
				       json_object_new_string(mortar_clone_method_name(used)));
		json_object_object_add(o, "shared",
				       json_object_new_boolean(mortar_clone_method_shares(used)));
		json_object_object_add(o, "size", json_object_new_uint64(prog->total));
		json_object_object_add(o, "seconds",
				       json_object_new_double(cli_progress_elapsed(prog)));
		cli_print_json_line(o);
		return;
	}
	printf("cloned %s to %s: %s (%s, %.2f s)%s\n", src, dst, mortar_clone_method_name(used),
	       cli_human_size(prog->total, size, sizeof size), cli_progress_elapsed(prog),
	       mortar_clone_method_shares(used) ? ", blocks shared until written" : "");
}

const struct option img_clone_options[] = {
	{ "force", no_argument, NULL, 'F' },
	{ "no-reflink", no_argument, NULL, 'R' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_img_clone(int argc, char **argv)
{
	const char *cmd = "img clone", *src, *dst;
	enum output_format out = OUTPUT_HUMAN;
	enum mortar_clone_method used;
	struct cli_progress prog;
	unsigned flags = 0;
	bool quiet = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "Fqo:h", img_clone_options, NULL)) != -1) {
		switch (c) {
		case 'F': flags |= MORTAR_CLONE_FORCE; break;
		case 'R': flags |= MORTAR_CLONE_COPY_ONLY; break;
		case 'q': quiet = true; break;
		case 'o':
			if (cli_parse_output(cmd, optarg, &out) < 0)
				return EXIT_USAGE;
			break;
		case 'h': fputs(clone_usage, stdout); return EXIT_OK;
		default: return cli_bad_option(cmd, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage(cmd, "expected SRC and DST");
	src = argv[optind];
	dst = argv[optind + 1];
	cli_progress_init(&prog, "clone", out, quiet);
	if (clone_dst_is_nbd(dst)) {
		used = MORTAR_CLONE_SPARSE_COPY;
		r = clone_to_nbd(src, dst, flags & MORTAR_CLONE_FORCE, cli_progress_update, &prog);
	} else {
		struct mortar_location *ls = NULL, *ld = NULL;

		r = mortar_location_parse(src, &ls, NULL);
		if (r == 0)
			r = mortar_location_parse(dst, &ld, NULL);
		if (r == 0)
			r = mortar_image_clone(ls, ld, flags, cli_progress_update, &prog, &used);
		mortar_location_free(ls);
		mortar_location_free(ld);
	}
	cli_progress_end(&prog, r == 0);
	if (r < 0)
		return cli_fail_lib(cmd);
	clone_print(src, dst, out, used, &prog);
	return EXIT_OK;
}
