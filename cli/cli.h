/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mortar command line: shared helpers for the subcommands. */
#ifndef MORTAR_CLI_H
#define MORTAR_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

/* Exit codes, as documented in mortar(1). */
#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2

enum output_format { OUTPUT_HUMAN, OUTPUT_JSON };

extern const char *progname;

/* "mortar img info: " + the last libmortar message, then exit code 1. */
int cli_fail_lib(const char *cmd);
/* Like cli_fail_lib, for an open that failed with ERR; for commands that
 * have --read-only, hints at it when that would let the open succeed. */
int cli_fail_open(const char *cmd, int err, unsigned flags);
/* Usage error: message and a hint to --help, exit code 2. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int cli_parse_output(const char *cmd, const char *arg, enum output_format *out);
/* Print OBJ as JSON on stdout and drop the reference. */
void cli_print_json(json_object *obj);
/* The same on one line, for commands whose JSON output is a stream of
 * lines (progress, then the result). */
void cli_print_json_line(json_object *obj);
/* "1 GiB", "512 KiB", "1.5 MiB" */
const char *cli_human_size(uint64_t bytes, char *buf, size_t len);

int cmd_img(int argc, char **argv);
int cmd_io(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_vm(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* mortar img clone|convert (img-clone.c), mortar img snapshot (img-snapshot.c) */
int cmd_img_clone(int argc, char **argv);
int cmd_img_convert(int argc, char **argv);
int cmd_img_snapshot(int argc, char **argv);

#endif
