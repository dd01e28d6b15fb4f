/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ways mortar bench reaches the benchmark image.
 *
 * Local file: fio's io_uring engine with O_DIRECT on the file (the
 * storage itself), then NBD servers all exporting it with O_DIRECT so that
 * none is flattered by the page cache: mortar serve --direct, qemu-nbd
 * --cache=none --aio=io_uring, nbdkit's file plugin with cache=none,
 * qemu-storage-daemon with cache.direct=on.
 *
 * GlusterFS: fio's gfapi_async engine in-process (libgfapi without any
 * server in between), the FUSE mount, mortar serve, and QEMU's own gluster
 * driver behind qemu-nbd and qemu-storage-daemon when the installed QEMU
 * has it (Debian ships it in qemu-block-extra; others drop it).
 *
 * Every NBD server listens on a unix socket in the private temporary
 * directory; fio's nbd engine (libnbd) is the client for all of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

bool bench_have(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		return false;
	for (const char *p = path; *p;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n && snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog) < (int)sizeof buf &&
		    access(buf, X_OK) == 0)
			return true;
		p += n + (end ? 1 : 0);
	}
	return false;
}

static bool need(const char *prog, char *why, size_t len)
{
	if (bench_have(prog))
		return true;
	snprintf(why, len, "%s is not installed", prog);
	return false;
}

/* Does this QEMU have its gluster block driver?  qemu-img lists the
 * drivers it has. */
static bool qemu_has_gluster(char *why, size_t len)
{
	char out[8192] = "";
	int pfd[2], status;
	size_t n = 0;
	pid_t pid;

	if (!need("qemu-img", why, len) || pipe2(pfd, O_CLOEXEC) < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		execlp("qemu-img", "qemu-img", "--help", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (pid > 0 && n < sizeof out - 1) {
		ssize_t r = read(pfd[0], out + n, sizeof out - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(pfd[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (strstr(out, " gluster"))
		return true;
	snprintf(why, len, "this QEMU has no gluster driver (install qemu-block-extra)");
	return false;
}

/* ---- NBD servers ---- */

static bool start_server(const struct bench_ctx *ctx, struct bench_running *r,
			 char *const argv[], char *why, size_t len)
{
	int fd;

	r->pid = fork();
	if (r->pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return false;
	}
	if (r->pid == 0) {
		fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		struct stat st;
		int status;

		if (stat(r->sock, &st) == 0) {
			/* qemu-nbd makes its socket before it opens the image;
			 * give a failing one the moment to say so. */
			usleep(50000);
			if (waitpid(r->pid, &status, WNOHANG) != r->pid)
				return true;
		}
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			char msg[200] = "";
			FILE *f = fopen(r->log, "r");

			if (f) {
				if (!fgets(msg, sizeof msg, f))
					msg[0] = '\0';
				fclose(f);
			}
			msg[strcspn(msg, "\n")] = '\0';
			snprintf(why, len, "%s did not start: %s", argv[0],
				 msg[0] ? msg : "(no message)");
			r->pid = 0;
			return false;
		}
		usleep(10000);
	}
	snprintf(why, len, "%s did not listen within 10 s", argv[0]);
	kill(-r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
	r->pid = 0;
	return false;
}

static void stop_server(const struct bench_ctx *ctx, struct bench_running *r)
{
	(void)ctx;
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		for (int i = 0; i < 500; i++) {
			if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
				r->pid = 0;
				break;
			}
			usleep(10000);
		}
		if (r->pid > 0) {
			kill(-r->pid, SIGKILL);
			waitpid(r->pid, NULL, 0);
			r->pid = 0;
		}
	}
	unlink(r->sock);
}

static void nbd_target(const struct bench_ctx *ctx, const struct bench_running *r, FILE *f)
{
	(void)ctx;
	fprintf(f, "ioengine=nbd\nuri=nbd+unix:///bench?socket=%s\n", r->sock);
}

static void nbd_target_default(const struct bench_ctx *ctx, const struct bench_running *r,
			       FILE *f)
{
	(void)ctx;
	fprintf(f, "ioengine=nbd\nuri=nbd+unix:///?socket=%s\n", r->sock);
}

/* "gluster://host/vol/path" for QEMU, from the first volfile server. */
static void qemu_gluster_uri(const struct bench_ctx *ctx, char *buf, size_t len)
{
	const struct mortar_server *s = &ctx->loc->servers[0];
	const char *host = s->host ? s->host : "localhost";
	bool v6 = strchr(host, ':') != NULL;
	char port[16] = "";

	if (s->port)
		snprintf(port, sizeof port, ":%d", s->port);
	snprintf(buf, len, "gluster://%s%s%s%s/%s/%s", v6 ? "[" : "", host, v6 ? "]" : "",
		 port, ctx->loc->volume, ctx->loc->path);
}

static bool mortar_avail(const struct bench_ctx *ctx, char *why, size_t len)
{
	(void)ctx; (void)why; (void)len;
	return true;
}

static bool mortar_start(const struct bench_ctx *ctx, struct bench_running *r,
			 char *why, size_t len)
{
	char *file[] = { (char *)ctx->mortar, "serve", "-f", "--direct", "-s", r->sock,
			 (char *)ctx->location, NULL };
	char *gl[] = { (char *)ctx->mortar, "serve", "-f", "-s", r->sock,
		       (char *)ctx->location, NULL };

	return start_server(ctx, r, ctx->gluster ? gl : file, why, len);
}

static bool qemu_nbd_avail(const struct bench_ctx *ctx, char *why, size_t len)
{
	if (!need("qemu-nbd", why, len))
		return false;
	return !ctx->gluster || qemu_has_gluster(why, len);
}

static bool qemu_nbd_start(const struct bench_ctx *ctx, struct bench_running *r,
			   char *why, size_t len)
{
	char uri[512];
	/* --persistent: fio opens a connection per job; --shared: and the
	 * default allows only one at a time. */
	char *file[] = { "qemu-nbd", "-f", "raw", "--aio=io_uring", "--cache=none",
			 "--persistent", "--shared=16", "-x", "bench", "-k", r->sock,
			 (char *)ctx->loc->path, NULL };
	char *gl[] = { "qemu-nbd", "-f", "raw", "--cache=none", "--persistent",
		       "--shared=16", "-x", "bench", "-k", r->sock, uri, NULL };

	if (ctx->gluster)
		qemu_gluster_uri(ctx, uri, sizeof uri);
	return start_server(ctx, r, ctx->gluster ? gl : file, why, len);
}

static bool nbdkit_avail(const struct bench_ctx *ctx, char *why, size_t len)
{
	(void)ctx;
	return need("nbdkit", why, len);
}

static bool nbdkit_start(const struct bench_ctx *ctx, struct bench_running *r,
			 char *why, size_t len)
{
	char file[PATH_MAX + 8];
	char *argv[] = { "nbdkit", "-f", "-U", r->sock, "file", file, "cache=none", NULL };

	snprintf(file, sizeof file, "file=%s", ctx->loc->path);
	return start_server(ctx, r, argv, why, len);
}

static bool qsd_avail(const struct bench_ctx *ctx, char *why, size_t len)
{
	if (!need("qemu-storage-daemon", why, len))
		return false;
	return !ctx->gluster || qemu_has_gluster(why, len);
}

static bool qsd_start(const struct bench_ctx *ctx, struct bench_running *r,
		      char *why, size_t len)
{
	char blockdev[PATH_MAX + 256], server[PATH_MAX + 64];
	char *argv[] = { "qemu-storage-daemon", "--blockdev", blockdev,
			 "--nbd-server", server,
			 "--export", "type=nbd,id=e,node-name=disk,name=bench,writable=on", NULL };

	if (ctx->gluster) {
		const struct mortar_server *s = &ctx->loc->servers[0];
		snprintf(blockdev, sizeof blockdev, "driver=gluster,node-name=disk,volume=%s,"
			 "path=%s,server.0.type=inet,server.0.host=%s,server.0.port=%d,"
			 "cache.direct=on", ctx->loc->volume, ctx->loc->path,
			 s->host ? s->host : "localhost", s->port ? s->port : 24007);
	} else {
		snprintf(blockdev, sizeof blockdev, "driver=file,node-name=disk,filename=%s,"
			 "aio=io_uring,cache.direct=on", ctx->loc->path);
	}
	snprintf(server, sizeof server, "addr.type=unix,addr.path=%s", r->sock);
	return start_server(ctx, r, argv, why, len);
}

/* ---- without NBD ---- */

static bool direct_avail(const struct bench_ctx *ctx, char *why, size_t len)
{
	(void)ctx; (void)why; (void)len;
	return true;	/* fio itself is required up front */
}

static bool no_start(const struct bench_ctx *ctx, struct bench_running *r,
		     char *why, size_t len)
{
	(void)ctx; (void)r; (void)why; (void)len;
	return true;
}

static void no_stop(const struct bench_ctx *ctx, struct bench_running *r)
{
	(void)ctx; (void)r;
}

static void direct_target(const struct bench_ctx *ctx, const struct bench_running *r,
			  FILE *f)
{
	(void)r;
	if (ctx->gluster)
		fprintf(f, "ioengine=gfapi_async\nvolume=%s\nbrick=%s\nfilename=%s\n",
			ctx->loc->volume, ctx->loc->servers[0].host, ctx->loc->path);
	else
		fprintf(f, "ioengine=io_uring\ndirect=1\nfilename=%s\n", ctx->loc->path);
}

static bool fuse_avail(const struct bench_ctx *ctx, char *why, size_t len)
{
	(void)ctx;
	if (getuid() != 0) {
		snprintf(why, len, "mounting needs root");
		return false;
	}
	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		snprintf(why, len, "no /dev/fuse");
		return false;
	}
	return need("mount.glusterfs", why, len) || bench_have("/sbin/mount.glusterfs");
}

static bool fuse_start(const struct bench_ctx *ctx, struct bench_running *r,
		       char *why, size_t len)
{
	char spec[512];
	int status;
	pid_t pid;

	snprintf(spec, sizeof spec, "%s:/%s", ctx->loc->servers[0].host, ctx->loc->volume);
	mkdir(r->mnt, 0700);
	pid = fork();
	if (pid == 0) {
		execlp("mount", "mount", "-t", "glusterfs", spec, r->mnt, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(why, len, "mount -t glusterfs %s failed", spec);
		rmdir(r->mnt);
		return false;
	}
	return true;
}

static void fuse_target(const struct bench_ctx *ctx, const struct bench_running *r, FILE *f)
{
	fprintf(f, "ioengine=io_uring\ndirect=1\nfilename=%s/%s\n", r->mnt, ctx->loc->path);
}

static void fuse_stop(const struct bench_ctx *ctx, struct bench_running *r)
{
	(void)ctx;
	if (umount2(r->mnt, 0) < 0)
		umount2(r->mnt, MNT_DETACH);
	rmdir(r->mnt);
}

const struct bench_path bench_paths[] = {
	{ "direct", "the storage itself: fio io_uring O_DIRECT (file), fio gfapi_async (gluster)",
	  true, true, direct_avail, no_start, direct_target, no_stop },
	{ "fuse", "the GlusterFS FUSE mount, fio io_uring O_DIRECT",
	  false, true, fuse_avail, fuse_start, fuse_target, fuse_stop },
	{ "mortar", "mortar serve (--direct on files), fio nbd",
	  true, true, mortar_avail, mortar_start, nbd_target_default, stop_server },
	{ "qemu-nbd", "qemu-nbd --cache=none (QEMU's gluster driver on gluster), fio nbd",
	  true, true, qemu_nbd_avail, qemu_nbd_start, nbd_target, stop_server },
	{ "nbdkit", "nbdkit file plugin cache=none, fio nbd",
	  true, false, nbdkit_avail, nbdkit_start, nbd_target_default, stop_server },
	{ "qsd", "qemu-storage-daemon cache.direct=on (gluster driver on gluster), fio nbd",
	  true, true, qsd_avail, qsd_start, nbd_target, stop_server },
};
const size_t bench_npaths = sizeof bench_paths / sizeof bench_paths[0];
