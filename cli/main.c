/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar: one command for images, exports, diagnostics and VMs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "cli.h"

const char *progname = "mortar";

static void main_help(FILE *f)
{
	fputs("Usage: mortar [--help] [--version] COMMAND [ARGS...]\n"
	      "\n"
	      "VM disks on GlusterFS or local storage, served to QEMU and friends.\n"
	      "\n"
	      "Commands:\n"
	      "  img      create, inspect, map and resize images\n"
	      "  io       read, write, zero and trim an image (like qemu-io)\n"
	      "  serve    export images over NBD to QEMU, qemu-img, nbdcopy...\n"
	      "  doctor   check a location step by step; name the cause and fix\n"
	      "  vm       launch VMs on Mortar disks; scale CPUs and memory live\n"
	      "  bench    compare Mortar with FUSE, qemu-nbd, nbdkit... using fio\n"
	      "\n"
	      "Locations: a path, file:///path, gluster://host/VOLUME/PATH (QEMU's\n"
	      "syntax), see mortar-location(7).\n"
	      "Run 'mortar COMMAND --help' for a command's options; man mortar(1).\n"
	      "Exit status: 0 success, 1 failure, 2 usage error.\n", f);
}

int cli_fail_lib(const char *cmd)
{
	fprintf(stderr, "%s %s: %s\n", progname, cmd, mortar_errmsg());
	return EXIT_ERROR;
}

int cli_fail_open(const char *cmd, int err, unsigned flags)
{
	fprintf(stderr, "%s %s: %s%s\n", progname, cmd, mortar_errmsg(),
		(err == -EACCES || err == -EPERM || err == -EROFS) &&
		!(flags & MORTAR_OPEN_RDONLY) ?
		" (or pass --read-only to only read it)" : "");
	return EXIT_ERROR;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", progname, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", progname, cmd);
	return EXIT_USAGE;
}

int cli_parse_output(const char *cmd, const char *arg, enum output_format *out)
{
	if (!strcmp(arg, "human")) {
		*out = OUTPUT_HUMAN;
		return 0;
	}
	if (!strcmp(arg, "json")) {
		*out = OUTPUT_JSON;
		return 0;
	}
	cli_usage(cmd, "unknown output format '%s' (use human or json)", arg);
	return -1;
}

void cli_print_json(json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}

void cli_print_json_line(json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}

const char *cli_human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else
		snprintf(buf, len, "%.3g %s", v, units[u]);
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		main_help(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("mortar %s\n", mortar_version());
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "img"))
		return cmd_img(argc - 1, argv + 1);
	if (!strcmp(argv[1], "doctor"))
		return cmd_doctor(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "io"))
		return cmd_io(argc - 1, argv + 1);
	if (!strcmp(argv[1], "vm"))
		return cmd_vm(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n", progname, argv[1]);
	main_help(stderr);
	return EXIT_USAGE;
}
