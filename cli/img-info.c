/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img info and map: what an image is and where its data lies.
 * Each reads the image once into plain values, then prints them as text
 * or JSON. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "img.h"

/* ---- info ---- */

static const char info_usage[] =
	"Usage: mortar img info [--output=human|json] LOCATION\n"
	"\n"
	"Size, allocation, block sizes and capabilities of the image, what its\n"
	"storage can do for clones and snapshots, whether its copies agree (on a\n"
	"replicated volume), and its snapshots.\n";

static const struct {
	uint32_t cap;
	const char *name;
} cap_names[] = {
	{ MORTAR_CAP_READ_ONLY, "read-only" },
	{ MORTAR_CAP_FLUSH, "flush" },
	{ MORTAR_CAP_FUA, "fua" },
	{ MORTAR_CAP_TRIM, "trim" },
	{ MORTAR_CAP_ZERO, "zero" },
	{ MORTAR_CAP_FAST_ZERO, "fast-zero" },
	{ MORTAR_CAP_EXTENTS, "extents" },
	{ MORTAR_CAP_RESIZE, "resize" },
	{ MORTAR_CAP_MULTI_CONN, "multi-conn" },
	{ MORTAR_CAP_CACHE, "cache" },
	{ MORTAR_CAP_ROTATIONAL, "rotational" },
};
#define NCAPS (sizeof cap_names / sizeof cap_names[0])

struct img_facts {
	const char *filename;		/* as typed */
	char *canon;			/* the location, formatted */
	const char *backend;
	uint64_t size, alloc;
	uint32_t caps, bmin, bpref, bmax;
	struct mortar_storage_caps storage;
	struct mortar_replica_state replica;
	bool replica_known;
	struct mortar_snapshot *snaps;
	size_t nsnaps;
};

static int info_gather(const char *cmd, const char *location, struct img_facts *f)
{
	struct mortar_loop *loop;
	struct mortar_image *img;
	int r;

	f->filename = location;
	if ((r = img_open(cmd, location, MORTAR_OPEN_RDONLY, true, &loop, &img)))
		return r;
	f->size = mortar_image_size(img);
	f->caps = mortar_image_caps(img);
	f->backend = mortar_image_backend(img);
	mortar_image_block_size(img, &f->bmin, &f->bpref, &f->bmax);
	if (mortar_image_allocated(img, &f->alloc) < 0)
		return img_close(cmd, loop, img, cli_fail_lib(cmd));
	f->canon = mortar_location_format(mortar_image_location(img));
	/* What the storage underneath can do for clones and snapshots,
	 * probed beside the image. */
	mortar_storage_caps(mortar_image_location(img), &f->storage);
	f->replica_known = mortar_replica_state(mortar_image_location(img), &f->replica) == 0;
	if (mortar_snapshot_list(mortar_image_location(img), &f->snaps, &f->nsnaps) < 0)
		f->nsnaps = 0;
	return img_close(cmd, loop, img, EXIT_OK);
}

static json_object *info_json_storage(const struct mortar_storage_caps *s)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "thin", json_object_new_boolean(s->thin));
	json_object_object_add(j, "offload_copy", json_object_new_boolean(s->offload_copy));
	json_object_object_add(j, "offload_snapshot",
			       json_object_new_boolean(s->offload_snapshot));
	json_object_object_add(j, "discard", json_object_new_boolean(s->discard));
	json_object_object_add(j, "zero", json_object_new_boolean(s->zero));
	json_object_object_add(j, "copies", json_object_new_string(s->how));
	return j;
}

static json_object *info_json_replica(const struct mortar_replica_state *r)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "copies", json_object_new_int((int)r->copies));
	json_object_object_add(j, "files", json_object_new_int((int)r->files));
	json_object_object_add(j, "in-sync", json_object_new_boolean(!r->pending &&
			       !r->split_brain && !r->unreachable));
	json_object_object_add(j, "pending-heal", json_object_new_int((int)r->pending));
	json_object_object_add(j, "split-brain", json_object_new_int((int)r->split_brain));
	json_object_object_add(j, "unreachable-bricks", json_object_new_int((int)r->unreachable));
	json_object_object_add(j, "detail", json_object_new_string(r->detail));
	return j;
}

static void info_print_json(const struct img_facts *f)
{
	json_object *j = json_object_new_object(), *jc, *jb, *js;

	json_object_object_add(j, "filename", json_object_new_string(f->filename));
	json_object_object_add(j, "location", json_object_new_string(f->canon ? f->canon : ""));
	json_object_object_add(j, "backend", json_object_new_string(f->backend));
	json_object_object_add(j, "format", json_object_new_string("raw"));
	json_object_object_add(j, "virtual-size", json_object_new_int64((int64_t)f->size));
	json_object_object_add(j, "actual-size", json_object_new_int64((int64_t)f->alloc));
	jb = json_object_new_object();
	json_object_object_add(jb, "minimum", json_object_new_int64(f->bmin));
	json_object_object_add(jb, "preferred", json_object_new_int64(f->bpref));
	json_object_object_add(jb, "maximum", json_object_new_int64(f->bmax));
	json_object_object_add(j, "block-size", jb);
	jc = json_object_new_object();
	for (size_t i = 0; i < NCAPS; i++)
		json_object_object_add(jc, cap_names[i].name,
				       json_object_new_boolean((f->caps & cap_names[i].cap) != 0));
	json_object_object_add(j, "capabilities", jc);
	json_object_object_add(j, "storage", info_json_storage(&f->storage));
	if (f->replica_known && f->replica.replicated)
		json_object_object_add(j, "replica", info_json_replica(&f->replica));
	js = json_object_new_array();
	for (size_t i = 0; i < f->nsnaps; i++)
		json_object_array_add(js, json_object_new_string(f->snaps[i].name));
	json_object_object_add(j, "snapshots", js);
	cli_print_json(j);
}

static void info_print_human(const struct img_facts *f)
{
	const struct mortar_storage_caps *s = &f->storage;
	char b1[32], b2[32];

	printf("image: %s\n", f->filename);
	if (f->canon && strcmp(f->canon, f->filename))
		printf("location: %s\n", f->canon);
	printf("backend: %s\n", f->backend);
	printf("virtual size: %s (%" PRIu64 " bytes)\n",
	       cli_human_size(f->size, b1, sizeof b1), f->size);
	printf("disk size: %s (%" PRIu64 " bytes)\n",
	       cli_human_size(f->alloc, b2, sizeof b2), f->alloc);
	printf("block size: minimum %u, preferred %u, maximum %u\n",
	       f->bmin, f->bpref, f->bmax);
	printf("capabilities:");
	for (size_t i = 0; i < NCAPS; i++)
		if (f->caps & cap_names[i].cap)
			printf(" %s", cap_names[i].name);
	putchar('\n');
	printf("storage:%s%s%s%s%s\n", s->thin ? " thin" : "", s->discard ? " discard" : "",
	       s->zero ? " zero" : "", s->offload_copy ? " offload_copy" : "",
	       s->offload_snapshot ? " offload_snapshot" : "");
	printf("copies: %s\n", s->how);
	if (f->replica_known && f->replica.replicated)
		printf("replica: %s\n", f->replica.detail);
	printf("snapshots: %zu", f->nsnaps);
	for (size_t i = 0; i < f->nsnaps; i++)
		printf("%s%s", i ? ", " : " (", f->snaps[i].name);
	printf("%s\n", f->nsnaps ? ")" : "");
}

int img_info(int argc, char **argv)
{
	const char *cmd = "img info";
	struct img_opts o = { 0 };
	struct img_facts f = { 0 };
	bool done;
	int r;

	r = img_getopt(cmd, info_usage, IMG_INFO_OPTS, argc, argv, &o, &done);
	if (done)
		return r;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one LOCATION");
	if ((r = info_gather(cmd, argv[optind], &f)))
		return r;
	if (o.output == OUTPUT_JSON)
		info_print_json(&f);
	else
		info_print_human(&f);
	mortar_snapshot_list_free(f.snaps, f.nsnaps);
	free(f.canon);
	return EXIT_OK;
}

/* ---- map ---- */

static const char map_usage[] =
	"Usage: mortar img map [--output=human|json] LOCATION\n"
	"\n"
	"The image's ranges of data, zeroes and holes (JSON: qemu-img map's keys).\n";

struct map_state {
	enum output_format output;
	uint64_t count;			/* extents printed */
};

static int map_one(void *opaque, const struct mortar_extent *e)
{
	struct map_state *s = opaque;
	bool data = !(e->flags & MORTAR_EXTENT_HOLE);
	bool zero = e->flags & MORTAR_EXTENT_ZERO;

	if (s->output == OUTPUT_JSON) {
		/* The same keys as qemu-img map --output=json, so scripts
		 * written for one read the other; printed as they come, so
		 * that memory does not grow with the number of extents. */
		printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": 0, "
		       "\"present\": true, \"zero\": %s, \"data\": %s, \"offset\": %" PRIu64 " }",
		       s->count ? ",\n  " : "[\n  ", e->offset, e->length,
		       zero ? "true" : "false", data ? "true" : "false", e->offset);
		s->count++;
	} else {
		printf("0x%-18" PRIx64 "0x%-18" PRIx64 "%s\n", e->offset, e->length,
		       data ? (zero ? "data (zero)" : "data") : "hole");
	}
	return 0;
}

int img_map(int argc, char **argv)
{
	const char *cmd = "img map";
	struct img_opts o = { 0 };
	struct map_state s = { 0 };
	struct mortar_loop *loop;
	struct mortar_image *img;
	bool done;
	int r;

	r = img_getopt(cmd, map_usage, IMG_MAP_OPTS, argc, argv, &o, &done);
	if (done)
		return r;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one LOCATION");
	if ((r = img_open(cmd, argv[optind], MORTAR_OPEN_RDONLY, false, &loop, &img)))
		return r;
	s.output = o.output;
	if (s.output != OUTPUT_JSON)
		printf("%-20s%-20s%s\n", "Offset", "Length", "Type");
	if (mortar_image_map_sync(img, map_one, &s) < 0) {
		if (s.count)
			puts("");	/* (an unfinished array: the error says why) */
		return img_close(cmd, loop, img, cli_fail_lib(cmd));
	}
	if (s.output == OUTPUT_JSON)
		puts(s.count ? "\n]" : "[]");
	return img_close(cmd, loop, img, EXIT_OK);
}
