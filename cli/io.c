/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar io: run requests on an image through libmortar, in the manner of
 * qemu-io: `mortar io disk.img -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'`.
 * For checking storage by hand and for the tests.  Each -c line is split,
 * parsed against its verb's row of the table below, then run. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "commands.h"

#define IO_CHUNK (8u << 20)
#define IO_MAX_ARGS 16

static const char io_usage[] =
	"Usage: mortar io [--read-only] [--direct] LOCATION -c COMMAND [-c COMMAND]...\n"
	"\n"
	"Commands (OFFSET and LENGTH take suffixes K, M, G...):\n"
	"  read [-P BYTE] OFFSET LENGTH      read; with -P, check every byte is BYTE\n"
	"  write [-P BYTE] [-F] OFFSET LENGTH write BYTE (default 0xcd); -F: FUA\n"
	"  zero [-u] [-f] [-F] OFFSET LENGTH zero; -u: may deallocate; -f: fast only\n"
	"                                    (also: write_zeroes)\n"
	"  trim [-F] OFFSET LENGTH           deallocate (also: discard)\n"
	"  flush                             make everything written durable\n"
	"See mortar-io(1).\n";

/* One -c line, parsed. */
struct io_args {
	const char *line;		/* as given, for messages */
	int pattern;
	bool has_pattern, fua, may_trim, fast;
	uint64_t offset, length;
};

/* ---- running ---- */

static int io_fail(const struct io_args *a)
{
	cli_error("io", "'%s': %s", a->line, mortar_errmsg());
	return -1;
}

/* The first byte of BUF[0, N) that is not PATTERN, or N. */
static size_t io_mismatch(const unsigned char *buf, size_t n, int pattern)
{
	for (size_t k = 0; k < n; k++)
		if (buf[k] != pattern)
			return k;
	return n;
}

static int io_rw(struct mortar_image *img, bool write, const struct io_args *a)
{
	size_t bufsize = a->length < IO_CHUNK ? a->length : IO_CHUNK;
	uint64_t done = 0, size = mortar_image_size(img);
	unsigned char *buf;
	int r = 0;

	/* Refuse a range past the end before doing any of it. */
	if (a->offset > size || a->length > size - a->offset) {
		cli_error("io", "'%s': the range goes past the end of the image "
			  "(%" PRIu64 " bytes)", a->line, size);
		return -1;
	}
	if (posix_memalign((void **)&buf, 4096, bufsize ? bufsize : 1)) {
		cli_error("io", "out of memory");
		return -1;
	}
	if (write)
		memset(buf, a->has_pattern ? a->pattern : 0xcd, bufsize);
	while (r == 0 && done < a->length) {
		size_t n = a->length - done < bufsize ? a->length - done : bufsize, k;

		r = write ? mortar_image_pwrite_sync(img, buf, n, a->offset + done,
						     a->fua ? MORTAR_REQ_FUA : 0) :
			    mortar_image_pread_sync(img, buf, n, a->offset + done);
		if (r < 0) {
			r = io_fail(a);
		} else if (!write && a->has_pattern &&
			   (k = io_mismatch(buf, n, a->pattern)) < n) {
			cli_error("io", "'%s': pattern mismatch at offset %" PRIu64 ": found "
				  "0x%02x, expected 0x%02x", a->line, a->offset + done + k,
				  buf[k], a->pattern);
			r = -1;
		}
		done += n;
	}
	free(buf);
	if (r == 0)
		printf("%s %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n",
		       write ? "wrote" : "read", done, a->length, a->offset);
	return r;
}

static int io_read(struct mortar_image *img, const struct io_args *a)
{
	return io_rw(img, false, a);
}

static int io_write(struct mortar_image *img, const struct io_args *a)
{
	return io_rw(img, true, a);
}

static int io_zero(struct mortar_image *img, const struct io_args *a)
{
	unsigned flags = (a->may_trim ? MORTAR_REQ_MAY_TRIM : 0) |
			 (a->fast ? MORTAR_REQ_FAST : 0) | (a->fua ? MORTAR_REQ_FUA : 0);

	if (mortar_image_zero_sync(img, a->offset, a->length, flags) < 0)
		return io_fail(a);
	printf("zeroed %" PRIu64 " bytes at offset %" PRIu64 "\n", a->length, a->offset);
	return 0;
}

static int io_trim(struct mortar_image *img, const struct io_args *a)
{
	if (mortar_image_trim_sync(img, a->offset, a->length, a->fua ? MORTAR_REQ_FUA : 0) < 0)
		return io_fail(a);
	printf("trimmed %" PRIu64 " bytes at offset %" PRIu64 "\n", a->length, a->offset);
	return 0;
}

static int io_flush(struct mortar_image *img, const struct io_args *a)
{
	if (mortar_image_flush_sync(img) < 0)
		return io_fail(a);
	printf("flushed\n");
	return 0;
}

static const struct io_verb {
	const char *name, *alias;
	const char *flags;		/* the one-letter flags it takes */
	bool range;			/* takes OFFSET LENGTH */
	int (*run)(struct mortar_image *img, const struct io_args *a);
} io_verbs[] = {
	{ "read", NULL, "P", true, io_read },
	{ "write", NULL, "PF", true, io_write },
	{ "zero", "write_zeroes", "ufF", true, io_zero },
	{ "trim", "discard", "F", true, io_trim },
	{ "flush", NULL, "", false, io_flush },
};

/* ---- parsing ---- */

/* Split LINE into at most IO_MAX_ARGS - 1 words of STORAGE (malloc'd). */
static int io_split(const char *line, char **storage, char **argv, int *argc)
{
	char *save, *tok;

	*storage = strdup(line);
	if (!*storage)
		return -ENOMEM;
	*argc = 0;
	for (tok = strtok_r(*storage, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (*argc == IO_MAX_ARGS - 1)
			return -E2BIG;
		argv[(*argc)++] = tok;
	}
	argv[*argc] = NULL;
	return *argc ? 0 : -EINVAL;
}

static const struct io_verb *io_find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof io_verbs / sizeof io_verbs[0]; i++)
		if (!strcmp(name, io_verbs[i].name) ||
		    (io_verbs[i].alias && !strcmp(name, io_verbs[i].alias)))
			return &io_verbs[i];
	return NULL;
}

/* The flags of ARGV (ARGV[0] is the verb); returns the index of the first
 * operand, or -1 (reported). */
static int io_parse_flags(const struct io_verb *v, int argc, char **argv, struct io_args *a)
{
	unsigned byte;
	int i = 1;

	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		char f = argv[i][1];

		if (argv[i][2] || !strchr(v->flags, f)) {
			cli_error("io", "'%s': unknown flag %s", a->line, argv[i]);
			return -1;
		}
		if (f == 'P') {
			if (++i == argc || cli_parse_byte(argv[i], &byte) < 0) {
				cli_error("io", "'%s': -P needs a byte value (0-255, e.g. 171, 0xab or 0253)",
					  a->line);
				return -1;
			}
			a->pattern = (int)byte;
			a->has_pattern = true;
		}
		a->fua |= f == 'F';
		a->may_trim |= f == 'u';
		a->fast |= f == 'f';
	}
	return i;
}

static int io_parse(const struct io_verb *v, int argc, char **argv, struct io_args *a)
{
	int i = io_parse_flags(v, argc, argv, a);

	if (i < 0)
		return -1;
	if (!v->range && i != argc) {
		cli_error("io", "'%s': takes no arguments", a->line);
		return -1;
	}
	if (!v->range)
		return 0;
	if (argc - i != 2) {
		cli_error("io", "'%s': expected OFFSET LENGTH", a->line);
		return -1;
	}
	if (mortar_parse_size(argv[i], &a->offset) < 0 ||
	    mortar_parse_size(argv[i + 1], &a->length) < 0) {
		cli_error("io", "'%s': %s", a->line, mortar_errmsg());
		return -1;
	}
	return 0;
}

/* Parse and run one -c LINE; 0 or -1 (reported). */
static int io_run(struct mortar_image *img, const char *line)
{
	struct io_args a = { .line = line };
	const struct io_verb *v = NULL;
	char *argv[IO_MAX_ARGS], *storage = NULL;
	int argc, r = -1;

	if (io_split(line, &storage, argv, &argc) < 0)
		cli_error("io", "cannot parse command '%s'", line);
	else if (!(v = io_find_verb(argv[0])))
		cli_error("io", "unknown command '%s' (read, write, zero, trim, flush)",
			  argv[0]);
	else if (io_parse(v, argc, argv, &a) == 0)
		r = v->run(img, &a);
	free(storage);
	return r;
}

/* ---- the command ---- */

const struct option io_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "direct", no_argument, NULL, 'd' },
	{ "cmd", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};

int cmd_io(int argc, char **argv)
{
	struct mortar_loop *loop;
	struct mortar_image *img;
	const char **cmds;
	unsigned flags = 0;
	int ncmds = 0, c, r = EXIT_USAGE;

	cmds = calloc((size_t)argc, sizeof *cmds);
	if (!cmds)
		return cli_error("io", "out of memory");
	optind = 1;
	while ((c = getopt_long(argc, argv, "hrdc:", io_options, NULL)) != -1) {
		if (c == 'h') {
			fputs(io_usage, stdout);
			free(cmds);
			return EXIT_OK;
		}
		if (c == 'r' || c == 'd')
			flags |= c == 'r' ? MORTAR_OPEN_RDONLY : MORTAR_OPEN_DIRECT;
		else if (c == 'c')
			cmds[ncmds++] = optarg;
		else
			goto out_usage;
	}
	if (argc - optind != 1 || ncmds == 0) {
		free(cmds);
		return cli_usage("io", "expected LOCATION and at least one -c COMMAND");
	}
	if (mortar_loop_new(0, &loop) < 0) {
		free(cmds);
		return cli_fail_lib("io");
	}
	r = mortar_image_open_text(loop, argv[optind], flags, &img);
	if (r < 0) {
		r = cli_fail_open("io", r, flags);
	} else {
		r = EXIT_OK;
		for (int i = 0; i < ncmds && r == EXIT_OK; i++)
			if (io_run(img, cmds[i]) < 0)
				r = EXIT_ERROR;
		if (mortar_image_close(img) < 0 && r == EXIT_OK)
			r = cli_fail_lib("io");
	}
	mortar_loop_free(loop);
	free(cmds);
	return r;
out_usage:
	free(cmds);
	return cli_bad_option("io", argv);
}
