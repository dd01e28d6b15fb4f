/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GlusterFS backend: a volume's settings against what VM images need,
 * the virt option group (/var/lib/glusterd/groups/virt) as the reference.
 *
 * Read from the client's volfile (what this client was told: the
 * translators it runs and their options) and from the volume itself (the
 * owner of its root, of the image), never from the gluster CLI, which
 * needs a server's shell.  Only what matters for VM images is named:
 * sharding (a heal copies a whole unsharded image at once), the client
 * caches virt turns off (stale reads when two clients share an image, as
 * during a migration), client quorum (without it, two clients each seeing
 * one copy make a split-brain), the ping timeout (how long a guest's I/O
 * hangs when a node dies), the owner QEMU needs, and whether the bricks
 * take clients that are not root.
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glusterfs/api/glfs.h>

#include "backend-gluster.h"
#include "error.h"
#include "backend-gluster-volfile.h"

#define GL_LARGE_IMAGE (4ull << 30)	/* unsharded and larger: one long heal */

struct review {
	mortar_advice_fn fn;
	void *opaque;
	const char *volume;
	int count;
	char finding[512], fix[512];
};

__attribute__((format(printf, 3, 4)))
static void advise(struct review *rv, const char *setting, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rv->finding, sizeof rv->finding, fmt, ap);
	va_end(ap);
	rv->fn(rv->opaque, setting, rv->finding, rv->fix);
	rv->count++;
}

#define FIX(rv, ...) snprintf((rv)->fix, sizeof (rv)->fix, __VA_ARGS__)

static void review_shard(struct review *rv, const struct gl_volfile *v, const struct stat *img)
{
	if (gl_volfile_find(v, "features/shard") || !img || (uint64_t)img->st_size < GL_LARGE_IMAGE)
		return;
	FIX(rv, "gluster volume set %s features.shard on (images made from then on are "
	    "sharded: copy this one with mortar img clone)", rv->volume);
	advise(rv, "features.shard", "sharding is off: a self-heal copies and checks "
	       "this %" PRIu64 " GiB image whole, and holds it while it does",
	       (uint64_t)img->st_size >> 30);
}

static void review_caches(struct review *rv, const struct gl_volfile *v)
{
	static const char *const caches[][2] = {
		{ "performance/quick-read", "performance.quick-read" },
		{ "performance/read-ahead", "performance.read-ahead" },
		{ "performance/io-cache", "performance.io-cache" },
	};

	for (size_t i = 0; i < sizeof caches / sizeof caches[0]; i++) {
		if (!gl_volfile_find(v, caches[i][0]))
			continue;
		FIX(rv, "gluster volume set %s %s off (or all of the virt profile: "
		    "gluster volume set %s group virt)", rv->volume, caches[i][1], rv->volume);
		advise(rv, caches[i][1], "a client-side cache is on: two clients of one "
		       "image (a VM migrating) can read data the other already changed");
	}
}

static void review_quorum(struct review *rv, const struct gl_volfile *v)
{
	const struct gl_xlator *x = gl_volfile_find(v, "cluster/replicate");
	const char *type, *count;

	if (!x)
		return;
	type = gl_xlator_option(x, "quorum-type");
	count = gl_xlator_option(x, "quorum-count");
	/* (without the option, AFR takes auto from three copies on) */
	if (type ? strcmp(type, "none") &&
		   !(!strcmp(type, "fixed") && count && atoi(count) * 2 <= (int)x->nsubvolumes) :
		   x->nsubvolumes > 2)
		return;
	FIX(rv, "gluster volume set %s cluster.quorum-type auto%s", rv->volume,
	    x->nsubvolumes < 3 ? " (with two copies: add a third brick or an arbiter)" : "");
	advise(rv, "cluster.quorum-type", "no client quorum (%s): two clients that each "
	       "see other copies can both write, and the copies end in split-brain",
	       type ? type : "none with two copies");
}

static void review_ping(struct review *rv, const struct gl_volfile *v)
{
	const struct gl_xlator *x = gl_volfile_find(v, "protocol/client");
	const char *p = x ? gl_xlator_option(x, "ping-timeout") : NULL;
	int secs = p ? atoi(p) : 42;

	if (!x || secs <= 30)
		return;
	FIX(rv, "gluster volume set %s network.ping-timeout 20 (the virt profile's)", rv->volume);
	advise(rv, "network.ping-timeout", "%d s: when a node dies without closing its "
	       "connections, a guest's I/O to it waits up to twice that", secs);
}

/* QEMU's user here: libvirt's (Debian), else qemu (Fedora and others). */
static const struct passwd *qemu_user(void)
{
	const struct passwd *pw = getpwnam("libvirt-qemu");

	return pw ? pw : getpwnam("qemu");
}

static void review_owner(struct review *rv, struct gl_conn *c, const struct stat *img)
{
	const struct passwd *pw = qemu_user();
	struct stat root;

	if (!pw)
		return;
	if (glfs_stat(c->fs, "/", &root) == 0 && root.st_uid != pw->pw_uid) {
		FIX(rv, "gluster volume set %s storage.owner-uid %u; gluster volume set %s "
		    "storage.owner-gid %u", rv->volume, (unsigned)pw->pw_uid, rv->volume,
		    (unsigned)pw->pw_gid);
		advise(rv, "storage.owner-uid", "the volume's root belongs to uid %u, not to "
		       "%s (uid %u) as which QEMU runs: it cannot create images there",
		       (unsigned)root.st_uid, pw->pw_name, (unsigned)pw->pw_uid);
	}
	if (img && img->st_uid != pw->pw_uid &&
	    !(img->st_gid == pw->pw_gid && (img->st_mode & 020)) && !(img->st_mode & 02)) {
		FIX(rv, "chown %u:%u the image (on a FUSE mount of %s, or through QEMU's "
		    "owner at creation)", (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, rv->volume);
		advise(rv, "image owner", "the image belongs to uid %u, mode %03o: QEMU as %s "
		       "cannot write it", (unsigned)img->st_uid, (unsigned)(img->st_mode & 0777),
		       pw->pw_name);
	}
}

static void review_insecure(struct review *rv, const struct gl_volfile *v)
{
	const struct gl_xlator *x = gl_volfile_find(v, "protocol/client");
	const char *b = x ? gl_xlator_option(x, "client-bind-insecure") : NULL;

	/* This client reached the bricks from an unprivileged port (the
	 * default), so they take them: a QEMU that is not root will too.
	 * With client.bind-insecure off it came from a privileged one, and
	 * says nothing of the bricks. */
	if (!b || strcmp(b, "off"))
		return;
	FIX(rv, "gluster volume set %s server.allow-insecure on (and in each glusterd.vol: "
	    "option rpc-auth-allow-insecure on)", rv->volume);
	advise(rv, "server.allow-insecure", "client.bind-insecure is off, so whether the "
	       "bricks take clients from unprivileged ports, as a QEMU that does not run "
	       "as root, is not known from here");
}

int mortar_gluster_review(const struct mortar_location *loc, mortar_advice_fn fn, void *opaque)
{
	struct review rv = { .fn = fn, .opaque = opaque, .volume = loc->volume };
	struct gl_volfile *v;
	struct gl_conn *c;
	struct stat img;
	bool have_img;
	int r = gl_conn_get_volfile(loc, &c, &v);

	if (r < 0)
		return r;
	have_img = glfs_stat(c->fs, loc->path, &img) == 0;
	review_shard(&rv, v, have_img ? &img : NULL);
	review_caches(&rv, v);
	review_quorum(&rv, v);
	review_ping(&rv, v);
	review_owner(&rv, c, have_img ? &img : NULL);
	review_insecure(&rv, v);
	r = rv.count;
	gl_volfile_free(v);
	gl_conn_put(c);
	return r;
}
