/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Diagnoses: probes of the network under a location (diag.h). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <mortar/location.h>
#include "diag.h"
#include "error.h"

/* Can we reach glusterd at S?  0 if a TCP connection opens within 1 s,
 * else a negative errno: -EHOSTUNREACH for a name that does not resolve. */
int mortar_probe_server(const struct mortar_server *s, int default_port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[16];
	int r = -ECONNREFUSED;

	if (s->transport == MORTAR_TRANSPORT_UNIX) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int fd;

		if (!s->socket || strlen(s->socket) >= sizeof sun.sun_path)
			return -EINVAL;
		strcpy(sun.sun_path, s->socket);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		r = connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ? -errno : 0;
		close(fd);
		return r;
	}
	snprintf(port, sizeof port, "%d", s->port ? s->port : default_port);
	if (getaddrinfo((s->host && s->host[0] ? s->host : "localhost"), port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	for (ai = res; ai && r != 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t el = sizeof err;

		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			r = 0;
		} else if (errno == EINPROGRESS && poll(&p, 1, 1000) == 1 &&
			   getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0) {
			r = err ? -err : 0;
		} else {
			r = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return r;
}
