/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar doctor: check a location step by step and say which step fails,
 * why, and what to do. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/doctor.h>
#include <mortar/mortar.h>
#include "cli.h"
#include "commands.h"

static const char doctor_usage[] =
	"Usage: mortar doctor [--write] [--output=human|json] LOCATION\n"
	"\n"
	"Check LOCATION step by step: its syntax; for GlusterFS, that the\n"
	"server names resolve and glusterd answers; that the volume and image\n"
	"open; on GlusterFS, that the image's copies agree (split-brain fails,\n"
	"a pending heal warns); that the first block reads; with --write, that it\n"
	"opens read-write and that a scratch file beside it can be written (the\n"
	"image itself is never written); on GlusterFS, the volume's settings\n"
	"against the virt profile (each deviation warns).  The first failing step\n"
	"names the cause and the fix.\n"
	"Exit status 0 when no step failed (warnings included), 1 otherwise.\n"
	"See mortar-doctor(1).\n";

struct doctor_out {
	enum output_format output;
	json_object *checks;
	unsigned warnings;
};

static void doctor_print(void *opaque, const struct mortar_check *c)
{
	struct doctor_out *o = opaque;
	static const char *const tags[] = { "[ ok ]", "[FAIL]", "[skip]", "[warn]" };
	static const char *const words[] = { "ok", "failed", "skipped", "warning" };

	o->warnings += c->status == MORTAR_CHECK_WARNED;
	if (o->output == OUTPUT_JSON) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "step", json_object_new_string(c->name));
		json_object_object_add(j, "status", json_object_new_string(words[c->status]));
		json_object_object_add(j, "detail", json_object_new_string(c->detail));
		if (c->status == MORTAR_CHECK_FAILED)
			json_object_object_add(j, "errno", json_object_new_int(-c->err));
		json_object_array_add(o->checks, j);
		return;
	}
	printf("%s %-9s %s\n", tags[c->status], c->name, c->detail);
}

const struct option doctor_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "write", no_argument, NULL, 'w' },
	{ "output", required_argument, NULL, 'o' },
	{ NULL, 0, NULL, 0 },
};

int cmd_doctor(int argc, char **argv)
{
	struct doctor_out o = { .output = OUTPUT_HUMAN };
	unsigned flags = 0;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hw", doctor_options, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(doctor_usage, stdout); return EXIT_OK;
		case 'w': flags |= MORTAR_DOCTOR_WRITE; break;
		case 'o':
			if (cli_parse_output("doctor", optarg, &o.output) < 0)
				return EXIT_USAGE;
			break;
		default: return cli_bad_option("doctor", argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("doctor", "expected one LOCATION");
	if (o.output == OUTPUT_JSON)
		o.checks = json_object_new_array();
	r = mortar_doctor(argv[optind], flags, doctor_print, &o);
	if (o.output == OUTPUT_JSON) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "location", json_object_new_string(argv[optind]));
		json_object_object_add(j, "ok", json_object_new_boolean(r == 0));
		json_object_object_add(j, "checks", o.checks);
		cli_print_json(j);
	} else {
		puts(r < 0 ? "a check failed: see the first [FAIL] above" : o.warnings ?
		     "no check failed; see the [warn] lines above" : "all checks passed");
	}
	return r == 0 ? EXIT_OK : EXIT_ERROR;
}
