/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img clone: copy an image as cheaply as its storage allows. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "clone-nbd.h"
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

int cmd_img_clone(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'F' },
		{ "no-reflink", no_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "img clone";
	enum output_format out = OUTPUT_HUMAN;
	enum mortar_clone_method used;
	struct cli_progress prog;
	unsigned flags = 0;
	bool quiet = false;
	char size[32];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "Fqo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'F': flags |= MORTAR_CLONE_FORCE; break;
		case 'R': flags |= MORTAR_CLONE_COPY_ONLY; break;
		case 'q': quiet = true; break;
		case 'o':
			if (cli_parse_output(cmd, optarg, &out) < 0)
				return EXIT_USAGE;
			break;
		case 'h': fputs(clone_usage, stdout); return EXIT_OK;
		default: return cli_usage(cmd, "unknown option");
		}
	}
	if (argc - optind != 2)
		return cli_usage(cmd, "expected SRC and DST");
	cli_progress_init(&prog, "clone", out, quiet);
	if (clone_dst_is_nbd(argv[optind + 1])) {
		used = MORTAR_CLONE_SPARSE_COPY;
		r = clone_to_nbd(argv[optind], argv[optind + 1], flags & MORTAR_CLONE_FORCE,
				 cli_progress_update, &prog);
	} else {
		r = mortar_image_clone(argv[optind], argv[optind + 1], flags,
				       cli_progress_update, &prog, &used);
	}
	cli_progress_end(&prog, r == 0);
	if (r < 0)
		return cli_fail_lib(cmd);
	if (out == OUTPUT_JSON) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "source", json_object_new_string(argv[optind]));
		json_object_object_add(o, "destination", json_object_new_string(argv[optind + 1]));
		json_object_object_add(o, "method",
				       json_object_new_string(mortar_clone_method_name(used)));
		json_object_object_add(o, "shared", json_object_new_boolean(mortar_clone_method_shares(used)));
		json_object_object_add(o, "size", json_object_new_uint64(prog.total));
		json_object_object_add(o, "seconds", json_object_new_double(cli_progress_elapsed(&prog)));
		cli_print_json_line(o);
	} else {
		printf("cloned %s to %s: %s (%s, %.2f s)%s\n", argv[optind], argv[optind + 1],
		       mortar_clone_method_name(used),
		       cli_human_size(prog.total, size, sizeof size), cli_progress_elapsed(&prog),
		       mortar_clone_method_shares(used) ? ", blocks shared until written" : "");
	}
	return EXIT_OK;
}
