/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal to vhost/: what its files share.
 *
 *   message.c   messages on the wire, and the rules each request obeys
 *   device.c    one front-end's connection: a thread that answers its
 *               messages (one function per request) and starts and stops
 *               the queues
 *   memory.c    the guest's memory regions, mapped, and address lookups
 *   vring.c     split virtqueues, with inflight tracking
 *   blk.c       a started queue on a worker: virtio-blk requests to the
 *               worker's image of the export, completed on that thread
 *   config.c    the block device's features and configuration space
 *   accept.c    listening, a thread per connection, drain, resize
 */
#ifndef MORTAR_VHOST_INTERNAL_H
#define MORTAR_VHOST_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "protocol.h"
#include "server.h"

#define VHOST_MAX_REGIONS 32		/* GET_MAX_MEM_SLOTS */
#define VHOST_MAX_QUEUES 64		/* GET_QUEUE_NUM */
#define VHOST_MSG_MAX 4096		/* largest payload accepted */
#define VHOST_MSG_MAX_FDS 8
#define VRING_MAX_IOV 1024		/* segments of one request (IOV_MAX) */
#define VHOST_INFLIGHT_VERSION 1
#define VHOST_BLK_MAX_SEG 32		/* discard / write zeroes ranges */

/* ---- memory.c ---- */

struct vhost_region {
	uint64_t gpa, size, uva;
	uint8_t *host;		/* where GPA is mapped here */
	void *map;		/* the mapping (NULL: not ours) */
	size_t maplen;
};

struct vhost_mem {
	unsigned n;
	struct vhost_region r[VHOST_MAX_REGIONS];
};

/* Map a region from FD (the caller closes FD).  0 or -errno, message set. */
int vhost_mem_add(struct vhost_mem *m, const struct vhost_user_region *r, int fd);
/* A region that is already in this address space (tests, fuzzers). */
int vhost_mem_add_host(struct vhost_mem *m, uint64_t gpa, uint64_t size, uint64_t uva,
		       uint8_t *host);
int vhost_mem_remove(struct vhost_mem *m, const struct vhost_user_region *r);
void vhost_mem_clear(struct vhost_mem *m);
/* Guest physical GPA here, or NULL; *LEN shrinks to what is contiguous. */
void *vhost_mem_gpa(const struct vhost_mem *m, uint64_t gpa, uint64_t *len);
/* [GPA, GPA+LEN) here, in one piece, or NULL. */
void *vhost_mem_gpa_whole(const struct vhost_mem *m, uint64_t gpa, uint64_t len);

/* Dirty-page logging for a migration (VHOST_F_LOG_ALL): one bit per 4 KiB
 * page of guest physical memory in the front-end's shared bitmap. */
struct vhost_log {
	uint8_t *bits;		/* NULL: not logging */
	uint64_t len;		/* bytes of bitmap */
};
/* Mark [GPA, GPA+LEN) written. */
void vhost_log_gpa(const struct vhost_log *log, uint64_t gpa, uint64_t len);
/* Mark written the guest memory at HOST (LEN bytes, mapped from M). */
void vhost_log_host(const struct vhost_log *log, const struct vhost_mem *m, const void *host,
		    uint64_t len);
/* The front-end's address UVA (rings) here, LEN bytes in one piece, or NULL. */
void *vhost_mem_uva(const struct vhost_mem *m, uint64_t uva, uint64_t len);

/* ---- vring.c ---- */

/* The shared inflight region of one queue (vhost-user.rst's layout). */
struct vhost_inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct vhost_inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vhost_inflight_desc desc[];
};

/* One descriptor chain: the driver's readable segments, then its
 * writable ones, pointing into guest memory. */
struct vring_chain {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_len, in_len;
	char why[160];		/* what was wrong with it */
	struct iovec iov[VRING_MAX_IOV];
};

struct vhost_vring {
	const struct vhost_mem *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t num;
	uint16_t last_avail;	/* next entry of the available ring to take */
	uint16_t used_idx;	/* next entry of the used ring to fill */
	uint16_t published;	/* used index the driver has seen */
	bool event_idx, indirect;
	struct vhost_inflight_split *inflight;	/* NULL: not tracked */
	uint64_t counter;
	/* A migration logs what we write; the used ring at its guest
	 * address when the front-end asked (VHOST_VRING_F_LOG). */
	struct vhost_log log;
	bool log_used;
	uint64_t used_gpa;
	uint16_t *batch;	/* heads pushed since the last publish */
	unsigned nbatch;
};

size_t vring_desc_bytes(unsigned num);
size_t vring_avail_bytes(unsigned num);
size_t vring_used_bytes(unsigned num);
/* Entries available and not taken, or -EINVAL when the driver's index is
 * impossible. */
int vring_pending(const struct vhost_vring *vr);
/* Take the next chain: 1, 0 when none, -EINVAL when it is malformed
 * (C->why says how; the head is taken all the same). */
int vring_pop(struct vhost_vring *vr, struct vring_chain *c);
/* Walk the chain that starts at HEAD: 0 or -EINVAL (C->why). */
int vring_walk(const struct vhost_vring *vr, uint16_t head, struct vring_chain *c);
/* Put HEAD in the used ring with LEN bytes written; the driver sees it
 * at the next vring_publish, which returns whether to interrupt it. */
void vring_push(struct vhost_vring *vr, uint16_t head, uint32_t len);
bool vring_publish(struct vhost_vring *vr);
/* Ask for kicks again; true when more arrived meanwhile. */
bool vring_kicks_on(struct vhost_vring *vr);
/* At a queue's start: the inflight region brought up to date; the heads
 * to take again, oldest first, in RESUBMIT (NUM entries); their count. */
unsigned vring_inflight_start(struct vhost_vring *vr, uint16_t *resubmit);

/* ---- message.c ---- */

struct vhost_msg {
	struct vhost_user_hdr hdr;
	union {
		uint64_t u64;
		struct vhost_vring_state state;
		struct vhost_vring_addr addr;
		struct vhost_user_memory mem;
		struct vhost_user_mem_reg memreg;
		struct vhost_user_log log;
		struct vhost_user_config config;
		struct vhost_user_inflight inflight;
		uint8_t bytes[VHOST_MSG_MAX];
	} p;		/* aligned here; contiguous with the header on the wire */
};

/* One message: 1, 0 at end of stream, -errno.  FDS gets its descriptors
 * (at most VHOST_MSG_MAX_FDS, owned by the caller from then on). */
int vhost_msg_recv(int fd, struct vhost_msg *m, int *fds, unsigned *nfds);
int vhost_msg_send(int fd, const struct vhost_msg *m, const int *fds, unsigned nfds);
const char *vhost_msg_name(uint32_t request);
/* 0 when M has the payload size and descriptors of its request, else
 * -errno (-ENOTSUP: unknown request) with WHY filled. */
int vhost_msg_check(const struct vhost_msg *m, unsigned nfds, char *why, size_t len);

/* ---- config.c ---- */

uint64_t vhost_blk_features(const struct srv_export *e);
uint64_t vhost_blk_protocol_features(void);
/* The configuration space of export E with NUM_QUEUES queues. */
void vhost_blk_config(const struct srv_export *e, uint64_t size, unsigned num_queues,
		      struct virtio_blk_config *c);

/* ---- device.c, blk.c: a connection and its queues ---- */

struct vhost_queue;

/* What the front-end told us of one ring. */
struct vhost_ring_cfg {
	uint16_t num;
	uint16_t base;		/* where to start in the available ring */
	bool addr_set, enabled;
	struct vhost_vring_addr addr;
	int kick_fd, call_fd, err_fd;
	struct vhost_queue *run;	/* started: on a worker */
};

struct vhost_dev {
	struct vhost_server *vs;
	struct srv_export *e;
	int fd;
	char peer[48];
	pthread_t tid;

	uint64_t features, protocol;	/* acknowledged by the front-end */
	struct vhost_mem mem;
	struct vhost_ring_cfg ring[VHOST_MAX_QUEUES];
	unsigned nrings;		/* highest ring index used + 1 */

	/* The dirty log of a migration (SET_LOG_BASE), and its eventfd. */
	void *log_map;
	size_t log_maplen;
	struct vhost_log log;
	int log_fd;

	/* The inflight region the front-end keeps for us. */
	void *inflight_map, *inflight;
	size_t inflight_maplen, inflight_len;
	uint16_t inflight_queues, inflight_qsize;

	/* Under the server's lock: the channel to the front-end (resize). */
	int backend_fd;

	/* Queues tell the connection thread that they stopped. */
	pthread_mutex_t lock;
	pthread_cond_t cond;

	struct vhost_dev *prev, *next;	/* the server's list */
};

/* A connection on FD for export E, nothing negotiated. */
void vhost_dev_init(struct vhost_dev *d, struct vhost_server *vs, struct srv_export *e, int fd);
/* The connection's thread: answers messages until the front-end leaves,
 * then stops every queue and frees DEV (accept.c's vhost_dev_gone). */
void *vhost_dev_main(void *dev);
void vhost_dev_gone(struct vhost_dev *dev);
/* What the thread does with one message (M, its descriptors FDS, which
 * the caller closes unless a handler took them: set to -1): answer it;
 * 0 to go on, -1 to hang up.  And at the end: every queue stopped,
 * everything the connection held let go.  (Also the fuzzer's way in.) */
int vhost_dev_message(struct vhost_dev *d, struct vhost_msg *m, int *fds, unsigned nfds);
void vhost_dev_teardown(struct vhost_dev *d);

/* Size of one queue's inflight region for rings of QSIZE. */
size_t vhost_inflight_queue_bytes(uint16_t qsize);

/* blk.c: start ring I of DEV on a worker (from the connection thread;
 * the ring's memory and descriptors are set); 0 or -errno (message). */
int vhost_queue_start(struct vhost_dev *dev, unsigned i);
/* Stop it: no new requests; returns once those in flight completed and
 * the worker let go of it; RING->base is where it stopped. */
void vhost_queue_stop(struct vhost_dev *dev, unsigned i);
/* Give a started queue a new call descriptor (the old one is closed). */
void vhost_queue_set_call(struct vhost_dev *dev, unsigned i, int fd);

#endif
