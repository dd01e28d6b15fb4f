/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend: connections to volumes, and what their failures
 * mean.
 *
 * One glfs_t per (volfile servers in order, volume), shared by every image
 * of the process and reference counted.  QEMU keys on the volume name
 * alone, so two clusters with a volume of the same name would share a
 * connection; the key here is the whole server list, in order, because
 * that order is the client's failover order.  (Whether two locations name
 * one volume is mortar_location_same_volume()'s question, not this key's.)
 *
 * glfs_fini() takes ~10 s on GlusterFS 10.3 (gluster/glusterfs issues 1962,
 * 2606, 4320), so a short command would spend most of its life in it.  A
 * connection is therefore never finalised: an idle one stays cached for
 * the next image of the same volume, and the process exits without
 * glfs_fini().  Nothing is lost by that: closing an image fsyncs it if it
 * was written and glfs_close() flushes the client's write-behind for the
 * fd, so by the time the last image is closed every acknowledged byte is
 * on the bricks; exit only tears down idle sockets.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend-gluster.h"
#include "diag.h"
#include "error.h"
#include "backend-gluster-volfile.h"

#define GL_LOG_LEVEL 5			/* GF_LOG_WARNING */

/* ---- shared connections ---- */

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
	/* The graph an earlier client of the volume printed in the same log,
	 * for a client that failed before it printed or kept its own. */
	unsigned prior_bricks;
	bool prior_replicated;
};

/* A line of a graph the log prints: a new graph counts its bricks
 * afresh.  True if LINE was one. */
static bool gl_graph_line(const char *line, unsigned *bricks, bool *replicated)
{
	if (!strncmp(line, "Final graph:", 12)) {
		*bricks = 0;
		*replicated = false;
	} else if (strstr(line, "type protocol/client")) {
		(*bricks)++;
	} else if (strstr(line, "type cluster/replicate")) {
		*replicated = true;
	} else {
		return false;
	}
	return true;
}

static void gl_log_read(const char *logfile, long start, struct gl_log *l)
{
	char line[1024];
	bool seen[256] = { false };
	FILE *f;

	memset(l, 0, sizeof *l);
	if (!logfile || !(f = fopen(logfile, "r")))
		return;
	/* Before START: only the graphs, kept as the prior one. */
	while (ftell(f) < start && fgets(line, sizeof line, f))
		gl_graph_line(line, &l->prior_bricks, &l->prior_replicated);
	if (fseek(f, start, SEEK_SET) < 0)
		rewind(f);
	while (fgets(line, sizeof line, f)) {
		const char *c;

		if (gl_graph_line(line, &l->bricks, &l->replicated)) {
			continue;
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
int gl_init_bounded(glfs_t *fs)
{
	return gl_init_within(fs, gl_init_timeout());
}

int gl_init_within(glfs_t *fs, int seconds)
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
	deadline.tv_sec += seconds;
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
static int gl_volfile_of(glfs_t *fs, struct gl_volfile **out);

/* The graph's bricks and whether it replicates, from the volfile glusterd
 * gave FS: a client whose init failed early may never print its graph in
 * the log. */
static void gl_log_graph_from(glfs_t *fs, struct gl_log *log)
{
	struct gl_volfile *v;

	if (!fs || gl_volfile_of(fs, &v) < 0) {
		/* gfapi may keep no volfile either after a failed init (seen
		 * under load): the graph an earlier client of this volume
		 * printed in its log is the best guess left. */
		log->bricks = log->prior_bricks;
		log->replicated = log->prior_replicated;
		return;
	}
	log->bricks = 0;
	for (size_t i = 0; i < v->n; i++)
		log->bricks += !strcmp(v->xl[i].type, "protocol/client");
	log->replicated = gl_volfile_find(v, "cluster/replicate") != NULL;
	gl_volfile_free(v);
}

static int gl_init_error(const struct mortar_location *loc, const char *text,
			 int err, const char *logfile, long log_start, glfs_t *fs)
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
	/* The lines that name the bricks down may follow the failure by a few
	 * milliseconds (they are written as each brick's callback runs): a
	 * volume that replicates and shows none yet is read again, briefly. */
	if (log.bricks == 0)
		gl_log_graph_from(fs, &log);
	for (int i = 0; i < 10 && err == EIO && log.replicated && log.down == 0 &&
	     log.refusal == GL_REFUSED_NONE; i++) {
		usleep(100 * 1000);
		gl_log_read(logfile, log_start, &log);
		if (log.bricks == 0)
			gl_log_graph_from(fs, &log);
	}
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
		if (log.down > 0 && log.bricks == 0)
			return mortar_set_error(ENOTCONN, "%s: %u brick(s) of volume '%s' "
				"do not run and the volume refuses I/O (its quorum, if it "
				"replicates); start them ('gluster volume start %s force') "
				"and see 'gluster volume status %s' (log: %s)", text, log.down,
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
 * pass-through exists since GlusterFS 4.1.
 *
 * One more keeps a replica from handing back what it no longer holds:
 *  - post-op-delay-secs 0.  AFR writes in the other bricks' changelog
 *    that a brick missed a write only when its transaction ends, which
 *    eager-lock keeps open while writes follow each other, and then a
 *    second later.  A brick that comes back meanwhile is blamed by no
 *    one yet, so AFR may read from it: the block as it was before the
 *    brick went down, for 1 to 3 s after the write and its flush had
 *    succeeded (GlusterFS 10.3, replica 3 with the virt group, a node
 *    restarted under writes; through plain libgfapi as through Mortar:
 *    tests/gluster/stale-read.sh).  With the default, seen 7 times in 60
 *    fault cycles of 4 to 12 writers; with 0, never in 12 cycles of 12
 *    writers (nor with eager-lock off).  It costs writes: 4k random at
 *    0.60x, 128k at 0.82x of the default (docs/benchmarks.md); reads are
 *    unchanged.  Opening images with O_DIRECT too (write-behind out of
 *    the way) took 4k writes to 0.19x, so write-behind stays: our flush
 *    empties it. */
static void gl_tune_client_graph(glfs_t *fs)
{
	glfs_set_xlator_option(fs, "*-replicate-*", "post-op-delay-secs", "0");
	glfs_set_xlator_option(fs, "*-write-behind", "resync-failed-syncs-after-fsync", "on");
	glfs_set_xlator_option(fs, "*-io-threads", "pass-through", "true");
	glfs_set_xlator_option(fs, "*-write-behind", "trickling-writes", "on");
}

int gl_client_new(const struct mortar_location *loc, size_t first, const char *text,
		  const char *logfile, glfs_t **out)
{
	glfs_t *fs = glfs_new(loc->volume);

	if (!fs)
		return mortar_set_error(errno ? errno : ENOMEM, "%s: cannot create a "
					"GlusterFS client: %m", text);
	for (size_t k = 0; k < loc->nservers; k++) {
		const struct mortar_server *s = &loc->servers[(first + k) % loc->nservers];

		if (s->transport == MORTAR_TRANSPORT_RDMA)
			return mortar_set_error(EPROTONOSUPPORT, "%s: the rdma transport is "
				"not supported (GlusterFS dropped it); use gluster:// or "
				"gluster+tcp://", text);
		if (glfs_set_volfile_server(fs, gl_transport(s->transport),
				s->transport == MORTAR_TRANSPORT_UNIX ? s->socket : gl_host(s),
				s->transport == MORTAR_TRANSPORT_UNIX ? 0 :
				(s->port ? s->port : MORTAR_GLUSTER_DEFAULT_PORT)) < 0)
			return mortar_set_error(errno, "%s: bad volfile server %s: %m", text,
						gl_host(s));
	}
	gl_tune_client_graph(fs);
	if (logfile)
		glfs_set_logging(fs, logfile, GL_LOG_LEVEL);
	*out = fs;
	return 0;
}

int gl_conn_get(const struct mortar_location *loc, const char *text,
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
	c->volume = strdup(loc->volume);
	c->logfile = gl_log_open(loc->volume, &log_start);
	r = gl_client_new(loc, 0, text, c->logfile, &c->fs);
	if (r < 0)
		goto fail;
	if (gl_init_bounded(c->fs) < 0) {
		r = gl_init_error(loc, text, errno ? errno : EIO, c->logfile, log_start, c->fs);
		/* A failed init leaves threads behind that fini would wait
		 * ~10 s for: keep the object, it is not reused. */
		c->fs = NULL;
		goto fail;
	}
	if (mortar_location_dup(loc, &c->loc) < 0)
		c->loc = NULL;	/* (then no failover: the client works as is) */
	c->refs = 1;
	c->next = gl_conns;
	gl_conns = c;
	*out = c;
	goto out;
fail:
	free(c->key);
	free(c->volume);
	free(c->logfile);
	free(c);
out:
	pthread_mutex_unlock(&gl_lock);
	return r;
}

/* FS's volfile, parsed; -errno without a message. */
static int gl_volfile_of(glfs_t *fs, struct gl_volfile **out)
{
	char probe, *text;
	ssize_t n;
	int r;

	/* glfs_get_volfile copies as many bytes as it is given room for,
	 * whatever the volfile's length (10.3): ask the length first, then
	 * give exactly that. */
	n = glfs_get_volfile(fs, &probe, 0);
	if (n >= 0)
		return -ENODATA;
	if (!(text = malloc((size_t)-n)))
		return -ENOMEM;
	r = glfs_get_volfile(fs, text, (size_t)-n) != -n ? -EAGAIN :
	    gl_volfile_parse(text, (size_t)-n, out);
	free(text);
	return r;
}

int gl_conn_volfile(struct gl_conn *c, struct gl_volfile **out)
{
	int r = gl_volfile_of(c->fs, out);

	if (r == -ENODATA)
		return mortar_set_error(ENODATA, "volume '%s': the client has no volfile "
					"to read", c->volume);
	if (r == -EAGAIN)
		return mortar_set_error(EAGAIN, "volume '%s': its volfile changed while "
					"being read; try again", c->volume);
	if (r == -ENOMEM)
		return mortar_set_error(ENOMEM, "out of memory");
	return r;	/* (gl_volfile_parse said why) */
}

int gl_conn_get_volfile(const struct mortar_location *loc, struct gl_conn **c,
			struct gl_volfile **v)
{
	int r = gl_conn_get_loc(loc, c);

	if (r == 0 && (r = gl_conn_volfile(*c, v)) < 0)
		gl_conn_put(*c);
	return r;
}

int gl_conn_get_loc(const struct mortar_location *loc, struct gl_conn **out)
{
	char *text = mortar_location_format(loc);
	int r;

	if (!text)
		return mortar_set_error(ENOMEM, "out of memory");
	r = gl_conn_get(loc, text, out);
	free(text);
	return r;
}

void gl_conn_put(struct gl_conn *c)
{
	pthread_mutex_lock(&gl_lock);
	/* Idle connections stay cached (see the top of this file). */
	c->refs--;
	pthread_mutex_unlock(&gl_lock);
}

int gl_open_error(const char *text, const struct mortar_location *loc, int err,
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
	case EIO:
		return mortar_set_error(err, "%s: cannot open '%s': input/output error; on "
			"a replicated volume, copies of the image in split-brain fail so "
			"('mortar doctor %s' looks)", text, loc->path, text);
	}
	return mortar_set_error(err, "%s: cannot open '%s': %s", text, loc->path,
				strerror(err));
}
