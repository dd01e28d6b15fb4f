/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handlers of mortar's top-level commands (the table is in main.c).
 * Each command file includes this header for its own prototype only. */
#ifndef MORTAR_CLI_COMMANDS_H
#define MORTAR_CLI_COMMANDS_H

int cmd_img(int argc, char **argv);
int cmd_io(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_vm(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
