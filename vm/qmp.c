/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A QMP client (qmp.h).  QEMU speaks one JSON object per message over the
 * socket: a greeting, then replies (tagged with our "id") and
 * asynchronous events in any order.  Events that arrive while we wait for
 * a reply are kept for qmp_wait_event. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "qmp.h"

#define MAX_EVENTS 256

struct qmp {
	int fd;
	const char *peer;		/* for messages: "QEMU" or "the guest agent" */
	int timeout_ms;
	unsigned next_id;
	json_tokener *tok;
	char buf[65536];
	size_t start, end;		/* unparsed bytes */
	json_object *events[MAX_EVENTS];
	size_t nevents;
};

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The next message, waiting until DEADLINE (ms, monotonic). */
static int qmp_read(struct qmp *q, long deadline, json_object **out)
{
	for (;;) {
		while (q->start < q->end) {
			/* Skip the newlines between messages. */
			while (q->start < q->end && (q->buf[q->start] == '\n' ||
						     q->buf[q->start] == '\r' ||
						     q->buf[q->start] == ' '))
				q->start++;
			if (q->start == q->end)
				break;
			json_object *o = json_tokener_parse_ex(q->tok, q->buf + q->start,
							       (int)(q->end - q->start));
			enum json_tokener_error e = json_tokener_get_error(q->tok);

			if (e == json_tokener_continue) {
				q->start = q->end;
				break;
			}
			q->start += json_tokener_get_parse_end(q->tok);
			json_tokener_reset(q->tok);
			if (e != json_tokener_success || !o)
				return mortar_set_error(EPROTO, "%s sent something that is "
							"not JSON", q->peer);
			*out = o;
			return 0;
		}
		q->start = q->end = 0;
		long left = deadline - now_ms();
		struct pollfd p = { .fd = q->fd, .events = POLLIN };

		if (left <= 0)
			return mortar_set_error(ETIMEDOUT, "%s did not answer within %d ms",
						q->peer, q->timeout_ms);
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t n = read(q->fd, q->buf, sizeof q->buf);
		if (n == 0)
			return mortar_set_error(EPIPE, "%s closed its socket (did QEMU exit "
						"or crash?)", q->peer);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mortar_set_error(errno, "reading QMP: %m");
		}
		q->end = (size_t)n;
	}
}

static void keep_event(struct qmp *q, json_object *o)
{
	if (q->nevents == MAX_EVENTS) {
		json_object_put(q->events[0]);
		memmove(q->events, q->events + 1, (MAX_EVENTS - 1) * sizeof *q->events);
		q->nevents--;
	}
	q->events[q->nevents++] = o;
}

static int qmp_send(struct qmp *q, json_object *msg)
{
	const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s), done = 0;

	while (done < len) {
		ssize_t n = send(q->fd, s + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mortar_set_error(errno == EPIPE ? EPIPE : errno,
						"QEMU is gone (QMP: %m)");
		done += (size_t)n;
	}
	return 0;
}

int qmp_execute(struct qmp *q, const char *cmd, json_object *args, json_object **ret)
{
	json_object *msg = json_object_new_object(), *o, *v;
	unsigned id = ++q->next_id;
	long deadline = now_ms() + q->timeout_ms;
	int r;

	if (ret)
		*ret = NULL;
	json_object_object_add(msg, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(msg, "arguments", args);
	json_object_object_add(msg, "id", json_object_new_int((int)id));
	r = qmp_send(q, msg);
	json_object_put(msg);
	if (r < 0)
		return r;
	for (;;) {
		r = qmp_read(q, deadline, &o);
		if (r < 0)
			return r == -EPIPE ? mortar_set_error(EPIPE, "QEMU died during '%s' "
							      "(see its log)", cmd) : r;
		if (json_object_object_get_ex(o, "event", &v)) {
			keep_event(q, o);
			continue;
		}
		if (!json_object_object_get_ex(o, "id", &v) || json_object_get_int(v) != (int)id) {
			json_object_put(o);
			continue;
		}
		if (json_object_object_get_ex(o, "error", &v)) {
			json_object *d;
			r = mortar_set_error(EIO, "%s",
				json_object_object_get_ex(v, "desc", &d) ?
				json_object_get_string(d) : "QEMU refused the command");
			json_object_put(o);
			return r;
		}
		if (ret && json_object_object_get_ex(o, "return", &v))
			*ret = json_object_get(v);
		json_object_put(o);
		return 0;
	}
}

int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms, json_object **data)
{
	long deadline = now_ms() + timeout_ms;
	json_object *o, *v;
	int r;

	for (;;) {
		for (size_t i = 0; i < q->nevents; i++) {
			if (json_object_object_get_ex(q->events[i], "event", &v) &&
			    !strcmp(json_object_get_string(v), name)) {
				if (data)
					*data = json_object_object_get_ex(q->events[i], "data", &v) ?
						json_object_get(v) : NULL;
				json_object_put(q->events[i]);
				memmove(q->events + i, q->events + i + 1,
					(q->nevents - i - 1) * sizeof *q->events);
				q->nevents--;
				return 0;
			}
		}
		r = qmp_read(q, deadline, &o);
		if (r == -ETIMEDOUT)
			return mortar_set_error(ETIMEDOUT, "no %s event from QEMU within %d s",
						name, timeout_ms / 1000);
		if (r < 0)
			return r;
		if (json_object_object_get_ex(o, "event", &v))
			keep_event(q, o);
		else
			json_object_put(o);
	}
}

/* A client on the unix socket PATH, connected; PEER names it in messages. */
static int qmp_open(const char *path, int timeout_ms, const char *peer, struct qmp **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q;
	int r;

	if (strlen(path) >= sizeof sa.sun_path)
		return mortar_set_error(ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	q = calloc(1, sizeof *q);
	if (!q)
		return mortar_set_error(ENOMEM, "out of memory");
	q->timeout_ms = timeout_ms;
	q->peer = peer;
	q->tok = json_tokener_new();
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!q->tok || q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		r = mortar_set_error(errno ? errno : ENOMEM, "cannot reach %s's socket %s: %m",
				     peer, path);
		qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

int qmp_connect(const char *path, int timeout_ms, struct qmp **out)
{
	struct qmp *q;
	json_object *greeting;
	int r = qmp_open(path, timeout_ms, "QEMU", &q);

	if (r < 0)
		return r;
	r = qmp_read(q, now_ms() + timeout_ms, &greeting);
	if (r < 0) {
		qmp_close(q);
		return r;
	}
	json_object_put(greeting);
	r = qmp_execute(q, "qmp_capabilities", NULL, NULL);
	if (r < 0) {
		qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

/* The guest agent speaks the same JSON, without greeting or capabilities;
 * but what an earlier client left unread, or half a message the agent
 * was writing, may still come first.  guest-sync-delimited answers with a
 * 0xFF byte before its reply: everything up to that byte is dropped. */
int qmp_connect_agent(const char *path, int timeout_ms, struct qmp **out)
{
	long deadline = now_ms() + timeout_ms;
	json_object *msg, *args, *o, *v;
	struct qmp *q;
	int64_t token;
	int r = qmp_open(path, timeout_ms, "the guest agent", &q);

	if (r < 0)
		return r;
	token = (int64_t)(now_ms() & 0x7fffffff) ^ (int64_t)getpid() << 8;
	msg = json_object_new_object();
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_int64(token));
	json_object_object_add(msg, "execute", json_object_new_string("guest-sync-delimited"));
	json_object_object_add(msg, "arguments", args);
	r = qmp_send(q, msg);
	json_object_put(msg);
	if (r < 0)
		goto fail;
	for (;;) {
		/* drop bytes up to the delimiter */
		char *ff = q->start < q->end ?
			memchr(q->buf + q->start, 0xff, q->end - q->start) : NULL;
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (ff) {
			q->start = (size_t)(ff - q->buf) + 1;
			break;
		}
		q->start = q->end = 0;
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			r = mortar_set_error(ETIMEDOUT, "the guest agent did not answer within "
					     "%d ms (is qemu-ga running in the guest?)", timeout_ms);
			goto fail;
		}
		n = read(q->fd, q->buf, sizeof q->buf);
		if (n <= 0) {
			r = mortar_set_error(n == 0 ? EPIPE : errno, "the guest agent's socket "
					     "closed");
			goto fail;
		}
		q->end = (size_t)n;
	}
	for (;;) {
		r = qmp_read(q, deadline, &o);
		if (r < 0)
			goto fail;
		if (json_object_object_get_ex(o, "return", &v) && json_object_get_int64(v) == token) {
			json_object_put(o);
			break;
		}
		json_object_put(o);
	}
	*out = q;
	return 0;
fail:
	qmp_close(q);
	return r;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	if (q->tok)
		json_tokener_free(q->tok);
	for (size_t i = 0; i < q->nevents; i++)
		json_object_put(q->events[i]);
	free(q);
}

int qmp_version(struct qmp *q)
{
	json_object *ret, *qemu, *v;
	int ver = 0, r = qmp_execute(q, "query-version", NULL, &ret);

	if (r < 0)
		return r;
	if (json_object_object_get_ex(ret, "qemu", &qemu)) {
		if (json_object_object_get_ex(qemu, "major", &v))
			ver += json_object_get_int(v) * 10000;
		if (json_object_object_get_ex(qemu, "minor", &v))
			ver += json_object_get_int(v) * 100;
		if (json_object_object_get_ex(qemu, "micro", &v))
			ver += json_object_get_int(v);
	}
	json_object_put(ret);
	return ver;
}
