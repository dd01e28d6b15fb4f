/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar: one command for images, exports, diagnostics and VMs.  This
 * file only dispatches; the table below is also what --help lists. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "command.h"
#include "commands.h"

static const char mortar_usage[] =
	"Usage: mortar [--help] [--version] COMMAND [ARGS...]\n"
	"\n"
	"VM disks on GlusterFS or local storage, served to QEMU and friends.\n"
	"\n"
	"Locations: a path, file:///path, gluster://host/VOLUME/PATH (QEMU's\n"
	"syntax), see mortar-location(7).  Exit status: 0 success, 1 failure,\n"
	"2 usage error.  See mortar(1).\n";

static const struct cli_command mortar_cmds[] = {
	{ "img", "create, inspect, map, resize, clone, convert and snapshot images",
	  NULL, &img_table, NULL, NULL, false },
	{ "io", "read, write, zero and trim an image (like qemu-io)", cmd_io, NULL,
	  io_options, NULL, true },
	{ "serve", "export images over NBD to QEMU, qemu-img, nbdcopy...", cmd_serve, NULL,
	  serve_longopts, NULL, true },
	{ "export", "describe a served export for libvirt (virsh attach-device)", NULL,
	  &export_table, NULL, NULL, false },
	{ "doctor", "check a location step by step; name the cause and fix",
	  cmd_doctor, NULL, doctor_options, NULL, true },
	{ "vm", "launch VMs on Mortar disks; scale CPUs and memory live", NULL, &vm_table,
	  NULL, NULL, false },
	{ "bench", "compare Mortar with FUSE, qemu-nbd, nbdkit... using fio",
	  cmd_bench, NULL, bench_options, NULL, true },
};

static const struct cli_table mortar_table = {
	"", mortar_usage, mortar_cmds, CLI_NCMDS(mortar_cmds), NULL,
};

int main(int argc, char **argv)
{
	/* Commands report bad options themselves, naming the command. */
	opterr = 0;
	if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
		printf("mortar %s\n", mortar_version());
		return EXIT_OK;
	}
	/* Hidden: what the bash completion asks (complete.c). */
	if (argc >= 2 && !strcmp(argv[1], "--complete"))
		return cli_complete(&mortar_table, argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "help"))
		argv[1] = "--help";
	return cli_dispatch(&mortar_table, argc, argv);
}
