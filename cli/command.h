/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tables of commands: `mortar COMMAND`, `mortar img COMMAND`, `mortar img
 * snapshot COMMAND`, `mortar vm COMMAND`.  A command's name, handler and
 * one-line summary live in one row, so that dispatch and the lists in
 * --help cannot disagree.
 *
 * A file that owns a group of subcommands defines one table and a handler
 * that calls cli_dispatch() on it:
 *
 *     static const struct cli_command vm_cpu_cmds[] = {
 *         { "add", "plug vCPUs", vm_cpu_add, NULL },
 *         { "remove", "unplug a vCPU", vm_cpu_remove, NULL },
 *     };
 *     static const struct cli_table vm_cpu_table = {
 *         "vm cpu", vm_cpu_usage, vm_cpu_cmds, CLI_NCMDS(vm_cpu_cmds), NULL,
 *     };
 *     static const struct cli_command vm_cmds[] = {
 *         { "start", "launch a VM", vm_start, NULL },
 *         { "cpu", "plug or unplug vCPUs", NULL, &vm_cpu_table },
 *         ...
 *     };
 *     int cmd_vm(int argc, char **argv)
 *     {
 *         return cli_dispatch(&vm_table, argc, argv);
 *     }
 */
#ifndef MORTAR_CLI_COMMAND_H
#define MORTAR_CLI_COMMAND_H

#include <stddef.h>
#include <stdio.h>

struct cli_table;

/* ARGV[0] is the command's own name; options start at ARGV[1].  Returns
 * the exit status (EXIT_OK, EXIT_ERROR, EXIT_USAGE). */
typedef int (*cli_handler)(int argc, char **argv);

struct cli_command {
	const char *name;
	const char *summary;		/* one line, for the list in --help */
	cli_handler run;		/* NULL when SUB is set */
	const struct cli_table *sub;	/* NAME takes a subcommand of its own */
};

struct cli_table {
	const char *path;		/* "img", "img snapshot" ("" for mortar itself) */
	const char *usage;		/* printed above the list of commands */
	const struct cli_command *cmds;
	size_t ncmds;
	/* Run when ARGV[1] names no command, with ARGV unchanged ("mortar
	 * img snapshot DISK NAME" creates); NULL: that is a usage error. */
	cli_handler fallback;
};

#define CLI_NCMDS(a) (sizeof(a) / sizeof((a)[0]))

/* Run the command of T that ARGV[1] names (ARGV[0] is T's own name);
 * answers --help and -h with T's usage and list on stdout. */
int cli_dispatch(const struct cli_table *t, int argc, char **argv);
/* T's usage and its commands with their summaries. */
void cli_help(const struct cli_table *t, FILE *f);

#endif
