/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Diagnoses: probes of the network under a location, and mortar_doctor(),
 * which walks a location from its syntax to a write, step by step. */
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

#include <mortar/doctor.h>
#include <mortar/mortar.h>
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

struct doc {
	mortar_check_fn fn;
	void *opaque;
	int first_err;
	char buf[1200];
};

static void doc_report(struct doc *d, const char *name, enum mortar_check_status st,
		       int err, const char *detail)
{
	struct mortar_check c = { name, st, err, detail };

	if (st == MORTAR_CHECK_FAILED && d->first_err == 0)
		d->first_err = err ? err : -EIO;
	d->fn(d->opaque, &c);
}

static void doc_skip(struct doc *d, const char *name)
{
	doc_report(d, name, MORTAR_CHECK_SKIPPED, 0, "not run: an earlier step failed");
}

/* The gluster-specific steps before the volume: names and glusterd. */
static bool doc_gluster_net(struct doc *d, const struct mortar_location *loc)
{
	bool resolved = true, reached = false;
	size_t n = 0;

	d->buf[0] = '\0';
	for (size_t i = 0; i < loc->nservers; i++) {
		const struct mortar_server *s = &loc->servers[i];
		const char *host = s->host && s->host[0] ? s->host : "localhost";
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;

		if (s->transport == MORTAR_TRANSPORT_UNIX)
			continue;
		if (getaddrinfo(host, NULL, &hints, &res) != 0) {
			if (n < sizeof d->buf)
				n += (size_t)snprintf(d->buf + n, sizeof d->buf - n,
						      "%s'%s' does not resolve", n ? "; " : "",
						      host);
			resolved = false;
			continue;
		}
		freeaddrinfo(res);
	}
	if (!resolved && loc->nservers == 1) {
		if (n < sizeof d->buf)
			snprintf(d->buf + n, sizeof d->buf - n,
				 "; check the name or use an IP address");
		doc_report(d, "resolve", MORTAR_CHECK_FAILED, -EHOSTUNREACH, d->buf);
		doc_skip(d, "glusterd");
		return false;
	}
	doc_report(d, "resolve", MORTAR_CHECK_OK, 0, resolved ?
		   "every server name resolves" : d->buf);

	n = 0;
	d->buf[0] = '\0';
	for (size_t i = 0; i < loc->nservers; i++) {
		const struct mortar_server *s = &loc->servers[i];
		int r = mortar_probe_server(s, MORTAR_GLUSTER_DEFAULT_PORT);
		const char *where = s->transport == MORTAR_TRANSPORT_UNIX ? s->socket :
				    s->host && s->host[0] ? s->host : "localhost";

		if (r == 0)
			reached = true;
		if (n < sizeof d->buf)
			n += (size_t)snprintf(d->buf + n, sizeof d->buf - n, "%s%s: %s",
				n ? "; " : "", where, r == 0 ? "glusterd answers" :
				r == -ECONNREFUSED || r == -ENOENT ? "nothing listens (glusterd "
				"not running, or wrong port/socket)" : r == -EHOSTUNREACH ?
				"does not resolve" : strerror(-r));
	}
	doc_report(d, "glusterd", reached ? MORTAR_CHECK_OK : MORTAR_CHECK_FAILED,
		   reached ? 0 : -ECONNREFUSED, d->buf);
	return reached;
}

int mortar_doctor(const char *location, unsigned flags, mortar_check_fn fn, void *opaque)
{
	struct doc d = { .fn = fn, .opaque = opaque };
	struct mortar_location *loc = NULL;
	struct mortar_image *img = NULL;
	struct mortar_loop *loop = NULL;
	char *canon = NULL;
	bool ok;
	int r;

	r = mortar_location_parse(location, &loc, NULL);
	if (r < 0) {
		doc_report(&d, "location", MORTAR_CHECK_FAILED, r, mortar_errmsg());
		return d.first_err;
	}
	canon = mortar_location_format(loc);
	snprintf(d.buf, sizeof d.buf, "%s location %s", mortar_scheme_name(loc->scheme),
		 canon ? canon : location);
	doc_report(&d, "location", MORTAR_CHECK_OK, 0, d.buf);
	free(canon);

	ok = true;
	if (loc->scheme == MORTAR_SCHEME_GLUSTER) {
		ok = doc_gluster_net(&d, loc);
		if (!ok) {
			doc_skip(&d, "open");
			doc_skip(&d, "read");
			doc_skip(&d, "write");
			goto out;
		}
	} else if (loc->scheme == MORTAR_SCHEME_FILE) {
		struct stat st;

		if (stat(loc->path, &st) < 0) {
			r = -errno;
			snprintf(d.buf, sizeof d.buf, "%s: %s%s", loc->path, strerror(errno),
				 errno == ENOENT ? "; create it with 'mortar img create' or "
				 "check the path" : errno == EACCES ? "; a folder on the "
				 "path is not searchable by this user" : "");
			doc_report(&d, "exists", MORTAR_CHECK_FAILED, r, d.buf);
			ok = false;
		} else {
			snprintf(d.buf, sizeof d.buf, "%s, %lld bytes", S_ISBLK(st.st_mode) ?
				 "block device" : S_ISREG(st.st_mode) ? "regular file" :
				 "not a file nor a block device", (long long)st.st_size);
			doc_report(&d, "exists", MORTAR_CHECK_OK, 0, d.buf);
		}
	}

	if (ok && (r = mortar_loop_new(8, &loop)) < 0) {
		doc_report(&d, "open", MORTAR_CHECK_FAILED, r, mortar_errmsg());
		ok = false;
	}
	if (ok) {
		r = mortar_image_open(loop, location, (flags & MORTAR_DOCTOR_WRITE) ?
				      0 : MORTAR_OPEN_RDONLY, &img);
		if (r < 0) {
			doc_report(&d, "open", MORTAR_CHECK_FAILED, r, mortar_errmsg());
			ok = false;
		} else {
			snprintf(d.buf, sizeof d.buf, "opened %s (%s backend, %llu bytes)",
				 (flags & MORTAR_DOCTOR_WRITE) ? "read-write" : "read-only",
				 mortar_image_backend(img),
				 (unsigned long long)mortar_image_size(img));
			doc_report(&d, "open", MORTAR_CHECK_OK, 0, d.buf);
		}
	} else {
		doc_skip(&d, "open");
	}

	if (ok) {
		/* Read the first block, then (if asked) write the same bytes
		 * back durably: a write probe that changes nothing. */
		size_t len = mortar_image_size(img) < 65536 ? mortar_image_size(img) : 65536;
		void *buf = NULL;

		if (len && posix_memalign(&buf, 4096, len)) {
			doc_report(&d, "read", MORTAR_CHECK_FAILED, -ENOMEM, "out of memory");
			ok = false;
		} else if (len && (r = mortar_image_pread_sync(img, buf, len, 0)) < 0) {
			doc_report(&d, "read", MORTAR_CHECK_FAILED, r, mortar_errmsg());
			ok = false;
		} else {
			snprintf(d.buf, sizeof d.buf, "read %zu bytes at offset 0", len);
			doc_report(&d, "read", MORTAR_CHECK_OK, 0, d.buf);
		}
		if (!ok)
			doc_skip(&d, "write");
		else if (!(flags & MORTAR_DOCTOR_WRITE))
			doc_report(&d, "write", MORTAR_CHECK_SKIPPED, 0,
				   "not asked for (--write rewrites the first block "
				   "with its own bytes)");
		else if (len && (r = mortar_image_pwrite_sync(img, buf, len, 0,
							      MORTAR_REQ_FUA)) < 0)
			doc_report(&d, "write", MORTAR_CHECK_FAILED, r, mortar_errmsg());
		else
			doc_report(&d, "write", MORTAR_CHECK_OK, 0,
				   "rewrote the first block with its own bytes, durably");
		free(buf);
	} else {
		doc_skip(&d, "read");
		doc_skip(&d, "write");
	}
out:
	if (img && mortar_image_close(img) < 0 && d.first_err == 0)
		d.first_err = -EIO;
	mortar_loop_free(loop);
	mortar_location_free(loc);
	return d.first_err;
}
