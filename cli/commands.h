/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar's top-level commands (the table is in main.c): the handlers and
 * their option tables, or the tables of their subcommands.  Each command
 * file includes this header for its own declarations only. */
#ifndef MORTAR_CLI_COMMANDS_H
#define MORTAR_CLI_COMMANDS_H

#include <getopt.h>

#include "command.h"

extern const struct cli_table img_table;
int cmd_io(int argc, char **argv);
extern const struct option io_options[];
int cmd_serve(int argc, char **argv);
extern const struct option serve_longopts[];
extern const struct cli_table export_table;
int cmd_doctor(int argc, char **argv);
extern const struct option doctor_options[];
extern const struct cli_table vm_table;
int cmd_bench(int argc, char **argv);
extern const struct option bench_options[];

#endif
