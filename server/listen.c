/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listening sockets: a unix socket (mode 0600 unless a group is given),
 * TCP on chosen addresses (127.0.0.1 unless told otherwise), or sockets
 * passed by systemd.  Each carries the accept callback of its protocol. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "internal.h"

#define LISTEN_BACKLOG 64

static int listen_add(struct srv *srv, int fd, srv_accept_fn accept, void *ctx,
		      const char *unix_path)
{
	struct srv_listener *l;

	if (srv->nlisteners == SRV_MAX_LISTENERS) {
		close(fd);
		return mortar_set_error(EMFILE, "too many listening sockets (at most %d)",
					SRV_MAX_LISTENERS);
	}
	l = &srv->listeners[srv->nlisteners];
	*l = (struct srv_listener){ .fd = fd, .accept = accept, .ctx = ctx };
	if (unix_path && !(l->unix_path = strdup(unix_path))) {
		close(fd);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	srv->nlisteners++;
	return 0;
}

/* A unix socket file that nobody listens on any more? */
static bool stale_socket(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, r;

	if (lstat(sun->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	r = r < 0 && errno == ECONNREFUSED;
	close(fd);
	return r;
}

int srv_listen_unix(struct srv *srv, const char *path, unsigned mode, long gid,
		    srv_accept_fn accept, void *ctx)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	/* The socket the previous process listened on, still listening:
	 * clients that connect meanwhile wait in its backlog. */
	fd = srv_handover_listener(srv, path, NULL, NULL, false);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if ((gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0) ||
		    chmod(path, mode) < 0)
			srv_log(srv, "cannot give %s group %ld and mode %03o: %m", path,
				gid, mode);
		return listen_add(srv, fd, accept, ctx, path);
	}

	if (strlen(path) >= sizeof sun.sun_path)
		return mortar_set_error(ENAMETOOLONG, "unix socket path %s is too long "
					"(at most %zu bytes)", path, sizeof sun.sun_path - 1);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mortar_set_error(errno, "socket: %m");
	/* Created 0600 from the start: no window where others can connect. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	if (r < 0 && errno == EADDRINUSE && stale_socket(&sun)) {
		/* Left by a server that handed its sockets to systemd's fd
		 * store, which then let them go (or by a crash). */
		unlink(sun.sun_path);
		r = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	}
	umask(old);
	if (r < 0) {
		r = errno;
		close(fd);
		if (r == EADDRINUSE)
			return mortar_set_error(r, "%s already exists; another server may "
				"be using it (remove it if not)", path);
		return mortar_set_error(r, "cannot bind unix socket %s: %s", path,
					strerror(r));
	}
	/* Group and mode before listen(): until then nobody can connect. */
	if ((gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0) ||
	    (mode != 0600 && chmod(path, mode) < 0)) {
		r = mortar_set_error(errno, "cannot give %s group %ld and mode %03o: %m",
				     sun.sun_path, gid, mode);
		close(fd);
		unlink(path);
		return r;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		r = mortar_set_error(errno, "listen on %s: %m", path);
		close(fd);
		unlink(path);
		return r;
	}
	r = listen_add(srv, fd, accept, ctx, path);
	if (r < 0)
		unlink(path);
	return r;
}

static int listen_tcp_adopt(struct srv *srv, int fd, const char *addr, const char *port,
			    srv_accept_fn accept, void *ctx)
{
	struct srv_listener *l;
	int r;

	fcntl(fd, F_SETFD, FD_CLOEXEC);
	r = listen_add(srv, fd, accept, ctx, NULL);
	if (r < 0)
		return r;
	l = &srv->listeners[srv->nlisteners - 1];
	l->tcp_addr = strdup(addr);
	l->tcp_port = strdup(port);
	return 0;
}

int srv_listen_tcp(struct srv *srv, const char *addr, const char *port,
		   srv_accept_fn accept, void *ctx)
{
	const char *asked = addr;
	int inh;

	/* Every socket the previous process bound for the same address. */
	inh = srv_handover_listener(srv, NULL, addr, port, false);
	if (inh >= 0) {
		do {
			int r = listen_tcp_adopt(srv, inh, addr, port, accept, ctx);
			if (r < 0)
				return r;
		} while ((inh = srv_handover_listener(srv, NULL, addr, port, false)) >= 0);
		return 0;
	}
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *res, *ai;
	char host[256];
	unsigned bound = 0;
	int r, last_err = 0;

	/* Accept "[::1]" as well as "::1". */
	if (addr && addr[0] == '[') {
		size_t n = strlen(addr);
		if (n < 3 || addr[n - 1] != ']' || n - 2 >= sizeof host)
			return mortar_set_error(EINVAL, "bad address '%s'", addr);
		memcpy(host, addr + 1, n - 2);
		host[n - 2] = '\0';
		addr = host;
	}
	r = getaddrinfo(addr, port, &hints, &res);
	if (r != 0)
		return mortar_set_error(EINVAL, "cannot listen on %s port %s: %s",
					addr ? addr : "*", port, gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		int one = 1;

		if (fd < 0) {
			last_err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, LISTEN_BACKLOG) < 0) {
			last_err = errno;
			close(fd);
			continue;
		}
		if (listen_tcp_adopt(srv, fd, asked, port, accept, ctx) < 0)
			break;
		bound++;
	}
	freeaddrinfo(res);
	if (!bound)
		return mortar_set_error(last_err ? last_err : EADDRNOTAVAIL,
			"cannot listen on %s port %s: %s%s", addr ? addr : "*", port,
			strerror(last_err ? last_err : EADDRNOTAVAIL),
			last_err == EADDRINUSE ? " (choose another --port)" : "");
	return 0;
}

int srv_listen_systemd(struct srv *srv, srv_accept_fn accept, void *ctx)
{
	int taken = 0, r = srv_systemd_fds(srv), fd;

	for (unsigned i = 0; r == 0 && i < srv->nsd; i++) {
		const char *name = srv->sd_names ? srv->sd_names[i] : NULL;
		int type = 0;
		socklen_t tl = sizeof type;

		fd = srv->sd_fds[i];
		/* Ours from the fd store: connections and the handover state
		 * (srv_handover_load took them). */
		if (name && !strncmp(name, "mortar-", 7))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
			r = mortar_set_error(EINVAL, "file descriptor %d from systemd is "
					     "not a stream socket", fd);
		else if ((r = listen_add(srv, fd, accept, ctx, NULL)) == 0)
			taken++;
	}
	/* After a re-exec, the socket unit's listeners come from the
	 * previous process instead. */
	while (r == 0 && (fd = srv_handover_listener(srv, NULL, NULL, NULL, true)) >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if ((r = listen_add(srv, fd, accept, ctx, NULL)) == 0)
			taken++;
	}
	return r < 0 ? r : taken;
}

void srv_listen_close(struct srv *srv)
{
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		struct srv_listener *l = &srv->listeners[i];

		close(l->fd);
		if (l->unix_path) {
			unlink(l->unix_path);
			free(l->unix_path);
		}
		free(l->tcp_addr);
		free(l->tcp_port);
	}
	srv->nlisteners = 0;
}

static struct srv_ratelimit accept_rl, refused_rl;

int srv_accept(struct srv *srv, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			srv_log_limited(srv, &accept_rl, "accept: %m");
		if (errno == EMFILE || errno == ENFILE)
			usleep(100000);	/* do not spin on a full table */
		return -1;
	}
	if (atomic_load(&srv->nconns) >= srv->cfg.max_connections) {
		srv_log_limited(srv, &refused_rl, "refusing a connection: %u connections "
				"already (--max-connections)", srv->cfg.max_connections);
		close(fd);
		return -1;
	}
	return fd;
}
