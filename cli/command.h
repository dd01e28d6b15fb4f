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
 *         { "add", "plug vCPUs", vm_cpu_add, NULL, vm_opts, "wt", false },
 *         { "remove", "unplug a vCPU", vm_cpu_remove, NULL, vm_opts, "w", false },
 *     };
 *     static const struct cli_table vm_cpu_table = {
 *         "vm cpu", vm_cpu_usage, vm_cpu_cmds, CLI_NCMDS(vm_cpu_cmds), NULL,
 *     };
 *     static const struct cli_command vm_cmds[] = {
 *         { "start", "launch a VM", vm_start, NULL, start_opts, NULL, false },
 *         { "cpu", "plug or unplug vCPUs", NULL, &vm_cpu_table, NULL, NULL, false },
 *         ...
 *     };
 *     const struct cli_table vm_table = { ... vm_cmds ... };
 *
 * and mortar's own table (main.c) names vm_table in its "vm" row.  A row
 * also carries what its command parses (the getopt_long table, and which
 * of its entries the command takes when the table is shared), so that
 * `mortar --complete` (complete.c) offers exactly that.
 */
#ifndef MORTAR_CLI_COMMAND_H
#define MORTAR_CLI_COMMAND_H

#include <stddef.h>
#include <stdio.h>

struct cli_table;
struct option;

/* ARGV[0] is the command's own name; options start at ARGV[1].  Returns
 * the exit status (EXIT_OK, EXIT_ERROR, EXIT_USAGE). */
typedef int (*cli_handler)(int argc, char **argv);

struct cli_command {
	const char *name;
	const char *summary;		/* one line, for the list in --help */
	cli_handler run;		/* NULL when SUB is set */
	const struct cli_table *sub;	/* NAME takes a subcommand of its own */
	/* For completion; RUN parses its options with OPTS: */
	const struct option *opts;	/* its getopt_long table (NULL with SUB) */
	const char *only;		/* NULL: every entry of OPTS; else the vals
					 * (letters) of those RUN takes, OPTS being
					 * shared ("--help" is always offered) */
	bool locations;			/* its operands are locations */
};

struct cli_table {
	const char *path;		/* "img", "img snapshot" ("" for mortar itself) */
	const char *usage;		/* printed above the list of commands */
	const struct cli_command *cmds;
	size_t ncmds;
	/* Run when ARGV[1] names no command, with ARGV unchanged ("mortar
	 * img snapshot DISK NAME" creates); NULL: that is a usage error. */
	const struct cli_command *fallback;
};

#define CLI_NCMDS(a) (sizeof(a) / sizeof((a)[0]))

/* Run the command of T that ARGV[1] names (ARGV[0] is T's own name);
 * answers --help and -h with T's usage and list on stdout. */
int cli_dispatch(const struct cli_table *t, int argc, char **argv);
/* T's usage and its commands with their summaries. */
void cli_help(const struct cli_table *t, FILE *f);

/* complete.c: `mortar --complete WORD...`, for the bash completion.  The
 * WORDs are those after "mortar", the last being the one being completed
 * (maybe empty).  Prints the candidates for it, one a line: commands,
 * options ("--name"), values (of "--name=partial": the value alone, what
 * the shell replaces after '='), or "@files", "@dirs", "@groups",
 * "@commands" to have the shell add those.  Returns EXIT_OK. */
int cli_complete(const struct cli_table *top, int nwords, char **words);

#endif
