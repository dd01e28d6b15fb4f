/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend: moving to the next volfile server during a
 * session.
 *
 * A client keeps a connection to one glusterd, its volfile server, to
 * hear of every change of the volume's graph (options set, bricks
 * replaced or added).  Given several servers, libgfapi tries the next
 * one only while glfs_init() runs (api/src/glfs-mgmt.c, mgmt_rpc_notify:
 * the failover is under "if (!ctx->active)"); once the client is up it
 * retries the same server for ever.  So a client whose first server dies
 * for good keeps working on the bricks, but no longer hears of changes:
 * a brick replaced after that node's loss would never be used.
 *
 * Here a thread looks every few seconds at each such connection.  When
 * the process has had no TCP connection to any of the volume's volfile
 * servers for two looks in a row, and the server in use does not take
 * one either, a new client is made that asks the first server of the
 * list that does answer, then the others in order; it replaces the old
 * one in the connection, and each image moves its descriptor over at its
 * next request (backend-gluster.c, gl_move).  The old client stays
 * allocated, unused (glfs_fini would block ~10 s).  What happened is
 * written to the connection's gfapi log.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend-gluster.h"
#include "diag.h"
#include "error.h"

#define GL_WATCH_SECONDS 5
#define GL_MAX_WATCHED 64
#define GL_MAX_SOCKETS 4096

static pthread_mutex_t gl_watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gl_conn *gl_watched[GL_MAX_WATCHED];
static size_t gl_nwatched;
static bool gl_watching;

/* ---- what the process is connected to ---- */

/* The inodes of this process's sockets, sorted. */
static size_t own_sockets(unsigned long *ino, size_t max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char link[64], path[300];
		ssize_t k;

		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		k = readlink(path, link, sizeof link - 1);
		if (k > 0) {
			link[k] = 0;
			if (sscanf(link, "socket:[%lu]", &ino[n]) == 1)
				n++;
		}
	}
	closedir(d);
	return n;
}

static bool has(const unsigned long *ino, size_t n, unsigned long x)
{
	for (size_t i = 0; i < n; i++)
		if (ino[i] == x)
			return true;
	return false;
}

/* Is one of this process's sockets an established TCP connection to
 * ADDR (network order, 4 or 16 bytes) port PORT?  /proc/self/net/tcp
 * lists every socket of the network namespace; ours are those whose
 * inode one of our descriptors names. */
static bool connected_to(const unsigned char *addr, int family, int port,
			 const unsigned long *ino, size_t n)
{
	FILE *f = fopen(family == AF_INET ? "/proc/self/net/tcp" : "/proc/self/net/tcp6", "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f)) {
		char rem[40];
		unsigned rport, st;
		unsigned long inode;
		unsigned char a[16];
		size_t len = family == AF_INET ? 4 : 16;

		if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%*x %39[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
			   rem, &rport, &st, &inode) != 4 || st != 1 /* ESTABLISHED */ ||
		    (int)rport != port || strlen(rem) != 2 * len)
			continue;
		/* The kernel prints each 32-bit word in host order. */
		for (size_t w = 0; w < len / 4; w++) {
			unsigned word;

			sscanf(rem + 8 * w, "%8x", &word);
			memcpy(a + 4 * w, &word, 4);
		}
		found = !memcmp(a, addr, len) && has(ino, n, inode);
	}
	fclose(f);
	return found;
}

/* Does the process hold a connection to one of C's volfile servers? */
static bool mgmt_connected(const struct gl_conn *c)
{
	static unsigned long ino[GL_MAX_SOCKETS];
	size_t n = own_sockets(ino, GL_MAX_SOCKETS);
	bool found = false;

	for (size_t i = 0; i < c->loc->nservers && !found; i++) {
		const struct mortar_server *s = &c->loc->servers[i];
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
		int port = s->port ? s->port : MORTAR_GLUSTER_DEFAULT_PORT;

		if (s->transport != MORTAR_TRANSPORT_TCP ||
		    getaddrinfo(s->host && s->host[0] ? s->host : "localhost", NULL, &hints, &res))
			continue;
		for (ai = res; ai && !found; ai = ai->ai_next) {
			if (ai->ai_family == AF_INET)
				found = connected_to((unsigned char *)
					&((struct sockaddr_in *)ai->ai_addr)->sin_addr,
					AF_INET, port, ino, n);
			else if (ai->ai_family == AF_INET6)
				found = connected_to(((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr.s6_addr,
					AF_INET6, port, ino, n);
		}
		freeaddrinfo(res);
	}
	return found;
}

/* ---- moving ---- */

static const char *host_of(const struct gl_conn *c, size_t i)
{
	const struct mortar_server *s = &c->loc->servers[i];

	return s->host && s->host[0] ? s->host : "localhost";
}

/* C's volfile server is gone: a client of the first one that answers. */
static void move(struct gl_conn *c)
{
	size_t n = c->loc->nservers, pick = n;
	glfs_t *fs;

	if (mortar_probe_server(&c->loc->servers[c->first], MORTAR_GLUSTER_DEFAULT_PORT) == 0)
		return;	/* it answers: libgfapi reconnects by itself */
	for (size_t i = 0; i < n && pick == n; i++)
		if (i != c->first &&
		    mortar_probe_server(&c->loc->servers[i], MORTAR_GLUSTER_DEFAULT_PORT) == 0)
			pick = i;
	if (pick == n)
		return;	/* none answers: nothing better to do */
	if (gl_client_new(c->loc, pick, c->key, c->logfile, &fs) < 0 || gl_init_bounded(fs) < 0) {
		gl_note(c, "volfile server %s is gone, and a client of %s could not be made",
		     host_of(c, c->first), host_of(c, pick));
		return;
	}
	gl_note(c, "volfile server %s is gone: the images move to a client of %s",
	     host_of(c, c->first), host_of(c, pick));
	c->first = pick;
	c->down_checks = 0;
	__atomic_store_n(&c->fs, fs, __ATOMIC_RELEASE);
	__atomic_add_fetch(&c->gen, 1, __ATOMIC_RELEASE);
}

static void *watch(void *arg)
{
	sigset_t all;

	/* Signals are for the threads of whoever uses the library. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	(void)arg;
	for (;;) {
		struct gl_conn *list[GL_MAX_WATCHED];
		size_t n;

		sleep(GL_WATCH_SECONDS);
		/* (connections are never freed: the copy stays valid, and a
		 * new client is made without holding the lock) */
		pthread_mutex_lock(&gl_watch_lock);
		n = gl_nwatched;
		memcpy(list, gl_watched, n * sizeof *list);
		pthread_mutex_unlock(&gl_watch_lock);
		for (size_t i = 0; i < n; i++) {
			struct gl_conn *c = list[i];

			if (mgmt_connected(c))
				c->down_checks = 0;
			else if (++c->down_checks >= 2)
				move(c);
		}
	}
	return NULL;
}

void gl_failover_watch(struct gl_conn *c)
{
	size_t tcp = 0;
	pthread_t t;

	if (!c->loc)
		return;
	for (size_t i = 0; i < c->loc->nservers; i++)
		tcp += c->loc->servers[i].transport == MORTAR_TRANSPORT_TCP;
	if (tcp < 2)
		return;
	pthread_mutex_lock(&gl_watch_lock);
	for (size_t i = 0; i < gl_nwatched; i++)
		if (gl_watched[i] == c)
			goto out;	/* (every image of the connection asks) */
	if (gl_nwatched < GL_MAX_WATCHED)
		gl_watched[gl_nwatched++] = c;
	if (!gl_watching && pthread_create(&t, NULL, watch, NULL) == 0) {
		pthread_detach(t);
		gl_watching = true;
	}
out:
	pthread_mutex_unlock(&gl_watch_lock);
}
