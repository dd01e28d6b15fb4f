/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img snapshot: named, read-only point-in-time copies of an image.
 *
 * Taking or reverting a snapshot of an image that `mortar serve` exports
 * goes through the server's control socket (nbd/control.c): writes are
 * held, drained and flushed for the instant of the clone, so no snapshot
 * holds half of a write.  When the image is a disk of a running `mortar
 * vm` whose guest runs the guest agent, the guest's filesystems are
 * frozen around that (snapshot-freeze.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mortar/mortar.h>
#include "command.h"
#include "img.h"
#include "progress.h"
#include "snapshot-freeze.h"
#include "../server/control.h"

static const char snapshot_usage[] =
	"Usage: mortar img snapshot [create] [--quiet] [--output=human|json]\n"
	"                           [--vm NAME] [--quiesce|--no-freeze] [--freeze-timeout S]\n"
	"                           LOCATION NAME\n"
	"       mortar img snapshot list [--output=human|json] LOCATION\n"
	"       mortar img snapshot delete LOCATION NAME\n"
	"       mortar img snapshot revert [--force] [--quiet] LOCATION NAME\n"
	"\n"
	"Snapshots are read-only clones kept beside the image in .IMAGE.snapshots/;\n"
	"they share blocks with it where the filesystem can (reflink), else they are\n"
	"full copies.  A running 'mortar serve' of the image holds its writes while\n"
	"a snapshot is taken.  'revert' on an image in use needs --force: its NBD\n"
	"clients see the disk change under them.\n"
	"\n"
	"When the image is a disk of a running 'mortar vm' (or of --vm NAME) whose\n"
	"guest runs qemu-ga, the guest's filesystems are frozen around the snapshot\n"
	"(application-consistent); else it is crash-consistent, and the output says\n"
	"why.  --quiesce: fail rather than take a crash-consistent snapshot;\n"
	"--no-freeze: do not ask the guest; --freeze-timeout: the longest wait for\n"
	"the guest agent (60 s).\n";

struct snap_opts {
	bool force, quiet;
	enum output_format out;
	const char *vm;			/* --vm */
	enum snap_freeze_mode freeze;	/* --quiesce, --no-freeze */
	unsigned freeze_timeout_s;
};

/* Options, then NARGS operands.  Sets *DONE when the command must return
 * the exit status returned at once (after --help or a usage error). */
static const struct option snap_options[] = {
	{ "force", no_argument, NULL, 'F' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "output", required_argument, NULL, 'o' },
	{ "vm", required_argument, NULL, 'V' },
	{ "quiesce", no_argument, NULL, 'Q' },
	{ "no-freeze", no_argument, NULL, 'N' },
	{ "freeze-timeout", required_argument, NULL, 'T' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int snap_getopt(const char *cmd, int argc, char **argv, struct snap_opts *o,
		       int nargs, bool *done)
{
	int c;

	*o = (struct snap_opts){ .out = OUTPUT_HUMAN, .freeze_timeout_s = 60 };
	*done = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, "Fqo:h", snap_options, NULL)) != -1) {
		switch (c) {
		case 'F': o->force = true; break;
		case 'q': o->quiet = true; break;
		case 'V': o->vm = optarg; break;
		case 'Q': case 'N': {
			enum snap_freeze_mode m = c == 'Q' ? SNAP_FREEZE_REQUIRE :
				SNAP_FREEZE_NEVER;

			if (o->freeze != SNAP_FREEZE_TRY && o->freeze != m)
				return cli_usage(cmd, "--quiesce and --no-freeze exclude each other");
			o->freeze = m;
			break;
		}
		case 'T':
			if (cli_opt_seconds(cmd, "--freeze-timeout", optarg, 1, 3600,
					    &o->freeze_timeout_s) < 0)
				return EXIT_USAGE;
			break;
		case 'o':
			if (cli_parse_output(cmd, optarg, &o->out) < 0)
				return EXIT_USAGE;
			break;
		case 'h': fputs(snapshot_usage, stdout); return EXIT_OK;
		default: return cli_bad_option(cmd, argv);
		}
	}
	if (argc - optind != nargs)
		return cli_usage(cmd, nargs == 1 ? "expected LOCATION" :
				 "expected LOCATION and NAME");
	*done = false;
	return EXIT_OK;
}

static json_object *snap_json(const struct mortar_snapshot *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "location", json_object_new_string(s->location));
	json_object_object_add(o, "size", json_object_new_uint64(s->size));
	json_object_object_add(o, "created", json_object_new_int64(s->created));
	json_object_object_add(o, "method", json_object_new_string(s->method));
	json_object_object_add(o, "shared", json_object_new_boolean(s->shared));
	return o;
}

/* Quiesce the exports of LOCATION; a message and -1 if that fails. */
static int hold_writes(const char *cmd, const struct mortar_location *location,
		       struct serve_quiesce **q)
{
	int n = serve_quiesce_begin(location, q);

	if (n < 0) {
		cli_fail_lib(cmd);
		return -1;
	}
	return n;
}

/* The command's image (argv[optind]) parsed once: the quiesce, the
 * snapshot, its clone and its opens all take this struct.  RUN gets it. */
static int with_image(const char *cmd, char **argv, const struct snap_opts *o,
		      int (*run)(const char *cmd, char **argv, const struct snap_opts *o,
				 const struct mortar_location *loc))
{
	struct mortar_location *loc;
	int r;

	if (mortar_location_parse(argv[optind], &loc, NULL) < 0)
		return cli_fail_lib(cmd);
	r = run(cmd, argv, o, loc);
	mortar_location_free(loc);
	return r;
}

/* Hold the writes of LOCATION's exports and take the snapshot into *S;
 * *N: the exports held.  EXIT_OK, or EXIT_ERROR once reported. */
static int snap_take(const char *cmd, char **argv, const struct snap_opts *o,
		     const struct mortar_location *loc, struct mortar_snapshot *s, int *n)
{
	struct serve_quiesce *q;
	struct cli_progress prog;
	int r;

	*n = hold_writes(cmd, loc, &q);
	if (*n < 0)
		return EXIT_ERROR;
	cli_progress_init(&prog, "snapshot", o->out, o->quiet);
	r = mortar_snapshot_create(loc, argv[optind + 1], cli_progress_update, &prog, s);
	if (serve_quiesce_end(q) < 0 && r == 0) {
		/* Writes resumed during the copy: do not keep a snapshot that
		 * may be inconsistent. */
		char why[512];

		snprintf(why, sizeof why, "%s", mortar_errmsg());
		mortar_snapshot_delete(loc, argv[optind + 1]);
		free(s->location);
		s->location = NULL;
		cli_progress_end(&prog, false);
		return cli_error(cmd, "%s; the snapshot was removed", why);
	}
	cli_progress_end(&prog, r == 0);
	return r < 0 ? cli_fail_lib(cmd) : EXIT_OK;
}

static void snap_create_print(char **argv, const struct snap_opts *o,
			      const struct mortar_snapshot *s, int n,
			      const struct snap_freeze *f)
{
	char size[32];

	if (o->out == OUTPUT_JSON) {
		json_object *j = snap_json(s);
		json_object_object_add(j, "quiesced-servers", json_object_new_int(n));
		snap_freeze_json(f, j);
		cli_print_json_line(j);
		return;
	}
	printf("snapshot '%s' of %s: %s (%s)%s%s\n", s->name, argv[optind],
	       s->shared ? "shares blocks with the image (reflink)" :
	       "a full copy: this storage cannot share blocks",
	       cli_human_size(s->size, size, sizeof size),
	       n ? "; writes held on " : "", n ? (n == 1 ? "1 running export" :
						  "running exports") : "");
	snap_freeze_print(f);
}

/* The guest (if any) frozen, the snapshot taken, the guest thawed: a
 * thaw that fails keeps the snapshot, which is good, but fails the
 * command, since the guest may still be frozen. */
static int snap_create_run(const char *cmd, char **argv, const struct snap_opts *o,
			   const struct mortar_location *loc)
{
	struct mortar_snapshot s = { 0 };
	struct snap_freeze f;
	int n = 0, rc, thawed;

	if (snap_freeze_begin(cmd, loc, o->vm, o->freeze, (int)o->freeze_timeout_s, &f) < 0)
		return EXIT_ERROR;
	rc = snap_take(cmd, argv, o, loc, &s, &n);
	thawed = snap_freeze_end(cmd, &f);
	if (rc == EXIT_OK)
		snap_create_print(argv, o, &s, n, &f);
	free(s.location);
	return thawed < 0 ? EXIT_ERROR : rc;
}

static int snap_create(int argc, char **argv)
{
	const char *cmd = "img snapshot";
	struct snap_opts o;
	bool done;
	int r;

	r = snap_getopt(cmd, argc, argv, &o, 2, &done);
	return done ? r : with_image(cmd, argv, &o, snap_create_run);
}

static int snap_list_run(const char *cmd, char **argv, const struct snap_opts *o,
			 const struct mortar_location *loc)
{
	struct mortar_snapshot *v;
	size_t n;

	(void)argv;
	if (mortar_snapshot_list(loc, &v, &n) < 0)
		return cli_fail_lib(cmd);
	if (o->out == OUTPUT_JSON) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, snap_json(&v[i]));
		cli_print_json(a);
	} else {
		if (n)
			printf("%-20s %-20s %10s  %s\n", "NAME", "CREATED", "SIZE", "STORAGE");
		for (size_t i = 0; i < n; i++) {
			char when[32], size[32];
			time_t t = (time_t)v[i].created;
			struct tm tm;

			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
			printf("%-20s %-20s %10s  %s\n", v[i].name, when,
			       cli_human_size(v[i].size, size, sizeof size),
			       v[i].shared ? "shared blocks (reflink)" : "full copy");
		}
	}
	mortar_snapshot_list_free(v, n);
	return EXIT_OK;
}

static int snap_list(int argc, char **argv)
{
	const char *cmd = "img snapshot list";
	struct snap_opts o;
	bool done;
	int r;

	r = snap_getopt(cmd, argc, argv, &o, 1, &done);
	return done ? r : with_image(cmd, argv, &o, snap_list_run);
}

static int snap_delete_run(const char *cmd, char **argv, const struct snap_opts *o,
			   const struct mortar_location *loc)
{
	if (mortar_snapshot_delete(loc, argv[optind + 1]) < 0)
		return cli_fail_lib(cmd);
	if (!o->quiet)
		printf("deleted snapshot '%s' of %s\n", argv[optind + 1], argv[optind]);
	return EXIT_OK;
}

static int snap_delete(int argc, char **argv)
{
	const char *cmd = "img snapshot delete";
	struct snap_opts o;
	bool done;
	int r;

	r = snap_getopt(cmd, argc, argv, &o, 2, &done);
	return done ? r : with_image(cmd, argv, &o, snap_delete_run);
}

static int snap_revert_run(const char *cmd, char **argv, const struct snap_opts *op,
			   const struct mortar_location *loc)
{
	const struct snap_opts o = *op;
	struct serve_quiesce *q;
	struct cli_progress prog;
	int n, r;

	n = hold_writes(cmd, loc, &q);
	if (n < 0)
		return EXIT_ERROR;
	if (n > 0 && !o.force) {
		serve_quiesce_end(q);
		return cli_error(cmd, "%s is in use by %d running 'mortar serve'; stop it "
				 "first, or pass --force if its clients can take the disk "
				 "changing under them", argv[optind], n);
	}
	cli_progress_init(&prog, "revert", o.out, o.quiet);
	r = mortar_snapshot_revert(loc, argv[optind + 1], cli_progress_update, &prog);
	serve_quiesce_end(q);
	cli_progress_end(&prog, r == 0);
	if (r < 0)
		return cli_fail_lib(cmd);
	if (!o.quiet && o.out == OUTPUT_HUMAN)
		printf("%s reverted to snapshot '%s'\n", argv[optind], argv[optind + 1]);
	return EXIT_OK;
}

static int snap_revert(int argc, char **argv)
{
	const char *cmd = "img snapshot revert";
	struct snap_opts o;
	bool done;
	int r;

	r = snap_getopt(cmd, argc, argv, &o, 2, &done);
	return done ? r : with_image(cmd, argv, &o, snap_revert_run);
}

/* Every subcommand parses all of snap_options; each row offers those
 * its usage names. */
static const struct cli_command snap_cmds[] = {
	{ "create", "take a snapshot (the default: 'snapshot LOCATION NAME')",
	  snap_create, NULL, snap_options, "qoVQNT", true },
	{ "list", "the snapshots of an image", snap_list, NULL, snap_options, "o", true },
	{ "delete", "remove a snapshot", snap_delete, NULL, snap_options, "", true },
	{ "revert", "make the image what the snapshot holds", snap_revert, NULL,
	  snap_options, "Fq", true },
};

const struct cli_table img_snapshot_table = {
	"img snapshot", snapshot_usage, snap_cmds, CLI_NCMDS(snap_cmds), &snap_cmds[0],
};
