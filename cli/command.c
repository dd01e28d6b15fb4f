/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dispatch through a table of commands (command.h). */
#include <string.h>

#include "cli.h"
#include "command.h"

/* Subcommands are listed with their group's name, as they are typed:
 * "img create", "img snapshot list". */
void cli_help(const struct cli_table *t, FILE *f)
{
	int width = 0, plen = (int)strlen(t->path) + (*t->path ? 1 : 0);

	fputs(t->usage, f);
	for (size_t i = 0; i < t->ncmds; i++)
		if (plen + (int)strlen(t->cmds[i].name) > width)
			width = plen + (int)strlen(t->cmds[i].name);
	fputs("\nCommands:\n", f);
	for (size_t i = 0; i < t->ncmds; i++)
		fprintf(f, "  %s%s%-*s  %s\n", t->path, *t->path ? " " : "", width - plen,
			t->cmds[i].name, t->cmds[i].summary);
	fprintf(f, "\nRun '%s%s%s COMMAND --help' for a command's options.\n",
		progname, *t->path ? " " : "", t->path);
}

int cli_dispatch(const struct cli_table *t, int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		cli_help(t, stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; argc >= 2 && i < t->ncmds; i++) {
		const struct cli_command *c = &t->cmds[i];

		if (strcmp(argv[1], c->name))
			continue;
		return c->sub ? cli_dispatch(c->sub, argc - 1, argv + 1) :
				c->run(argc - 1, argv + 1);
	}
	if (t->fallback && argc >= 2)
		return t->fallback->run(argc, argv);
	if (argc < 2) {
		cli_help(t, stderr);
		return EXIT_USAGE;
	}
	return cli_usage(t->path, "unknown command '%s'", argv[1]);
}
