/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control socket of `mortar serve`, and its client.
 *
 * Every server listens on RUNTIME/serve/PID.sock (the per-user runtime
 * directory, 0700).  Another mortar process of the same user, such as
 * `mortar img snapshot`, asks it to quiesce the exports of one image for
 * the instant a clone is taken:
 *
 *   client: quiesce file DEV:INO        (a local file, by identity)
 *           quiesce location TEXT       (a gluster location)
 *   server: ok N | none | error MESSAGE
 *   client: resume                      (or just closes the connection)
 *   server: resumed
 *
 * and `mortar img resize` asks it to resize an image it exports, through
 * its own handles, so that its clients can be told (vhost-user-blk):
 *
 *   client: resize SIZE [shrink] file DEV:INO   (or location TEXT)
 *   server: ok N | none | error MESSAGE
 *
 * "ok" means: modifying requests that arrive now wait, every one that
 * was already inside the image has completed, and each worker's handle on
 * the image was flushed, so the storage holds everything acknowledged.
 * The server resumes on "resume", when the client goes away (a crashed
 * snapshot never leaves the export frozen) or after the server's quiesce
 * timeout; then it says "expired" first, so that the client knows that
 * what it copied may not be consistent and fails instead of keeping it.
 * Requests are served one client at a time: snapshots are rare and short.
 *
 * Only the server's own user (and root) may talk to it: the directory is
 * private, and each client's credentials (SO_PEERCRED) are checked too,
 * in case the socket is ever reached another way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "error.h"
#include "internal.h"
#include "runtime.h"

#define DRAIN_MAX_MS 30000	/* as in quiesce.c */
#define LINE_MAX_LEN 4096

/* ---- lines on a socket ---- */

static int send_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int send_line(int fd, const char *fmt, ...)
{
	char buf[LINE_MAX_LEN + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	return send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

/* Read one line (without '\n') within TIMEOUT_MS.  0 on success, -1 on
 * error, timeout, EOF or an over-long line. */
static int recv_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

/* ---- server side ---- */

struct srv_control {
	struct srv *srv;
	int lfd;
	int wake[2];
	pthread_t tid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct mortar_location **locs;	/* the exports', not ours */
	struct stat *st;		/* per export, files: identity */
	bool *is_file;
};

/* Mark in MATCH the exports that REQUEST names; returns how many. */
static size_t ctl_match(struct srv_control *ctl, const char *request, bool *match)
{
	struct srv *srv = ctl->srv;
	size_t n = 0;

	if (!strncmp(request, "file ", 5)) {
		unsigned long long dev, ino;

		if (sscanf(request + 5, "%llu:%llu", &dev, &ino) != 2)
			return 0;
		for (size_t i = 0; i < srv->nexports; i++)
			if (ctl->is_file[i] && ctl->st[i].st_dev == dev &&
			    ctl->st[i].st_ino == ino)
				n += match[i] = true;
	} else if (!strncmp(request, "location ", 9)) {
		struct mortar_location *loc;

		if (mortar_location_parse(request + 9, &loc, NULL) < 0)
			return 0;
		for (size_t i = 0; i < srv->nexports; i++)
			if (ctl->locs[i] && loc->scheme == MORTAR_SCHEME_GLUSTER &&
			    mortar_location_same_image(loc, ctl->locs[i]))
				n += match[i] = true;
		mortar_location_free(loc);
	}
	return n;
}

/* "quiesce WHICH": hold the writes until the client says resume. */
static void ctl_quiesce(struct srv_control *ctl, int fd, const char *which, bool *match)
{
	struct srv *srv = ctl->srv;
	char line[LINE_MAX_LEN];
	size_t n = ctl_match(ctl, which, match);

	if (n == 0) {
		send_line(fd, "none");
		return;
	}
	if (srv_quiesce_begin(srv, match) < 0) {
		srv_log(srv, "quiesce refused: %s", mortar_errmsg());
		send_line(fd, "error %s", mortar_errmsg());
		return;
	}
	srv_debug(srv, "quiesced %zu export(s) for a snapshot", n);
	if (send_line(fd, "ok %zu", n) == 0) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = ctl->wake[0], .events = POLLIN },
		};

		/* Any line, EOF, the server stopping or the time limit: all
		 * end the quiesce. */
		if (poll(p, 2, (int)srv->cfg.quiesce_timeout_s * 1000) == 0) {
			srv_log(srv, "a snapshot kept the export quiesced for %u s "
				"(--quiesce-timeout); resuming, and telling it that "
				"its copy is not consistent", srv->cfg.quiesce_timeout_s);
			send_line(fd, "expired");
		} else if (p[0].revents && recv_line(fd, line, sizeof line, 1000) == 0) {
			send_line(fd, "resumed");
		}
	}
	srv_quiesce_end(srv, match);
	srv_debug(srv, "resumed %zu export(s)", n);
}

/* "resize SIZE [shrink] WHICH": the exports' images to SIZE through the
 * server's own handles, and their clients told where the protocol can. */
static void ctl_resize(struct srv_control *ctl, int fd, const char *args, bool *match)
{
	struct srv *srv = ctl->srv;
	unsigned long long size;
	unsigned flags = 0;
	size_t n;
	int used = 0;

	if (sscanf(args, "%llu %n", &size, &used) != 1 || !used) {
		send_line(fd, "error malformed request");
		return;
	}
	args += used;
	if (!strncmp(args, "shrink ", 7)) {
		flags = MORTAR_REQ_SHRINK;
		args += 7;
	}
	n = ctl_match(ctl, args, match);
	if (n == 0) {
		send_line(fd, "none");
		return;
	}
	for (size_t i = 0; i < srv->nexports; i++) {
		if (match[i] && srv_export_resize(srv, srv->exports[i], size, flags) < 0) {
			send_line(fd, "error %s", mortar_errmsg());
			return;
		}
	}
	send_line(fd, "ok %zu", n);
}

static void ctl_serve_client(struct srv_control *ctl, int fd)
{
	char line[LINE_MAX_LEN];
	bool *match = calloc(ctl->srv->nexports, sizeof *match);

	if (!match || recv_line(fd, line, sizeof line, 5000) < 0)
		send_line(fd, "error malformed request");
	else if (!strncmp(line, "quiesce ", 8))
		ctl_quiesce(ctl, fd, line + 8, match);
	else if (!strncmp(line, "resize ", 7))
		ctl_resize(ctl, fd, line + 7, match);
	else
		send_line(fd, "error malformed request");
	free(match);
}

/* The server's own user or root; anybody else is refused. */
static bool ctl_peer_allowed(struct srv_control *ctl, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    (cred.uid == 0 || cred.uid == geteuid()))
		return true;
	srv_log(ctl->srv, "control socket: refused a client of user %ld (pid %ld): "
		"only user %ld and root may quiesce this server's exports",
		len == sizeof cred ? (long)cred.uid : -1L,
		len == sizeof cred ? (long)cred.pid : -1L, (long)geteuid());
	send_line(fd, "error permission denied");
	return false;
}

void srv_control_serve_fd(struct srv *srv, int fd)
{
	if (srv->control)
		ctl_serve_client(srv->control, fd);
}

static void *ctl_main(void *arg)
{
	struct srv_control *ctl = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = ctl->lfd, .events = POLLIN },
			{ .fd = ctl->wake[0], .events = POLLIN },
		};
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (ctl_peer_allowed(ctl, fd))
			ctl_serve_client(ctl, fd);
		close(fd);
	}
	return NULL;
}

static void ctl_free(struct srv_control *ctl)
{
	if (!ctl)
		return;
	free(ctl->locs);
	free(ctl->st);
	free(ctl->is_file);
	if (ctl->lfd >= 0)
		close(ctl->lfd);
	if (ctl->wake[0] >= 0)
		close(ctl->wake[0]);
	if (ctl->wake[1] >= 0)
		close(ctl->wake[1]);
	free(ctl);
}

static int ctl_listen(struct srv_control *ctl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int n;

	if (mortar_runtime_dir("serve", dir, sizeof dir) < 0)
		return -1;
	n = snprintf(ctl->path, sizeof ctl->path, "%s/%ld.sock", dir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof ctl->path) {
		mortar_set_error(ENAMETOOLONG, "control socket path too long under %s", dir);
		return -1;
	}
	memcpy(sa.sun_path, ctl->path, (size_t)n + 1);
	unlink(ctl->path);	/* a previous process with our pid */
	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->lfd < 0 || bind(ctl->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    chmod(ctl->path, 0600) < 0 || listen(ctl->lfd, 4) < 0) {
		mortar_set_error(errno, "control socket %s: %m", ctl->path);
		return -1;
	}
	return 0;
}

int srv_control_start(struct srv *srv)
{
	struct srv_control *ctl = calloc(1, sizeof *ctl);

	if (!ctl)
		return mortar_set_error(ENOMEM, "out of memory");
	ctl->srv = srv;
	ctl->lfd = ctl->wake[0] = ctl->wake[1] = -1;
	ctl->locs = calloc(srv->nexports, sizeof *ctl->locs);
	ctl->st = calloc(srv->nexports, sizeof *ctl->st);
	ctl->is_file = calloc(srv->nexports, sizeof *ctl->is_file);
	if (!ctl->locs || !ctl->st || !ctl->is_file || pipe2(ctl->wake, O_CLOEXEC) < 0) {
		ctl_free(ctl);
		return mortar_set_error(errno ? errno : ENOMEM, "control socket: %m");
	}
	for (size_t i = 0; i < srv->nexports; i++) {
		ctl->locs[i] = srv->exports[i]->loc;
		if (ctl->locs[i]->scheme == MORTAR_SCHEME_FILE &&
		    stat(ctl->locs[i]->path, &ctl->st[i]) == 0)
			ctl->is_file[i] = true;
	}
	/* Without it a snapshot would copy a live image unquiesced, and a
	 * revert would replace an exported one: refuse to serve instead. */
	if (ctl_listen(ctl) < 0) {
		ctl->path[0] = '\0';
		ctl_free(ctl);
		mortar_error_prefix("no control socket, so snapshots could not quiesce "
				    "this server");
		return -mortar_errno();
	}
	if (pthread_create(&ctl->tid, NULL, ctl_main, ctl) != 0) {
		unlink(ctl->path);
		ctl_free(ctl);
		return mortar_set_error(EAGAIN, "cannot start the control socket's thread");
	}
	srv_debug(srv, "control socket %s", ctl->path);
	srv->control = ctl;
	return 0;
}

void srv_control_stop(struct srv *srv)
{
	struct srv_control *ctl = srv->control;
	char one = 1;

	if (!ctl)
		return;
	if (write(ctl->wake[1], &one, 1) != 1) {
		/* The thread also ends when the socket is closed below. */
	}
	pthread_join(ctl->tid, NULL);
	unlink(ctl->path);
	ctl_free(ctl);
	srv->control = NULL;
}

/* ---- client side ---- */

struct serve_quiesce {
	int *fds;
	size_t n;
};

int serve_quiesce_end(struct serve_quiesce *q)
{
	char line[64];
	int r = 0;

	if (!q)
		return 0;
	for (size_t i = 0; i < q->n; i++) {
		/* "expired" may already wait in the socket: a server that
		 * gave up the quiesce before we were done. */
		if (send_line(q->fds[i], "resume") == 0 &&
		    recv_line(q->fds[i], line, sizeof line, 5000) == 0 &&
		    !strcmp(line, "expired") && r == 0)
			r = mortar_set_error(ETIMEDOUT, "a mortar serve process resumed "
					     "writes before the copy was done (its "
					     "--quiesce-timeout passed), so the copy may "
					     "not be consistent; raise the timeout and "
					     "try again");
		close(q->fds[i]);
	}
	free(q->fds);
	free(q);
	return r;
}

/* The request line VERB followed by how servers recognise LOC, or NULL
 * with the message set. */
static char *ctl_request(const char *verb, const struct mortar_location *loc)
{
	char *req = NULL;
	struct stat st;

	if (loc->scheme == MORTAR_SCHEME_FILE) {
		if (stat(loc->path, &st) < 0) {
			mortar_set_error(errno, "%s: %m", loc->path);
			return NULL;
		}
		if (asprintf(&req, "%s file %llu:%llu", verb, (unsigned long long)st.st_dev,
			     (unsigned long long)st.st_ino) < 0)
			req = NULL;
	} else {
		char *text = mortar_location_format(loc);
		if (!text || asprintf(&req, "%s location %s", verb, text) < 0)
			req = NULL;
		free(text);
	}
	if (!req)
		mortar_set_error(ENOMEM, "out of memory");
	return req;
}

/* Connect to a server's control socket; -1 when it is stale (removed). */
static int ctl_connect(const char *dir, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *end;
	long pid = strtol(name, &end, 10);
	int fd, n;

	if (pid <= 0 || strcmp(end, ".sock"))
		return -1;
	n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof sa.sun_path)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		/* The server died without cleaning up. */
		if (errno == ECONNREFUSED && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlink(sa.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

/* What a request does with each server's first answer. */
struct ctl_ask {
	const struct mortar_location *loc;
	const char *what;		/* "quiesce", "resize": for messages */
	/* FD and its answer LINE: 1 when FD was kept, 0 to close it, or
	 * -errno (message set) to stop asking. */
	int (*answer)(struct ctl_ask *a, int fd, const char *line);
	void *ctx;
	bool new_verb;			/* older servers do not know it */
	unsigned ok;			/* servers that said ok */
};

/* Send REQ to every mortar serve of this user, one after the other. */
static int ctl_ask_all(const char *req, int timeout_ms, struct ctl_ask *a)
{
	char dir[PATH_MAX], line[LINE_MAX_LEN];
	struct dirent *de;
	DIR *d = NULL;
	int r;

	/* An unusable runtime directory is an error, never "no server":
	 * changing a live image behind its server's back is what the
	 * requests prevent. */
	r = mortar_runtime_dir("serve", dir, sizeof dir);
	if (r == 0 && !(d = opendir(dir)))
		r = mortar_set_error(errno, "%s: %m", dir);
	while (r == 0 && (de = readdir(d))) {
		int fd = ctl_connect(dir, de->d_name);

		if (fd < 0)
			continue;
		if (send_line(fd, "%s", req) < 0 || recv_line(fd, line, sizeof line, timeout_ms) < 0) {
			r = mortar_set_error(EIO, "the mortar serve process with control "
					     "socket %s/%s did not answer a %s request; is "
					     "it hung?", dir, de->d_name, a->what);
		} else if (!strcmp(line, "none") ||
			   (a->new_verb && !strcmp(line, "error malformed request"))) {
			r = 0;
		} else if (!strncmp(line, "ok ", 3)) {
			a->ok++;
			r = a->answer(a, fd, line);
			if (r == 1) {
				r = 0;
				continue;	/* kept */
			}
		} else {
			char *text = mortar_location_format(a->loc);

			r = mortar_set_error(EBUSY, "mortar serve (%s/%s) could not %s %s: %s",
					     dir, de->d_name, a->what, text ? text : "the image",
					     !strncmp(line, "error ", 6) ? line + 6 : line);
			free(text);
		}
		close(fd);
	}
	if (d)
		closedir(d);
	return r;
}

static int quiesce_answer(struct ctl_ask *a, int fd, const char *line)
{
	struct serve_quiesce *q = a->ctx;
	int *fds = realloc(q->fds, (q->n + 1) * sizeof *fds);

	(void)line;
	if (!fds)
		return mortar_set_error(ENOMEM, "out of memory");
	q->fds = fds;
	q->fds[q->n++] = fd;
	return 1;
}

int serve_quiesce_begin(const struct mortar_location *location, struct serve_quiesce **out)
{
	struct serve_quiesce *q = calloc(1, sizeof *q);
	struct ctl_ask a = { .loc = location, .what = "quiesce", .answer = quiesce_answer,
			     .ctx = q };
	char *req = ctl_request("quiesce", location);
	int r;

	*out = NULL;
	if (!q || !req) {
		free(q);
		free(req);
		return !q ? mortar_set_error(ENOMEM, "out of memory") : -mortar_errno();
	}
	/* The server answers once writes drained and it flushed. */
	r = ctl_ask_all(req, DRAIN_MAX_MS * 2 + 5000, &a);
	free(req);
	if (r < 0) {
		serve_quiesce_end(q);
		return r;
	}
	*out = q;
	return (int)q->n;
}

static int resize_answer(struct ctl_ask *a, int fd, const char *line)
{
	(void)a; (void)fd; (void)line;
	return 0;
}

int serve_resize(const struct mortar_location *location, uint64_t size, unsigned flags)
{
	struct ctl_ask a = { .loc = location, .what = "resize", .answer = resize_answer,
			     .new_verb = true };
	char verb[64], *req;
	int r;

	snprintf(verb, sizeof verb, "resize %llu%s", (unsigned long long)size,
		 (flags & MORTAR_REQ_SHRINK) ? " shrink" : "");
	req = ctl_request(verb, location);
	if (!req)
		return -mortar_errno();
	/* Every worker resizes its handle (export.c waits 30 s at most). */
	r = ctl_ask_all(req, 35000, &a);
	free(req);
	return r < 0 ? r : (int)a.ok;
}
