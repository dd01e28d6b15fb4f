/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Accepting NBD connections: a short-lived thread negotiates each one
 * (handshake.c), and a session that reaches transmission goes to one of
 * the workers, round-robin, where it stays. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <json-c/json.h>

#include "hex.h"
#include "server.h"
#include "tls.h"
#include "transmission.h"

void nbd_session_close(struct nbd_session *s)
{
	free(s->pending);
	s->pending = NULL;
	s->npending = 0;
	nbd_tls_close(s->tls, false);
	s->tls = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

struct hs_job {
	struct nbd_server *srv;
	struct nbd_session *s;
};

/* On the worker: the session becomes a connection there. */
static void session_arrives(struct srv_worker *w, void *arg)
{
	struct hs_job *job = arg;
	struct nbd_session *s = job->s;

	if (srv_worker_stopping(w) || !nbd_conn_start(w, job->srv, s)) {
		if (!srv_worker_stopping(w))
			nbd_log(job->srv, "%s: out of memory starting a connection", s->peer);
		nbd_session_close(s);
		atomic_fetch_sub(&job->srv->core->nconns, 1);
	}
	free(s->pending);
	free(s);
	free(job);
}

static void *handshake_main(void *arg)
{
	struct hs_job *job = arg;
	struct nbd_server *srv = job->srv;
	struct nbd_session *s = job->s;
	sigset_t all;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	r = nbd_handshake(srv, s->fd, s);
	/* TLS sessions too: the transport decrypts on the worker. */
	if (r == 1 && !atomic_load(&srv->core->stopping) &&
	    srv_worker_post(srv_worker_next(srv->core), session_arrives, job) == 0) {
		atomic_fetch_sub(&srv->handshakes, 1);
		return NULL;
	}
	nbd_session_close(s);
	free(s);
	free(job);
	atomic_fetch_sub(&srv->core->nconns, 1);
	atomic_fetch_sub(&srv->handshakes, 1);
	return NULL;
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "fd %d", fd);
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "unix socket (fd %d)", fd);
	}
}

void nbd_accept(struct srv *core, int lfd, void *ctx)
{
	struct nbd_server *srv = ctx;
	struct nbd_session *s;
	struct hs_job *job;
	pthread_attr_t attr;
	pthread_t tid;
	int fd, one = 1;

	fd = srv_accept(core, lfd);
	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s = calloc(1, sizeof *s);
	job = calloc(1, sizeof *job);
	if (!s || !job) {
		free(s);
		free(job);
		close(fd);
		return;
	}
	s->fd = fd;
	peer_name(fd, s->peer, sizeof s->peer);
	srv_logx(core, LOG_DEBUG, &(struct srv_logctx){ .client = s->peer }, "%s: connected",
		 s->peer);
	job->srv = srv;
	job->s = s;
	atomic_fetch_add(&core->nconns, 1);
	atomic_fetch_add(&srv->handshakes, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	if (pthread_create(&tid, &attr, handshake_main, job) != 0) {
		srv_log(core, "cannot start a handshake thread");
		close(fd);
		free(s);
		free(job);
		atomic_fetch_sub(&core->nconns, 1);
		atomic_fetch_sub(&srv->handshakes, 1);
	}
	pthread_attr_destroy(&attr);
}

void nbd_drain(struct srv *core, void *ctx)
{
	struct nbd_server *srv = ctx;

	(void)core;
	/* Handshakes see the server stopping and give up within 200 ms. */
	while (atomic_load(&srv->handshakes) > 0)
		usleep(10000);
}

/* ---- connections handed over by a previous process ---- */

/* The bytes a previous process had received, from the hex it wrote. */
static int pending_bytes(const char *hex, uint8_t **out, uint32_t *n)
{
	size_t len = strlen(hex);

	*out = NULL;
	*n = 0;
	if (len % 2 || len / 2 > (64u << 10))
		return -1;
	if (!len)
		return 0;
	*out = malloc(len / 2);
	if (!*out || mortar_unhex(hex, len / 2, *out) < 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	*n = (uint32_t)(len / 2);
	return 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static bool jbool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

void nbd_adopt(struct srv *core, void *ctx, int fd, struct json_object *st)
{
	struct nbd_server *srv = ctx;
	struct nbd_session *s = calloc(1, sizeof *s);
	struct hs_job *job = calloc(1, sizeof *job);
	struct json_object *v;

	if (!s || !job)
		goto fail;
	s->fd = fd;
	snprintf(s->peer, sizeof s->peer, "%s", jstr(st, "peer"));
	s->e = srv_export_find(core, jstr(st, "export"));
	if (!s->e) {
		char shown[100];

		srv_log(core, "%s: export '%s' is gone from the configuration; closing "
			"the connection", s->peer, srv_printable(jstr(st, "export"),
			strlen(jstr(st, "export")), shown, sizeof shown));
		goto fail;
	}
	if (strcmp(jstr(st, "location"), s->e->location) ||
	    jbool(st, "read_only") != !!(s->e->caps & MORTAR_CAP_READ_ONLY)) {
		/* Its image or its mode changed: the client must negotiate
		 * again (a reconnect) to see what it now is. */
		srv_log(core, "%s: export '%s' changed (image or read-only); closing the "
			"connection, the client reconnects", s->peer, s->e->name);
		goto fail;
	}
	s->structured = jbool(st, "structured");
	s->meta_alloc = jbool(st, "meta_alloc");
	s->meta_id = json_object_object_get_ex(st, "meta_id", &v) ?
		(uint32_t)json_object_get_int64(v) : 1;
	if (pending_bytes(jstr(st, "pending"), &s->pending, &s->npending) < 0) {
		srv_log(core, "%s: the bytes the previous process received are "
			"unreadable; closing the connection", s->peer);
		goto fail;
	}
	job->srv = srv;
	job->s = s;
	atomic_fetch_add(&core->nconns, 1);
	if (srv_worker_post(srv_worker_next(core), session_arrives, job) == 0)
		return;
	atomic_fetch_sub(&core->nconns, 1);
fail:
	if (s)
		free(s->pending);
	free(s);
	free(job);
	close(fd);
}
