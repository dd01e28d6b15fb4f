/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vhost-user messages on the wire: a 12-byte header, a payload, and file
 * descriptors in the header's ancillary data.  Receiving checks only
 * the framing; vhost_msg_check() then holds each request to the payload
 * size and descriptor count the protocol gives it, so that the handlers
 * in device.c read only what is there. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* What each request carries: its name, its payload size (exact, or at
 * least MIN up to MAX), and how many descriptors (FDS_MAX; FDS_EXACT
 * when the count must match). */
struct msg_rule {
	const char *name;
	uint32_t min, max;
	unsigned fds_max;
};

#define FIXED(n, s, f) { n, s, s, f }
static const struct msg_rule rules[VHOST_USER_MAX_REQUEST + 1] = {
	[VHOST_USER_GET_FEATURES] = FIXED("GET_FEATURES", 0, 0),
	[VHOST_USER_SET_FEATURES] = FIXED("SET_FEATURES", 8, 0),
	[VHOST_USER_SET_OWNER] = FIXED("SET_OWNER", 0, 0),
	[VHOST_USER_RESET_OWNER] = FIXED("RESET_OWNER", 0, 0),
	[VHOST_USER_SET_MEM_TABLE] = { "SET_MEM_TABLE", 8, sizeof(struct vhost_user_memory),
				       VHOST_USER_MEM_TABLE_REGIONS },
	[VHOST_USER_SET_LOG_BASE] = FIXED("SET_LOG_BASE", 16, 1),
	[VHOST_USER_SET_LOG_FD] = FIXED("SET_LOG_FD", 0, 1),
	[VHOST_USER_SET_VRING_NUM] = FIXED("SET_VRING_NUM", 8, 0),
	[VHOST_USER_SET_VRING_ADDR] = FIXED("SET_VRING_ADDR", 40, 0),
	[VHOST_USER_SET_VRING_BASE] = FIXED("SET_VRING_BASE", 8, 0),
	[VHOST_USER_GET_VRING_BASE] = FIXED("GET_VRING_BASE", 8, 0),
	[VHOST_USER_SET_VRING_KICK] = FIXED("SET_VRING_KICK", 8, 1),
	[VHOST_USER_SET_VRING_CALL] = FIXED("SET_VRING_CALL", 8, 1),
	[VHOST_USER_SET_VRING_ERR] = FIXED("SET_VRING_ERR", 8, 1),
	[VHOST_USER_GET_PROTOCOL_FEATURES] = FIXED("GET_PROTOCOL_FEATURES", 0, 0),
	[VHOST_USER_SET_PROTOCOL_FEATURES] = FIXED("SET_PROTOCOL_FEATURES", 8, 0),
	[VHOST_USER_GET_QUEUE_NUM] = FIXED("GET_QUEUE_NUM", 0, 0),
	[VHOST_USER_SET_VRING_ENABLE] = FIXED("SET_VRING_ENABLE", 8, 0),
	[VHOST_USER_SEND_RARP] = FIXED("SEND_RARP", 8, 0),
	[VHOST_USER_NET_SET_MTU] = FIXED("NET_SET_MTU", 8, 0),
	[VHOST_USER_SET_BACKEND_REQ_FD] = FIXED("SET_BACKEND_REQ_FD", 0, 1),
	[VHOST_USER_IOTLB_MSG] = { "IOTLB_MSG", 0, VHOST_MSG_MAX, 0 },
	[VHOST_USER_SET_VRING_ENDIAN] = FIXED("SET_VRING_ENDIAN", 8, 0),
	[VHOST_USER_GET_CONFIG] = { "GET_CONFIG", VHOST_USER_CONFIG_HDR_SIZE,
				    sizeof(struct vhost_user_config), 0 },
	[VHOST_USER_SET_CONFIG] = { "SET_CONFIG", VHOST_USER_CONFIG_HDR_SIZE,
				    sizeof(struct vhost_user_config), 0 },
	[VHOST_USER_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", 20, 24, 0 },
	[VHOST_USER_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", 20, 24, 1 },
	[VHOST_USER_RESET_DEVICE] = FIXED("RESET_DEVICE", 0, 0),
	[VHOST_USER_VRING_KICK] = FIXED("VRING_KICK", 8, 0),
	[VHOST_USER_GET_MAX_MEM_SLOTS] = FIXED("GET_MAX_MEM_SLOTS", 0, 0),
	[VHOST_USER_ADD_MEM_REG] = FIXED("ADD_MEM_REG", 40, 1),
	[VHOST_USER_REM_MEM_REG] = FIXED("REM_MEM_REG", 40, 1),
	[VHOST_USER_SET_STATUS] = FIXED("SET_STATUS", 8, 0),
	[VHOST_USER_GET_STATUS] = FIXED("GET_STATUS", 0, 0),
};

const char *vhost_msg_name(uint32_t request)
{
	if (request <= VHOST_USER_MAX_REQUEST && rules[request].name)
		return rules[request].name;
	return "unknown request";
}

int vhost_msg_check(const struct vhost_msg *m, unsigned nfds, char *why, size_t len)
{
	uint32_t req = m->hdr.request, size = m->hdr.size;
	const struct msg_rule *r;

	if ((m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		snprintf(why, len, "protocol version %u (this server speaks %u)",
			 m->hdr.flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
		return -EPROTO;
	}
	if (req > VHOST_USER_MAX_REQUEST || !rules[req].name) {
		snprintf(why, len, "unknown request %u", req);
		return -ENOTSUP;
	}
	r = &rules[req];
	if (size < r->min || size > r->max) {
		if (r->min == r->max)
			snprintf(why, len, "%s with a payload of %u bytes (wants %u)",
				 r->name, size, r->min);
		else
			snprintf(why, len, "%s with a payload of %u bytes (wants %u to %u)",
				 r->name, size, r->min, r->max);
		return -EINVAL;
	}
	if (nfds > r->fds_max) {
		snprintf(why, len, "%s with %u file descriptors (at most %u)", r->name, nfds,
			 r->fds_max);
		return -EINVAL;
	}
	if (req == VHOST_USER_SET_MEM_TABLE) {
		uint32_t n = m->p.mem.nregions;

		if (n > VHOST_USER_MEM_TABLE_REGIONS || size < 8 + n * sizeof(struct vhost_user_region) ||
		    n != nfds) {
			snprintf(why, len, "SET_MEM_TABLE of %u regions in %u bytes with %u "
				 "file descriptors", n, size, nfds);
			return -EINVAL;
		}
	}
	if (req == VHOST_USER_SET_CONFIG &&
	    m->p.config.size != size - VHOST_USER_CONFIG_HDR_SIZE) {
		snprintf(why, len, "SET_CONFIG says %u bytes and carries %u", m->p.config.size,
			 size - VHOST_USER_CONFIG_HDR_SIZE);
		return -EINVAL;
	}
	return 0;
}

/* ---- the socket ---- */

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* The descriptors of MSG's control data into FDS; false if more came
 * than fit (all closed then). */
static bool take_fds(struct msghdr *msg, int *fds, unsigned *nfds)
{
	bool ok = !(msg->msg_flags & MSG_CTRUNC);

	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t n;
		int *p = (int *)CMSG_DATA(c);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof fd);
			if (*nfds < VHOST_MSG_MAX_FDS)
				fds[(*nfds)++] = fd;
			else {
				close(fd);
				ok = false;
			}
		}
	}
	if (!ok) {
		close_fds(fds, *nfds);
		*nfds = 0;
	}
	return ok;
}

static int recv_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, MSG_WAITALL);

		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 1;
}

int vhost_msg_recv(int fd, struct vhost_msg *m, int *fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_MSG_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &m->hdr, sizeof m->hdr };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf,
	};
	ssize_t n;
	int r;

	*nfds = 0;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? 0 : -errno;
	if (!take_fds(&msg, fds, nfds))
		return -EMSGSIZE;
	if ((size_t)n < sizeof m->hdr) {
		r = recv_all(fd, (char *)&m->hdr + n, sizeof m->hdr - (size_t)n);
		if (r <= 0)
			goto fail;
	}
	if (m->hdr.size > VHOST_MSG_MAX) {
		r = -EMSGSIZE;
		goto fail;
	}
	memset(&m->p, 0, sizeof m->p);
	r = m->hdr.size ? recv_all(fd, &m->p, m->hdr.size) : 1;
	if (r > 0)
		return 1;
fail:
	close_fds(fds, *nfds);
	*nfds = 0;
	return r;
}

int vhost_msg_send(int fd, const struct vhost_msg *m, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_MSG_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ (void *)&m->hdr, sizeof m->hdr },
		{ (void *)&m->p, m->hdr.size },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Messages are small: a short send means the peer is gone. */
	return (size_t)n == sizeof m->hdr + m->hdr.size ? 0 : -EPIPE;
}
