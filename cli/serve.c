/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar serve: export images over NBD and vhost-user-blk.  This file
 * reads the command line; the export core (server/) and the protocols
 * (nbd/, vhost/) do the rest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "commands.h"
#include "error.h"
#include "serve-config.h"
#include "../nbd/protocol.h"
#include "../nbd/server.h"
#include "../nbd/tls.h"
#include "../server/daemon.h"
#include "../vhost/server.h"

static const char serve_usage[] =
	"Usage: mortar serve [OPTIONS] [NAME=]LOCATION...\n"
	"\n"
	"Export images over NBD and vhost-user-blk.  The first export is also the\n"
	"default one (empty name); an export without NAME= is named after its file.\n"
	"\n"
	"      --config FILE          read options from FILE: KEY = VALUE lines whose\n"
	"                             keys are these long options, 'export = LOCATION'\n"
	"  -s, --socket PATH          listen for NBD on a unix socket (mode 0600)\n"
	"      --vhost-user-blk [NAME=]PATH\n"
	"                             serve export NAME (default: the first) to QEMU as\n"
	"                             a vhost-user-blk device on a unix socket at PATH;\n"
	"                             repeat for more exports\n"
	"      --socket-group GROUP   give the unix sockets to GROUP (mode 0660)\n"
	"      --socket-mode MODE     the unix sockets' mode, octal (default 0600)\n"
	"  -p, --port PORT            listen on TCP PORT (default 10809 if no socket)\n"
	"  -b, --bind ADDR            TCP address (default 127.0.0.1; :: or 0.0.0.0 for all)\n"
	"  -r, --read-only            refuse writes\n"
	"      --snapshot NAME        export snapshot NAME of each image (read-only)\n"
	"      --direct               open images with O_DIRECT (no host page cache)\n"
	"      --pin-guest-memory     vhost-user-blk: register guests' memory with io_uring\n"
	"                             (pinned while their queues run; not with balloons\n"
	"                             or virtio-mem; see mortar-serve(1))\n"
	"      --no-coalesce-kicks    vhost-user-blk: ask the guest to notify every\n"
	"                             request (default: not while a queue has requests\n"
	"                             in flight, for 1 ms at most; see mortar-serve(1))\n"
	"  -f, --foreground           stay in the foreground (default: daemon)\n"
	"  -P, --pidfile FILE         write the server's pid to FILE once it listens\n"
	"  -e, --max-connections N    at most N connections at once (default 64)\n"
	"  -t, --handshake-timeout S  drop clients that have not negotiated in S seconds (10)\n"
	"      --idle-timeout S       drop clients idle for S seconds (default 0: never)\n"
	"      --max-request-memory SIZE\n"
	"                             request data in flight, whole server (512M)\n"
	"      --max-connection-memory SIZE\n"
	"                             request data in flight, per connection (64M)\n"
	"      --threads N            worker threads (default: one per CPU)\n"
	"      --quiesce-timeout S    a snapshot may hold writes at most S seconds (60)\n"
	"      --retry-timeout S      GlusterFS: a request that finds no brick or no\n"
	"                             quorum is sent again each second for up to S\n"
	"                             seconds before it fails (default 30; 0: at once)\n"
	"  -D, --description TEXT     description of the exports (NBD_INFO_DESCRIPTION)\n"
	"      --tls=off|on|require   TLS: off (default); on: offered, clear text allowed;\n"
	"                             require: clients must negotiate TLS first\n"
	"      --tls-certificates DIR X.509 files: DIR/server-cert.pem, DIR/server-key.pem,\n"
	"                             DIR/ca-cert.pem (for --tls-verify-peer)\n"
	"      --tls-verify-peer      require client certificates signed by DIR/ca-cert.pem\n"
	"      --tls-psk FILE         pre-shared keys, username:hexkey lines (psktool)\n"
	"      --run COMMAND          serve while COMMAND runs, then exit with its status;\n"
	"                             COMMAND sees $uri, $nbd, $unixsocket, $port\n"
	"      --fdstore              under systemd, keep connections in its fd store\n"
	"                             across a restart (FileDescriptorStoreMax=)\n"
	"      --log=stderr|syslog|journal\n"
	"                             where log lines go (default stderr); the journal\n"
	"                             gets MORTAR_CLIENT, MORTAR_EXPORT, MORTAR_REQUEST\n"
	"  -v, --verbose              log connections and refused requests\n"
	"\n"
	"Stop with SIGTERM or SIGINT: in-flight requests finish, images are flushed.\n"
	"SIGUSR2: hand the sockets and connections to a new copy of the installed\n"
	"binary (an upgrade in place); clients see a pause, no error.  SIGHUP: the\n"
	"same with the configuration read again (a reload).\n"
	"See mortar-serve(1).\n";

#define SERVE_MAX_VHOST 8

struct serve_opts {
	const char *socket, *port, *bind, *pidfile, *run, *description, *snapshot;
	char *vhost[SERVE_MAX_VHOST];	/* [NAME=]PATH, as given */
	unsigned nvhost;
	bool read_only, foreground, direct, verbose, fdstore, pin_memory;
	int coalesce_kicks;		/* -1: not said (on for vhost-user-blk) */
	unsigned max_conns, timeout_s, threads, quiesce_s, idle_s, retry_s;
	uint64_t max_mem, conn_mem;
	unsigned socket_mode;
	enum srv_log_target log;
	long socket_gid;		/* -1: the server's own */
	/* TLS */
	int tls;			/* 0 off, 1 on, 2 require */
	const char *tls_certs, *tls_psk;
	bool tls_verify_peer;
};

enum {
	OPT_TLS_CERTS = 0x100, OPT_TLS_PSK, OPT_TLS_VERIFY, OPT_SNAPSHOT,
	OPT_QUIESCE_TIMEOUT, OPT_SOCKET_GROUP, OPT_SOCKET_MODE, OPT_IDLE_TIMEOUT,
	OPT_MAX_MEM, OPT_CONN_MEM, OPT_THREADS, OPT_DIRECT, OPT_CONFIG, OPT_FDSTORE,
	OPT_VHOST, OPT_LOG, OPT_PIN_MEMORY, OPT_COALESCE_KICKS, OPT_RETRY_TIMEOUT,
	OPT_NO_COALESCE_KICKS,
};

const struct option serve_longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "fdstore", no_argument, NULL, OPT_FDSTORE },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "socket", required_argument, NULL, 's' },
	{ "vhost-user-blk", required_argument, NULL, OPT_VHOST },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "port", required_argument, NULL, 'p' },
	{ "bind", required_argument, NULL, 'b' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "readonly", no_argument, NULL, 'r' },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "pin-guest-memory", no_argument, NULL, OPT_PIN_MEMORY },
	{ "coalesce-kicks", no_argument, NULL, OPT_COALESCE_KICKS },
	{ "no-coalesce-kicks", no_argument, NULL, OPT_NO_COALESCE_KICKS },
	{ "foreground", no_argument, NULL, 'f' },
	{ "pidfile", required_argument, NULL, 'P' },
	{ "max-connections", required_argument, NULL, 'e' },
	{ "handshake-timeout", required_argument, NULL, 't' },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-request-memory", required_argument, NULL, OPT_MAX_MEM },
	{ "max-connection-memory", required_argument, NULL, OPT_CONN_MEM },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "description", required_argument, NULL, 'D' },
	{ "tls", required_argument, NULL, 'L' },
	{ "tls-certificates", required_argument, NULL, OPT_TLS_CERTS },
	{ "tls-psk", required_argument, NULL, OPT_TLS_PSK },
	{ "tls-verify-peer", no_argument, NULL, OPT_TLS_VERIFY },
	{ "run", required_argument, NULL, 'R' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "quiesce-timeout", required_argument, NULL, OPT_QUIESCE_TIMEOUT },
	{ "retry-timeout", required_argument, NULL, OPT_RETRY_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

/* ---- parsing ---- */

static int parse_group(const char *arg, long *gid)
{
	struct group *g = getgrnam(arg);
	uint64_t n;

	if (g) {
		*gid = (long)g->gr_gid;
		return 0;
	}
	if (cli_parse_uint(arg, 0, 0x7fffffff, &n) == 0) {
		*gid = (long)n;
		return 0;
	}
	return cli_usage("serve", "--socket-group %s: no such group", arg);
}

static int parse_mode(const char *arg, unsigned *mode)
{
	char *end;
	unsigned long m;

	errno = 0;
	m = strtoul(arg, &end, 8);
	/* The server must keep reading and writing its own socket. */
	if (errno || *end || !*arg || m > 0777 || (m & 0600) != 0600)
		return cli_usage("serve", "--socket-mode wants an octal mode from 0600 "
				 "to 0777 that keeps 0600, not '%s'", arg);
	*mode = (unsigned)m;
	return 0;
}

/* ARG as the index of one of NAMES (NULL-terminated), for option OPT. */
static int parse_choice(const char *opt, const char *arg, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(arg, names[i])) {
			*out = i;
			return 0;
		}
	return cli_usage("serve", "%s wants %s, %s or %s", opt, names[0], names[1], names[2]);
}

static int parse_log(const char *arg, enum srv_log_target *log)
{
	/* In the order of enum srv_log_target. */
	static const char *const names[] = { "stderr", "syslog", "journal", NULL };
	int v;

	if (parse_choice("--log", arg, names, &v))
		return EXIT_USAGE;
	*log = (enum srv_log_target)v;
	return 0;
}

static int parse_tls(const char *arg, int *tls)
{
	static const char *const names[] = { "off", "on", "require", NULL };

	return parse_choice("--tls", arg, names, tls) ? EXIT_USAGE : 0;
}

/* One option; 0, or the exit code of a usage error. */
static int serve_option(struct serve_opts *o, int c, char **argv)
{
	switch (c) {
	case 's': o->socket = optarg; return 0;
	case 'p': o->port = optarg; return 0;
	case 'b': o->bind = optarg; return 0;
	case 'r': o->read_only = true; return 0;
	case 'f': o->foreground = true; return 0;
	case 'P': o->pidfile = optarg; return 0;
	case 'D': o->description = optarg; return 0;
	case 'R': o->run = optarg; return 0;
	case 'v': o->verbose = true; return 0;
	case 'L': return parse_tls(optarg, &o->tls) ? EXIT_USAGE : 0;
	case OPT_DIRECT: o->direct = true; return 0;
	case OPT_CONFIG: return 0;	/* read before (serve-config.c) */
	case OPT_FDSTORE: o->fdstore = true; return 0;
	case OPT_PIN_MEMORY: o->pin_memory = true; return 0;
	case OPT_COALESCE_KICKS: o->coalesce_kicks = 1; return 0;
	case OPT_NO_COALESCE_KICKS: o->coalesce_kicks = 0; return 0;
	case OPT_VHOST:
		if (o->nvhost == SERVE_MAX_VHOST)
			return cli_usage("serve", "at most %d --vhost-user-blk sockets",
					 SERVE_MAX_VHOST);
		o->vhost[o->nvhost++] = optarg;
		return 0;
	case OPT_LOG: return parse_log(optarg, &o->log) ? EXIT_USAGE : 0;
	case OPT_TLS_CERTS: o->tls_certs = optarg; return 0;
	case OPT_TLS_PSK: o->tls_psk = optarg; return 0;
	case OPT_TLS_VERIFY: o->tls_verify_peer = true; return 0;
	case OPT_SNAPSHOT: o->snapshot = optarg; return 0;
	case OPT_SOCKET_GROUP: return parse_group(optarg, &o->socket_gid) ? EXIT_USAGE : 0;
	case OPT_SOCKET_MODE: return parse_mode(optarg, &o->socket_mode) ? EXIT_USAGE : 0;
	case 'e':
		return cli_opt_uint("serve", "--max-connections", optarg, 1, 100000,
				    &o->max_conns) < 0 ? EXIT_USAGE : 0;
	case 't':
		return cli_opt_seconds("serve", "--handshake-timeout", optarg, 1, 3600,
				       &o->timeout_s) < 0 ? EXIT_USAGE : 0;
	case OPT_IDLE_TIMEOUT:
		return cli_opt_seconds("serve", "--idle-timeout", optarg, 0, 7 * 86400,
				       &o->idle_s) < 0 ? EXIT_USAGE : 0;
	case OPT_THREADS:
		return cli_opt_uint("serve", "--threads", optarg, 1, 64, &o->threads) < 0 ?
			EXIT_USAGE : 0;
	case OPT_QUIESCE_TIMEOUT:
		return cli_opt_seconds("serve", "--quiesce-timeout", optarg, 1, 86400,
				       &o->quiesce_s) < 0 ? EXIT_USAGE : 0;
	case OPT_RETRY_TIMEOUT:
		return cli_opt_seconds("serve", "--retry-timeout", optarg, 0, 86400,
				       &o->retry_s) < 0 ? EXIT_USAGE : 0;
	case OPT_MAX_MEM:
		return cli_opt_size("serve", "--max-request-memory", optarg, 1 << 20,
				    1ull << 40, &o->max_mem) < 0 ? EXIT_USAGE : 0;
	case OPT_CONN_MEM:
		return cli_opt_size("serve", "--max-connection-memory", optarg, 1 << 20,
				    1ull << 40, &o->conn_mem) < 0 ? EXIT_USAGE : 0;
	case 'h':
		fputs(serve_usage, stdout);
		return -1;
	default:
		return cli_bad_option("serve", argv);
	}
}

/* Options that make sense only together. */
static int serve_check(struct serve_opts *o)
{
	if (o->description && strlen(o->description) > NBD_MAX_STRING)
		return cli_usage("serve", "--description of %zu bytes: NBD allows at most %d",
				 strlen(o->description), NBD_MAX_STRING);
	if (o->port) {
		unsigned p;
		if (cli_opt_uint("serve", "--port", o->port, 1, 65535, &p) < 0)
			return EXIT_USAGE;
	}
	if (o->bind && !o->port && !o->socket)
		o->port = "10809";
	if ((o->socket_gid >= 0 || o->socket_mode) && !o->socket && !o->nvhost)
		return cli_usage("serve", "--socket-group and --socket-mode are for --socket "
				 "and --vhost-user-blk");
	if (!o->socket_mode)
		o->socket_mode = o->socket_gid >= 0 ? 0660 : 0600;
	/* Without O_DIRECT nothing is pinned per request: nothing to save. */
	if (o->pin_memory && (!o->direct || !o->nvhost))
		return cli_usage("serve", "--pin-guest-memory is for --vhost-user-blk "
				 "exports with --direct");
	if (o->coalesce_kicks >= 0 && !o->nvhost)
		return cli_usage("serve", "--%scoalesce-kicks is for --vhost-user-blk exports",
				 o->coalesce_kicks ? "" : "no-");
	if (o->tls && !o->tls_certs && !o->tls_psk)
		return cli_usage("serve", "--tls=%s needs credentials: --tls-certificates "
				 "DIR and/or --tls-psk FILE", o->tls == 2 ? "require" : "on");
	if (!o->tls && (o->tls_certs || o->tls_psk || o->tls_verify_peer))
		return cli_usage("serve", "TLS credentials given but TLS is off; add "
				 "--tls=on or --tls=require");
	if (o->tls_verify_peer && !o->tls_certs)
		return cli_usage("serve", "--tls-verify-peer needs --tls-certificates DIR "
				 "(with ca-cert.pem)");
	return 0;
}

/* 0 to go on, -1 after --help, or the exit code of a usage error. */
static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
	int c, r;

	*o = (struct serve_opts){
		.max_conns = 64, .timeout_s = 10, .quiesce_s = 60, .retry_s = 30,
		.socket_gid = -1, .coalesce_kicks = -1,
		.max_mem = 512ull << 20, .conn_mem = 64ull << 20,
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "hs:p:b:rfP:e:t:D:v", serve_longopts,
				NULL)) != -1)
		if ((r = serve_option(o, c, argv)) != 0)
			return r;
	if (optind == argc)
		return cli_usage("serve", "expected at least one LOCATION to export");
	return serve_check(o);
}

/* ---- the exports ---- */

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

static void free_specs(struct srv_export_spec *specs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)specs[i].name);
		free((char *)specs[i].location);
	}
	free(specs);
}

/* One export from ARG; 0 or an exit code. */
static int serve_export(const struct serve_opts *o, char *arg, struct srv_export_spec *spec)
{
	char *name, *location;

	split_export(arg, &name, &location);
	spec->description = o->description;
	spec->read_only = o->read_only;
	spec->name = name ? strdup(name) : default_name(location);
	if (o->snapshot) {
		/* The snapshot instead of the image; never written. */
		spec->location = snapshot_location(location, o->snapshot);
		spec->read_only = true;
		if (!spec->location)
			return cli_fail_lib("serve");
	} else {
		spec->location = strdup(location);
	}
	if (!spec->name || !spec->location)
		return cli_error("serve", "out of memory");
	if (strlen(spec->name) > NBD_MAX_STRING)
		return cli_usage("serve", "export name of %zu bytes: NBD allows at most %d; "
				 "give a shorter one with NAME=LOCATION",
				 strlen(spec->name), NBD_MAX_STRING);
	return 0;
}

/* Every --vhost-user-blk NAME= names an export (before anything listens,
 * and before a reload is accepted).  0 or an exit code. */
static int serve_check_vhost(const struct serve_opts *o, const struct srv_export_spec *specs,
			     int n)
{
	for (unsigned i = 0; i < o->nvhost; i++) {
		char *arg = strdup(o->vhost[i]), *name, *path;
		bool found = false;
		int r = 0;

		if (!arg)
			return cli_error("serve", "out of memory");
		split_export(arg, &name, &path);
		for (int j = 0; j < n && name; j++)
			found |= !strcmp(specs[j].name, name);
		if (name && !found)
			r = cli_usage("serve", "--vhost-user-blk %s=%s: no export is named "
				      "'%s'", name, path, name);
		free(arg);
		if (r)
			return r;
	}
	return 0;
}

static int serve_exports(const struct serve_opts *o, int n, char **args,
			 struct srv_export_spec **out)
{
	struct srv_export_spec *specs = calloc((size_t)n, sizeof *specs);
	int r = 0;

	if (!specs)
		return cli_error("serve", "out of memory");
	for (int i = 0; i < n && r == 0; i++) {
		r = serve_export(o, args[i], &specs[i]);
		for (int j = 0; j < i && r == 0; j++)
			if (!strcmp(specs[j].name, specs[i].name))
				r = cli_usage("serve", "two exports are named '%s'; name them "
					      "with NAME=LOCATION", specs[i].name);
	}
	if (r == 0)
		r = serve_check_vhost(o, specs, n);
	if (r) {
		free_specs(specs, (size_t)n);
		return r;
	}
	*out = specs;
	return 0;
}

/* ---- listening and running ---- */

struct serve_run {
	int argc;			/* as given, for reloads */
	char **argv;
	struct serve_args args;		/* the options' strings live here */
	struct serve_opts o;
	struct srv core;
	struct nbd_server nbd;
	struct vhost_server vhost;
	struct srv_daemon d;
	char tmpdir[32];
	char autosock[64];
	pid_t child;
};

/* The vhost-user-blk sockets: 0 or an exit code (the message printed). */
static int serve_listen_vhost(struct serve_run *s)
{
	struct serve_opts *o = &s->o;

	for (unsigned i = 0; i < o->nvhost; i++) {
		char *name, *path;
		struct srv_export *e;

		split_export(o->vhost[i], &name, &path);
		e = srv_export_find(&s->core, name ? name : "");
		if (!e)
			return cli_usage("serve", "--vhost-user-blk %s=%s: no export is named "
					 "'%s'", name, path, name);
		if (vhost_listen_unix(&s->vhost, path, o->socket_mode, o->socket_gid, e) < 0)
			return cli_fail_lib("serve");
	}
	return 0;
}

/* 0 or an exit code (the message printed). */
static int serve_listen(struct serve_run *s)
{
	struct serve_opts *o = &s->o;
	int n = serve_listen_vhost(s);

	if (n)
		return n;
	n = srv_listen_systemd(&s->core, nbd_accept, &s->nbd);
	if (n < 0)
		return cli_fail_lib("serve");
	if (n > 0) {
		o->foreground = true;	/* systemd supervises us */
		return 0;
	}
	if (o->run && !o->socket && !o->port) {
		snprintf(s->tmpdir, sizeof s->tmpdir, "/tmp/mortar-serve.XXXXXX");
		if (!mkdtemp(s->tmpdir)) {
			s->tmpdir[0] = '\0';
			return cli_error("serve", "cannot make a directory for the socket: %m");
		}
		snprintf(s->autosock, sizeof s->autosock, "%s/sock", s->tmpdir);
		o->socket = s->autosock;
	}
	if (o->socket && srv_listen_unix(&s->core, o->socket, o->socket_mode,
					 o->socket_gid, nbd_accept, &s->nbd) < 0)
		return cli_fail_lib("serve");
	/* vhost-user-blk alone opens no NBD port nobody asked for. */
	if (o->nvhost && !o->socket && !o->port)
		return 0;
	if ((o->port || !o->socket) &&
	    srv_listen_tcp(&s->core, o->bind ? o->bind : "127.0.0.1",
			   o->port ? o->port : "10809", nbd_accept, &s->nbd) < 0)
		return cli_fail_lib("serve");
	if (!o->port && !o->socket)
		o->port = "10809";
	return 0;
}

static pid_t spawn_run(const struct serve_run *s)
{
	const struct serve_opts *o = &s->o;
	char uri[4200];
	pid_t pid;

	/* With --tls=require, the URI asks for TLS (nbds), as nbdkit's does. */
	if (o->socket)
		snprintf(uri, sizeof uri, "%s+unix:///?socket=%s",
			 o->tls == 2 ? "nbds" : "nbd", o->socket);
	else
		snprintf(uri, sizeof uri, "%s://%s:%s/", o->tls == 2 ? "nbds" : "nbd",
			 o->bind && strchr(o->bind, ':') && o->bind[0] != '[' ? "[::1]" :
			 o->bind ? o->bind : "127.0.0.1", o->port);
	pid = fork();
	if (pid != 0)
		return pid;
	sigprocmask(SIG_SETMASK, &s->d.oldmask, NULL);
	setenv("uri", uri, 1);
	setenv("nbd", uri, 1);
	if (o->socket)
		setenv("unixsocket", o->socket, 1);
	if (o->port)
		setenv("port", o->port, 1);
	execl("/bin/sh", "sh", "-c", o->run, (char *)NULL);
	_exit(127);
}

/* After srv_run: the --run command's status, if it was what ended it. */
static int serve_child_status(struct serve_run *s, int signo)
{
	int status, rc = EXIT_OK;

	if (signo == SIGCHLD && s->child > 0 && waitpid(s->child, &status, 0) == s->child) {
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		s->child = -1;
	}
	if (s->child > 0) {
		kill(s->child, SIGTERM);
		waitpid(s->child, NULL, 0);
	}
	return rc;
}

/* The configuration of the config as it will be read after a reload:
 * the options parse, every export opens.  0 or -errno (message set). */
static int serve_check_config(const struct serve_run *s)
{
	struct serve_args args;
	struct serve_opts o;
	struct srv_export_spec *specs = NULL;
	struct srv probe;
	int rc = serve_args_build(&args, serve_longopts, s->argc, s->argv), r = 0;

	if (rc == 0)
		rc = serve_parse(args.argc, args.argv, &o);
	if (rc == 0)
		rc = serve_exports(&o, args.argc - optind, args.argv + optind, &specs);
	if (rc == 0) {
		const struct srv_config cfg = {
			.open_flags = o.direct ? MORTAR_OPEN_DIRECT : 0, .nworkers = 1,
		};
		size_t n = (size_t)(args.argc - optind);

		r = srv_init(&probe, &cfg, specs, n);
		if (r < 0)
			mortar_error_prefix("an export of the new configuration");
		srv_fini(&probe);
		free_specs(specs, n);
	} else {
		r = mortar_set_error(EINVAL, "the new configuration %s does not parse (the "
				     "line above says why)", s->args.config ? s->args.config :
				     "(command line)");
	}
	serve_args_free(&args);
	return r;
}

/* An upgrade's binary must at least run. */
static int serve_check_binary(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int status;
	pid_t pid;

	if (n < 0)
		return mortar_set_error(errno, "/proc/self/exe: %m");
	exe[n] = '\0';
	if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
		exe[n - 10] = '\0';
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(exe, exe, "--version", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return mortar_set_error(errno ? errno : ECHILD, "cannot run %s: %m", exe);
	/* Its SIGCHLD waits in our signalfd (and would cross the exec). */
	{
		sigset_t chld;
		struct timespec zero = { 0, 0 };

		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigtimedwait(&chld, NULL, &zero);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return mortar_set_error(ENOEXEC, "%s --version fails (status %d): the new "
					"binary would not start", exe, status);
	return 0;
}

static int serve_check_reload(struct srv *srv, bool upgrade, void *ctx)
{
	(void)srv;
	if (upgrade && serve_check_binary() < 0)
		return -mortar_errno();
	return serve_check_config(ctx);
}

/* Everything between the parsed command line and the end of serving. */
static int serve_start_and_run(struct serve_run *s)
{
	struct serve_opts *o = &s->o;
	int rc;

	int inherited, signo;

	/* Credentials now, so that a bad file fails before listening. */
	if (o->tls && nbd_tls_load(o->tls_certs, o->tls_psk, o->tls_verify_peer,
				   &s->nbd.tls) < 0)
		return cli_fail_lib("serve");
	srv_log_open(&s->core);
	if (srv_daemon_signals(&s->d) < 0)
		return cli_fail_lib("serve");
	/* After a re-exec or a restart by systemd: the previous process's
	 * sockets and connections. */
	inherited = srv_handover_load(&s->core);
	if (inherited < 0)
		return cli_fail_lib("serve");
	s->vhost.pin_memory = o->pin_memory;
	s->vhost.coalesce_kicks = o->coalesce_kicks != 0;
	if ((rc = serve_listen(s)) != 0)
		return rc;
	srv_add_drain(&s->core, nbd_drain, &s->nbd);
	srv_add_drain(&s->core, vhost_drain, &s->vhost);
	srv_add_resized(&s->core, vhost_resized, &s->vhost);
	srv_add_adopter(&s->core, "nbd", nbd_adopt, &s->nbd);
	s->core.no_handover = o->run != NULL;
	s->core.stop_on_child = o->run != NULL;
	s->core.check = serve_check_reload;
	s->core.check_ctx = s;
	s->core.fdstore = o->fdstore;
	if (srv_start(&s->core) < 0)
		return cli_fail_lib("serve");
	srv_handover_adopt(&s->core);
	if (srv_daemon_ready(&s->d) < 0 ||
	    (o->run && (s->child = spawn_run(s)) < 0)) {
		rc = s->child < 0 && o->run ? cli_error("serve", "fork: %m") :
			cli_fail_lib("serve");
		srv_run(&s->core, -1, &signo);	/* stops at once */
		return rc;
	}
	/* Serve until a signal says stop (or the --run command ends); the
	 * server drains and flushes before srv_run returns. */
	srv_run(&s->core, s->d.sfd, &signo);
	return serve_child_status(s, signo);
}

int cmd_serve(int argc, char **argv)
{
	struct serve_run *s = calloc(1, sizeof *s);
	struct srv_export_spec *specs = NULL;
	size_t nspecs;
	int rc;

	if (!s)
		return cli_error("serve", "out of memory");
	s->d = (struct srv_daemon)SRV_DAEMON_INIT;
	s->child = -1;
	s->argc = argc;
	s->argv = argv;
	rc = serve_args_build(&s->args, serve_longopts, argc, argv);
	if (rc == 0)
		rc = serve_parse(s->args.argc, s->args.argv, &s->o);
	if (rc) {
		serve_args_free(&s->args);
		free(s);
		return rc < 0 ? EXIT_OK : rc;
	}
	nspecs = (size_t)(s->args.argc - optind);
	rc = serve_exports(&s->o, s->args.argc - optind, s->args.argv + optind, &specs);
	if (rc == 0) {
		const struct srv_config cfg = {
			.open_flags = s->o.direct ? MORTAR_OPEN_DIRECT : 0,
			.nworkers = s->o.threads,
			.max_connections = s->o.max_conns,
			.quiesce_timeout_s = s->o.quiesce_s,
			.idle_timeout_s = s->o.idle_s,
			.conn_max_bytes = s->o.conn_mem,
			.max_bytes = s->o.max_mem,
			.verbose = s->o.verbose,
			.log = s->o.log,
		};

		mortar_set_retry_timeout(s->o.retry_s * 1000);
		s->nbd.core = &s->core;
		vhost_server_init(&s->vhost, &s->core);
		s->nbd.tls_required = s->o.tls == 2;
		s->nbd.handshake_timeout_ms = s->o.timeout_s * 1000;
		s->d.pidfile = s->o.pidfile;
		/* A daemon leaves the terminal before it opens anything:
		 * libgfapi's threads do not survive fork(), so a GlusterFS
		 * image the parent had opened hung in the child.  (After a
		 * re-exec or under systemd it is in the background already.)
		 * Its messages still reach stderr, its verdict the parent. */
		if (!s->o.foreground && !s->o.run && !srv_handover_pending() &&
		    !getenv("LISTEN_FDS") && srv_daemon_detach(&s->d) < 0)
			rc = cli_fail_lib("serve");
		else if (srv_init(&s->core, &cfg, specs, nspecs) < 0)
			rc = cli_fail_open("serve", -mortar_errno(),
					   s->o.read_only ? MORTAR_OPEN_RDONLY : 0);
		else
			rc = serve_start_and_run(s);
		free_specs(specs, nspecs);
	}
	srv_listen_close(&s->core);
	srv_daemon_fini(&s->d);
	if (s->tmpdir[0])
		rmdir(s->tmpdir);
	srv_fini(&s->core);
	if (s->vhost.core)
		vhost_server_fini(&s->vhost);
	nbd_tls_free(s->nbd.tls);
	serve_args_free(&s->args);
	free(s);
	return rc;
}
