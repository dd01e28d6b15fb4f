/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A QMP client (qmp.h).  QEMU speaks one JSON object per message over the
 * socket: a greeting, then replies (tagged with our "id") and
 * asynchronous events in any order.  Events that arrive while we wait for
 * a reply are kept for qmp_wait_event. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
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
#include "vm-json.h"

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
			if (!strcmp(vm_json_str(q->events[i], "event"), name)) {
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

/* A client over FD (taken over); PEER names it in messages. */
static int qmp_new(int fd, int timeout_ms, const char *peer, struct qmp **out)
{
	struct qmp *q = calloc(1, sizeof *q);

	if (q)
		q->tok = json_tokener_new();
	if (!q || !q->tok) {
		close(fd);
		if (q)
			free(q);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	q->fd = fd;
	q->timeout_ms = timeout_ms;
	q->peer = peer;
	*out = q;
	return 0;
}

/* The greeting, then capabilities negotiation. */
static int qmp_handshake(struct qmp *q)
{
	json_object *greeting;
	int r = qmp_read(q, now_ms() + q->timeout_ms, &greeting);

	if (r < 0)
		return r;
	json_object_put(greeting);
	return qmp_execute(q, "qmp_capabilities", NULL, NULL);
}

/* Drop what comes before the 0xFF byte that guest-sync-delimited puts
 * before its reply. */
static int agent_skip_to_delimiter(struct qmp *q, long deadline)
{
	for (;;) {
		char *ff = q->start < q->end ?
			memchr(q->buf + q->start, 0xff, q->end - q->start) : NULL;
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (ff) {
			q->start = (size_t)(ff - q->buf) + 1;
			return 0;
		}
		q->start = q->end = 0;
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return mortar_set_error(ETIMEDOUT, "the guest agent did not answer within "
						"%d ms (is qemu-ga running in the guest?)",
						q->timeout_ms);
		n = read(q->fd, q->buf, sizeof q->buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return mortar_set_error(n == 0 ? EPIPE : errno, "the guest agent's socket "
						"closed");
		q->end = (size_t)n;
	}
}

/* The guest agent speaks the same JSON, without greeting or capabilities;
 * but what an earlier client left unread, or half a message the agent
 * was writing, may still come first.  guest-sync-delimited answers with a
 * 0xFF byte before its reply: everything up to that byte is dropped, and
 * replies up to the one that carries TOKEN. */
static int agent_sync(struct qmp *q, int64_t token)
{
	long deadline = now_ms() + q->timeout_ms;
	json_object *msg = json_object_new_object(), *args = json_object_new_object(), *o, *v;
	int r;

	json_object_object_add(args, "id", json_object_new_int64(token));
	json_object_object_add(msg, "execute", json_object_new_string("guest-sync-delimited"));
	json_object_object_add(msg, "arguments", args);
	r = qmp_send(q, msg);
	json_object_put(msg);
	if (r == 0)
		r = agent_skip_to_delimiter(q, deadline);
	while (r == 0 && (r = qmp_read(q, deadline, &o)) == 0) {
		bool mine = json_object_object_get_ex(o, "return", &v) &&
			    json_object_is_type(v, json_type_int) &&
			    json_object_get_int64(v) == token;

		json_object_put(o);
		if (mine)
			break;
	}
	return r;
}

int qmp_connect_fd(int fd, int timeout_ms, int64_t agent_token, struct qmp **out)
{
	struct qmp *q = NULL;
	int r = qmp_new(fd, timeout_ms, agent_token ? "the guest agent" : "QEMU", &q);

	if (r < 0)
		return r;
	r = agent_token ? agent_sync(q, agent_token) : qmp_handshake(q);
	if (r < 0) {
		qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

/* A socket connected to the unix socket PATH of PEER. */
static int unix_connect(const char *path, const char *peer)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof sa.sun_path)
		return mortar_set_error(ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		r = mortar_set_error(errno, "cannot reach %s's socket %s: %m", peer, path);
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

int qmp_connect(const char *path, int timeout_ms, struct qmp **out)
{
	int fd = unix_connect(path, "QEMU");

	return fd < 0 ? fd : qmp_connect_fd(fd, timeout_ms, 0, out);
}

int qmp_connect_agent(const char *path, int timeout_ms, struct qmp **out)
{
	int fd = unix_connect(path, "the guest agent");
	/* (a token no stale reply of an earlier client carries) */
	int64_t token = ((int64_t)(now_ms() & 0x7fffffff) ^ (int64_t)getpid() << 8) | 1;

	return fd < 0 ? fd : qmp_connect_fd(fd, timeout_ms, token, out);
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
	json_object *ret, *qemu;
	int64_t major, minor, micro;
	int r = qmp_execute(q, "query-version", NULL, &ret);

	if (r < 0)
		return r;
	qemu = vm_json_obj(ret, "qemu");
	major = vm_json_int(qemu, "major", -1);
	minor = vm_json_int(qemu, "minor", -1);
	micro = vm_json_int(qemu, "micro", -1);
	json_object_put(ret);
	if (major < 0 || major > 999 || minor < 0 || minor > 99 || micro < 0 || micro > 99)
		return mortar_set_error(EPROTO, "QEMU gave no version Mortar can read");
	return (int)(major * 10000 + minor * 100 + micro);
}

int qmp_machine_type(struct qmp *q, char *buf, size_t len)
{
	json_object *args = json_object_new_object(), *ret;
	const char *t;
	size_t n;
	int r;

	json_object_object_add(args, "path", json_object_new_string("/machine"));
	json_object_object_add(args, "property", json_object_new_string("type"));
	if ((r = qmp_execute(q, "qom-get", args, &ret)) < 0)
		return r;
	/* the machine's QOM class: the type's name + "-machine" */
	t = json_object_is_type(ret, json_type_string) ? json_object_get_string(ret) : "";
	n = strlen(t);
	if (n > 8 && !strcmp(t + n - 8, "-machine"))
		n -= 8;
	if (n == 0 || n >= len || strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789-._") < n) {
		json_object_put(ret);
		return mortar_set_error(EPROTO, "QEMU named its machine type in a way Mortar "
					"cannot read");
	}
	memcpy(buf, t, n);
	buf[n] = '\0';
	json_object_put(ret);
	return 0;
}
