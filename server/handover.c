/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Handing a running server over to a new process without dropping its
 * clients: after an upgrade (re-exec in place, SIGUSR2) or through
 * systemd's file-descriptor store (SIGTERM under `systemctl restart`).
 *
 * The old process stops accepting, lets negotiations finish, and freezes
 * every connection between requests: requests in flight are answered,
 * bytes already received stay with the connection, and what the client
 * sends meanwhile waits in the socket.  Every image is flushed, so that
 * nothing acknowledged sits in a cache of this process (GlusterFS's
 * write-behind).  The listening sockets and frozen connections then go
 * to the next process with a description of each, in a memfd:
 *
 *   {"version": 1,
 *    "listeners": [{"name": "mortar-l0", "unix": PATH} |
 *                  {"name": ..., "tcp": [ADDR, PORT]} |
 *                  {"name": ..., "systemd": true}],
 *    "units": [{"name": "mortar-u0", "proto": "nbd", ...}]}
 *
 * Re-exec: the fds stay open across execve (numbers in "fd"); systemd:
 * each fd goes to the store under its name and comes back in LISTEN_FDS
 * with LISTEN_FDNAMES.  The new process finds its listeners by address
 * (a changed configuration binds what is new and closes what is gone)
 * and gives each unit to the adopter its protocol registered.
 *
 * What cannot be carried is said in the log: TLS sessions (GnuTLS cannot
 * hand a session's record state to another process) are closed between
 * requests, politely, and their clients reconnect.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "error.h"
#include "internal.h"
#include "notify.h"

#define FREEZE_MAX_MS 60000	/* requests in flight must end by then */
#define FLUSH_MAX_MS 30000
#define STATE_ENV "MORTAR_HANDOVER_FD"
#define STATE_NAME "mortar-state"

struct srv_inherited {
	struct json_object *state;	/* the old process's description */
	struct json_object *lfds;	/* name -> fd */
	bool *listener_taken;		/* per state listener */
};

/* ---- the old process ---- */

static void set_cloexec(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl >= 0)
		fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

static struct json_object *listener_json(const struct srv_listener *l,
					  struct json_object *name)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", name);
	if (l->unix_path) {
		json_object_object_add(o, "unix", json_object_new_string(l->unix_path));
	} else if (l->tcp_addr) {
		struct json_object *a = json_object_new_array();

		json_object_array_add(a, json_object_new_string(l->tcp_addr));
		json_object_array_add(a, json_object_new_string(l->tcp_port));
		json_object_object_add(o, "tcp", a);
	} else {
		json_object_object_add(o, "systemd", json_object_new_boolean(true));
	}
	return o;
}

/* The description of what goes over, and the fds in the same order:
 * listeners first, then units.  FDS has room for every one. */
static struct json_object *state_build(struct srv *srv, struct srv_carried *carried,
				       int *fds, const char **names, unsigned *nfds,
				       bool systemd_listeners)
{
	struct json_object *st = json_object_new_object();
	struct json_object *ls = json_object_new_array(), *us = json_object_new_array();
	unsigned n = 0, u = 0;
	char name[32];

	json_object_object_add(st, "version", json_object_new_int(1));
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		const struct srv_listener *l = &srv->listeners[i];

		/* Sockets of a systemd socket unit come back from systemd
		 * itself when it restarts us; a re-exec carries them too. */
		if (!l->unix_path && !l->tcp_addr && !systemd_listeners)
			continue;
		struct json_object *jn;

		snprintf(name, sizeof name, "mortar-l%u", i);
		jn = json_object_new_string(name);
		json_object_array_add(ls, listener_json(l, jn));
		fds[n] = l->fd;
		names[n++] = json_object_get_string(jn);
	}
	for (struct srv_carried *c = carried; c; c = c->next, u++) {
		struct json_object *jn;

		snprintf(name, sizeof name, "mortar-u%u", u);
		jn = json_object_new_string(name);
		json_object_object_add(c->state, "name", jn);
		json_object_array_add(us, json_object_get(c->state));
		fds[n] = c->fd;
		names[n++] = json_object_get_string(jn);
	}
	json_object_object_add(st, "listeners", ls);
	json_object_object_add(st, "units", us);
	*nfds = n;
	return st;
}

/* The JSON in a memfd, ready to be read from its start. */
static int state_memfd(struct json_object *st)
{
	const char *text = json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text), off = 0;
	int fd = memfd_create(STATE_NAME, MFD_CLOEXEC);

	if (fd < 0)
		return mortar_set_error(errno, "memfd_create: %m");
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n <= 0) {
			close(fd);
			return mortar_set_error(errno ? errno : EIO, "writing the handover "
						"state: %m");
		}
		off += (size_t)n;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Freeze everything and flush every image; on failure everything serves
 * again.  0 with *CARRIED, or -errno with the message set. */
static int handover_prepare(struct srv *srv, struct srv_carried **carried)
{
	int r;

	/* Negotiations still running finish (their clients are mid-way)
	 * and their connections are frozen with the rest. */
	for (unsigned i = 0; i < srv->ndrain; i++)
		srv->drain[i](srv, srv->drain_ctx[i]);
	r = srv_workers_freeze(srv, FREEZE_MAX_MS, carried);
	for (size_t i = 0; r == 0 && i < srv->nexports; i++)
		r = srv_workers_flush(srv, srv->exports[i], FLUSH_MAX_MS);
	if (r < 0) {
		srv_carried_free(*carried);
		*carried = NULL;
		srv_workers_thaw(srv);
	}
	return r;
}

static unsigned count_carried(const struct srv_carried *c)
{
	unsigned n = 0;

	for (; c; c = c->next)
		n++;
	return n;
}

/* Our executable: the path we were started from, even after a package
 * replaced the file (the kernel then says "PATH (deleted)": the new
 * binary is at PATH). */
static int self_exe(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	const char *del = " (deleted)";

	if (n < 0)
		return mortar_set_error(errno, "/proc/self/exe: %m");
	buf[n] = '\0';
	if ((size_t)n > strlen(del) && !strcmp(buf + n - strlen(del), del))
		buf[n - strlen(del)] = '\0';
	return 0;
}

/* Our own command line, as it was given. */
static char **self_argv(void)
{
	static char buf[65536];
	char **argv;
	size_t len = 0, n = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return NULL;
	while ((r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	argv = calloc(n + 1, sizeof *argv);
	if (!argv)
		return NULL;
	for (size_t i = 0, k = 0; i < len && k < n; k++) {
		argv[k] = buf + i;
		i += strlen(buf + i) + 1;
	}
	return argv;
}

/* Every fd but stdio and KEEP closes at exec: libraries (GlusterFS's
 * sockets) do not all open theirs with O_CLOEXEC. */
static void cloexec_all_but(const int *keep, unsigned nkeep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		bool kept = fd <= 2 || fd == dirfd(d);

		for (unsigned i = 0; i < nkeep && !kept; i++)
			kept = keep[i] == fd;
		if (de->d_name[0] != '.' && !kept)
			set_cloexec(fd, true);
	}
	closedir(d);
}

int srv_handover_reexec(struct srv *srv)
{
	struct srv_carried *carried = NULL;
	unsigned max = srv->nlisteners + 1, n = 0;
	struct json_object *st;
	char exe[4096], env[32];
	const char **names;
	char **argv;
	int *fds, sfd, r;

	if ((r = self_exe(exe, sizeof exe)) < 0)
		return r;
	argv = self_argv();
	if (!argv)
		return mortar_set_error(ENOMEM, "cannot read our command line");
	srv_log(srv, "handing over to a new %s: freezing connections between requests",
		exe);
	r = handover_prepare(srv, &carried);
	if (r < 0) {
		free(argv);
		return r;
	}
	max += count_carried(carried);
	fds = calloc(max, sizeof *fds);
	names = calloc(max, sizeof *names);
	st = fds && names ? state_build(srv, carried, fds, names, &n, true) : NULL;
	if (st) {
		/* The fds keep their numbers across execve: write them down. */
		struct json_object *lfds = json_object_new_object();

		for (unsigned i = 0; i < n; i++)
			json_object_object_add(lfds, names[i], json_object_new_int(fds[i]));
		json_object_object_add(st, "fds", lfds);
	}
	sfd = st ? state_memfd(st) : mortar_set_error(ENOMEM, "out of memory");
	if (sfd >= 0) {
		fds[n] = sfd;
		for (unsigned i = 0; i <= n; i++)
			set_cloexec(fds[i], false);
		cloexec_all_but(fds, n + 1);
		snprintf(env, sizeof env, "%d", sfd);
		setenv(STATE_ENV, env, 1);
		srv_log(srv, "%u listening socket(s) and %u connection(s) go to the new "
			"process", n - count_carried(carried), count_carried(carried));
		execv(exe, argv);
		r = mortar_set_error(errno, "cannot run %s: %m", exe);
		unsetenv(STATE_ENV);
		for (unsigned i = 0; i < n; i++)
			set_cloexec(fds[i], true);
		close(sfd);
	} else {
		r = sfd;
	}
	json_object_put(st);
	free(fds);
	free(names);
	free(argv);
	srv_carried_free(carried);
	srv_workers_thaw(srv);
	return r;
}

int srv_handover_fdstore(struct srv *srv)
{
	struct srv_carried *carried = NULL;
	unsigned max = srv->nlisteners, n = 0, nc;
	struct json_object *st = NULL;
	const char **names = NULL;
	int *fds = NULL, sfd = -1, r;

	srv_notify("STATUS=handing connections over to systemd's fd store");
	r = handover_prepare(srv, &carried);
	if (r < 0)
		return r;
	nc = count_carried(carried);
	max += nc;
	fds = calloc(max ? max : 1, sizeof *fds);
	names = calloc(max ? max : 1, sizeof *names);
	if (!fds || !names)
		r = mortar_set_error(ENOMEM, "out of memory");
	if (r == 0) {
		st = state_build(srv, carried, fds, names, &n, false);
		sfd = state_memfd(st);
		r = sfd < 0 ? sfd : 0;
	}
	for (unsigned i = 0; r == 0 && i < n; i++)
		r = srv_notify_fdstore(names[i], &fds[i], 1);
	if (r == 0)
		r = srv_notify_fdstore(STATE_NAME, &sfd, 1);
	if (r == 0)
		srv_log(srv, "%u listening socket(s) and %u connection(s) are in systemd's "
			"fd store for the next process", n - nc, nc);
	if (sfd >= 0)
		close(sfd);
	json_object_put(st);
	free(fds);
	free(names);
	srv_carried_free(carried);
	if (r < 0) {
		/* Whatever reached the store is forgotten again. */
		for (unsigned i = 0; i < n; i++)
			srv_notify_fdstore_remove(names ? names[i] : "");
		srv_notify_fdstore_remove(STATE_NAME);
		srv_workers_thaw(srv);
	}
	return r;
}

void srv_handover_exit(struct srv *srv)
{
	srv_control_stop(srv);	/* its socket names our pid */
	_exit(0);
}

/* ---- the new process ---- */

static int state_read(int fd, struct json_object **out)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	char buf[65536];
	ssize_t n;
	enum json_tokener_error err = json_tokener_continue;

	if (!tok)
		return mortar_set_error(ENOMEM, "out of memory");
	lseek(fd, 0, SEEK_SET);
	while (!o && (n = read(fd, buf, sizeof buf)) > 0) {
		o = json_tokener_parse_ex(tok, buf, (int)n);
		err = json_tokener_get_error(tok);
		if (!o && err != json_tokener_continue)
			break;
	}
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return mortar_set_error(EINVAL, "the handover state of the previous "
					"process is unreadable (%s)",
					json_tokener_error_desc(err));
	}
	*out = o;
	return 0;
}

int srv_systemd_fds(struct srv *srv)
{
	char **names = NULL;
	int n;

	if (srv->sd_read)
		return 0;
	srv->sd_read = true;
	n = sd_listen_fds_with_names(1, &names);	/* not for our children */
	if (n < 0)
		return mortar_set_error(-n, "the sockets systemd passed (LISTEN_FDS): %s",
					strerror(-n));
	srv->sd_fds = n > 0 ? calloc((size_t)n, sizeof *srv->sd_fds) : NULL;
	srv->sd_names = names;
	srv->nsd = srv->sd_fds ? (unsigned)n : 0;
	for (int i = 0; i < n && srv->sd_fds; i++)
		srv->sd_fds[i] = SD_LISTEN_FDS_START + i;
	return 0;
}

/* The fds systemd passed back from its store, by name into LFDS (the
 * socket unit's listeners are left for srv_listen_systemd).  Returns the
 * state's fd, or -1. */
static int from_systemd(struct srv *srv, struct json_object *lfds)
{
	int sfd = -1;

	for (unsigned i = 0; i < srv->nsd; i++) {
		const char *name = srv->sd_names && srv->sd_names[i] ? srv->sd_names[i] : "";

		if (strncmp(name, "mortar-", 7))
			continue;
		if (!strcmp(name, STATE_NAME))
			sfd = srv->sd_fds[i];
		else
			json_object_object_add(lfds, name, json_object_new_int(srv->sd_fds[i]));
		/* What we took stays out of the store until we put it back. */
		srv_notify_fdstore_remove(name);
	}
	return sfd;
}

bool srv_handover_pending(void)
{
	return getenv(STATE_ENV) != NULL;
}

int srv_handover_load(struct srv *srv)
{
	const char *env = getenv(STATE_ENV);
	struct srv_inherited *in;
	struct json_object *lfds = json_object_new_object(), *fdmap;
	int sfd = -1, r;

	in = calloc(1, sizeof *in);
	if (!in || !lfds) {
		free(in);
		json_object_put(lfds);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	if (env) {
		sfd = atoi(env);
		unsetenv(STATE_ENV);
	} else if ((r = srv_systemd_fds(srv)) < 0) {
		json_object_put(lfds);
		free(in);
		return r;
	} else {
		sfd = from_systemd(srv, lfds);
	}
	if (sfd < 0) {
		json_object_put(lfds);
		free(in);
		return 0;
	}
	r = state_read(sfd, &in->state);
	close(sfd);
	if (r < 0) {
		json_object_put(lfds);
		free(in);
		return r;
	}
	/* Re-exec: the numbers are in the state itself. */
	if (json_object_object_get_ex(in->state, "fds", &fdmap)) {
		json_object_put(lfds);
		lfds = json_object_get(fdmap);
	}
	in->lfds = lfds;
	in->listener_taken = calloc(json_object_array_length(
		json_object_object_get(in->state, "listeners")) + 1, sizeof(bool));
	srv->inherited = in;
	srv_log(srv, "taking over from the previous process");
	return 1;
}

/* The fd the previous process gave under NAME, or -1. */
static int inherited_fd(const struct srv_inherited *in, const char *name)
{
	struct json_object *v;

	return name && json_object_object_get_ex(in->lfds, name, &v) ?
		json_object_get_int(v) : -1;
}

int srv_handover_listener(struct srv *srv, const char *unix_path, const char *addr,
			  const char *port, bool systemd)
{
	struct srv_inherited *in = srv->inherited;
	struct json_object *ls;

	if (!in || !json_object_object_get_ex(in->state, "listeners", &ls))
		return -1;
	for (size_t i = 0; i < json_object_array_length(ls); i++) {
		struct json_object *l = json_object_array_get_idx(ls, i), *v;
		bool match;

		if (in->listener_taken[i])
			continue;
		if (unix_path)
			match = json_object_object_get_ex(l, "unix", &v) &&
				!strcmp(json_object_get_string(v), unix_path);
		else if (addr)
			match = json_object_object_get_ex(l, "tcp", &v) &&
				!strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), addr) &&
				!strcmp(json_object_get_string(json_object_array_get_idx(v, 1)), port);
		else
			match = systemd && json_object_object_get_ex(l, "systemd", &v);
		if (match) {
			in->listener_taken[i] = true;
			return inherited_fd(in, json_object_get_string(
				json_object_object_get(l, "name")));
		}
	}
	return -1;
}

void srv_add_adopter(struct srv *srv, const char *proto, srv_adopt_fn fn, void *ctx)
{
	if (srv->nadopters < sizeof srv->adopters / sizeof srv->adopters[0]) {
		srv->adopters[srv->nadopters].proto = proto;
		srv->adopters[srv->nadopters].fn = fn;
		srv->adopters[srv->nadopters++].ctx = ctx;
	}
}

/* Listeners the previous process had and this one no longer wants. */
static void close_unwanted_listeners(struct srv *srv, struct srv_inherited *in)
{
	struct json_object *ls, *v;

	if (!json_object_object_get_ex(in->state, "listeners", &ls))
		return;
	for (size_t i = 0; i < json_object_array_length(ls); i++) {
		struct json_object *l = json_object_array_get_idx(ls, i);
		int fd;

		if (in->listener_taken[i])
			continue;
		fd = inherited_fd(in, json_object_get_string(json_object_object_get(l, "name")));
		if (fd >= 0)
			close(fd);
		if (json_object_object_get_ex(l, "unix", &v)) {
			srv_log(srv, "no longer listening on %s", json_object_get_string(v));
			unlink(json_object_get_string(v));
		}
	}
}

static void adopt_unit(struct srv *srv, struct json_object *u, int fd)
{
	const char *proto = json_object_get_string(json_object_object_get(u, "proto"));

	for (unsigned a = 0; a < srv->nadopters; a++) {
		if (proto && !strcmp(proto, srv->adopters[a].proto)) {
			srv->adopters[a].fn(srv, srv->adopters[a].ctx, fd, u);
			return;
		}
	}
	srv_log(srv, "a connection of protocol '%s' from the previous process has no "
		"taker here; closing it", proto ? proto : "?");
	close(fd);
}

void srv_handover_adopt(struct srv *srv)
{
	struct srv_inherited *in = srv->inherited;
	struct json_object *us;
	unsigned n = 0;

	if (!in)
		return;
	close_unwanted_listeners(srv, in);
	if (json_object_object_get_ex(in->state, "units", &us)) {
		for (size_t i = 0; i < json_object_array_length(us); i++) {
			struct json_object *u = json_object_array_get_idx(us, i);
			int fd = inherited_fd(in, json_object_get_string(
				json_object_object_get(u, "name")));

			if (fd < 0) {
				srv_log(srv, "a connection of the previous process did not "
					"arrive; its client reconnects");
				continue;
			}
			set_cloexec(fd, true);
			adopt_unit(srv, u, fd);
			n++;
		}
	}
	srv_log(srv, "took over %u connection(s) from the previous process", n);
	json_object_put(in->state);
	json_object_put(in->lfds);
	free(in->listener_taken);
	free(in);
	srv->inherited = NULL;
}
