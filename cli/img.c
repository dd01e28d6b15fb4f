/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img: create, info, map, resize. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "cli.h"

static const char img_usage[] =
	"Usage: mortar img create [--preallocation=off|falloc|full] [--force] LOCATION SIZE\n"
	"       mortar img info [--output=human|json] LOCATION\n"
	"       mortar img map [--output=human|json] LOCATION\n"
	"       mortar img resize [--shrink] LOCATION [+|-]SIZE\n"
	"\n"
	"SIZE takes binary suffixes: K, M, G, T, P, E (K = 1024), e.g. 10G.\n"
	"See mortar-img(1).\n";

enum { OPT_OUTPUT = 256, OPT_PREALLOC, OPT_FORCE, OPT_SHRINK };

static const struct option img_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "preallocation", required_argument, NULL, OPT_PREALLOC },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "shrink", no_argument, NULL, OPT_SHRINK },
	{ NULL, 0, NULL, 0 },
};

struct img_opts {
	enum output_format output;
	enum mortar_prealloc prealloc;
	bool force, shrink;
	bool has_output, has_prealloc;
};

/* Parse options; leaves optind at the first operand.  Returns 0, or an
 * exit code (help or usage) to return at once with *done set. */
static int img_getopt(const char *cmd, int argc, char **argv, struct img_opts *o,
		      bool *done)
{
	int c;

	*done = false;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", img_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(img_usage, stdout);
			*done = true;
			return EXIT_OK;
		case OPT_OUTPUT:
			o->has_output = true;
			if (cli_parse_output(cmd, optarg, &o->output) < 0) {
				*done = true;
				return EXIT_USAGE;
			}
			break;
		case OPT_PREALLOC:
			o->has_prealloc = true;
			if (!strcmp(optarg, "off"))
				o->prealloc = MORTAR_PREALLOC_OFF;
			else if (!strcmp(optarg, "falloc"))
				o->prealloc = MORTAR_PREALLOC_FALLOC;
			else if (!strcmp(optarg, "full"))
				o->prealloc = MORTAR_PREALLOC_FULL;
			else {
				*done = true;
				return cli_usage(cmd, "unknown preallocation '%s' (use off, "
						 "falloc or full)", optarg);
			}
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_SHRINK:
			o->shrink = true;
			break;
		default:
			*done = true;
			if (optopt && optopt < 256)
				return cli_usage(cmd, "unknown option '-%c'", optopt);
			return cli_usage(cmd, "unknown or incomplete option '%s'",
					 argv[optind - 1]);
		}
	}
	return EXIT_OK;
}

/* Options that make no sense for CMD are usage errors, not ignored. */
static int img_reject(const char *cmd, const struct img_opts *o, bool output,
		      bool prealloc, bool force, bool shrink)
{
	if (o->has_output && !output)
		return cli_usage(cmd, "--output is not an option of this command");
	if (o->has_prealloc && !prealloc)
		return cli_usage(cmd, "--preallocation is not an option of this command");
	if (o->force && !force)
		return cli_usage(cmd, "--force is not an option of this command");
	if (o->shrink && !shrink)
		return cli_usage(cmd, "--shrink is not an option of this command");
	return 0;
}

static int img_create(int argc, char **argv)
{
	const char *cmd = "img create";
	struct img_opts o = { 0 };
	uint64_t size;
	bool done;
	int r;

	r = img_getopt(cmd, argc, argv, &o, &done);
	if (done)
		return r;
	if ((r = img_reject(cmd, &o, false, true, true, false)))
		return r;
	if (argc - optind != 2)
		return cli_usage(cmd, "expected LOCATION SIZE");
	if (mortar_parse_size(argv[optind + 1], &size) < 0)
		return cli_usage(cmd, "%s", mortar_errmsg());
	if (mortar_image_create(argv[optind], size, o.prealloc,
				o.force ? MORTAR_CREATE_FORCE : 0) < 0)
		return cli_fail_lib(cmd);
	return EXIT_OK;
}

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

/* Open LOCATION on a fresh loop.  With TRY_RW, open writable where
 * permissions allow (so that info reports what writers get) and fall back
 * to read-only; nothing is written either way. */
static int img_open(const char *cmd, const char *location, unsigned flags,
		    bool try_rw, struct mortar_loop **loop, struct mortar_image **img)
{
	int r;

	if (mortar_loop_new(0, loop) < 0)
		return cli_fail_lib(cmd);
	r = mortar_image_open(*loop, location, try_rw ? flags & ~MORTAR_OPEN_RDONLY : flags, img);
	if (try_rw && (r == -EACCES || r == -EPERM || r == -EROFS))
		r = mortar_image_open(*loop, location, flags | MORTAR_OPEN_RDONLY, img);
	if (r < 0) {
		r = cli_fail_lib(cmd);
		mortar_loop_free(*loop);
		return r;
	}
	return EXIT_OK;
}

static int img_close(const char *cmd, struct mortar_loop *loop,
		     struct mortar_image *img, int r)
{
	if (mortar_image_close(img) < 0 && r == EXIT_OK)
		r = cli_fail_lib(cmd);
	mortar_loop_free(loop);
	return r;
}

static int img_info(int argc, char **argv)
{
	const char *cmd = "img info";
	struct img_opts o = { 0 };
	struct mortar_loop *loop;
	struct mortar_image *img;
	uint64_t size, alloc;
	uint32_t caps, bmin, bpref, bmax;
	struct mortar_storage_caps scaps;
	struct mortar_snapshot *snaps = NULL;
	size_t nsnaps = 0;
	json_object *js;
	char b1[32], b2[32];
	char *canon;
	bool done;
	int r;

	r = img_getopt(cmd, argc, argv, &o, &done);
	if (done)
		return r;
	if ((r = img_reject(cmd, &o, true, false, false, false)))
		return r;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one LOCATION");
	if ((r = img_open(cmd, argv[optind], MORTAR_OPEN_RDONLY, true, &loop, &img)))
		return r;
	size = mortar_image_size(img);
	caps = mortar_image_caps(img);
	mortar_image_block_size(img, &bmin, &bpref, &bmax);
	if (mortar_image_allocated(img, &alloc) < 0)
		return img_close(cmd, loop, img, cli_fail_lib(cmd));
	canon = mortar_location_format(mortar_image_location(img));
	/* What the storage underneath can do for clones and snapshots,
	 * probed beside the image. */
	mortar_storage_caps(argv[optind], &scaps);
	if (mortar_snapshot_list(argv[optind], &snaps, &nsnaps) < 0)
		nsnaps = 0;

	if (o.output == OUTPUT_JSON) {
		json_object *j = json_object_new_object(), *jc, *jb;

		json_object_object_add(j, "filename", json_object_new_string(argv[optind]));
		json_object_object_add(j, "location", json_object_new_string(canon ? canon : ""));
		json_object_object_add(j, "backend", json_object_new_string(mortar_image_backend(img)));
		json_object_object_add(j, "format", json_object_new_string("raw"));
		json_object_object_add(j, "virtual-size", json_object_new_int64((int64_t)size));
		json_object_object_add(j, "actual-size", json_object_new_int64((int64_t)alloc));
		jb = json_object_new_object();
		json_object_object_add(jb, "minimum", json_object_new_int64(bmin));
		json_object_object_add(jb, "preferred", json_object_new_int64(bpref));
		json_object_object_add(jb, "maximum", json_object_new_int64(bmax));
		json_object_object_add(j, "block-size", jb);
		jc = json_object_new_object();
		for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
			json_object_object_add(jc, cap_names[i].name,
				json_object_new_boolean((caps & cap_names[i].cap) != 0));
		json_object_object_add(j, "capabilities", jc);
		js = json_object_new_object();
		json_object_object_add(js, "thin", json_object_new_boolean(scaps.thin));
		json_object_object_add(js, "offload_copy", json_object_new_boolean(scaps.offload_copy));
		json_object_object_add(js, "offload_snapshot",
				       json_object_new_boolean(scaps.offload_snapshot));
		json_object_object_add(js, "discard", json_object_new_boolean(scaps.discard));
		json_object_object_add(js, "zero", json_object_new_boolean(scaps.zero));
		json_object_object_add(js, "copies", json_object_new_string(scaps.how));
		json_object_object_add(j, "storage", js);
		js = json_object_new_array();
		for (size_t i = 0; i < nsnaps; i++)
			json_object_array_add(js, json_object_new_string(snaps[i].name));
		json_object_object_add(j, "snapshots", js);
		cli_print_json(j);
	} else {
		printf("image: %s\n", argv[optind]);
		if (canon && strcmp(canon, argv[optind]))
			printf("location: %s\n", canon);
		printf("backend: %s\n", mortar_image_backend(img));
		printf("virtual size: %s (%" PRIu64 " bytes)\n",
		       cli_human_size(size, b1, sizeof b1), size);
		printf("disk size: %s (%" PRIu64 " bytes)\n",
		       cli_human_size(alloc, b2, sizeof b2), alloc);
		printf("block size: minimum %u, preferred %u, maximum %u\n",
		       bmin, bpref, bmax);
		printf("capabilities:");
		for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
			if (caps & cap_names[i].cap)
				printf(" %s", cap_names[i].name);
		putchar('\n');
		printf("storage:%s%s%s%s%s\n", scaps.thin ? " thin" : "",
		       scaps.discard ? " discard" : "", scaps.zero ? " zero" : "",
		       scaps.offload_copy ? " offload_copy" : "",
		       scaps.offload_snapshot ? " offload_snapshot" : "");
		printf("copies: %s\n", scaps.how);
		printf("snapshots: %zu", nsnaps);
		for (size_t i = 0; i < nsnaps; i++)
			printf("%s%s", i ? ", " : " (", snaps[i].name);
		printf("%s\n", nsnaps ? ")" : "");
	}
	mortar_snapshot_list_free(snaps, nsnaps);
	free(canon);
	return img_close(cmd, loop, img, EXIT_OK);
}

struct map_state {
	enum output_format output;
	json_object *arr;
};

static int map_one(void *opaque, const struct mortar_extent *e)
{
	struct map_state *s = opaque;
	bool data = !(e->flags & MORTAR_EXTENT_HOLE);
	bool zero = e->flags & MORTAR_EXTENT_ZERO;

	if (s->output == OUTPUT_JSON) {
		/* The same keys as qemu-img map --output=json, so scripts
		 * written for one read the other. */
		json_object *j = json_object_new_object();
		json_object_object_add(j, "start", json_object_new_int64((int64_t)e->offset));
		json_object_object_add(j, "length", json_object_new_int64((int64_t)e->length));
		json_object_object_add(j, "depth", json_object_new_int(0));
		json_object_object_add(j, "present", json_object_new_boolean(1));
		json_object_object_add(j, "zero", json_object_new_boolean(zero));
		json_object_object_add(j, "data", json_object_new_boolean(data));
		json_object_object_add(j, "offset", json_object_new_int64((int64_t)e->offset));
		json_object_array_add(s->arr, j);
	} else {
		printf("0x%-18" PRIx64 "0x%-18" PRIx64 "%s\n", e->offset, e->length,
		       data ? (zero ? "data (zero)" : "data") : "hole");
	}
	return 0;
}

static int img_map(int argc, char **argv)
{
	const char *cmd = "img map";
	struct img_opts o = { 0 };
	struct map_state s = { 0 };
	struct mortar_loop *loop;
	struct mortar_image *img;
	bool done;
	int r;

	r = img_getopt(cmd, argc, argv, &o, &done);
	if (done)
		return r;
	if ((r = img_reject(cmd, &o, true, false, false, false)))
		return r;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one LOCATION");
	if ((r = img_open(cmd, argv[optind], MORTAR_OPEN_RDONLY, false, &loop, &img)))
		return r;
	s.output = o.output;
	if (s.output == OUTPUT_JSON)
		s.arr = json_object_new_array();
	else
		printf("%-20s%-20s%s\n", "Offset", "Length", "Type");
	if (mortar_image_map_sync(img, map_one, &s) < 0) {
		json_object_put(s.arr);
		return img_close(cmd, loop, img, cli_fail_lib(cmd));
	}
	if (s.arr)
		cli_print_json(s.arr);
	return img_close(cmd, loop, img, EXIT_OK);
}

static int img_resize(int argc, char **argv)
{
	const char *cmd = "img resize";
	struct img_opts o = { 0 };
	struct mortar_loop *loop;
	struct mortar_image *img;
	const char *sizearg;
	uint64_t size, delta, cur;
	int sign = 0;
	bool done;
	int r;

	/* "-1G" would look like an option to getopt: take the size operand
	 * out first (the last argument, or any that starts with '-' and a
	 * digit), as qemu-img does. */
	if (argc < 2)
		return cli_usage(cmd, "expected LOCATION SIZE");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(img_usage, stdout);
			return EXIT_OK;
		}
	}
	sizearg = argv[argc - 1];
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9') {
			sizearg = argv[i];
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i - 1) * sizeof *argv);
			argv[argc - 1] = (char *)sizearg;
			break;
		}
	}
	r = img_getopt(cmd, argc - 1, argv, &o, &done);
	if (done)
		return r;
	if ((r = img_reject(cmd, &o, false, false, false, true)))
		return r;
	if (argc - 1 - optind != 1)
		return cli_usage(cmd, "expected LOCATION SIZE");
	if (*sizearg == '+' || *sizearg == '-')
		sign = *sizearg++ == '+' ? 1 : -1;
	if (mortar_parse_size(sizearg, &delta) < 0)
		return cli_usage(cmd, "%s", mortar_errmsg());
	if ((r = img_open(cmd, argv[optind], 0, false, &loop, &img)))
		return r;
	cur = mortar_image_size(img);
	if (sign > 0 && delta > UINT64_MAX - cur) {
		fprintf(stderr, "%s %s: the new size would overflow\n", progname, cmd);
		return img_close(cmd, loop, img, EXIT_ERROR);
	}
	if (sign < 0 && delta > cur) {
		fprintf(stderr, "%s %s: cannot shrink by more than the image's size "
			"(%" PRIu64 " bytes)\n", progname, cmd, cur);
		return img_close(cmd, loop, img, EXIT_ERROR);
	}
	size = sign > 0 ? cur + delta : sign < 0 ? cur - delta : delta;
	if (mortar_image_resize_sync(img, size, o.shrink ? MORTAR_REQ_SHRINK : 0) < 0)
		return img_close(cmd, loop, img, cli_fail_lib(cmd));
	return img_close(cmd, loop, img, EXIT_OK);
}

int cmd_img(int argc, char **argv)
{
	if (argc < 2) {
		fputs(img_usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(img_usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "create"))
		return img_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "info"))
		return img_info(argc - 1, argv + 1);
	if (!strcmp(argv[1], "map"))
		return img_map(argc - 1, argv + 1);
	if (!strcmp(argv[1], "resize"))
		return img_resize(argc - 1, argv + 1);
	if (!strcmp(argv[1], "clone"))
		return cmd_img_clone(argc - 1, argv + 1);
	if (!strcmp(argv[1], "convert"))
		return cmd_img_convert(argc - 1, argv + 1);
	if (!strcmp(argv[1], "snapshot"))
		return cmd_img_snapshot(argc - 1, argv + 1);
	fprintf(stderr, "%s img: unknown subcommand '%s'\n", progname, argv[1]);
	fputs(img_usage, stderr);
	return EXIT_USAGE;
}
