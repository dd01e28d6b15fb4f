/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar export: what other programs need to know about the exports of a
 * running `mortar serve`.  The table of its subcommands. */
#include <stdbool.h>

#include "command.h"
#include "commands.h"
#include "export.h"

static const char export_usage[] =
	"Usage: mortar export COMMAND [OPTIONS] ARGS...\n"
	"\n"
	"Describe an export of a running 'mortar serve' for another program,\n"
	"as the server itself reports it.  See mortar-export(1).\n";

static const struct cli_command export_cmds[] = {
	{ "xml", "the libvirt <disk> element for an export (virsh attach-device)",
	  export_xml, NULL, export_xml_options, NULL, true },
};

const struct cli_table export_table = {
	"export", export_usage, export_cmds, CLI_NCMDS(export_cmds), NULL,
};
