/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img convert: copy any image format QEMU reads into a raw image.
 *
 * Mortar has no qcow2 (or vmdk, vhdx...) parser and will not grow one:
 * a non-raw source is exported read-only by a qemu-nbd child on a private
 * unix socket and read over NBD with libnbd, asking base:allocation which
 * ranges hold data, so holes and unallocated clusters stay holes in the
 * raw destination.  A raw source is simply cloned.
 *
 * A format that was probed, not given with -f, is never trusted to name
 * other files (convert-probe.c): such a source is refused, and qemu-nbd
 * opens a probed one with its backing chain cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libnbd.h>
#include <mortar/mortar.h>
#include "convert-probe.h"
#include "img.h"
#include "progress.h"
#include "error.h"
#include "sparse.h"

#define CHUNK (4u << 20)
#define STATUS_SPAN (256u << 20)	/* block status asked per request */

static const char convert_usage[] =
	"Usage: mortar img convert [-f FORMAT] [--force] [--quiet] [--output=human|json]\n"
	"                          SRC DST\n"
	"\n"
	"Copy the image SRC, in any format QEMU reads (qcow2, vmdk, vhdx, vdi, raw...),\n"
	"into the raw image DST, keeping holes.  Non-raw sources are read through a\n"
	"qemu-nbd child process.\n"
	"\n"
	"  -f, --format=FMT   format of SRC (default: detected with qemu-img info; a\n"
	"                     detected format may not name other files: a backing\n"
	"                     file, data file or extent is only read with -f)\n"
	"  -F, --force        replace DST if it exists\n"
	"  -q, --quiet        no progress bar\n"
	"      --output=json  progress lines and the result as JSON on stdout\n";

/* ---- the source, as qemu-nbd is to open it ---- */

struct convert_src {
	const char *text;		/* as typed, for messages */
	char format[32];
	char fmtopt[48];		/* "--format=FMT", or "" when NAME says it */
	char *name;			/* the file name qemu-nbd gets (malloc'd) */
};

/* Refuse a probed source that names other files: see convert-probe.c. */
static int convert_refuse(const char *cmd, const char *src, const struct convert_probe *p)
{
	return cli_error(cmd, "%s is a %s image that names a%s %s (%s); a guest can write "
			 "such a header into its disk, so Mortar reads no file an image "
			 "names unless -f gives the format: pass -f raw if %s is a raw "
			 "disk, or -f %s if you trust it and want that file read", src,
			 p->format, strchr("aeiou", p->ref_kind[0]) ? "n" : "", p->ref_kind,
			 p->ref, src, p->format);
}

/* A probed format, with the backing chain cut: should the image change
 * after the probe (a guest still writing it), qemu-nbd still follows no
 * backing file.  JSON, so that any file name passes as it is. */
static char *convert_spec(const char *format, const char *path)
{
	json_object *o = json_object_new_object(), *file = json_object_new_object();
	char *spec;

	json_object_object_add(o, "driver", json_object_new_string(format));
	json_object_object_add(o, "backing", NULL);
	json_object_object_add(file, "driver", json_object_new_string("file"));
	json_object_object_add(file, "filename", json_object_new_string(path));
	json_object_object_add(o, "file", file);
	if (asprintf(&spec, "json:%s", json_object_to_json_string_ext(o,
		     JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		spec = NULL;
	json_object_put(o);
	return spec;
}

/* How to read SRC (location LOC), in format FMT when -f gave one.
 * EXIT_OK, or EXIT_ERROR once reported. */
static int convert_source(const char *cmd, const char *src, const char *fmt,
			  const struct mortar_location *loc, struct convert_src *cs)
{
	struct convert_probe p;
	int rc;

	cs->text = src;
	if (loc->scheme != MORTAR_SCHEME_FILE) {
		/* Not probed: raw unless -f says otherwise; qemu-nbd takes
		 * QEMU's own URIs. */
		snprintf(cs->format, sizeof cs->format, "%s", fmt ? fmt : "raw");
		cs->name = strdup(src);
	} else if (asprintf(&cs->name, "%s%s", loc->path[0] == '/' ? "" : "./",
			    loc->path) < 0) {
		/* "./": QEMU would read "x:y.img" as protocol "x". */
		cs->name = NULL;
	} else if (fmt) {
		snprintf(cs->format, sizeof cs->format, "%s", fmt);
	} else {
		if ((rc = convert_probe(cmd, cs->name, &p)) != EXIT_OK)
			return rc;
		if (p.ref[0])
			return convert_refuse(cmd, src, &p);
		snprintf(cs->format, sizeof cs->format, "%s", p.format);
		if (strcmp(p.format, "raw")) {
			char *spec = convert_spec(p.format, cs->name);

			free(cs->name);
			cs->name = spec;
			return spec ? EXIT_OK : cli_error(cmd, "out of memory");
		}
	}
	if (!cs->name)
		return cli_error(cmd, "out of memory");
	snprintf(cs->fmtopt, sizeof cs->fmtopt, "--format=%s", cs->format);
	return EXIT_OK;
}

/* ---- qemu-nbd ---- */

struct nbd_src {
	char dir[64];
	char sock[128];
	pid_t pid;
	struct nbd_handle *h;
};

static void nbd_src_close(struct nbd_src *s)
{
	if (s->h) {
		nbd_shutdown(s->h, 0);
		nbd_close(s->h);
		s->h = NULL;
	}
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->sock[0])
		unlink(s->sock);
	if (s->dir[0])
		rmdir(s->dir);
}

/* Start qemu-nbd on the source CS and connect to it. */
static int nbd_src_open(const char *cmd, struct nbd_src *s, const struct convert_src *cs)
{
	snprintf(s->dir, sizeof s->dir, "/tmp/mortar-convert.XXXXXX");
	if (!mkdtemp(s->dir)) {
		s->dir[0] = '\0';
		cli_error(cmd, "cannot make a temporary directory: %m");
		return -1;
	}
	snprintf(s->sock, sizeof s->sock, "%s/src.sock", s->dir);
	s->pid = fork();
	if (s->pid < 0) {
		cli_error(cmd, "fork: %m");
		return -1;
	}
	if (s->pid == 0) {
		char *argv[] = { "qemu-nbd", "--read-only", "--persistent", "--socket",
				 s->sock, "--", cs->name, NULL, NULL };

		if (cs->fmtopt[0]) {
			/* ...--socket SOCK --format=FMT -- NAME */
			memmove(&argv[6], &argv[5], 2 * sizeof *argv);
			argv[5] = (char *)cs->fmtopt;
		}
		execvp(argv[0], argv);
		cli_error(cmd, "cannot run qemu-nbd: %m; install qemu-utils");
		_exit(127);
	}
	/* qemu-nbd makes its socket before it opens the image: a refused
	 * connection may mean it is still starting or already gone. */
	for (int i = 0; i < 1000; i++) {
		struct stat st;
		int status;

		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			cli_error(cmd, "qemu-nbd could not open %s as %s (see its "
				  "message above)", cs->text, cs->format);
			return -1;
		}
		if (stat(s->sock, &st) == 0) {
			s->h = nbd_create();
			if (!s->h || nbd_add_meta_context(s->h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0) {
				cli_error(cmd, "%s", nbd_get_error());
				return -1;
			}
			if (nbd_connect_unix(s->h, s->sock) == 0)
				return 0;
			nbd_close(s->h);
			s->h = NULL;
		}
		usleep(10000);
	}
	cli_error(cmd, "qemu-nbd did not start serving %s within 10 s", cs->text);
	return -1;
}

/* ---- the copy ---- */

struct copy {
	struct nbd_handle *h;
	struct mortar_image *out;
	uint8_t *buf;
	int64_t size;
	struct cli_progress *prog;
	int err;
};

/* Copy [OFF, OFF+LEN), which holds data, skipping all-zero blocks. */
static int copy_data(struct copy *c, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;
		int r;

		if (nbd_pread(c->h, c->buf, n, off, 0) < 0)
			return mortar_set_error(EIO, "%s", nbd_get_error());
		r = mortar_write_data_runs(c->buf, n, off, mortar_image_write_fn, c->out);
		if (r < 0)
			return r;
		off += n;
		len -= n;
		cli_progress_update(c->prog, off, (uint64_t)c->size);
	}
	return 0;
}

struct span {
	uint64_t start;
	uint64_t ext[2 * 1024];	/* (length, flags) pairs */
	size_t n;
};

static int collect(void *opaque, const char *meta, uint64_t offset, uint32_t *entries,
		   size_t count, int *error)
{
	struct span *s = opaque;

	(void)error;
	if (strcmp(meta, LIBNBD_CONTEXT_BASE_ALLOCATION))
		return 0;
	s->start = offset;
	for (size_t i = 0; i + 1 < count && s->n < sizeof s->ext / sizeof s->ext[0]; i += 2) {
		s->ext[s->n++] = entries[i];
		s->ext[s->n++] = entries[i + 1];
	}
	return 0;
}

static int copy_all(struct copy *c)
{
	bool status = nbd_can_meta_context(c->h, LIBNBD_CONTEXT_BASE_ALLOCATION) > 0;
	uint64_t off = 0, size = (uint64_t)c->size;

	while (off < size) {
		uint64_t span = size - off < STATUS_SPAN ? size - off : STATUS_SPAN;
		struct span s = { .start = off };
		uint64_t pos = off;
		int r;

		if (!status)
			return copy_data(c, 0, size);
		if (nbd_block_status(c->h, span, off, (nbd_extent_callback){
			.callback = collect, .user_data = &s }, 0) < 0)
			return mortar_set_error(EIO, "%s", nbd_get_error());
		if (s.n == 0)
			return mortar_set_error(EPROTO, "qemu-nbd sent no extents");
		for (size_t i = 0; i < s.n && pos < off + span; i += 2) {
			uint64_t len = s.ext[i];

			if (len > off + span - pos)
				len = off + span - pos;
			/* bit 1: reads as zeroes; the new image already does */
			if (!(s.ext[i + 1] & LIBNBD_STATE_ZERO)) {
				r = copy_data(c, pos, len);
				if (r < 0)
					return r;
			}
			pos += len;
		}
		off = pos;
		cli_progress_update(c->prog, off, size);
	}
	return 0;
}

static int convert_nbd(const char *cmd, const struct convert_src *cs, const char *dst,
		       bool force, struct cli_progress *prog)
{
	struct nbd_src s = { 0 };
	struct mortar_loop *loop = NULL;
	struct copy c = { .prog = prog };
	int rc = EXIT_ERROR, r;

	if (nbd_src_open(cmd, &s, cs) < 0)
		goto out;
	c.h = s.h;
	c.size = nbd_get_size(s.h);
	if (c.size < 0) {
		cli_error(cmd, "%s", nbd_get_error());
		goto out;
	}
	r = mortar_image_create_text(dst, (uint64_t)c.size, MORTAR_PREALLOC_OFF,
				force ? MORTAR_CREATE_FORCE : 0);
	if (r == -EEXIST) {
		cli_error(cmd, "%s already exists; pass --force to replace it", dst);
		goto out;
	}
	if (r < 0 || mortar_loop_new(0, &loop) < 0 ||
	    mortar_image_open_text(loop, dst, 0, &c.out) < 0) {
		rc = cli_fail_lib(cmd);
		goto out;
	}
	c.buf = malloc(CHUNK);
	if (!c.buf) {
		cli_error(cmd, "out of memory");
		goto out;
	}
	r = copy_all(&c);
	if (r == 0)
		r = mortar_image_flush_sync(c.out);
	rc = r < 0 ? cli_fail_lib(cmd) : EXIT_OK;
out:
	if (c.out && mortar_image_close(c.out) < 0 && rc == EXIT_OK)
		rc = cli_fail_lib(cmd);
	if (c.out && rc != EXIT_OK)
		mortar_image_remove_text(dst);	/* no half-converted image */
	mortar_loop_free(loop);
	free(c.buf);
	nbd_src_close(&s);
	return rc;
}

static void convert_print(const struct convert_src *cs, const char *dst,
			  enum output_format out, const struct cli_progress *prog)
{
	char size[32];

	if (out == OUTPUT_JSON) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "source", json_object_new_string(cs->text));
		json_object_object_add(o, "source-format", json_object_new_string(cs->format));
		json_object_object_add(o, "destination", json_object_new_string(dst));
		json_object_object_add(o, "size", json_object_new_uint64(prog->total));
		json_object_object_add(o, "seconds",
				       json_object_new_double(cli_progress_elapsed(prog)));
		cli_print_json_line(o);
		return;
	}
	printf("converted %s (%s) to %s (raw, %s, %.2f s)\n", cs->text, cs->format, dst,
	       cli_human_size(prog->total, size, sizeof size), cli_progress_elapsed(prog));
}

/* A raw source: a clone of the image, however the storage copies best. */
static int convert_raw(const char *cmd, const struct mortar_location *src, const char *dst,
		       bool force, struct cli_progress *prog)
{
	struct mortar_location *ld;
	int r = mortar_location_parse(dst, &ld, NULL);

	if (r == 0)
		r = mortar_image_clone(src, ld, force ? MORTAR_CLONE_FORCE : 0,
				       cli_progress_update, prog, NULL);
	mortar_location_free(ld);
	return r < 0 ? cli_fail_lib(cmd) : EXIT_OK;
}

const struct option img_convert_options[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "force", no_argument, NULL, 'F' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_img_convert(int argc, char **argv)
{
	const char *cmd = "img convert", *src, *dst, *fmt = NULL;
	enum output_format out = OUTPUT_HUMAN;
	struct mortar_location *loc = NULL;
	struct convert_src cs = { 0 };
	struct cli_progress prog;
	bool force = false, quiet = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:Fqo:h", img_convert_options, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'F': force = true; break;
		case 'q': quiet = true; break;
		case 'o':
			if (cli_parse_output(cmd, optarg, &out) < 0)
				return EXIT_USAGE;
			break;
		case 'h': fputs(convert_usage, stdout); return EXIT_OK;
		default: return cli_bad_option(cmd, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage(cmd, "expected SRC and DST");
	src = argv[optind];
	dst = argv[optind + 1];
	if (mortar_location_parse(src, &loc, NULL) < 0)
		return cli_fail_lib(cmd);
	rc = convert_source(cmd, src, fmt, loc, &cs);
	if (rc == EXIT_OK) {
		cli_progress_init(&prog, "convert", out, quiet);
		if (!strcmp(cs.format, "raw"))
			rc = convert_raw(cmd, loc, dst, force, &prog);
		else
			rc = convert_nbd(cmd, &cs, dst, force, &prog);
		cli_progress_end(&prog, rc == EXIT_OK);
	}
	mortar_location_free(loc);
	if (rc == EXIT_OK)
		convert_print(&cs, dst, out, &prog);
	free(cs.name);
	return rc;
}
