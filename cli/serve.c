/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar serve: export images over NBD. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "commands.h"
#include "../nbd/protocol.h"
#include "../nbd/server.h"
#include "../nbd/tls.h"

static const char serve_usage[] =
	"Usage: mortar serve [OPTIONS] [NAME=]LOCATION...\n"
	"\n"
	"Export images over NBD.  The first export is also the default one\n"
	"(empty name); an export without NAME= is named after its file.\n"
	"\n"
	"  -s, --socket PATH          listen on a unix socket (mode 0600)\n"
	"  -p, --port PORT            listen on TCP PORT (default 10809 if no --socket)\n"
	"  -b, --bind ADDR            TCP address (default 127.0.0.1; :: or 0.0.0.0 for all)\n"
	"  -r, --read-only            refuse writes\n"
	"      --snapshot NAME        export snapshot NAME of each image (read-only)\n"
	"      --direct               open images with O_DIRECT (no host page cache)\n"
	"  -f, --foreground           stay in the foreground (default: daemon)\n"
	"  -P, --pidfile FILE         write the server's pid to FILE once it listens\n"
	"  -e, --max-connections N    at most N connections at once (default 64)\n"
	"  -t, --handshake-timeout S  drop clients that have not negotiated in S seconds (10)\n"
	"      --threads N            worker threads (default: one per CPU)\n"
	"      --quiesce-timeout S    a snapshot may hold writes at most S seconds (60)\n"
	"  -D, --description TEXT     description of the exports (NBD_INFO_DESCRIPTION)\n"
	"      --tls=off|on|require   TLS: off (default); on: offered, clear text allowed;\n"
	"                             require: clients must negotiate TLS first\n"
	"      --tls-certificates DIR X.509 files: DIR/server-cert.pem, DIR/server-key.pem,\n"
	"                             DIR/ca-cert.pem (for --tls-verify-peer)\n"
	"      --tls-verify-peer      require client certificates signed by DIR/ca-cert.pem\n"
	"      --tls-psk FILE         pre-shared keys, username:hexkey lines (psktool)\n"
	"      --run COMMAND          serve while COMMAND runs, then exit with its status;\n"
	"                             COMMAND sees $uri, $nbd, $unixsocket, $port\n"
	"  -v, --verbose              log connections and refused requests\n"
	"\n"
	"Stop with SIGTERM or SIGINT: in-flight requests finish, images are flushed.\n"
	"See mortar-serve(1).\n";

struct serve_opts {
	const char *socket, *port, *bind, *pidfile, *run, *description, *snapshot;
	bool read_only, foreground, direct, verbose;
	unsigned max_conns, timeout_s, threads, quiesce_s;
	/* TLS */
	int tls;			/* 0 off, 1 on, 2 require */
	const char *tls_certs, *tls_psk;
	bool tls_verify_peer;
};

/* "NAME=LOCATION" only when NAME looks like a name: locations themselves
 * may contain '=' (gluster+unix://...?socket=...). */
static void split_export(char *arg, char **name, char **location)
{
	char *eq = strchr(arg, '=');

	if (eq && eq != arg && strcspn(arg, "/:?") > (size_t)(eq - arg)) {
		*eq = '\0';
		*name = arg;
		*location = eq + 1;
	} else {
		*name = NULL;
		*location = arg;
	}
}

static char *default_name(const char *location)
{
	struct mortar_location *loc;
	char *copy, *name = NULL;

	if (mortar_location_parse(location, &loc, NULL) < 0)
		return strdup(location);
	copy = strdup(loc->path ? loc->path : loc->export_name ? loc->export_name : "");
	if (copy) {
		name = strdup(basename(copy));
		free(copy);
	}
	mortar_location_free(loc);
	return name;
}

/* The location text of snapshot NAME of LOCATION; NULL with the message. */
static char *snapshot_location(const char *location, const char *name)
{
	struct mortar_location *loc, *snap = NULL;
	char *text = NULL;

	if (mortar_location_parse(location, &loc, NULL) == 0 &&
	    mortar_snapshot_location(loc, name, &snap) == 0)
		text = mortar_location_format(snap);
	mortar_location_free(snap);
	mortar_location_free(loc);
	return text;
}

/* Open each export once to learn its size and capabilities, so that a
 * bad location fails now, with its message, not at the first client. */
static int prepare_exports(struct nbd_server *srv, const struct serve_opts *o)
{
	struct mortar_loop *loop;
	int r = 0;

	if (mortar_loop_new(8, &loop) < 0)
		return cli_fail_lib("serve");
	for (size_t i = 0; i < srv->nexports && r == 0; i++) {
		struct nbd_export *e = &srv->exports[i];
		struct mortar_image *img;
		unsigned flags = srv->open_flags | (e->read_only ? MORTAR_OPEN_RDONLY : 0);
		uint32_t caps;

		r = mortar_image_open_text(loop, e->location, flags, &img);
		if (r < 0) {
			r = cli_fail_open("serve", r, flags);
			break;
		}
		caps = mortar_image_caps(img);
		e->size = mortar_image_size(img);
		mortar_image_block_size(img, &e->bmin, &e->bpref, &e->bmax);
		/* Capabilities are NBD flags already; RESIZE is an NBD extension
		 * this server does not speak, CACHE is done by reading. */
		e->tflags = (uint16_t)(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_CACHE |
			(caps & (NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
				 NBD_FLAG_ROTATIONAL | NBD_FLAG_SEND_TRIM |
				 NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN |
				 NBD_FLAG_SEND_FAST_ZERO)));
		if (e->read_only)
			e->tflags |= NBD_FLAG_READ_ONLY;
		e->description = o->description ? strdup(o->description) : NULL;
		mortar_image_close(img);
	}
	mortar_loop_free(loop);
	return r;
}

/* Write our pid to PATH without following a symlink planted by another
 * user (a root server would write through it to any file): the pid goes
 * into a new file with a random name, created exclusively, which then
 * replaces PATH (rename replaces a symlink, never its target).  A reader
 * never sees a half-written file. */
static int write_pidfile(const char *path)
{
	char tmp[4096], line[32];
	int fd, n;

	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	if (fchmod(fd, 0644) < 0 || write(fd, line, (size_t)n) != n ||
	    close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* Remove PATH if it still holds our pid (not someone else's file). */
static void remove_pidfile(const char *path)
{
	char buf[32] = "", want[32];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	snprintf(want, sizeof want, "%d\n", (int)getpid());
	if (n > 0 && !strcmp(buf, want))
		unlink(path);
}

static pid_t spawn_run(const char *cmd, const struct serve_opts *o, const char *sock,
		       const sigset_t *oldmask)
{
	char uri[4200];
	pid_t pid;

	/* With --tls=require, the URI asks for TLS (nbds), as nbdkit's does. */
	if (sock)
		snprintf(uri, sizeof uri, "%s+unix:///?socket=%s",
			 o->tls == 2 ? "nbds" : "nbd", sock);
	else
		snprintf(uri, sizeof uri, "%s://%s:%s/", o->tls == 2 ? "nbds" : "nbd",
			 o->bind && strchr(o->bind, ':') && o->bind[0] != '[' ? "[::1]" :
			 o->bind ? o->bind : "127.0.0.1", o->port);
	pid = fork();
	if (pid != 0)
		return pid;
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	setenv("uri", uri, 1);
	setenv("nbd", uri, 1);
	if (sock)
		setenv("unixsocket", sock, 1);
	if (o->port)
		setenv("port", o->port, 1);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

static void free_exports(struct nbd_server *srv)
{
	for (size_t i = 0; i < srv->nexports; i++) {
		free(srv->exports[i].name);
		free(srv->exports[i].location);
		free(srv->exports[i].description);
	}
	free(srv->exports);
	srv->exports = NULL;
	srv->nexports = 0;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "socket", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "direct", no_argument, NULL, 'd' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "max-connections", required_argument, NULL, 'e' },
		{ "handshake-timeout", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'T' },
		{ "description", required_argument, NULL, 'D' },
		{ "tls", required_argument, NULL, 'L' },
		{ "tls-certificates", required_argument, NULL, 0x100 },
		{ "tls-psk", required_argument, NULL, 0x101 },
		{ "tls-verify-peer", no_argument, NULL, 0x102 },
		{ "run", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "snapshot", required_argument, NULL, 0x103 },
		{ "quiesce-timeout", required_argument, NULL, 0x104 },
		{ NULL, 0, NULL, 0 },
	};
	struct serve_opts o = { .max_conns = 64, .timeout_s = 10, .quiesce_s = 60 };
	struct nbd_server srv = { 0 };
	struct nbd_listen l = { 0 };
	char tmpdir[] = "/tmp/mortar-serve.XXXXXX", autosock[64];
	sigset_t mask, oldmask;
	int c, sfd = -1, rc = EXIT_ERROR, ready[2] = { -1, -1 };
	bool made_tmpdir = false, wrote_pidfile = false;
	pid_t child = -1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hs:p:b:rfP:e:t:D:v", opts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(serve_usage, stdout); return EXIT_OK;
		case 's': o.socket = optarg; break;
		case 'p': o.port = optarg; break;
		case 'b': o.bind = optarg; break;
		case 'r': o.read_only = true; break;
		case 'd': o.direct = true; break;
		case 'f': o.foreground = true; break;
		case 'P': o.pidfile = optarg; break;
		case 'D': o.description = optarg; break;
		case 'R': o.run = optarg; break;
		case 'v': o.verbose = true; break;
		case 'e':
			if (cli_opt_uint("serve", "--max-connections", optarg, 1, 100000,
					 &o.max_conns) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (cli_opt_seconds("serve", "--handshake-timeout", optarg, 1, 3600,
					    &o.timeout_s) < 0)
				return EXIT_USAGE;
			break;
		case 'T':
			if (cli_opt_uint("serve", "--threads", optarg, 1, 64, &o.threads) < 0)
				return EXIT_USAGE;
			break;
		case 'L':
			if (!strcmp(optarg, "off"))
				o.tls = 0;
			else if (!strcmp(optarg, "on"))
				o.tls = 1;
			else if (!strcmp(optarg, "require"))
				o.tls = 2;
			else
				return cli_usage("serve", "--tls wants off, on or require");
			break;
		case 0x100: o.tls_certs = optarg; break;
		case 0x101: o.tls_psk = optarg; break;
		case 0x102: o.tls_verify_peer = true; break;
		case 0x103: o.snapshot = optarg; break;
		case 0x104:
			if (cli_opt_seconds("serve", "--quiesce-timeout", optarg, 1, 86400,
					    &o.quiesce_s) < 0)
				return EXIT_USAGE;
			break;
		default:
			return cli_bad_option("serve", argv);
		}
	}
	if (optind == argc)
		return cli_usage("serve", "expected at least one LOCATION to export");
	if (o.description && strlen(o.description) > NBD_MAX_STRING)
		return cli_usage("serve", "--description of %zu bytes: NBD allows at most %d",
				 strlen(o.description), NBD_MAX_STRING);
	if (o.port) {
		unsigned p;
		if (cli_opt_uint("serve", "--port", o.port, 1, 65535, &p) < 0)
			return EXIT_USAGE;
	}
	if (o.bind && !o.port && !o.socket)
		o.port = "10809";
	if (o.tls && !o.tls_certs && !o.tls_psk)
		return cli_usage("serve", "--tls=%s needs credentials: --tls-certificates "
				 "DIR and/or --tls-psk FILE", o.tls == 2 ? "require" : "on");
	if (!o.tls && (o.tls_certs || o.tls_psk || o.tls_verify_peer))
		return cli_usage("serve", "TLS credentials given but TLS is off; add "
				 "--tls=on or --tls=require");
	if (o.tls_verify_peer && !o.tls_certs)
		return cli_usage("serve", "--tls-verify-peer needs --tls-certificates DIR "
				 "(with ca-cert.pem)");

	srv.nexports = (size_t)(argc - optind);
	srv.exports = calloc(srv.nexports, sizeof *srv.exports);
	if (!srv.exports)
		return EXIT_ERROR;
	for (size_t i = 0; i < srv.nexports; i++) {
		char *name, *location;

		split_export(argv[optind + (int)i], &name, &location);
		srv.exports[i].name = name ? strdup(name) : default_name(location);
		srv.exports[i].read_only = o.read_only;
		if (o.snapshot) {
			/* The snapshot instead of the image; never written. */
			srv.exports[i].location = snapshot_location(location, o.snapshot);
			if (!srv.exports[i].location) {
				free_exports(&srv);
				return cli_fail_lib("serve");
			}
			srv.exports[i].read_only = true;
		} else {
			srv.exports[i].location = strdup(location);
		}
		if (!srv.exports[i].name || strlen(srv.exports[i].name) > NBD_MAX_STRING) {
			rc = srv.exports[i].name ?
				cli_usage("serve", "export name of %zu bytes: NBD allows at "
					  "most %d; give a shorter one with NAME=LOCATION",
					  strlen(srv.exports[i].name), NBD_MAX_STRING) :
				cli_fail_lib("serve");
			free_exports(&srv);
			return rc;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(srv.exports[j].name, srv.exports[i].name)) {
				rc = cli_usage("serve", "two exports are named '%s'; "
					       "name them with NAME=LOCATION",
					       srv.exports[i].name);
				free_exports(&srv);
				return rc;
			}
	}
	srv.open_flags = o.direct ? MORTAR_OPEN_DIRECT : 0;
	srv.max_connections = o.max_conns;
	srv.handshake_timeout_ms = o.timeout_s * 1000;
	srv.quiesce_timeout_s = o.quiesce_s;
	srv.verbose = o.verbose;
	srv.nworkers = o.threads ? o.threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (srv.nworkers < 1)
		srv.nworkers = 1;
	if (prepare_exports(&srv, &o) != 0) {
		free_exports(&srv);
		return EXIT_ERROR;
	}
	/* Credentials now, so that a bad file fails before listening. */
	if (o.tls && nbd_tls_load(o.tls_certs, o.tls_psk, o.tls_verify_peer, &srv.tls) < 0) {
		rc = cli_fail_lib("serve");
		goto out;
	}
	srv.tls_required = o.tls == 2;

	/* Signals go through a signalfd that the acceptor polls; every
	 * thread inherits the mask, so none of them is interrupted. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		cli_error("serve", "signalfd: %m");
		return EXIT_ERROR;
	}

	if (nbd_listen_systemd(&l) < 0) {
		rc = cli_fail_lib("serve");
		goto out;
	}
	if (l.nfds == 0) {
		if (o.run && !o.socket && !o.port) {
			if (!mkdtemp(tmpdir)) {
				cli_error("serve", "mkdtemp: %m");
				goto out;
			}
			made_tmpdir = true;
			snprintf(autosock, sizeof autosock, "%s/sock", tmpdir);
			o.socket = autosock;
		}
		if (o.socket && nbd_listen_unix(&l, o.socket) < 0) {
			rc = cli_fail_lib("serve");
			goto out;
		}
		if ((o.port || !o.socket) &&
		    nbd_listen_tcp(&l, o.bind ? o.bind : "127.0.0.1",
				   o.port ? o.port : "10809") < 0) {
			rc = cli_fail_lib("serve");
			goto out;
		}
		if (!o.port && !o.socket)
			o.port = "10809";
	} else {
		o.foreground = true;	/* systemd supervises us */
	}

	if (!o.foreground && !o.run) {
		/* Daemon: the parent exits once the child is ready, with the
		 * child's verdict, so that scripts can rely on the exit code. */
		pid_t pid;
		char byte = 1;

		if (pipe2(ready, O_CLOEXEC) < 0) {
			cli_error("serve", "pipe: %m");
			goto out;
		}
		pid = fork();
		if (pid < 0) {
			cli_error("serve", "fork: %m");
			goto out;
		}
		if (pid > 0) {
			close(ready[1]);
			rc = read(ready[0], &byte, 1) == 1 && byte == 0 ? EXIT_OK : EXIT_ERROR;
			/* The child owns the sockets now: do not remove them. */
			_exit(rc);
		}
		close(ready[0]);
		setsid();
		{
			int null = open("/dev/null", O_RDWR);
			if (null >= 0) {
				dup2(null, 0);
				dup2(null, 1);
				if (null > 2)
					close(null);
			}
		}
	}
	if (nbd_workers_start(&srv) < 0) {
		rc = cli_fail_lib("serve");
		goto out;
	}
	/* The control socket before the pidfile and the daemon's exit: once
	 * those say "ready", a snapshot must find the server to quiesce. */
	if (nbd_control_start(&srv) < 0) {
		rc = cli_fail_lib("serve");
		nbd_workers_stop(&srv);
		goto out;
	}
	if (o.pidfile && (wrote_pidfile = write_pidfile(o.pidfile) == 0) == false) {
		cli_error("serve", "cannot write pidfile %s: %m", o.pidfile);
		nbd_control_stop(&srv);
		nbd_workers_stop(&srv);
		goto out;
	}
	if (ready[1] >= 0) {
		char zero = 0;
		if (write(ready[1], &zero, 1) != 1) {
			/* The parent is gone: carry on. */
		}
		close(ready[1]);
		ready[1] = -1;
	}
	if (o.run) {
		child = spawn_run(o.run, &o, o.socket, &oldmask);
		if (child < 0) {
			cli_error("serve", "fork: %m");
			nbd_control_stop(&srv);
			nbd_workers_stop(&srv);
			goto out;
		}
	}

	/* Serve until a signal says stop (or the --run command ends); then
	 * the server drains and flushes before nbd_server_run() returns. */
	nbd_server_run(&srv, &l, sfd);
	rc = EXIT_OK;
	{
		struct signalfd_siginfo si;
		int status;

		if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGCHLD &&
		    child > 0 && waitpid(child, &status, 0) == child) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			child = -1;
		}
	}
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
out:
	nbd_listen_close(&l);
	if (wrote_pidfile)
		remove_pidfile(o.pidfile);
	if (made_tmpdir)
		rmdir(tmpdir);
	if (ready[1] >= 0) {
		char one = 1;
		if (write(ready[1], &one, 1) < 0) {
			/* nothing more to tell */
		}
	}
	free_exports(&srv);
	nbd_tls_free(srv.tls);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
