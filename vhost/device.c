/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One front-end (a QEMU) on one vhost-user-blk socket: its thread reads
 * messages, one at a time, and answers them with one function per
 * request; the short dispatcher at the end picks the function and sends
 * the reply.  Messages are few (a few dozen when the guest's driver
 * starts) and may block on the queues, so they get a thread of their
 * own and the workers keep only the virtqueues.
 *
 * Anything that changes what a running queue reads (the memory table, a
 * ring's addresses or descriptors, the features) stops the queues first,
 * changes it, and starts them again where they were: a queue never sees
 * a table change under its feet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "internal.h"

#define BIT(n) (1ull << (n))

static bool has_protocol(const struct vhost_dev *d, unsigned bit)
{
	return d->protocol & BIT(bit);
}

static void reply_u64(struct vhost_msg *m, uint64_t v)
{
	m->hdr.size = sizeof v;
	m->p.u64 = v;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The ring a message names, or NULL (message set). */
static struct vhost_ring_cfg *ring_of(struct vhost_dev *d, uint32_t index)
{
	if (index >= VHOST_MAX_QUEUES) {
		mortar_set_error(EINVAL, "ring %u does not exist (at most %d)", index,
				 VHOST_MAX_QUEUES);
		return NULL;
	}
	if (index >= d->nrings)
		d->nrings = index + 1;
	return &d->ring[index];
}

static bool ring_ready(const struct vhost_dev *d, const struct vhost_ring_cfg *rc)
{
	return rc->num && rc->addr_set && rc->kick_fd >= 0 && d->mem.n > 0;
}

static int ring_start(struct vhost_dev *d, unsigned i)
{
	struct vhost_ring_cfg *rc = &d->ring[i];
	int r;

	if (rc->run || !ring_ready(d, rc))
		return 0;
	r = vhost_queue_start(d, i);
	if (r < 0)
		srv_log(d->vs->core, "%s: cannot start queue %u: %s", d->peer, i, mortar_errmsg());
	return r;
}

/* Stop every running queue; RUNNING says which ran, for resume_all. */
static void pause_all(struct vhost_dev *d, bool *running)
{
	for (unsigned i = 0; i < d->nrings; i++) {
		running[i] = d->ring[i].run != NULL;
		vhost_queue_stop(d, i);
	}
}

static int resume_all(struct vhost_dev *d, const bool *running)
{
	int r = 0;

	for (unsigned i = 0; i < d->nrings; i++)
		if (running[i] && ring_start(d, i) < 0)
			r = -mortar_errno();
	return r;
}

static void ring_reset(struct vhost_ring_cfg *rc)
{
	close_fd(&rc->kick_fd);
	close_fd(&rc->call_fd);
	close_fd(&rc->err_fd);
	*rc = (struct vhost_ring_cfg){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
}

void vhost_dev_init(struct vhost_dev *d, struct vhost_server *vs, struct srv_export *e, int fd)
{
	memset(d, 0, sizeof *d);
	d->vs = vs;
	d->e = e;
	d->fd = fd;
	d->backend_fd = -1;
	d->log_fd = -1;
	for (unsigned i = 0; i < VHOST_MAX_QUEUES; i++)
		d->ring[i] = (struct vhost_ring_cfg){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
	snprintf(d->peer, sizeof d->peer, "vhost-user #%u", atomic_fetch_add(&vs->seq, 1) + 1);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
}

static void log_unmap(struct vhost_dev *d)
{
	if (d->log_map)
		munmap(d->log_map, d->log_maplen);
	d->log_map = NULL;
	d->log_maplen = 0;
	d->log = (struct vhost_log){ 0 };
}

static void inflight_unmap(struct vhost_dev *d)
{
	if (d->inflight_map)
		munmap(d->inflight_map, d->inflight_maplen);
	d->inflight_map = d->inflight = NULL;
	d->inflight_len = d->inflight_maplen = 0;
}

size_t vhost_inflight_queue_bytes(uint16_t qsize)
{
	size_t n = sizeof(struct vhost_inflight_split) +
		   (size_t)qsize * sizeof(struct vhost_inflight_desc);

	return (n + 63) & ~(size_t)63;
}

/* ---- features and ownership ---- */

static int h_get_features(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	(void)fds; (void)nfds;
	reply_u64(m, vhost_blk_features(d->e));
	return 1;
}

static int h_set_features(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	bool running[VHOST_MAX_QUEUES];
	uint64_t offered = vhost_blk_features(d->e);

	(void)fds; (void)nfds;
	if (m->p.u64 & ~offered)
		return mortar_set_error(EINVAL, "the front-end set features 0x%" PRIx64
					" that were not offered", m->p.u64 & ~offered);
	pause_all(d, running);
	d->features = m->p.u64;
	return resume_all(d, running);
}

static int h_get_protocol_features(struct vhost_dev *d, struct vhost_msg *m, int *fds,
				   unsigned nfds)
{
	(void)d; (void)fds; (void)nfds;
	reply_u64(m, vhost_blk_protocol_features());
	return 1;
}

static int h_set_protocol_features(struct vhost_dev *d, struct vhost_msg *m, int *fds,
				   unsigned nfds)
{
	(void)fds; (void)nfds;
	pthread_mutex_lock(&d->vs->lock);	/* vhost_resized reads it */
	d->protocol = m->p.u64 & vhost_blk_protocol_features();
	pthread_mutex_unlock(&d->vs->lock);
	return 0;
}

static int h_nothing(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	(void)d; (void)m; (void)fds; (void)nfds;
	return 0;
}

static int h_get_queue_num(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	(void)d; (void)fds; (void)nfds;
	reply_u64(m, VHOST_MAX_QUEUES);
	return 1;
}

static int h_get_max_mem_slots(struct vhost_dev *d, struct vhost_msg *m, int *fds,
			       unsigned nfds)
{
	(void)d; (void)fds; (void)nfds;
	reply_u64(m, VHOST_MAX_REGIONS);
	return 1;
}

/* RESET_OWNER (deprecated) and RESET_DEVICE: every ring stopped and
 * forgotten; the front-end sets them up again. */
static int h_reset(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	(void)m; (void)fds; (void)nfds;
	for (unsigned i = 0; i < d->nrings; i++) {
		vhost_queue_stop(d, i);
		ring_reset(&d->ring[i]);
	}
	d->nrings = 0;
	d->features = 0;
	return 0;
}

/* ---- memory ---- */

static int h_set_mem_table(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	bool running[VHOST_MAX_QUEUES];
	int r = 0;

	pause_all(d, running);
	vhost_mem_clear(&d->mem);
	for (unsigned i = 0; i < nfds && r == 0; i++)
		r = vhost_mem_add(&d->mem, &m->p.mem.regions[i], fds[i]);
	if (r < 0) {
		vhost_mem_clear(&d->mem);
		return r;
	}
	return resume_all(d, running);
}

static int h_add_mem_reg(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	bool running[VHOST_MAX_QUEUES];
	int r;

	if (nfds != 1)
		return mortar_set_error(EINVAL, "ADD_MEM_REG without its file descriptor");
	pause_all(d, running);
	r = vhost_mem_add(&d->mem, &m->p.memreg.region, fds[0]);
	return resume_all(d, running) < 0 ? -mortar_errno() : r;
}

static int h_rem_mem_reg(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	bool running[VHOST_MAX_QUEUES];
	int r;

	(void)fds; (void)nfds;	/* a descriptor sent anyway is closed unused */
	pause_all(d, running);
	r = vhost_mem_remove(&d->mem, &m->p.memreg.region);
	return resume_all(d, running) < 0 ? -mortar_errno() : r;
}

/* ---- rings ---- */

static int h_set_vring_num(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	struct vhost_ring_cfg *rc = ring_of(d, m->p.state.index);
	uint32_t n = m->p.state.num;

	(void)fds; (void)nfds;
	if (!rc)
		return -mortar_errno();
	if (n == 0 || n > VRING_MAX_SIZE || (n & (n - 1)))
		return mortar_set_error(EINVAL, "ring size %u (a power of two up to %d)", n,
					VRING_MAX_SIZE);
	if (rc->run)
		return mortar_set_error(EBUSY, "ring %u resized while it runs",
					m->p.state.index);
	rc->num = (uint16_t)n;
	return 0;
}

static int h_set_vring_addr(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	struct vhost_ring_cfg *rc = ring_of(d, m->p.addr.index);
	bool ran;

	(void)fds; (void)nfds;
	if (!rc)
		return -mortar_errno();
	ran = rc->run != NULL;
	vhost_queue_stop(d, m->p.addr.index);
	rc->addr = m->p.addr;
	rc->addr_set = true;
	return ran ? ring_start(d, m->p.addr.index) : 0;
}

static int h_set_vring_base(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	struct vhost_ring_cfg *rc = ring_of(d, m->p.state.index);

	(void)fds; (void)nfds;
	if (!rc)
		return -mortar_errno();
	if (rc->run)
		return mortar_set_error(EBUSY, "SET_VRING_BASE on running ring %u",
					m->p.state.index);
	rc->base = (uint16_t)m->p.state.num;
	return 0;
}

/* Stops the ring: its requests complete first, so that the index given
 * back is where the front-end (or the next back-end) takes over. */
static int h_get_vring_base(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	struct vhost_ring_cfg *rc = ring_of(d, m->p.state.index);

	(void)fds; (void)nfds;
	if (!rc)
		return -mortar_errno();
	vhost_queue_stop(d, m->p.state.index);
	m->p.state.num = rc->base;
	m->hdr.size = sizeof m->p.state;
	close_fd(&rc->kick_fd);
	close_fd(&rc->call_fd);
	return 1;
}

/* The ring index of KICK/CALL/ERR, and its descriptor (-1 for none). */
static struct vhost_ring_cfg *ring_fd(struct vhost_dev *d, struct vhost_msg *m, int *fds,
				      unsigned nfds, int *fd)
{
	struct vhost_ring_cfg *rc = ring_of(d, m->p.u64 & VHOST_USER_VRING_IDX_MASK);
	bool nofd = m->p.u64 & VHOST_USER_VRING_NOFD;

	if (!rc)
		return NULL;
	if (nofd != (nfds == 0)) {
		mortar_set_error(EINVAL, "%s %s a file descriptor", vhost_msg_name(m->hdr.request),
				 nofd ? "says it has no file descriptor but carries" :
				 "lacks");
		return NULL;
	}
	*fd = nfds ? fds[0] : -1;
	if (nfds)
		fds[0] = -1;	/* ours now */
	return rc;
}

static int h_set_vring_kick(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	unsigned i = m->p.u64 & VHOST_USER_VRING_IDX_MASK;
	struct vhost_ring_cfg *rc;
	int fd;

	if (!(rc = ring_fd(d, m, fds, nfds, &fd)))
		return -mortar_errno();
	if (fd < 0)
		return mortar_set_error(ENOTSUP, "ring %u without a kick descriptor: polling "
					"is not supported", i);
	vhost_queue_stop(d, i);
	close_fd(&rc->kick_fd);
	rc->kick_fd = fd;
	/* The ring starts with its kick descriptor (vhost-user.rst, "Ring
	 * states"). */
	return ring_start(d, i);
}

static int h_set_vring_call(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	struct vhost_ring_cfg *rc;
	int fd;

	if (!(rc = ring_fd(d, m, fds, nfds, &fd)))
		return -mortar_errno();
	vhost_queue_set_call(d, m->p.u64 & VHOST_USER_VRING_IDX_MASK, fd);
	return 0;
}

static int h_set_vring_err(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	unsigned i = m->p.u64 & VHOST_USER_VRING_IDX_MASK;
	struct vhost_ring_cfg *rc;
	bool ran;
	int fd;

	if (!(rc = ring_fd(d, m, fds, nfds, &fd)))
		return -mortar_errno();
	ran = rc->run != NULL;
	vhost_queue_stop(d, i);
	close_fd(&rc->err_fd);
	rc->err_fd = fd;
	return ran ? ring_start(d, i) : 0;
}

static int h_set_vring_enable(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	struct vhost_ring_cfg *rc = ring_of(d, m->p.state.index);

	(void)fds; (void)nfds;
	if (!rc)
		return -mortar_errno();
	/* A block device has no side effect to hold back while disabled:
	 * like QEMU's own back-ends, a started ring is served either way. */
	rc->enabled = m->p.state.num != 0;
	return 0;
}

/* ---- configuration space ---- */

static int h_get_config(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	struct virtio_blk_config c;
	uint32_t off = m->p.config.offset, len = m->p.config.size;

	(void)fds; (void)nfds;
	if (off > VHOST_USER_CONFIG_MAX || len > VHOST_USER_CONFIG_MAX - off ||
	    m->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + len) {
		/* An empty payload is how the protocol says "failed". */
		m->hdr.size = 0;
		return 1;
	}
	vhost_blk_config(d->e, __atomic_load_n(&d->e->size, __ATOMIC_RELAXED),
			 d->vs->core->nworkers, &c);
	memset(m->p.config.region, 0, len);
	if (off < sizeof c)
		memcpy(m->p.config.region, (uint8_t *)&c + off,
		       len < sizeof c - off ? len : sizeof c - off);
	return 1;
}

static int h_set_config(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	(void)d; (void)fds; (void)nfds;
	/* Only the write-cache toggle is writable, and it is not offered. */
	return mortar_set_error(EPERM, "the configuration space is read-only (SET_CONFIG "
				"at %u, %u bytes)", m->p.config.offset, m->p.config.size);
}

static int h_set_backend_req_fd(struct vhost_dev *d, struct vhost_msg *m, int *fds,
				unsigned nfds)
{
	int old;

	(void)m;
	if (nfds != 1)
		return mortar_set_error(EINVAL, "SET_BACKEND_REQ_FD without a descriptor");
	pthread_mutex_lock(&d->vs->lock);
	old = d->backend_fd;
	d->backend_fd = fds[0];
	pthread_mutex_unlock(&d->vs->lock);
	fds[0] = -1;
	if (old >= 0)
		close(old);
	return 0;
}

/* ---- inflight tracking ---- */

static bool inflight_shape_ok(const struct vhost_user_inflight *in)
{
	return in->num_queues && in->num_queues <= VHOST_MAX_QUEUES && in->queue_size &&
	       in->queue_size <= VRING_MAX_SIZE;
}

/* A fresh region, zeroed, for the front-end to keep across our restarts. */
static int h_get_inflight_fd(struct vhost_dev *d, struct vhost_msg *m, int *fds,
			     unsigned nfds)
{
	struct vhost_user_inflight *in = &m->p.inflight;
	size_t len;
	int fd;

	(void)d; (void)nfds;
	if (!inflight_shape_ok(in))
		return mortar_set_error(EINVAL, "inflight region for %u queues of %u",
					in->num_queues, in->queue_size);
	len = in->num_queues * vhost_inflight_queue_bytes(in->queue_size);
	fd = memfd_create("mortar-vhost-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		return mortar_set_error(err, "cannot make the inflight region: %m");
	}
	/* It keeps its size for ever: a front-end cannot shrink it under us. */
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	in->mmap_size = len;
	in->mmap_offset = 0;
	m->hdr.size = sizeof *in;
	fds[0] = fd;		/* sent with the reply, then closed */
	return 2;
}

static int h_set_inflight_fd(struct vhost_dev *d, struct vhost_msg *m, int *fds,
			     unsigned nfds)
{
	const struct vhost_user_inflight *in = &m->p.inflight;
	bool running[VHOST_MAX_QUEUES];
	uint64_t need, maplen;
	void *map;

	if (nfds != 1 || !inflight_shape_ok(in))
		return mortar_set_error(EINVAL, "SET_INFLIGHT_FD for %u queues of %u with %u "
					"descriptors", in->num_queues, in->queue_size, nfds);
	need = in->num_queues * vhost_inflight_queue_bytes(in->queue_size);
	maplen = in->mmap_offset + in->mmap_size;
	if (in->mmap_size < need || maplen < in->mmap_size || maplen > SIZE_MAX)
		return mortar_set_error(EINVAL, "inflight region of %" PRIu64 " bytes, %"
					PRIu64 " needed", in->mmap_size, need);
	map = mmap(NULL, (size_t)maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (map == MAP_FAILED)
		return mortar_set_error(errno, "cannot map the inflight region: %m");
	pause_all(d, running);
	inflight_unmap(d);
	d->inflight_map = map;
	d->inflight_maplen = (size_t)maplen;
	d->inflight = (char *)map + in->mmap_offset;
	d->inflight_len = (size_t)in->mmap_size;
	d->inflight_queues = in->num_queues;
	d->inflight_qsize = in->queue_size;
	return resume_all(d, running);
}

/* ---- dirty logging (a migration) ---- */

/* The bitmap QEMU reads to copy again the pages we wrote.  The queues
 * stop while it changes (QEMU grows it as memory is plugged). */
static int h_set_log_base(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	const struct vhost_user_log *l = &m->p.log;
	bool running[VHOST_MAX_QUEUES];
	uint64_t maplen = l->offset + l->size;
	void *map;
	int r;

	if (nfds != 1 || l->size == 0 || maplen < l->size || maplen > SIZE_MAX)
		return mortar_set_error(EINVAL, "SET_LOG_BASE of %" PRIu64 " bytes at %" PRIu64
					" with %u descriptors", l->size, l->offset, nfds);
	map = mmap(NULL, (size_t)maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (map == MAP_FAILED)
		return mortar_set_error(errno, "cannot map the dirty log: %m");
	pause_all(d, running);
	log_unmap(d);
	d->log_map = map;
	d->log_maplen = (size_t)maplen;
	d->log = (struct vhost_log){ (uint8_t *)map + l->offset, l->size };
	r = resume_all(d, running);
	/* With LOG_SHMFD the front-end waits for an answer. */
	reply_u64(m, r < 0);
	return 1;
}

static int h_set_log_fd(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	(void)m;
	if (nfds != 1)
		return mortar_set_error(EINVAL, "SET_LOG_FD without a descriptor");
	/* Kept for the connection's life: the front-end reads the bitmap
	 * when it syncs anyway, so no notification is sent. */
	close_fd(&d->log_fd);
	d->log_fd = fds[0];
	fds[0] = -1;
	return 0;
}

/* ---- the dispatcher ---- */

typedef int (*vhost_handler)(struct vhost_dev *d, struct vhost_msg *m, int *fds,
			     unsigned nfds);

static const vhost_handler handlers[VHOST_USER_MAX_REQUEST + 1] = {
	[VHOST_USER_GET_FEATURES] = h_get_features,
	[VHOST_USER_SET_FEATURES] = h_set_features,
	[VHOST_USER_SET_OWNER] = h_nothing,
	[VHOST_USER_RESET_OWNER] = h_reset,
	[VHOST_USER_SET_MEM_TABLE] = h_set_mem_table,
	[VHOST_USER_SET_LOG_BASE] = h_set_log_base,
	[VHOST_USER_SET_LOG_FD] = h_set_log_fd,
	[VHOST_USER_SET_VRING_NUM] = h_set_vring_num,
	[VHOST_USER_SET_VRING_ADDR] = h_set_vring_addr,
	[VHOST_USER_SET_VRING_BASE] = h_set_vring_base,
	[VHOST_USER_GET_VRING_BASE] = h_get_vring_base,
	[VHOST_USER_SET_VRING_KICK] = h_set_vring_kick,
	[VHOST_USER_SET_VRING_CALL] = h_set_vring_call,
	[VHOST_USER_SET_VRING_ERR] = h_set_vring_err,
	[VHOST_USER_GET_PROTOCOL_FEATURES] = h_get_protocol_features,
	[VHOST_USER_SET_PROTOCOL_FEATURES] = h_set_protocol_features,
	[VHOST_USER_GET_QUEUE_NUM] = h_get_queue_num,
	[VHOST_USER_SET_VRING_ENABLE] = h_set_vring_enable,
	[VHOST_USER_SET_BACKEND_REQ_FD] = h_set_backend_req_fd,
	[VHOST_USER_GET_CONFIG] = h_get_config,
	[VHOST_USER_SET_CONFIG] = h_set_config,
	[VHOST_USER_GET_INFLIGHT_FD] = h_get_inflight_fd,
	[VHOST_USER_SET_INFLIGHT_FD] = h_set_inflight_fd,
	[VHOST_USER_RESET_DEVICE] = h_reset,
	[VHOST_USER_GET_MAX_MEM_SLOTS] = h_get_max_mem_slots,
	[VHOST_USER_ADD_MEM_REG] = h_add_mem_reg,
	[VHOST_USER_REM_MEM_REG] = h_rem_mem_reg,
};

/* Send what the handler left in M (R: 1 a reply, 2 a reply with FDS[0]),
 * or the acknowledgement a front-end asked for.  0, or -1 to hang up. */
static int dev_answer(struct vhost_dev *d, struct vhost_msg *m, int r, int *fds)
{
	bool ack = (m->hdr.flags & VHOST_USER_NEED_REPLY) &&
		   has_protocol(d, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	int s;

	if (r < 0 && !ack) {
		/* It cannot be told: the connection's state is unknown to
		 * the front-end now. */
		srv_log(d->vs->core, "%s: %s failed: %s; closing the connection", d->peer,
			vhost_msg_name(m->hdr.request), mortar_errmsg());
		return -1;
	}
	if (r < 0)
		srv_log(d->vs->core, "%s: %s failed: %s", d->peer,
			vhost_msg_name(m->hdr.request), mortar_errmsg());
	if (r <= 0) {
		if (!ack)
			return 0;
		reply_u64(m, r < 0);
	}
	m->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY;
	s = vhost_msg_send(d->fd, m, fds, r == 2 ? 1 : 0);
	if (r == 2)
		close_fd(&fds[0]);
	return s < 0 ? -1 : 0;
}

int vhost_dev_message(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds)
{
	char why[192];
	int r = vhost_msg_check(m, nfds, why, sizeof why);
	vhost_handler h = r == 0 ? handlers[m->hdr.request] : NULL;

	if (r == -EPROTO || (r < 0 && r != -ENOTSUP)) {
		srv_log(d->vs->core, "%s: malformed message: %s; closing the connection",
			d->peer, why);
		return -1;
	}
	if (!h)
		r = mortar_set_error(ENOTSUP, "%s is not supported by this back-end",
				     r == -ENOTSUP ? why : vhost_msg_name(m->hdr.request));
	else
		r = h(d, m, fds, nfds);
	return dev_answer(d, m, r, fds);
}

void vhost_dev_teardown(struct vhost_dev *d)
{
	for (unsigned i = 0; i < d->nrings; i++)
		vhost_queue_stop(d, i);
	for (unsigned i = 0; i < VHOST_MAX_QUEUES; i++)
		ring_reset(&d->ring[i]);
	vhost_mem_clear(&d->mem);
	inflight_unmap(d);
	log_unmap(d);
	close_fd(&d->log_fd);
}

void *vhost_dev_main(void *arg)
{
	struct vhost_dev *d = arg;
	struct vhost_msg *m = malloc(sizeof *m);
	int fds[VHOST_MSG_MAX_FDS];
	unsigned nfds;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (m) {
		int r = vhost_msg_recv(d->fd, m, fds, &nfds);

		if (r <= 0) {
			if (r < 0 && r != -ECONNRESET)
				srv_log(d->vs->core, "%s: receive failed: %s", d->peer,
					strerror(-r));
			break;
		}
		r = vhost_dev_message(d, m, fds, nfds);
		for (unsigned i = 0; i < nfds; i++)
			close_fd(&fds[i]);
		if (r < 0)
			break;
	}
	if (!m)
		srv_log(d->vs->core, "%s: out of memory; closing the connection", d->peer);
	free(m);
	vhost_dev_teardown(d);
	vhost_dev_gone(d);
	return NULL;
}
