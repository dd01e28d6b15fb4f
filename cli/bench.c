/* placeholder: replaced by the work on this command */
#include <stdio.h>
#include "cli.h"
int cmd_bench(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "%s: not built yet\n", progname);
	return EXIT_ERROR;
}
