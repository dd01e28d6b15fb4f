/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mortar command line: what every command shares.  Messages and exit
 * codes (report.c), strict parsing of option values (args.c), output
 * (print.c).  Command files include this header, never each other's. */
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

/* ---- report.c: every message starts "mortar CMD: " ---- */

/* An operational failure: one line on stderr; returns EXIT_ERROR. */
int cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Usage error: message and a hint to --help; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* cli_error with the last libmortar message. */
int cli_fail_lib(const char *cmd);
/* Like cli_fail_lib, for an open that failed with ERR; for commands that
 * have --read-only, hints at it when that would let the open succeed. */
int cli_fail_open(const char *cmd, int err, unsigned flags);
/* After getopt_long returned '?' or ':': names the option it refused
 * (ARGV is the one given to getopt_long); returns EXIT_USAGE. */
int cli_bad_option(const char *cmd, char **argv);

/* ---- args.c: option values, the whole argument or nothing ---- */

/* A decimal whole number in [LO, HI]: 0, -EINVAL (not one), -ERANGE. */
int cli_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* A byte value in decimal, hex or octal ("171", "0xab", "0253"), as
 * qemu-io reads -P: 0 or -EINVAL/-ERANGE. */
int cli_parse_byte(const char *s, unsigned *out);
/* A duration: "90" or "90s", "500ms", "2m", "1h"; 0 or -EINVAL/-ERANGE. */
int cli_parse_duration_ms(const char *s, uint64_t *ms);

/* The same for option OPT of CMD: 0, or -EINVAL once a usage message
 * that names OPT, the range and ARG is printed (then exit EXIT_USAGE). */
int cli_opt_uint(const char *cmd, const char *opt, const char *arg,
		 unsigned lo, unsigned hi, unsigned *out);
/* A size with the library's suffixes (K, M, G... binary), in [LO, HI]. */
int cli_opt_size(const char *cmd, const char *opt, const char *arg,
		 uint64_t lo, uint64_t hi, uint64_t *out);
/* A duration in whole seconds, in [LO, HI] seconds. */
int cli_opt_seconds(const char *cmd, const char *opt, const char *arg,
		    unsigned lo, unsigned hi, unsigned *out);
/* --output=human|json */
int cli_parse_output(const char *cmd, const char *arg, enum output_format *out);

/* ---- print.c ---- */

/* Print OBJ as JSON on stdout and drop the reference. */
void cli_print_json(json_object *obj);
/* The same on one line, for commands whose JSON output is a stream of
 * lines (progress, then the result). */
void cli_print_json_line(json_object *obj);
/* "1 GiB", "512 KiB", "1.5 MiB" */
const char *cli_human_size(uint64_t bytes, char *buf, size_t len);

#endif
