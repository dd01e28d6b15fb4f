/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar io: run requests on an image through libmortar, in the manner of
 * qemu-io: `mortar io disk.img -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'`.
 * For checking storage by hand and for the tests. */
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

struct io_cmd {
	int argc;
	char *argv[IO_MAX_ARGS];
	char *storage;
};

static int io_split(const char *text, struct io_cmd *c)
{
	char *save, *tok;

	c->storage = strdup(text);
	if (!c->storage)
		return -ENOMEM;
	c->argc = 0;
	for (tok = strtok_r(c->storage, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (c->argc == IO_MAX_ARGS - 1)
			return -E2BIG;
		c->argv[c->argc++] = tok;
	}
	c->argv[c->argc] = NULL;
	return c->argc ? 0 : -EINVAL;
}

static int io_byte(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v < 0 || v > 255)
		return -1;
	*out = (int)v;
	return 0;
}

/* Parse "[flags] OFFSET LENGTH" of one command. */
struct io_args {
	int pattern;
	bool has_pattern, fua, may_trim, fast;
	uint64_t offset, length;
};

static int io_parse(const char *line, struct io_cmd *c, bool want_range,
		    const char *flags, struct io_args *a)
{
	int i = 1;

	for (; i < c->argc && c->argv[i][0] == '-' && c->argv[i][1]; i++) {
		char f = c->argv[i][1];

		if (c->argv[i][2] || !strchr(flags, f)) {
			fprintf(stderr, "%s io: '%s': unknown flag %s\n", progname, line,
				c->argv[i]);
			return -1;
		}
		switch (f) {
		case 'P':
			if (++i == c->argc || io_byte(c->argv[i], &a->pattern) < 0) {
				fprintf(stderr, "%s io: '%s': -P needs a byte value "
					"(0-255, e.g. 0xab)\n", progname, line);
				return -1;
			}
			a->has_pattern = true;
			break;
		case 'F': a->fua = true; break;
		case 'u': a->may_trim = true; break;
		case 'f': a->fast = true; break;
		}
	}
	if (!want_range)
		return i == c->argc ? 0 : (fprintf(stderr, "%s io: '%s': takes no "
			"arguments\n", progname, line), -1);
	if (c->argc - i != 2) {
		fprintf(stderr, "%s io: '%s': expected OFFSET LENGTH\n", progname, line);
		return -1;
	}
	if (mortar_parse_size(c->argv[i], &a->offset) < 0 ||
	    mortar_parse_size(c->argv[i + 1], &a->length) < 0) {
		fprintf(stderr, "%s io: '%s': %s\n", progname, line, mortar_errmsg());
		return -1;
	}
	return 0;
}

static int io_rw(struct mortar_image *img, bool write, const struct io_args *a,
		 const char *line)
{
	size_t bufsize = a->length < IO_CHUNK ? a->length : IO_CHUNK;
	uint64_t done = 0, size = mortar_image_size(img);
	unsigned char *buf;
	int r = 0;

	/* Refuse a range past the end before doing any of it. */
	if (a->offset > size || a->length > size - a->offset) {
		fprintf(stderr, "%s io: '%s': the range goes past the end of the "
			"image (%" PRIu64 " bytes)\n", progname, line, size);
		return -1;
	}

	if (posix_memalign((void **)&buf, 4096, bufsize ? bufsize : 1)) {
		fprintf(stderr, "%s io: out of memory\n", progname);
		return -1;
	}
	if (write)
		memset(buf, a->has_pattern ? a->pattern : 0xcd, bufsize);
	while (done < a->length) {
		size_t n = a->length - done < bufsize ? a->length - done : bufsize;

		if (write)
			r = mortar_image_pwrite_sync(img, buf, n, a->offset + done,
						     a->fua ? MORTAR_REQ_FUA : 0);
		else
			r = mortar_image_pread_sync(img, buf, n, a->offset + done);
		if (r < 0) {
			fprintf(stderr, "%s io: '%s': %s\n", progname, line, mortar_errmsg());
			break;
		}
		if (!write && a->has_pattern) {
			for (size_t k = 0; k < n; k++) {
				if (buf[k] != a->pattern) {
					fprintf(stderr, "%s io: '%s': pattern mismatch at "
						"offset %" PRIu64 ": found 0x%02x, expected "
						"0x%02x\n", progname, line, a->offset + done + k,
						buf[k], a->pattern);
					r = -1;
					break;
				}
			}
			if (r < 0)
				break;
		}
		done += n;
	}
	free(buf);
	if (r == 0)
		printf("%s %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n",
		       write ? "wrote" : "read", done, a->length, a->offset);
	return r < 0 ? -1 : 0;
}

static int io_lib_fail(const char *line)
{
	fprintf(stderr, "%s io: '%s': %s\n", progname, line, mortar_errmsg());
	return -1;
}

static int io_run(struct mortar_image *img, const char *line)
{
	struct io_cmd c = { 0 };
	struct io_args a = { 0 };
	const char *verb;
	int r = -1;

	if (io_split(line, &c) < 0) {
		fprintf(stderr, "%s io: cannot parse command '%s'\n", progname, line);
		goto out;
	}
	verb = c.argv[0];
	if (!strcmp(verb, "read")) {
		if (io_parse(line, &c, true, "P", &a) == 0)
			r = io_rw(img, false, &a, line);
	} else if (!strcmp(verb, "write")) {
		if (io_parse(line, &c, true, "PF", &a) == 0)
			r = io_rw(img, true, &a, line);
	} else if (!strcmp(verb, "zero") || !strcmp(verb, "write_zeroes")) {
		if (io_parse(line, &c, true, "ufF", &a) == 0) {
			r = mortar_image_zero_sync(img, a.offset, a.length,
				(a.may_trim ? MORTAR_REQ_MAY_TRIM : 0) |
				(a.fast ? MORTAR_REQ_FAST : 0) |
				(a.fua ? MORTAR_REQ_FUA : 0));
			if (r < 0)
				r = io_lib_fail(line);
			else
				printf("zeroed %" PRIu64 " bytes at offset %" PRIu64 "\n",
				       a.length, a.offset);
		}
	} else if (!strcmp(verb, "trim") || !strcmp(verb, "discard")) {
		if (io_parse(line, &c, true, "F", &a) == 0) {
			r = mortar_image_trim_sync(img, a.offset, a.length,
						   a.fua ? MORTAR_REQ_FUA : 0);
			if (r < 0)
				r = io_lib_fail(line);
			else
				printf("trimmed %" PRIu64 " bytes at offset %" PRIu64 "\n",
				       a.length, a.offset);
		}
	} else if (!strcmp(verb, "flush")) {
		if (io_parse(line, &c, false, "", &a) == 0) {
			r = mortar_image_flush_sync(img);
			if (r < 0)
				r = io_lib_fail(line);
			else
				printf("flushed\n");
		}
	} else {
		fprintf(stderr, "%s io: unknown command '%s' (read, write, zero, trim, "
			"flush)\n", progname, verb);
		goto out;
	}
out:
	free(c.storage);
	return r < 0 ? -1 : 0;
}

int cmd_io(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "direct", no_argument, NULL, 'd' },
		{ "cmd", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct mortar_loop *loop;
	struct mortar_image *img;
	const char **cmds;
	unsigned flags = 0;
	int ncmds = 0, c, r = EXIT_OK;

	cmds = calloc((size_t)argc, sizeof *cmds);
	if (!cmds)
		return EXIT_ERROR;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hrdc:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(io_usage, stdout);
			free(cmds);
			return EXIT_OK;
		case 'r': flags |= MORTAR_OPEN_RDONLY; break;
		case 'd': flags |= MORTAR_OPEN_DIRECT; break;
		case 'c': cmds[ncmds++] = optarg; break;
		default:
			free(cmds);
			return cli_usage("io", "unknown or incomplete option '%s'",
					 argv[optind - 1]);
		}
	}
	if (argc - optind != 1 || ncmds == 0) {
		free(cmds);
		return cli_usage("io", "expected LOCATION and at least one -c COMMAND");
	}
	if (mortar_loop_new(0, &loop) < 0) {
		free(cmds);
		return cli_fail_lib("io");
	}
	r = mortar_image_open(loop, argv[optind], flags, &img);
	if (r < 0) {
		r = cli_fail_open("io", r, flags);
		goto out;
	}
	r = EXIT_OK;
	for (int i = 0; i < ncmds && r == EXIT_OK; i++)
		if (io_run(img, cmds[i]) < 0)
			r = EXIT_ERROR;
	if (mortar_image_close(img) < 0 && r == EXIT_OK)
		r = cli_fail_lib("io");
out:
	mortar_loop_free(loop);
	free(cmds);
	return r;
}
