/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend, on libgfapi.
 *
 * Connections: one glfs_t per (volfile servers in order, volume), shared by
 * every image of the process and reference counted.  QEMU keys on the
 * volume name alone, so two clusters with a volume of the same name would
 * share a connection; the key here is the whole server list.
 *
 * glfs_fini() takes ~10 s on GlusterFS 10.3 (gluster/glusterfs issues 1962,
 * 2606, 4320), so a short command would spend most of its life in it.  A
 * connection is therefore never finalised: an idle one stays cached for
 * the next image of the same volume, and the process exits without
 * glfs_fini().  Nothing is lost by that: closing an image fsyncs it if it
 * was written and glfs_close() flushes the client's write-behind for the
 * fd, so by the time the last image is closed every acknowledged byte is
 * on the bricks; exit only tears down idle sockets.
 *
 * I/O: the *_async calls complete on GlusterFS's own threads; completions
 * are posted to the image's loop (eventfd), so callers see them on their
 * thread as with every backend.
 *
 * Flush safety: write-behind's resync-failed-syncs-after-fsync is set, as
 * QEMU does, and a failed fsync marks the image failed: later writes and
 * flushes fail with EIO and a message, so nothing is lost silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glusterfs/api/glfs.h>

#include "backend.h"
#include "diag.h"
#include "error.h"
#include "fs.h"
#include "runtime.h"

#define GL_MAX_CHUNK (512u << 20)	/* larger transfers failed on some versions */
#define GL_MAX_REQUEST (32u << 20)
#define GL_MAX_EXTENTS 1024
#define GL_LOG_LEVEL 5			/* GF_LOG_WARNING */

/* ---- shared connections ---- */

struct gl_conn {
	char *key;
	glfs_t *fs;
	unsigned refs;
	char *logfile;
	struct gl_conn *next;
};

static pthread_mutex_t gl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gl_conn *gl_conns;

static const char *gl_transport(enum mortar_transport t)
{
	return t == MORTAR_TRANSPORT_UNIX ? "unix" : t == MORTAR_TRANSPORT_RDMA ?
		"rdma" : "tcp";
}

static const char *gl_host(const struct mortar_server *s)
{
	/* QEMU reads an empty host as localhost. */
	return s->host && s->host[0] ? s->host : "localhost";
}

static char *gl_key(const struct mortar_location *loc)
{
	size_t cap = 64 + strlen(loc->volume), len;
	char *k;

	for (size_t i = 0; i < loc->nservers; i++)
		cap += 32 + strlen(gl_host(&loc->servers[i])) +
		       (loc->servers[i].socket ? strlen(loc->servers[i].socket) : 0);
	k = malloc(cap);
	if (!k)
		return NULL;
	len = 0;
	for (size_t i = 0; i < loc->nservers; i++) {
		const struct mortar_server *s = &loc->servers[i];
		len += (size_t)snprintf(k + len, cap - len, "%s:%s:%d:%s,", gl_transport(s->transport),
					s->transport == MORTAR_TRANSPORT_UNIX ? "" : gl_host(s),
					s->port ? s->port : MORTAR_GLUSTER_DEFAULT_PORT,
					s->socket ? s->socket : "");
	}
	snprintf(k + len, cap - len, "/%s", loc->volume);
	return k;
}

static char *gl_logfile(const char *volume)
{
	char dir[256], *path;

	/* The per-user runtime directory, private (runtime.c); no log file
	 * rather than one where another user could read or plant it. */
	if (mortar_runtime_dir(NULL, dir, sizeof dir) < 0 ||
	    asprintf(&path, "%s/gfapi-%s.log", dir, volume) < 0)
		return NULL;
	return path;
}

/* Why the bricks refused this client.  A brick that rejects a client
 * answers with an RPC error; the client logs it, retries for ever, and
 * glfs_init() never returns, so the log is the only witness.  (Reported
 * as ECONNREFUSED, not EACCES: no other open mode would fare better.) */
enum gl_refusal {
	GL_REFUSED_NONE,
	GL_REFUSED_PORT,	/* version DUMP refused: unprivileged source port
				 * and server.allow-insecure off */
	GL_REFUSED_AUTH,	/* SETVOLUME refused: auth.allow/auth.reject, or
				 * the privileged-port check of auth/addr, which
				 * reads server.allow-insecure only at brick start */
};

/* What the gfapi log says about this run (from offset START, where the
 * log ended when this client was made: the log is shared by every run
 * on the volume, and gfapi writes the connection failures of a run
 * before or after its "Final graph" as the callbacks fall): how many
 * bricks the volume has, how many the client could not
 * reach (glusterd knew no port for them: not running), whether it
 * replicates, and whether the bricks refused the client.  gfapi returns
 * one errno for "every brick down", "replica quorum lost" (AFR takes the
 * whole volume offline when fewer than quorum bricks answer) and a
 * refusal, and keeps the facts only in its log. */
struct gl_log {
	unsigned bricks, down;
	bool replicated;
	enum gl_refusal refusal;
};

static void gl_log_read(const char *logfile, long start, struct gl_log *l)
{
	char line[1024];
	bool seen[256] = { false };
	FILE *f;

	memset(l, 0, sizeof *l);
	if (!logfile || !(f = fopen(logfile, "r")))
		return;
	if (fseek(f, start, SEEK_SET) < 0)
		rewind(f);
	while (fgets(line, sizeof line, f)) {
		const char *c;

		if (!strncmp(line, "Final graph:", 12)) {
			/* (a new graph: count its bricks afresh) */
			l->bricks = 0;
			l->replicated = false;
		} else if (strstr(line, "type protocol/client")) {
			l->bricks++;
		} else if (strstr(line, "type cluster/replicate")) {
			l->replicated = true;
		} else if (strstr(line, "failed to get the port number") &&
			   (c = strstr(line, "-client-"))) {
			unsigned k = (unsigned)atoi(c + 8);
			if (k < 256 && !seen[k]) {
				seen[k] = true;
				l->down++;
			}
		} else if (strstr(line, "client_dump_version_cbk") &&
			   strstr(line, "received RPC status error")) {
			l->refusal = GL_REFUSED_PORT;
		} else if (strstr(line, "SETVOLUME on remote-host failed") &&
			   strstr(line, "Authentication failed")) {
			l->refusal = GL_REFUSED_AUTH;
		}
	}
	fclose(f);
}

/* How long glfs_init() may take, in seconds: MORTAR_GLUSTER_TIMEOUT,
 * else 30 (a volume usually comes up in well under a second; a brick
 * that refuses the client makes gfapi retry for ever). */
static int gl_init_timeout(void)
{
	const char *e = getenv("MORTAR_GLUSTER_TIMEOUT");
	long t = e ? strtol(e, NULL, 10) : 0;

	return t > 0 && t <= 3600 ? (int)t : 30;
}

struct gl_init_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	glfs_t *fs;
	int ret, err;
	bool done;
	int refs;			/* the caller and the thread */
};

static void gl_init_job_put(struct gl_init_job *j)
{
	bool last;

	pthread_mutex_lock(&j->lock);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->lock);
	if (last) {
		pthread_cond_destroy(&j->cond);
		pthread_mutex_destroy(&j->lock);
		free(j);
	}
}

static void *gl_init_thread(void *arg)
{
	struct gl_init_job *j = arg;
	int ret = glfs_init(j->fs);
	int err = errno;

	pthread_mutex_lock(&j->lock);
	j->ret = ret;
	j->err = err;
	j->done = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	gl_init_job_put(j);
	return NULL;
}

/* glfs_init() with a deadline.  0 when the volume is up; else -1 with
 * errno: gfapi's, or ETIME when the deadline passed.  After a timeout the
 * init thread is left to itself with the glfs_t (neither can be stopped
 * safely); the caller must not touch FS again. */
static int gl_init_bounded(glfs_t *fs)
{
	struct gl_init_job *j = calloc(1, sizeof *j);
	struct timespec deadline;
	pthread_t t;
	int ret, err;

	if (!j)
		return errno = ENOMEM, -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->fs = fs;
	j->refs = 2;
	if ((err = pthread_create(&t, NULL, gl_init_thread, j)) != 0) {
		j->refs = 1;
		gl_init_job_put(j);
		return errno = err, -1;
	}
	pthread_detach(t);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += gl_init_timeout();
	pthread_mutex_lock(&j->lock);
	while (!j->done)
		if (pthread_cond_timedwait(&j->cond, &j->lock, &deadline) == ETIMEDOUT)
			break;
	ret = j->done ? j->ret : -1;
	err = j->done ? j->err : ETIME;
	pthread_mutex_unlock(&j->lock);
	gl_init_job_put(j);
	errno = err;
	return ret < 0 ? -1 : 0;
}

/* Turn a failed glfs_init() into one line with the cause: gfapi says
 * ENOTCONN for an unknown host, a host without glusterd and a wrong port
 * alike, so ask the network first, then read gfapi's errno. */
static int gl_init_error(const struct mortar_location *loc, const char *text,
			 int err, const char *logfile, long log_start)
{
	const struct mortar_server *s = &loc->servers[0];
	int probe = -EHOSTUNREACH;
	struct gl_log log;

	/* Every server of the list failed, or gfapi would have gone on. */
	for (size_t i = 0; i < loc->nservers && probe != 0; i++) {
		s = &loc->servers[i];
		probe = mortar_probe_server(s, MORTAR_GLUSTER_DEFAULT_PORT);
	}
	if (probe == -EHOSTUNREACH && s->transport != MORTAR_TRANSPORT_UNIX)
		return mortar_set_error(EHOSTUNREACH, "%s: cannot resolve host '%s'; "
			"check the name (or use an IP address)", text, gl_host(s));
	if ((probe == -ECONNREFUSED || probe == -ENOENT) &&
	    s->transport == MORTAR_TRANSPORT_UNIX)
		return mortar_set_error(ECONNREFUSED, "%s: nothing listens on %s: "
			"glusterd is not running, or the socket path is wrong", text,
			s->socket);
	if (probe == -ECONNREFUSED)
		return mortar_set_error(ECONNREFUSED, "%s: nothing listens at %s port "
			"%d: glusterd is not running there, or the port is wrong "
			"(glusterd uses 24007)", text, gl_host(s),
			s->port ? s->port : MORTAR_GLUSTER_DEFAULT_PORT);
	if (probe == -ETIMEDOUT || probe == -EHOSTUNREACH || probe == -ENETUNREACH)
		return mortar_set_error(ETIMEDOUT, "%s: %s does not answer on port %d "
			"(host down, or a firewall drops the traffic)", text, gl_host(s),
			s->port ? s->port : MORTAR_GLUSTER_DEFAULT_PORT);

	gl_log_read(logfile, log_start, &log);
	if (log.refusal == GL_REFUSED_AUTH)
		return mortar_set_error(ECONNREFUSED, "%s: the bricks of volume '%s' refuse "
			"this client at login: the volume's auth.allow or auth.reject "
			"excludes this address (see 'gluster volume get %s auth.allow' "
			"and '... auth.reject'), or its bricks require privileged ports "
			"(a brick started with server.allow-insecure off keeps that until "
			"'gluster volume stop/start %s') (log: %s)", text, loc->volume,
			loc->volume, loc->volume, logfile);
	if (log.refusal == GL_REFUSED_PORT)
		return geteuid() == 0 ?
			mortar_set_error(ECONNREFUSED, "%s: the bricks of volume '%s' refuse "
			"this client: it connects from an unprivileged port and the volume "
			"accepts only privileged ones (server.allow-insecure off); on a "
			"server run 'gluster volume set %s client.bind-insecure off' (root "
			"clients then use privileged ports) or 'gluster volume set %s "
			"server.allow-insecure on' (log: %s)", text, loc->volume,
			loc->volume, loc->volume, logfile) :
			mortar_set_error(ECONNREFUSED, "%s: the bricks of volume '%s' refuse "
			"this client: it does not run as root, so it connects from an "
			"unprivileged port, and the volume accepts only privileged ones; "
			"on a server run 'gluster volume set %s server.allow-insecure on', "
			"or run this as root (log: %s)", text, loc->volume, loc->volume,
			logfile);
	switch (err) {
	case ENOENT:
	case EINVAL:
		/* glusterd answers an unknown volume's volfile request with an
		 * error that gfapi reports as EINVAL or ENOENT. */
		return mortar_set_error(ENOENT, "%s: cannot get volume '%s' from %s "
			"(no such volume, or the server refused it); check 'gluster "
			"volume info %s' on the server (log: %s)", text, loc->volume,
			gl_host(s), loc->volume, logfile ? logfile : "none");
	case ECONNREFUSED:
		return mortar_set_error(err, "%s: nothing accepts connections at %s "
			"port %d: is glusterd running there? (log: %s)", text, gl_host(s),
			s->port ? s->port : MORTAR_GLUSTER_DEFAULT_PORT,
			logfile ? logfile : "none");
	case EIO:
		/* glusterd gave the volfile, so the volume exists, but the
		 * volume did not come up. */
		if (log.replicated && log.down > 0 && log.down < log.bricks)
			return mortar_set_error(ENOTCONN, "%s: replica quorum lost: only %u "
				"of the %u bricks of volume '%s' run, too few for its "
				"quorum, so the volume refuses I/O; start the others "
				"('gluster volume start %s force') and see 'gluster volume "
				"status %s' (log: %s)", text, log.bricks - log.down, log.bricks,
				loc->volume, loc->volume, loc->volume, logfile);
		return mortar_set_error(ENOTCONN, "%s: volume '%s' exists but none of "
			"its bricks answers: it is stopped ('gluster volume start %s') "
			"or its bricks are down ('gluster volume status %s') (log: %s)",
			text, loc->volume, loc->volume, loc->volume,
			logfile ? logfile : "none");
	case ETIME:
		return mortar_set_error(ETIMEDOUT, "%s: volume '%s' did not come up "
			"within %d s: glusterd answers but the bricks do not (ports "
			"blocked between here and the bricks? see 'gluster volume "
			"status %s'); MORTAR_GLUSTER_TIMEOUT sets the wait (log: %s)",
			text, loc->volume, gl_init_timeout(), loc->volume,
			logfile ? logfile : "none");
	case ENOTCONN:
	case ETIMEDOUT:
	case EHOSTUNREACH:
		return mortar_set_error(err, "%s: could not reach the volume's bricks "
			"(volume stopped, bricks down, or ports blocked); check 'gluster "
			"volume status %s' (log: %s)", text, loc->volume,
			logfile ? logfile : "none");
	}
	return mortar_set_error(err, "%s: connecting to volume '%s' failed: %s "
		"(log: %s)", text, loc->volume, strerror(err), logfile ? logfile : "none");
}

/* Options for this process's copy of the client graph; the volume's own
 * settings (and every other client) are untouched.
 *  - write-behind resends writes whose fsync failed: without it, cached
 *    writes may be dropped after a failed fsync on old GlusterFS versions
 *    (QEMU sets it too).
 *  - write-behind's trickling-writes is forced on (the default), whatever
 *    the volume says: with it off, a write that fails for want of space
 *    never completes (GlusterFS 10.3; fio's gfapi engines hang the same
 *    way), and the image would hang instead of saying the volume is full.
 *    It would have been worth having: off, with 1 MiB aggregates, 128k
 *    writes ran 30 % faster.
 * Measured on one brick, mortar serve driven by fio over NBD
 * (bench/gluster.sh, docs/benchmarks.md):
 *  - client io-threads hands every request to one of its threads before it
 *    goes to the brick.  That hop exists for FUSE, whose single reader
 *    thread must not do the graph's work; Mortar's calls are asynchronous
 *    and return at once, so the hop only adds a context switch per request
 *    (4k random reads +30 %, 128k reads +20 % without it).
 * pass-through exists since GlusterFS 4.1. */
static void gl_tune_client_graph(glfs_t *fs)
{
	glfs_set_xlator_option(fs, "*-write-behind", "resync-failed-syncs-after-fsync", "on");
	glfs_set_xlator_option(fs, "*-io-threads", "pass-through", "true");
	glfs_set_xlator_option(fs, "*-write-behind", "trickling-writes", "on");
}

static int gl_conn_get(const struct mortar_location *loc, const char *text,
		       struct gl_conn **out)
{
	struct gl_conn *c;
	char *key = gl_key(loc);
	long log_start;
	int r = 0;

	if (!key)
		return mortar_set_error(ENOMEM, "out of memory");
	pthread_mutex_lock(&gl_lock);
	for (c = gl_conns; c; c = c->next)
		if (!strcmp(c->key, key))
			break;
	if (c) {
		c->refs++;
		free(key);
		*out = c;
		goto out;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		free(key);
		r = mortar_set_error(ENOMEM, "out of memory");
		goto out;
	}
	c->key = key;
	c->logfile = gl_logfile(loc->volume);
	{
		struct stat lst;

		log_start = c->logfile && stat(c->logfile, &lst) == 0 ? (long)lst.st_size : 0;
	}
	c->fs = glfs_new(loc->volume);
	if (!c->fs) {
		r = mortar_set_error(errno ? errno : ENOMEM, "%s: cannot create a "
				     "GlusterFS client: %m", text);
		goto fail;
	}
	for (size_t i = 0; i < loc->nservers; i++) {
		const struct mortar_server *s = &loc->servers[i];

		if (s->transport == MORTAR_TRANSPORT_RDMA) {
			r = mortar_set_error(EPROTONOSUPPORT, "%s: the rdma transport is "
				"not supported (GlusterFS dropped it); use gluster:// or "
				"gluster+tcp://", text);
			goto fail;
		}
		if (glfs_set_volfile_server(c->fs, gl_transport(s->transport),
				s->transport == MORTAR_TRANSPORT_UNIX ? s->socket : gl_host(s),
				s->transport == MORTAR_TRANSPORT_UNIX ? 0 :
				(s->port ? s->port : MORTAR_GLUSTER_DEFAULT_PORT)) < 0) {
			r = mortar_set_error(errno, "%s: bad volfile server %s: %m", text,
					     gl_host(s));
			goto fail;
		}
	}
	gl_tune_client_graph(c->fs);
	if (c->logfile)
		glfs_set_logging(c->fs, c->logfile, GL_LOG_LEVEL);
	if (gl_init_bounded(c->fs) < 0) {
		r = gl_init_error(loc, text, errno ? errno : EIO, c->logfile, log_start);
		/* A failed init leaves threads behind that fini would wait
		 * ~10 s for: keep the object, it is not reused. */
		c->fs = NULL;
		goto fail;
	}
	c->refs = 1;
	c->next = gl_conns;
	gl_conns = c;
	*out = c;
	goto out;
fail:
	free(c->key);
	free(c->logfile);
	free(c);
out:
	pthread_mutex_unlock(&gl_lock);
	return r;
}

static void gl_conn_put(struct gl_conn *c)
{
	pthread_mutex_lock(&gl_lock);
	/* Idle connections stay cached (see the top of this file). */
	c->refs--;
	pthread_mutex_unlock(&gl_lock);
}

/* ---- images ---- */

struct gl_img {
	struct mortar_image *img;
	struct mortar_loop *loop;
	struct gl_conn *conn;
	glfs_fd_t *fd;
	char *path;
	uint64_t size;
	uint32_t caps;
	bool failed;		/* an fsync failed: refuse writes from now on */
	bool seek_unsupported;	/* sharded volumes: everything is data */
};

static struct gl_img *gl_handle(struct mortar_req *req)
{
	return mortar_image_handle(req->img);
}

static const char *gname(struct gl_img *h)
{
	return mortar_image_name(h->img);
}

static int gl_io_error(struct gl_img *h, const char *what, uint64_t off, int res)
{
	switch (-res) {
	case ENOSPC:
		return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: the "
			"volume is full; free space on its bricks or add bricks",
			gname(h), what, off);
	case ENOTCONN:
		return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: no "
			"brick holding this data is reachable, or its replica set lost "
			"quorum (bricks down or volume stopped); check 'gluster volume "
			"status' (log: %s)", gname(h),
			what, off, h->conn->logfile ? h->conn->logfile : "none");
	case EROFS:
		return mortar_set_error(res, "%s: %s failed: the volume refused writes "
			"(quorum lost, or read-only volume); check 'gluster volume "
			"status' and its quorum options", gname(h), what);
	case EACCES:
	case EPERM:
		return mortar_set_error(res, "%s: %s failed: permission denied on the "
			"volume (an open may succeed and only the first I/O fail: "
			"open-behind); check the image's owner and mode", gname(h), what);
	}
	return mortar_set_error(res, "%s: %s at offset %" PRIu64 " failed: %s "
		"(log: %s)", gname(h), what, off, strerror(-res),
		h->conn->logfile ? h->conn->logfile : "none");
}

static void gl_finish(struct mortar_req *req, int res)
{
	free(req->be.tmp_iov);
	req->be.tmp_iov = NULL;
	mortar_req_complete(req, res);
}

/* Completion from a GlusterFS thread: hand it to the loop thread. */
static void gl_cbk(glfs_fd_t *fd, ssize_t ret, struct glfs_stat *pre,
		   struct glfs_stat *post, void *data)
{
	struct mortar_req *req = data;
	int res = ret < 0 ? -(errno ? errno : EIO) : (int)(ret > INT32_MAX ? INT32_MAX : ret);

	(void)fd; (void)pre; (void)post;
	mortar_loop_post(mortar_req_loop(req), &req->op, res);
}

static void gl_rw_step(struct gl_img *h, struct mortar_req *req);

static void gl_fua_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res < 0) {
		h->failed = true;
		res = gl_io_error(h, "write (sync for FUA)", req->offset, res);
	}
	gl_finish(req, res);
}

/* After a glfs_*_async call: when gfapi refuses a request, its callback
 * never runs, so the failure is posted to the loop in its place (which
 * also releases the loop hold taken before the call). */
static void gl_submitted(struct gl_img *h, struct mortar_req *req, int ret)
{
	if (ret < 0)
		mortar_loop_post(h->loop, &req->op, -(errno ? errno : EIO));
}

static void gl_rw_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);
	bool write = req->type == MORTAR_REQ_WRITE;

	if (res < 0) {
		/* With write-behind, a write's error may belong to an earlier
		 * write that was already acknowledged: fence the image. */
		if (write)
			h->failed = true;
		gl_finish(req, gl_io_error(h, write ? "write" : "read",
					   req->offset + req->be.done, res));
		return;
	}
	if (res == 0 && req->be.done < req->length) {
		if (write) {
			gl_finish(req, gl_io_error(h, "write", req->offset + req->be.done,
						   -EIO));
			return;
		}
		/* End of file before the image's end: zeroes. */
		uint64_t skip = req->be.done;
		for (int i = 0; i < req->iovcnt; i++) {
			if (skip >= req->iov[i].iov_len) {
				skip -= req->iov[i].iov_len;
				continue;
			}
			memset((char *)req->iov[i].iov_base + skip, 0, req->iov[i].iov_len - skip);
			skip = 0;
		}
		res = (int)(req->length - req->be.done);
	}
	req->be.done += (uint64_t)res;
	if (req->be.done < req->length) {
		gl_rw_step(h, req);
		return;
	}
	if (write && (req->flags & MORTAR_REQ_FUA)) {
		/* No FUA in gfapi: write, then make it durable. */
		mortar_loop_hold(h->loop);
		req->op.fn = gl_fua_done;
		gl_submitted(h, req, glfs_fdatasync_async(h->fd, gl_cbk, req));
		return;
	}
	gl_finish(req, 0);
}

/* Submit the next piece (from be.done) of a read or write. */
static void gl_rw_step(struct gl_img *h, struct mortar_req *req)
{
	struct iovec *iov;
	uint64_t skip = req->be.done, left = req->length - req->be.done;
	int i = 0, n, r;

	while (i < req->iovcnt && skip >= req->iov[i].iov_len)
		skip -= req->iov[i++].iov_len;
	/* The rest of the caller's iovec, capped at GL_MAX_CHUNK. */
	free(req->be.tmp_iov);
	req->be.tmp_iov = iov = malloc((size_t)(req->iovcnt - i) * sizeof *iov);
	if (!iov) {
		gl_finish(req, mortar_set_error(ENOMEM, "%s: out of memory", gname(h)));
		return;
	}
	if (left > GL_MAX_CHUNK)
		left = GL_MAX_CHUNK;
	for (n = 0; i < req->iovcnt && left; i++, n++) {
		size_t len = req->iov[i].iov_len - skip;
		if (len > left)
			len = left;
		iov[n].iov_base = (char *)req->iov[i].iov_base + skip;
		iov[n].iov_len = len;
		left -= len;
		skip = 0;
	}
	req->op.fn = gl_rw_done;
	mortar_loop_hold(h->loop);
	if (req->type == MORTAR_REQ_WRITE)
		r = glfs_pwritev_async(h->fd, iov, n, (off_t)(req->offset + req->be.done), 0,
				       gl_cbk, req);
	else
		r = glfs_preadv_async(h->fd, iov, n, (off_t)(req->offset + req->be.done), 0,
				      gl_cbk, req);
	gl_submitted(h, req, r);
}

static int gl_check_failed(struct gl_img *h)
{
	if (!h->failed)
		return 0;
	return mortar_set_error(EIO, "%s: an earlier write or flush failed, so "
		"writes acknowledged before it may not be on the bricks; the image "
		"refuses writes until it is reopened (check the data, and 'gluster "
		"volume status')", gname(h));
}

static void gl_preadv(void *handle, struct mortar_req *req)
{
	req->be.done = 0;
	gl_rw_step(handle, req);
}

static void gl_deferred_fail(struct mortar_op *op, int res)
{
	gl_finish((struct mortar_req *)op, res);
}

static void gl_pwritev(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;
	int r = gl_check_failed(h);

	if (r < 0) {
		req->op.fn = gl_deferred_fail;
		mortar_loop_defer(h->loop, &req->op, r);
		return;
	}
	req->be.done = 0;
	gl_rw_step(h, req);
}

static void gl_flush_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res < 0) {
		h->failed = true;
		res = mortar_set_error(res, "%s: flush (fsync) failed: %s; writes "
			"since the last good flush may be lost, so the image now "
			"refuses writes until reopened (log: %s)", gname(h),
			strerror(-res), h->conn->logfile ? h->conn->logfile : "none");
	}
	gl_finish(req, res);
}

static void gl_flush(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;
	int r = gl_check_failed(h);

	if (r < 0) {
		req->op.fn = gl_deferred_fail;
		mortar_loop_defer(h->loop, &req->op, r);
		return;
	}
	req->op.fn = gl_flush_done;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_fsync_async(h->fd, gl_cbk, req));
}

static void gl_simple_done(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res < 0) {
		if (req->type == MORTAR_REQ_TRIM && (res == -EOPNOTSUPP || res == -ENOSYS)) {
			/* Trim is advisory. */
			res = 0;
		} else {
			h->failed = true;	/* as for writes */
			gl_finish(req, gl_io_error(h, req->type == MORTAR_REQ_TRIM ?
						   "trim" : "zero", req->offset, res));
			return;
		}
	}
	if (req->flags & MORTAR_REQ_FUA) {
		req->flags &= ~MORTAR_REQ_FUA;
		req->op.fn = gl_simple_done;
		mortar_loop_hold(h->loop);
		gl_submitted(h, req, glfs_fdatasync_async(h->fd, gl_cbk, req));
		return;
	}
	gl_finish(req, 0);
}

static void gl_trim(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;
	int r = gl_check_failed(h);

	if (r < 0) {
		req->op.fn = gl_deferred_fail;
		mortar_loop_defer(h->loop, &req->op, r);
		return;
	}
	req->op.fn = gl_simple_done;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_discard_async(h->fd, (off_t)req->offset,
						(size_t)req->length, gl_cbk, req));
}

static void gl_zerofill(struct gl_img *h, struct mortar_req *req)
{
	req->op.fn = gl_simple_done;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_zerofill_async(h->fd, (off_t)req->offset,
						 (off_t)req->length, gl_cbk, req));
}

/* A zero that may deallocate went to discard first.  Bricks punch a hole
 * for it (posix: fallocate PUNCH_HOLE), which reads back as zeroes; a
 * brick whose filesystem cannot punch says so, and then the zeroes are
 * written after all, unless the caller wanted only a fast zero. */
static void gl_zero_discarded(struct mortar_op *op, int res)
{
	struct mortar_req *req = (struct mortar_req *)op;
	struct gl_img *h = gl_handle(req);

	if (res != -EOPNOTSUPP && res != -ENOSYS && res != -EINVAL) {
		gl_simple_done(op, res);
	} else if (req->flags & MORTAR_REQ_FAST) {
		gl_finish(req, mortar_set_error(ENOTSUP, "%s: the bricks cannot punch "
						"holes, so a zero is not fast", gname(h)));
	} else {
		gl_zerofill(h, req);
	}
}

static void gl_zero(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;
	int r = gl_check_failed(h);

	if (r == 0 && (req->flags & (MORTAR_REQ_FAST | MORTAR_REQ_MAY_TRIM)) == MORTAR_REQ_FAST)
		/* zerofill may write every zero on the bricks: not fast. */
		r = mortar_set_error(ENOTSUP, "%s: GlusterFS cannot promise a fast "
				     "zero that keeps the range allocated", gname(h));
	if (r < 0) {
		req->op.fn = gl_deferred_fail;
		mortar_loop_defer(h->loop, &req->op, r);
		return;
	}
	if (!(req->flags & MORTAR_REQ_MAY_TRIM)) {
		gl_zerofill(h, req);
		return;
	}
	req->op.fn = gl_zero_discarded;
	mortar_loop_hold(h->loop);
	gl_submitted(h, req, glfs_discard_async(h->fd, (off_t)req->offset,
						(size_t)req->length, gl_cbk, req));
}

/* SEEK_DATA/SEEK_HOLE with the quirks seen in the field: ENXIO means
 * zeroes to the end; an offset before the start is nonsense (error);
 * ENOTSUP/EINVAL (sharded volumes) means report everything as data. */
static void gl_extents(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;
	uint64_t pos = req->offset, end = req->offset + req->length;
	size_t cap = 0;
	int r = 0;

	if (end > h->size)
		end = h->size;
	while (pos < end && req->nextents < GL_MAX_EXTENTS && r == 0) {
		off_t data, hole;
		uint64_t stop;

		if (h->seek_unsupported) {
			r = mortar_req_add_extent(req, &cap, pos, end - pos, 0);
			break;
		}
		data = glfs_lseek(h->fd, (off_t)pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO) {
			r = mortar_req_add_extent(req, &cap, pos, end - pos,
				       MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO);
			break;
		}
		if (data < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP || errno == EINVAL)) {
			h->seek_unsupported = true;
			continue;
		}
		if (data < 0) {
			r = gl_io_error(h, "block status", pos, -errno);
			break;
		}
		if ((uint64_t)data < pos) {
			r = mortar_set_error(EIO, "%s: the server answered SEEK_DATA at %"
				PRIu64 " with an earlier offset %lld; not trusting it",
				gname(h), pos, (long long)data);
			break;
		}
		if ((uint64_t)data > pos) {
			stop = (uint64_t)data < end ? (uint64_t)data : end;
			r = mortar_req_add_extent(req, &cap, pos, stop - pos,
				       MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO);
			pos = stop;
			if (req->flags & MORTAR_REQ_ONE)
				break;
			continue;
		}
		hole = glfs_lseek(h->fd, (off_t)pos, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole <= pos)
			hole = (off_t)end;
		stop = (uint64_t)hole < end ? (uint64_t)hole : end;
		r = mortar_req_add_extent(req, &cap, pos, stop - pos, 0);
		pos = stop;
		if (req->flags & MORTAR_REQ_ONE)
			break;
	}
	if (r == 0 && req->nextents == 0)
		r = mortar_req_add_extent(req, &cap, req->offset, req->length,
			       MORTAR_EXTENT_HOLE | MORTAR_EXTENT_ZERO);
	if (r == -ENOMEM)
		r = mortar_set_error(ENOMEM, "%s: out of memory", gname(h));
	req->op.fn = gl_deferred_fail;
	mortar_loop_defer(h->loop, &req->op, r);
}

static void gl_resize(void *handle, struct mortar_req *req)
{
	struct gl_img *h = handle;
	int r = gl_check_failed(h);

	if (r == 0 && glfs_ftruncate(h->fd, (off_t)req->offset, NULL, NULL) < 0)
		r = gl_io_error(h, "resize", req->offset, -errno);
	if (r == 0)
		h->size = req->offset;
	req->op.fn = gl_deferred_fail;
	mortar_loop_defer(h->loop, &req->op, r);
}

static const char *gl_path(const struct mortar_location *loc)
{
	return loc->path;
}

static int gl_open_error(const char *text, const struct mortar_location *loc, int err,
			 unsigned flags)
{
	switch (err) {
	case ENOENT:
		return mortar_set_error(err, "%s: no image '%s' in volume '%s'; create "
			"it with 'mortar img create %s SIZE'", text, loc->path,
			loc->volume, text);
	case EACCES:
	case EPERM:
		return mortar_set_error(err, "%s: permission denied opening '%s' for "
			"%s; check its owner and mode on the volume", text, loc->path,
			(flags & MORTAR_OPEN_RDONLY) ? "reading" : "writing");
	case EISDIR:
		return mortar_set_error(err, "%s: '%s' is a directory", text, loc->path);
	case EROFS:
		return mortar_set_error(err, "%s: the volume is read-only", text);
	}
	return mortar_set_error(err, "%s: cannot open '%s': %s", text, loc->path,
				strerror(err));
}

static int gl_open(struct mortar_image *img, const struct mortar_location *loc,
		   unsigned flags, void **handle)
{
	const char *text = mortar_image_name(img);
	struct gl_img *h;
	struct stat st;
	int r;

	h = calloc(1, sizeof *h);
	if (!h)
		return mortar_set_error(ENOMEM, "out of memory");
	h->img = img;
	h->loop = mortar_image_loop(img);
	r = gl_conn_get(loc, text, &h->conn);
	if (r < 0) {
		free(h);
		return r;
	}
	/* open-behind lets an open pass without asking the brick: a
	 * permission problem would surface only at the first read, or at
	 * close.  Ask the brick now, with our credentials. */
	if (glfs_access(h->conn->fs, gl_path(loc),
			(flags & MORTAR_OPEN_RDONLY) ? R_OK : R_OK | W_OK) < 0 &&
	    (errno == EACCES || errno == EPERM)) {
		r = mortar_set_error(errno, "%s: permission denied %s '%s' (the "
			"volume's open-behind would let the open pass and fail the "
			"first I/O instead); check its owner and mode on the volume",
			text, (flags & MORTAR_OPEN_RDONLY) ? "reading" : "writing",
			loc->path);
		goto fail;
	}
	h->fd = glfs_open(h->conn->fs, gl_path(loc),
			  (flags & MORTAR_OPEN_RDONLY) ? O_RDONLY : O_RDWR);
	if (!h->fd) {
		r = gl_open_error(text, loc, errno ? errno : EIO, flags);
		goto fail;
	}
	if (glfs_fstat(h->fd, &st) < 0) {
		r = gl_open_error(text, loc, errno ? errno : EIO, flags);
		glfs_close(h->fd);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = mortar_set_error(EINVAL, "%s: not a regular file", text);
		glfs_close(h->fd);
		goto fail;
	}
	h->size = (uint64_t)st.st_size;
	h->caps = MORTAR_CAP_MULTI_CONN | MORTAR_CAP_EXTENTS;
	if (flags & MORTAR_OPEN_RDONLY)
		h->caps |= MORTAR_CAP_READ_ONLY;
	else
		/* Fast zeroes: those that may deallocate (a discard); the
		 * others fail at once with ENOTSUP (see gl_zero). */
		h->caps |= MORTAR_CAP_FLUSH | MORTAR_CAP_FUA | MORTAR_CAP_TRIM |
			   MORTAR_CAP_ZERO | MORTAR_CAP_FAST_ZERO | MORTAR_CAP_RESIZE;
	*handle = h;
	return 0;
fail:
	gl_conn_put(h->conn);
	free(h);
	return r;
}

static int gl_close(void *handle)
{
	struct gl_img *h = handle;
	int r = 0;

	/* glfs_close flushes write-behind for this fd. */
	if (glfs_close(h->fd) < 0)
		r = mortar_set_error(errno, "%s: closing failed: %m; data written "
				     "since the last flush may be lost", gname(h));
	gl_conn_put(h->conn);
	free(h);
	return r;
}

static const char *gl_kind(void *handle)
{
	(void)handle;
	return "gluster";
}

static uint64_t gl_size(void *handle)
{
	return ((struct gl_img *)handle)->size;
}

static uint32_t gl_caps(void *handle)
{
	return ((struct gl_img *)handle)->caps;
}

static void gl_block_size(void *handle, uint32_t *min, uint32_t *pref, uint32_t *max)
{
	(void)handle;
	*min = 1;
	*pref = 64 << 10;
	*max = GL_MAX_REQUEST;
}

static int gl_allocated(void *handle, uint64_t *bytes)
{
	struct gl_img *h = handle;
	struct stat st;

	if (glfs_fstat(h->fd, &st) < 0)
		return gl_io_error(h, "stat", 0, -errno);
	*bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int gl_create(const struct mortar_location *loc, uint64_t size,
		     enum mortar_prealloc prealloc, unsigned flags)
{
	char *text = mortar_location_format(loc);
	struct gl_conn *c;
	struct stat st;
	glfs_fd_t *fd;
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	r = gl_conn_get(loc, text, &c);
	if (r < 0)
		goto out;
	if (glfs_stat(c->fs, loc->path, &st) == 0 && !(flags & MORTAR_CREATE_FORCE)) {
		r = mortar_set_error(EEXIST, "%s already exists; pass --force to "
				     "replace it (its data will be lost)", text);
		goto put;
	}
	fd = glfs_creat(c->fs, loc->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!fd) {
		r = gl_open_error(text, loc, errno ? errno : EIO, 0);
		if (r == -ENOENT)
			r = mortar_set_error(ENOENT, "%s: cannot create '%s': its folder "
					     "does not exist in volume '%s'", text,
					     loc->path, loc->volume);
		goto put;
	}
	if (glfs_ftruncate(fd, (off_t)size, NULL, NULL) < 0)
		r = mortar_set_error(errno, "%s: cannot size the image: %m", text);
	else if (prealloc == MORTAR_PREALLOC_FALLOC && size &&
		 glfs_fallocate(fd, 0, 0, (size_t)size) < 0)
		r = mortar_set_error(errno, "%s: preallocation failed: %m", text);
	else if (prealloc == MORTAR_PREALLOC_FULL && size &&
		 glfs_zerofill(fd, 0, (off_t)size) < 0)
		r = mortar_set_error(errno, "%s: writing zeroes failed: %m", text);
	if (r == 0 && glfs_fsync(fd, NULL, NULL) < 0)
		r = mortar_set_error(errno, "%s: fsync failed: %m", text);
	if (glfs_close(fd) < 0 && r == 0)
		r = mortar_set_error(errno, "%s: close failed: %m", text);
	if (r < 0)
		glfs_unlink(c->fs, loc->path);
put:
	gl_conn_put(c);
out:
	free(text);
	return r;
}

static int gl_remove(const struct mortar_location *loc)
{
	char *text = mortar_location_format(loc);
	struct gl_conn *c;
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	r = gl_conn_get(loc, text, &c);
	if (r == 0) {
		if (glfs_unlink(c->fs, loc->path) < 0)
			r = mortar_set_error(errno, "%s: cannot remove: %m", text);
		gl_conn_put(c);
	}
	free(text);
	return r;
}

const struct mortar_backend mortar_backend_gluster = {
	.name = "gluster",
	.create = gl_create,
	.remove = gl_remove,
	.open = gl_open,
	.close = gl_close,
	.kind = gl_kind,
	.size = gl_size,
	.caps = gl_caps,
	.block_size = gl_block_size,
	.allocated = gl_allocated,
	.preadv = gl_preadv,
	.pwritev = gl_pwritev,
	.flush = gl_flush,
	.trim = gl_trim,
	.zero = gl_zero,
	.extents = gl_extents,
	.resize = gl_resize,
};

/* ---- server-side copies (clone.c) ---- */

bool mortar_gluster_same_volume(const struct mortar_location *a, const struct mortar_location *b)
{
	char *ka = gl_key(a), *kb = gl_key(b);
	bool same = ka && kb && !strcmp(ka, kb);

	free(ka);
	free(kb);
	return same;
}

/* Copy SRC to DST inside one volume with glfs_copy_file_range: the bricks
 * copy the data themselves (a reflink when a brick's filesystem can: XFS
 * made with reflink=1), nothing crosses the network.  Data extents only,
 * so holes stay holes.  Made under a temporary name and renamed into
 * place.  -ENOTSUP (no message) when the volume cannot: the caller then
 * copies through the client. */
int mortar_gluster_copy(const struct mortar_location *src, const struct mortar_location *dst,
			bool force, uint64_t *size_out, bool *shared)
{
	char *text = mortar_location_format(dst);
	char tmp[PATH_MAX];
	glfs_fd_t *in = NULL, *out = NULL;
	struct gl_conn *c = NULL;
	struct stat st;
	off_t pos = 0, size;
	int r = 0;

	if (!text) {
		r = mortar_set_error(ENOMEM, "out of memory");
		goto out;
	}
	if (!mortar_gluster_same_volume(src, dst)) {
		r = -ENOTSUP;	/* two volumes: no server-side path */
		goto out;
	}
	r = gl_conn_get(src, text, &c);
	if (r < 0)
		goto out;
	if (!force && glfs_stat(c->fs, dst->path, &st) == 0) {
		r = mortar_set_error(EEXIST, "%s already exists; pass --force to replace it",
				     text);
		goto out;
	}
	{
		const char *slash = strrchr(dst->path, '/');
		char tag[300];
		int n = mortar_tmp_tag(tag, sizeof tag) < 0 ? -1 :
			slash ? snprintf(tmp, sizeof tmp, "%.*s/.%s.tmp-%s",
					 (int)(slash - dst->path), dst->path, slash + 1, tag) :
				snprintf(tmp, sizeof tmp, ".%s.tmp-%s", dst->path, tag);
		if (n < 0 || (size_t)n >= sizeof tmp) {
			r = mortar_set_error(ENAMETOOLONG, "%s: name too long", text);
			goto out;
		}
	}
	in = glfs_open(c->fs, src->path, O_RDONLY);
	if (!in || glfs_fstat(in, &st) < 0) {
		r = gl_open_error(text, src, errno ? errno : EIO, MORTAR_OPEN_RDONLY);
		goto out;
	}
	size = st.st_size;
	out = glfs_creat(c->fs, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (!out || glfs_ftruncate(out, size, NULL, NULL) < 0) {
		r = mortar_set_error(errno ? errno : EIO, "%s: cannot create %s: %m", text, tmp);
		goto out;
	}
	/* One call for the whole file, from offset 0: with other source
	 * offsets the bricks of GlusterFS 10.3 copied from offset 0 anyway
	 * (measured: the data landed at the right place in the target but
	 * came from the start of the source).  A partial copy would need
	 * such offsets, so it falls back to the client copy. */
	if (shared)
		*shared = false;
	if (size > 0) {
		off_t oi = 0, oo = 0;
		struct statvfs v0, v1;
		bool vfs = glfs_statvfs(c->fs, "/", &v0) == 0;
		ssize_t n = glfs_copy_file_range(in, &oi, out, &oo, (size_t)size, 0,
						 NULL, NULL, NULL);
		if (n != size) {
			int e = n < 0 ? errno : EIO;
			r = (n >= 0 || e == EXDEV || e == ENOTSUP || e == EOPNOTSUPP ||
			     e == ENOSYS || e == EINVAL) ? -ENOTSUP :
				mortar_set_error(e, "%s: server-side copy failed: %s", text,
						 strerror(e));
		}
		/* Did the bricks share blocks (reflink) or copy them?  The
		 * client cannot ask; the volume's free space tells: a copy
		 * takes about the source's allocation, a reflink nothing.
		 * Other writers on the volume can blur it; it is only said,
		 * never relied on. */
		if (r == 0 && shared && vfs && glfs_statvfs(c->fs, "/", &v1) == 0) {
			uint64_t before = (uint64_t)v0.f_bfree * v0.f_frsize;
			uint64_t after = (uint64_t)v1.f_bfree * v1.f_frsize;
			uint64_t used = before > after ? before - after : 0;
			*shared = used < (uint64_t)st.st_blocks * 512 / 10;
		}
	}
	/* A brick without reflinks copied the holes as zeroes: punch them
	 * again, so a thin image stays thin. */
	while (r == 0 && pos < size) {
		off_t data = glfs_lseek(in, pos, SEEK_DATA), hole;

		if (data < 0 && errno != ENXIO)
			break;		/* no SEEK_DATA (sharded): leave it */
		if (data < 0 || data > size)
			data = size;
		if (data < pos)
			break;
		if (data > pos && glfs_discard(out, pos, (size_t)(data - pos)) < 0)
			break;		/* cannot punch: keep the zeroes */
		if (data >= size)
			break;
		hole = glfs_lseek(in, data, SEEK_HOLE);
		if (hole <= data || hole > size)
			break;
		pos = hole;
	}
	if (r == 0 && glfs_fsync(out, NULL, NULL) < 0)
		r = mortar_set_error(errno, "%s: fsync failed: %m", text);
	if (out && glfs_close(out) < 0 && r == 0)
		r = mortar_set_error(errno, "%s: close failed: %m", text);
	out = NULL;
	if (r == 0 && glfs_rename(c->fs, tmp, dst->path) < 0)
		r = mortar_set_error(errno, "%s: rename failed: %m", text);
	if (r < 0)
		glfs_unlink(c->fs, tmp);
	else if (size_out)
		*size_out = (uint64_t)size;
out:
	if (out)
		glfs_close(out);
	if (in)
		glfs_close(in);
	if (c)
		gl_conn_put(c);
	free(text);
	return r;
}

int mortar_gluster_volume_id(const struct mortar_location *loc, char *buf, size_t len)
{
	char *text = mortar_location_format(loc);
	unsigned char id[16];
	struct gl_conn *c;
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	if (len < 37) {
		free(text);
		return mortar_set_error(EINVAL, "buffer too small for a volume id");
	}
	r = gl_conn_get(loc, text, &c);
	if (r == 0) {
		if (glfs_get_volumeid(c->fs, (char *)id, sizeof id) != (int)sizeof id)
			r = mortar_set_error(EIO, "%s: no volume id", text);
		else
			snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
				 "%02x%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3],
				 id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11],
				 id[12], id[13], id[14], id[15]);
		gl_conn_put(c);
	}
	free(text);
	return r;
}

/* ---- the namespace of a volume (fs.h) ---- */

static glfs_t *gfs(void *ctx)
{
	return ((struct gl_conn *)ctx)->fs;
}

static int gfs_stat(void *ctx, const char *path, struct stat *st)
{
	return glfs_stat(gfs(ctx), path, st) < 0 ? -errno : 0;
}

static int gfs_mkdir(void *ctx, const char *path, mode_t mode)
{
	return glfs_mkdir(gfs(ctx), path, mode) < 0 ? -errno : 0;
}

static int gfs_unlink(void *ctx, const char *path)
{
	return glfs_unlink(gfs(ctx), path) < 0 ? -errno : 0;
}

static int gfs_rename(void *ctx, const char *from, const char *to)
{
	return glfs_rename(gfs(ctx), from, to) < 0 ? -errno : 0;
}

static int gfs_chmod(void *ctx, const char *path, mode_t mode)
{
	return glfs_chmod(gfs(ctx), path, mode) < 0 ? -errno : 0;
}

static int gfs_list(void *ctx, const char *dir, char ***names, size_t *count)
{
	glfs_fd_t *d = glfs_opendir(gfs(ctx), dir);
	struct dirent de, *res;
	char **v = NULL;
	size_t n = 0;
	int r = 0;

	*names = NULL;
	*count = 0;
	if (!d)
		return -errno;
	while ((r = glfs_readdir_r(d, &de, &res)) == 0 && res) {
		char **nv;

		if (!strcmp(de.d_name, ".") || !strcmp(de.d_name, ".."))
			continue;
		nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv || !(nv[n] = strdup(de.d_name))) {
			v = nv ? nv : v;
			r = ENOMEM;
			break;
		}
		v = nv;
		n++;
	}
	glfs_closedir(d);
	if (r) {
		mortar_fs_free_names(v, n);
		return -r;
	}
	*names = v;
	*count = n;
	return 0;
}

static int gfs_put(void *ctx, const char *path, const void *data, size_t len, bool excl)
{
	glfs_fd_t *fd = glfs_creat(gfs(ctx), path,
				   O_WRONLY | O_CREAT | (excl ? O_EXCL : O_TRUNC), 0644);
	int r = 0;

	if (!fd)
		return -errno;
	if ((len && glfs_write(fd, data, len, 0) != (ssize_t)len) ||
	    glfs_fsync(fd, NULL, NULL) < 0)
		r = errno ? -errno : -EIO;
	if (glfs_close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int gfs_get(void *ctx, const char *path, char **data, size_t max)
{
	glfs_fd_t *fd = glfs_open(gfs(ctx), path, O_RDONLY);
	char *buf;
	ssize_t n;

	if (!fd)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		glfs_close(fd);
		return -ENOMEM;
	}
	n = glfs_pread(fd, buf, max, 0, 0, NULL);
	glfs_close(fd);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	buf[n] = 0;
	*data = buf;
	return 0;
}

static void gfs_close(void *ctx)
{
	gl_conn_put(ctx);
}

static const struct mortar_fs_ops gluster_fs_ops = {
	.stat = gfs_stat,
	.mkdir = gfs_mkdir,
	.unlink = gfs_unlink,
	.rename = gfs_rename,
	.chmod = gfs_chmod,
	.list = gfs_list,
	.put = gfs_put,
	.get = gfs_get,
	.close = gfs_close,
};

int mortar_gluster_fs(const struct mortar_location *loc, const char *text,
		      const struct mortar_fs_ops **ops, void **ctx)
{
	struct gl_conn *c;
	int r = gl_conn_get(loc, text, &c);

	if (r < 0)
		return r;
	*ops = &gluster_fs_ops;
	*ctx = c;
	return 0;
}
