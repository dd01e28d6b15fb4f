/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img convert: copy any image format QEMU reads into a raw image.
 *
 * Mortar has no qcow2 (or vmdk, vhdx...) parser and will not grow one:
 * a non-raw source is exported read-only by a qemu-nbd child on a private
 * unix socket and read over NBD with libnbd, asking base:allocation which
 * ranges hold data, so holes and unallocated clusters stay holes in the
 * raw destination.  A raw source is simply cloned.
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
#include "img.h"
#include "progress.h"
#include "error.h"
#include "zero.h"

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
	"  -f, --format=FMT   format of SRC (default: detected with qemu-img info)\n"
	"  -F, --force        replace DST if it exists\n"
	"  -q, --quiet        no progress bar\n"
	"      --output=json  progress lines and the result as JSON on stdout\n";

/* Run ARGV with stdout captured (at most LEN-1 bytes); exit status or -1. */
static int run_capture(char *const argv[], char *buf, size_t len)
{
	int pfd[2], status;
	size_t n = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = read(pfd[0], buf + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == len - 1)
			break;
	}
	buf[n] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The format of the local file PATH, as qemu-img sees it. */
static int detect_format(const char *cmd, const char *path, char *fmt, size_t len)
{
	char *argv[] = { "qemu-img", "info", "--output=json", "--", (char *)path, NULL };
	char out[65536];
	json_object *o, *f;
	int rc = run_capture(argv, out, sizeof out);

	if (rc == 127 || rc < 0) {
		cli_error(cmd, "cannot run qemu-img to detect the format of %s; "
			"install qemu-utils or pass -f FORMAT", path);
		return -1;
	}
	o = rc == 0 ? json_tokener_parse(out) : NULL;
	if (!o || !json_object_object_get_ex(o, "format", &f)) {
		cli_error(cmd, "qemu-img cannot read %s (exit %d); is it an image?", path, rc);
		json_object_put(o);
		return -1;
	}
	snprintf(fmt, len, "%s", json_object_get_string(f));
	json_object_put(o);
	return 0;
}

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

/* Start qemu-nbd on SRC and connect to it. */
static int nbd_src_open(const char *cmd, struct nbd_src *s, const char *src,
			const char *fmt)
{
	char fmtarg[96];

	snprintf(s->dir, sizeof s->dir, "/tmp/mortar-convert.XXXXXX");
	if (!mkdtemp(s->dir)) {
		s->dir[0] = '\0';
		cli_error(cmd, "cannot make a temporary directory: %m");
		return -1;
	}
	snprintf(s->sock, sizeof s->sock, "%s/src.sock", s->dir);
	snprintf(fmtarg, sizeof fmtarg, "--format=%s", fmt);
	s->pid = fork();
	if (s->pid < 0) {
		cli_error(cmd, "fork: %m");
		return -1;
	}
	if (s->pid == 0) {
		char *argv[] = { "qemu-nbd", "--read-only", "--persistent", fmtarg,
				 "--socket", s->sock, "--", (char *)src, NULL };
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
				"message above)", src, fmt);
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
	cli_error(cmd, "qemu-nbd did not start serving %s within 10 s", src);
	return -1;
}

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

static int convert_nbd(const char *cmd, const char *src, const char *dst, const char *fmt,
		       bool force, struct cli_progress *prog)
{
	struct nbd_src s = { 0 };
	struct mortar_loop *loop = NULL;
	struct copy c = { .prog = prog };
	int rc = EXIT_ERROR, r;

	if (nbd_src_open(cmd, &s, src, fmt) < 0)
		goto out;
	c.h = s.h;
	c.size = nbd_get_size(s.h);
	if (c.size < 0) {
		cli_error(cmd, "%s", nbd_get_error());
		goto out;
	}
	r = mortar_image_create(dst, (uint64_t)c.size, MORTAR_PREALLOC_OFF,
				force ? MORTAR_CREATE_FORCE : 0);
	if (r == -EEXIST) {
		cli_error(cmd, "%s already exists; pass --force to replace it", dst);
		goto out;
	}
	if (r < 0 || mortar_loop_new(0, &loop) < 0 ||
	    mortar_image_open(loop, dst, 0, &c.out) < 0) {
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
		mortar_image_remove(dst);	/* no half-converted image */
	mortar_loop_free(loop);
	free(c.buf);
	nbd_src_close(&s);
	return rc;
}

int cmd_img_convert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "img convert", *src, *dst, *fmt = NULL;
	enum output_format out = OUTPUT_HUMAN;
	struct mortar_location *loc = NULL;
	struct cli_progress prog;
	bool force = false, quiet = false;
	char detected[64], size[32];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:Fqo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'F': force = true; break;
		case 'q': quiet = true; break;
		case 'o':
			if (cli_parse_output(cmd, optarg, &out) < 0)
				return EXIT_USAGE;
			break;
		case 'h': fputs(convert_usage, stdout); return EXIT_OK;
		default: return cli_usage(cmd, "unknown option");
		}
	}
	if (argc - optind != 2)
		return cli_usage(cmd, "expected SRC and DST");
	src = argv[optind];
	dst = argv[optind + 1];
	if (mortar_location_parse(src, &loc, NULL) < 0)
		return cli_fail_lib(cmd);
	if (!fmt) {
		if (loc->scheme != MORTAR_SCHEME_FILE) {
			fmt = "raw";	/* say -f for other formats on remote storage */
		} else if (detect_format(cmd, loc->path, detected, sizeof detected) < 0) {
			mortar_location_free(loc);
			return EXIT_ERROR;
		} else {
			fmt = detected;
		}
	}
	cli_progress_init(&prog, "convert", out, quiet);
	if (!strcmp(fmt, "raw")) {
		rc = mortar_image_clone(src, dst, force ? MORTAR_CLONE_FORCE : 0,
					cli_progress_update, &prog, NULL) < 0 ?
			cli_fail_lib(cmd) : EXIT_OK;
	} else {
		/* qemu-nbd takes paths and QEMU's own URIs. */
		rc = convert_nbd(cmd, loc->scheme == MORTAR_SCHEME_FILE ? loc->path : src,
				 dst, fmt, force, &prog);
	}
	cli_progress_end(&prog, rc == EXIT_OK);
	mortar_location_free(loc);
	if (rc != EXIT_OK)
		return rc;
	if (out == OUTPUT_JSON) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "source", json_object_new_string(src));
		json_object_object_add(o, "source-format", json_object_new_string(fmt));
		json_object_object_add(o, "destination", json_object_new_string(dst));
		json_object_object_add(o, "size", json_object_new_uint64(prog.total));
		json_object_object_add(o, "seconds", json_object_new_double(cli_progress_elapsed(&prog)));
		cli_print_json_line(o);
	} else {
		printf("converted %s (%s) to %s (raw, %s, %.2f s)\n", src, fmt, dst,
		       cli_human_size(prog.total, size, sizeof size), cli_progress_elapsed(&prog));
	}
	return EXIT_OK;
}
