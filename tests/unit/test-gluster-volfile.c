/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gl_volfile_*: a client volfile as glusterd 10 writes it for a sharded
 * replica-3 volume (trimmed), its options, the graph without the shard
 * translator, and volfiles that are not. */
#include <errno.h>
#include <string.h>

#include <mortar/mortar.h>
#include "backend-gluster-volfile.h"
#include "tap.h"

static const char vol[] =
	"volume v-client-0\n"
	"    type protocol/client\n"
	"    option remote-subvolume /bricks/v/brick1\n"
	"    option remote-host 198.18.100.11\n"
	"    option ping-timeout 10\n"
	"end-volume\n"
	"\n"
	"volume v-client-1\n"
	"    type protocol/client\n"
	"    option remote-host 198.18.100.12\n"
	"end-volume\n"
	"\n"
	"# a comment\n"
	"volume v-replicate-0\n"
	"    type cluster/replicate\n"
	"    option quorum-type auto\n"
	"    option afr-pending-xattr v-client-0,v-client-1\n"
	"    subvolumes v-client-0 v-client-1\n"
	"end-volume\n"
	"\n"
	"volume v-dht\n"
	"    type cluster/distribute\n"
	"    subvolumes v-replicate-0\n"
	"end-volume\n"
	"\n"
	"volume v-shard\n"
	"    type features/shard\n"
	"    option shard-block-size 64MB\n"
	"    subvolumes v-dht\n"
	"end-volume\n"
	"\n"
	"volume v-utime\n"
	"    type features/utime\n"
	"    subvolumes v-shard\n"
	"end-volume\n"
	"\n"
	"volume v\n"
	"    type debug/io-stats\n"
	"    option log-level INFO with spaces\n"
	"    subvolumes v-utime\n"
	"end-volume";	/* (no final newline: glfs_get_volfile gives none) */

static void bad(const char *text, const char *why)
{
	struct gl_volfile *v = NULL;
	int r = gl_volfile_parse(text, strlen(text), &v);

	tap_ok(r == -EINVAL && !v && strstr(mortar_errmsg(), "not understood"),
	       "refused: %s (r=%d: %s)", why, r, mortar_errmsg());
}

int main(void)
{
	struct gl_volfile *v = NULL, *w = NULL;
	const struct gl_xlator *x;
	char *raw = NULL;
	int r;

	r = gl_volfile_parse(vol, strlen(vol), &v);
	tap_ok(r == 0 && v && v->n == 7, "parsed 7 translators (r=%d: %s)", r, mortar_errmsg());
	if (r < 0)
		return tap_done();
	x = gl_volfile_find(v, "cluster/replicate");
	tap_ok(x && !strcmp(x->name, "v-replicate-0"), "found the replicate translator");
	tap_ok(x && x->nsubvolumes == 2 && !strcmp(x->subvolumes[1], "v-client-1"),
	       "with its two children");
	tap_ok(x && !strcmp(gl_xlator_option(x, "quorum-type"), "auto"), "quorum-type auto");
	tap_ok(x && !gl_xlator_option(x, "quorum-count"), "an unset option is NULL");
	x = gl_volfile_find(v, "protocol/client");
	tap_ok(x && !strcmp(gl_xlator_option(x, "ping-timeout"), "10"), "the first client's ping-timeout");
	x = gl_volfile_find(v, "debug/io-stats");
	tap_ok(x && !strcmp(gl_xlator_option(x, "log-level"), "INFO with spaces"),
	       "a value keeps its inner spaces");
	tap_ok(!gl_volfile_find(v, "features/bit-rot"), "an absent type is NULL");

	r = gl_volfile_render_without(v, "features/shard", &raw);
	tap_ok(r == 0 && raw, "rendered without features/shard (r=%d)", r);
	if (raw) {
		r = gl_volfile_parse(raw, strlen(raw), &w);
		tap_ok(r == 0 && w->n == 6, "the rendering parses, 6 translators");
		tap_ok(w && !gl_volfile_find(w, "features/shard"), "no shard translator left");
		x = w ? gl_volfile_find(w, "features/utime") : NULL;
		tap_ok(x && x->nsubvolumes == 1 && !strcmp(x->subvolumes[0], "v-dht"),
		       "its parent now names its child");
		x = w ? gl_volfile_find(w, "cluster/replicate") : NULL;
		tap_ok(x && x->noptions == 2 && !strcmp(gl_xlator_option(x, "afr-pending-xattr"),
							  "v-client-0,v-client-1"), "options kept");
		gl_volfile_free(w);
		free(raw);
	}
	raw = NULL;
	r = gl_volfile_render_one(v, "v-client-1", &raw);
	tap_ok(r == 0 && raw && strstr(raw, "remote-host 198.18.100.12") &&
	       !strstr(raw, "v-client-0") && !strstr(raw, "subvolumes"),
	       "one brick's client alone (r=%d)", r);
	free(raw);
	tap_ok(gl_volfile_render_one(v, "v-dht", &raw) == -ENOENT, "not a leaf: refused");
	tap_ok(gl_volfile_get(v, "v-shard") && !gl_volfile_get(v, "nope"), "found by name");
	gl_volfile_free(v);

	bad("", "empty");
	bad("volume a\n    type x/y\n", "no end-volume");
	bad("volume a\nend-volume\n", "no type");
	bad("volume a\n    type x/y\n    colour blue\nend-volume\n", "an unknown keyword");
	bad("    type x/y\n", "a body outside a block");
	bad("volume a\n    type x/y\nvolume b\n", "a block inside a block");
	bad("volume\n    type x/y\nend-volume\n", "a volume without a name");
	return tap_done();
}
