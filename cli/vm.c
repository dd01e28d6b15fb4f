/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar vm: each subcommand parses its options, calls the VM library
 * (vm/vm.h) once and prints what it did, as text or --output=json.  The
 * VM layer itself (state, QEMU command lines, QMP, the guest's view,
 * hotplug, migration) lives in vm/. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "command.h"
#include "commands.h"
#include "vm.h"
#include "vm-json.h"

static const char vm_help[] =
	"Usage: mortar vm start NAME [options]       start a VM (see below)\n"
	"       mortar vm stop NAME [--force] [--timeout S]\n"
	"       mortar vm list [--output=json]\n"
	"       mortar vm status NAME [--output=json]\n"
	"       mortar vm cpus NAME N [--node N] [--wait] [--timeout S]\n"
	"       mortar vm cpu add NAME [--slot N] [--node N] [--id ID] [--wait] [--timeout S]\n"
	"       mortar vm cpu remove NAME ID [--wait] [--timeout S]\n"
	"       mortar vm mem add NAME SIZE [--node N] [--id ID] [--backend B] [--wait] [--timeout S]\n"
	"       mortar vm mem remove NAME ID [--wait] [--timeout S]\n"
	"       mortar vm mem NAME SIZE [--wait] [--timeout S]   (virtio-mem)\n"
	"       mortar vm migrate NAME [--to unix:PATH|tcp:HOST:PORT] [--via COMMAND]\n"
	"                 [--target-qemu PATH] [--disk-to [I=]LOCATION]... [--bandwidth RATE]\n"
	"                 [--max-downtime MS] [--force] [--wait] [--timeout S] [--output=json]\n"
	"       mortar vm incoming NAME --listen tcp:HOST:PORT ...   (run by migrate --via)\n"
	"       mortar vm thaw NAME [--timeout S]   (after a failed img snapshot)\n"
	"\n"
	"start options:\n"
	"  --config FILE        key=value lines, keys as the long options below\n"
	"  --arch x86_64|ppc64  q35 (default) or pseries\n"
	"  --cpus N             boot vCPUs (default 1)\n"
	"  --max-cpus N         vCPUs the VM may grow to (default: --cpus)\n"
	"  --memory SIZE        boot memory (default 512M)\n"
	"  --max-memory SIZE    memory the VM may grow to (default: --memory)\n"
	"  --slots N            DIMM slots (default 8 when --max-memory is larger)\n"
	"  --numa N             NUMA nodes; vCPU sockets and boot memory split evenly\n"
	"  --disk LOCATION      a Mortar location served as a vhost-user-blk disk (repeat)\n"
	"  --disk-protocol P    vhost-user (default; guest memory is then shared: memfd)\n"
	"                       or nbd (QEMU's NBD client under virtio-blk)\n"
	"  --virtio-mem SIZE    a virtio-mem device that can grow to SIZE (in --max-memory)\n"
	"  --mem-backend B      ram (default), memfd, hugetlbfs or hugetlbfs:PATH\n"
	"  --kernel PATH --initrd PATH --append TEXT\n"
	"  --accel kvm|tcg      default: kvm when hardware KVM is usable, else tcg\n"
	"  --qemu PATH          the QEMU binary (default: qemu-system-x86_64 or -ppc64)\n"
	"  --wait               return once the guest reports in (MORTAR-GUEST line)\n"
	"Runtime directories: $MORTAR_VM_DIR/NAME (default: the per-user runtime\n"
	"directory's vm/).  See mortar-vm(1).\n";

/* ---- options: one table for every subcommand but start ---- */

struct vm_opts {
	struct mortar_vm_plug plug;	/* --node --slot --id --backend --timeout --wait */
	struct mortar_vm_migration mig;	/* --to --via --target-qemu --bandwidth
					 * --max-downtime --force --timeout --wait */
	struct mortar_vm_incoming in;	/* --listen --qemu --expect */
	const char *disk_to[MORTAR_VM_MAX_DISKS];	/* --disk-to, as given */
	unsigned ndisk_to;
	bool force;
	enum output_format out;
};

static const struct option vm_long_opts[] = {
	{ "wait", no_argument, NULL, 'w' },
	{ "force", no_argument, NULL, 'F' },
	{ "timeout", required_argument, NULL, 't' },
	{ "node", required_argument, NULL, 'n' },
	{ "id", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "backend", required_argument, NULL, 'b' },
	{ "slot", required_argument, NULL, 's' },
	{ "to", required_argument, NULL, 'T' },
	{ "via", required_argument, NULL, 'V' },
	{ "target-qemu", required_argument, NULL, 'Q' },
	{ "disk-to", required_argument, NULL, 'D' },
	{ "bandwidth", required_argument, NULL, 'B' },
	{ "max-downtime", required_argument, NULL, 'M' },
	{ "listen", required_argument, NULL, 'L' },
	{ "qemu", required_argument, NULL, 'q' },
	{ "expect", required_argument, NULL, 'E' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --expect CPUS:KIB[:agent] (what the guest showed on the source; -1:
 * unknown) into IN. */
static int parse_expect(const char *cmd, const char *arg, struct mortar_vm_incoming *in)
{
	char agent[8] = "";
	long long kib;
	int n = 0;

	if (sscanf(arg, "%d:%lld%n:%7s", &in->expect_cpus, &kib, &n, agent) < 2 ||
	    (arg[n] && strcmp(agent, "agent")))
		return cli_usage(cmd, "--expect wants CPUS:KIB[:agent]"), -1;
	in->expect_kib = kib;
	in->expect_agent = agent[0] != '\0';
	return 0;
}

/* One option C with value ARG into O; -1 after a usage message. */
static int vm_opt(const char *cmd, int c, const char *arg, struct vm_opts *o)
{
	unsigned v;

	switch (c) {
	case 'w': o->plug.wait = o->mig.wait = o->in.wait = true; return 0;
	case 'F': o->force = o->mig.force = true; return 0;
	case 'i': o->plug.id = arg; return 0;
	case 'b': o->plug.backend = arg; return 0;
	case 'o': return cli_parse_output(cmd, arg, &o->out) < 0 ? -1 : 0;
	case 'T':
		if (strncmp(arg, "unix:", 5) && strncmp(arg, "tcp:", 4))
			return cli_usage(cmd, "--to wants unix:PATH or tcp:HOST:PORT"), -1;
		o->mig.to = arg;
		return 0;
	case 'V': o->mig.via = arg; return 0;
	case 'Q': o->mig.target_qemu = arg; return 0;
	case 'L': o->in.listen = arg; return 0;
	case 'q': o->in.qemu = arg; return 0;
	case 'E': return parse_expect(cmd, arg, &o->in);
	case 'D':
		if (o->ndisk_to == MORTAR_VM_MAX_DISKS)
			return cli_usage(cmd, "at most %d --disk-to", MORTAR_VM_MAX_DISKS), -1;
		o->disk_to[o->ndisk_to++] = arg;
		return 0;
	case 'B':
		return cli_opt_size(cmd, "--bandwidth", arg, 1, UINT64_MAX, &o->mig.bandwidth) < 0 ?
		       -1 : 0;
	case 'M':
		if (cli_opt_uint(cmd, "--max-downtime", arg, 1, 600000, &v) < 0)
			return -1;
		o->mig.max_downtime_ms = (int)v;
		return 0;
	case 't':
		if (cli_opt_seconds(cmd, "--timeout", arg, 1, 86400, &v) < 0)
			return -1;
		o->plug.timeout_s = o->mig.timeout_s = o->in.timeout_s = (int)v;
		return 0;
	case 'n': case 's':
		if (cli_opt_uint(cmd, c == 'n' ? "--node" : "--slot", arg, 0, 65535, &v) < 0)
			return -1;
		*(c == 'n' ? &o->plug.node : &o->plug.slot) = (int)v;
		return 0;
	}
	return -1;
}

/* The long name of option C. */
static const char *opt_name(int c)
{
	for (const struct option *o = vm_long_opts; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* What a subcommand takes: the options (their short letters), NARGS
 * operands (WHAT names them when missing), the first being the VM's
 * name, and a parser for the second when it is not an id. */
struct vm_syntax {
	const char *cmd, *allowed;
	int nargs;
	const char *what;
	int (*operand)(const char *cmd, const char *arg, void *out);
};

/* The options and operands of S.  0 to go on, -1 once --help is
 * printed, else the exit status of a usage error. */
static int vm_getopt(const struct vm_syntax *s, int argc, char **argv, struct vm_opts *o,
		     void *operand)
{
	int c;

	*o = (struct vm_opts){ .plug = MORTAR_VM_PLUG_INIT, .mig = MORTAR_VM_MIGRATION_INIT,
			       .in = { .expect_cpus = -1, .expect_kib = -1, .timeout_s = 120 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "wFt:n:i:o:b:s:T:V:Q:D:B:M:L:q:E:h", vm_long_opts,
				NULL)) != -1) {
		if (c == 'h') {
			fputs(vm_help, stdout);
			return -1;
		}
		if (c == '?' || c == ':')
			return cli_bad_option(s->cmd, argv);
		if (!strchr(s->allowed, c))
			return cli_usage(s->cmd, "--%s does not apply here", opt_name(c));
		if (vm_opt(s->cmd, c, optarg, o) < 0)
			return EXIT_USAGE;
	}
	if (argc - optind != s->nargs)
		return cli_usage(s->cmd, "expected %s", s->what);
	if (s->operand && s->operand(s->cmd, argv[optind + 1], operand) < 0)
		return EXIT_USAGE;
	return 0;
}

/* Parse as vm_getopt, then open the running VM named by the first
 * operand into *VM.  0 to go on, -1 after --help, else the exit status. */
static int vm_begin(const struct vm_syntax *s, int argc, char **argv, struct vm_opts *o,
		    void *operand, struct mortar_vm **vm)
{
	int rc = vm_getopt(s, argc, argv, o, operand);

	*vm = NULL;
	if (rc)
		return rc;
	if (mortar_vm_open(argv[optind], vm) < 0)
		return cli_fail_lib(s->cmd);
	return 0;
}

/* Close VM; the exit status of a library call that returned R. */
static int vm_end(const char *cmd, struct mortar_vm *vm, int r)
{
	mortar_vm_close(vm);
	return r < 0 ? cli_fail_lib(cmd) : EXIT_OK;
}

static int parse_count(const char *cmd, const char *arg, void *out)
{
	return cli_opt_uint(cmd, "N", arg, 0, 65535, out);
}

static int parse_size(const char *cmd, const char *arg, void *out)
{
	return cli_opt_size(cmd, "SIZE", arg, 0, UINT64_MAX, out);
}

/* The exit status when vm_getopt or vm_begin says to stop. */
#define STOP(rc) ((rc) < 0 ? EXIT_OK : (rc))

/* The options (vals of vm_long_opts) each subcommand takes, for its
 * parser and its row in the table alike; PLUG_OPTS: the hotplug ones. */
#define PLUG_OPTS "wtnisb"
#define STOP_OPTS "Ft"
#define STATUS_OPTS "o"
#define LIST_OPTS "o"
#define MIGRATE_OPTS "TFtwVQDBMo"
#define INCOMING_OPTS "LqDtwE"
#define MEM_SET_OPTS "wt"
#define THAW_OPTS "t"

/* ---- start ---- */

static void vm_note(void *opaque, const char *text)
{
	fprintf(stderr, "%s %s: note: %s\n", progname, (const char *)opaque, text);
}

/* The options of start that are settings: long name = config key. */
static const struct option start_opts[] = {
	{ "arch", required_argument, NULL, 's' },
	{ "cpus", required_argument, NULL, 's' },
	{ "max-cpus", required_argument, NULL, 's' },
	{ "memory", required_argument, NULL, 's' },
	{ "max-memory", required_argument, NULL, 's' },
	{ "slots", required_argument, NULL, 's' },
	{ "numa", required_argument, NULL, 's' },
	{ "disk", required_argument, NULL, 's' },
	{ "disk-protocol", required_argument, NULL, 's' },
	{ "kernel", required_argument, NULL, 's' },
	{ "initrd", required_argument, NULL, 's' },
	{ "append", required_argument, NULL, 's' },
	{ "accel", required_argument, NULL, 's' },
	{ "qemu", required_argument, NULL, 's' },
	{ "virtio-mem", required_argument, NULL, 's' },
	{ "mem-backend", required_argument, NULL, 's' },
	{ "config", required_argument, NULL, 'c' },
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The settings of start into C, and how long to wait for the guest
 * (--wait --timeout) into *WAIT_S (0: not).  As vm_getopt. */
static int start_parse(const char *cmd, int argc, char **argv, struct mortar_vm_config *c,
		       unsigned *wait_s)
{
	unsigned timeout_s = 60;
	bool wait = false;
	int ch, i;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:wt:h", start_opts, &i)) != -1) {
		if ((ch == 'c' && mortar_vm_config_file(c, optarg) < 0) ||
		    (ch == 's' && mortar_vm_config_set(c, start_opts[i].name, optarg) < 0))
			return cli_usage(cmd, "%s", mortar_errmsg());
		if (ch == 't' && cli_opt_seconds(cmd, "--timeout", optarg, 1, 86400, &timeout_s) < 0)
			return EXIT_USAGE;
		if (ch == 'h')
			return fputs(vm_help, stdout), -1;
		if (ch == '?' || ch == ':')
			return cli_bad_option(cmd, argv);
		wait |= ch == 'w';
	}
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	if (!c->kernel || !c->initrd)
		return cli_usage(cmd, "give --kernel and --initrd (scripts/guest-assets.sh %s "
				 "makes a small test guest)", c->arch == VM_ARCH_PPC64 ?
				 "ppc64" : "x86_64");
	*wait_s = wait ? timeout_s : 0;
	return 0;
}

static int vm_start(int argc, char **argv)
{
	const char *cmd = "vm start";
	struct mortar_vm_config c;
	const struct vm_state *st;
	struct mortar_vm *vm;
	unsigned wait_s = 0;
	int rc;

	mortar_vm_config_init(&c);
	c.note = vm_note;
	c.opaque = (void *)cmd;
	rc = start_parse(cmd, argc, argv, &c, &wait_s);
	if (rc == 0 && mortar_vm_start(argv[optind], &c, (int)wait_s, &vm) < 0)
		rc = cli_fail_lib(cmd);
	mortar_vm_config_free(&c);
	if (rc)
		return STOP(rc);
	st = mortar_vm_state(vm);
	printf("VM '%s' started (pid %d, %s, %u/%u vCPUs, %" PRIu64 "/%" PRIu64 " MiB)\n",
	       st->name, (int)mortar_vm_pid(vm), st->accel, st->boot_cpus, st->max_cpus,
	       st->memory >> 20, st->max_memory >> 20);
	mortar_vm_close(vm);
	return EXIT_OK;
}

/* ---- stop, list, status ---- */

static int vm_stop(int argc, char **argv)
{
	static const struct vm_syntax syn = { "vm stop", STOP_OPTS, 1, "the VM's NAME", NULL };
	struct vm_opts o;
	int rc = vm_getopt(&syn, argc, argv, &o, NULL);

	if (rc)
		return STOP(rc);
	if (mortar_vm_stop(argv[optind], o.force, o.plug.timeout_s) < 0)
		return cli_fail_lib(syn.cmd);
	printf("VM '%s' stopped\n", argv[optind]);
	return EXIT_OK;
}

/* O's KEY as text, whatever its type; "?" when absent or null. */
static const char *field(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "?";
}

static void print_status(json_object *o)
{
	json_object *c = vm_json_obj(o, "cpus"), *m = vm_json_obj(o, "memory");
	json_object *g = vm_json_obj(o, "guest");

	json_object *q = vm_json_obj(o, "qemu");

	printf("%s: %s (pid %s, %s)\n", field(o, "name"), field(o, "state"), field(o, "pid"),
	       field(o, "accel"));
	printf("  QEMU %s (%s), machine %s\n", field(q, "version"), field(q, "binary"),
	       field(q, "machine"));
	printf("  vCPUs: %s present of %s max (%s at boot)\n", field(c, "present"),
	       field(c, "max"), field(c, "boot"));
	printf("  memory: %" PRId64 " MiB at boot + %" PRId64 " MiB plugged, max %" PRId64
	       " MiB, %s slots\n", vm_json_int(m, "boot", 0) >> 20,
	       vm_json_int(m, "plugged", 0) >> 20, vm_json_int(m, "max", 0) >> 20,
	       field(m, "slots"));
	if (g)
		printf("  guest sees: %s vCPUs online (%s), %s KiB\n", field(g, "cpus"),
		       field(g, "cpu_list"), field(g, "mem_kib"));
	else
		printf("  guest: no report yet\n");
}

static int vm_status(int argc, char **argv)
{
	static const struct vm_syntax syn = { "vm status", STATUS_OPTS, 1, "the VM's NAME", NULL };
	struct vm_opts o;
	struct mortar_vm *vm;
	json_object *d;
	int rc = vm_getopt(&syn, argc, argv, &o, NULL);

	if (rc)
		return STOP(rc);
	if (mortar_vm_load(argv[optind], &vm) < 0)
		return cli_fail_lib(syn.cmd);
	d = mortar_vm_describe(vm);
	mortar_vm_close(vm);
	if (o.out == OUTPUT_JSON) {
		cli_print_json(d);
		return EXIT_OK;
	}
	print_status(d);
	json_object_put(d);
	return EXIT_OK;
}

static int vm_list(int argc, char **argv)
{
	struct vm_opts o;
	json_object *arr;
	static const struct vm_syntax syn = { "vm list", LIST_OPTS, 0, "no operands", NULL };
	int rc = vm_getopt(&syn, argc, argv, &o, NULL);

	if (rc)
		return STOP(rc);
	arr = mortar_vm_list();
	if (o.out == OUTPUT_JSON) {
		cli_print_json(arr);
		return EXIT_OK;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i);

		printf("%-20s %-8s pid %-8s %s vCPUs\n", field(v, "name"), field(v, "state"),
		       field(v, "pid"), field(vm_json_obj(v, "cpus"), "present"));
	}
	json_object_put(arr);
	return EXIT_OK;
}

/* ---- scaling ---- */

/* " (the guest has it online)" after a change waited for. */
static const char *seen(const struct vm_opts *o, const char *what)
{
	return o->plug.wait ? what : "";
}

static int vm_cpus(int argc, char **argv)
{
	static const struct vm_syntax syn = {
		"vm cpus", PLUG_OPTS, 2, "NAME and the number of vCPUs", parse_count,
	};
	struct vm_opts o;
	struct mortar_vm *vm;
	unsigned n;
	int rc = vm_begin(&syn, argc, argv, &o, &n, &vm);

	if (rc)
		return STOP(rc);
	if ((rc = vm_end(syn.cmd, vm, mortar_vm_cpus(vm, n, &o.plug))) == EXIT_OK)
		printf("VM '%s': %u vCPUs%s\n", argv[optind], n,
		       seen(&o, " (the guest has them online)"));
	return rc;
}

/* vm cpu add NAME [--slot N] [--node N] [--id ID]: one vCPU, where asked. */
static int vm_cpu_add(int argc, char **argv)
{
	static const struct vm_syntax syn = { "vm cpu add", PLUG_OPTS, 1, "the VM's NAME", NULL };
	struct vm_opts o;
	struct mortar_vm *vm;
	int rc = vm_begin(&syn, argc, argv, &o, NULL, &vm);

	if (rc)
		return STOP(rc);
	if ((rc = vm_end(syn.cmd, vm, mortar_vm_cpu_add(vm, &o.plug))) == EXIT_OK)
		printf("VM '%s': vCPU %s plugged%s\n", argv[optind], o.plug.id_out,
		       seen(&o, " (the guest has it online)"));
	return rc;
}

/* vm cpu remove NAME ID: that hot-plugged vCPU. */
static int vm_cpu_remove(int argc, char **argv)
{
	static const struct vm_syntax syn = {
		"vm cpu remove", PLUG_OPTS, 2, "NAME and the vCPU's ID", NULL,
	};
	struct vm_opts o;
	struct mortar_vm *vm;
	int rc = vm_begin(&syn, argc, argv, &o, NULL, &vm);

	if (rc)
		return STOP(rc);
	rc = mortar_vm_cpu_remove(vm, argv[optind + 1], &o.plug);
	if ((rc = vm_end(syn.cmd, vm, rc)) == EXIT_OK)
		printf("VM '%s': vCPU %s removed\n", argv[optind], argv[optind + 1]);
	return rc;
}

static int vm_mem_add(int argc, char **argv)
{
	static const struct vm_syntax syn = {
		"vm mem add", PLUG_OPTS, 2, "NAME and SIZE", parse_size,
	};
	struct vm_opts o;
	struct mortar_vm *vm;
	uint64_t size;
	int rc = vm_begin(&syn, argc, argv, &o, &size, &vm);

	if (rc)
		return STOP(rc);
	if ((rc = vm_end(syn.cmd, vm, mortar_vm_dimm_add(vm, size, &o.plug))) == EXIT_OK)
		printf("VM '%s': DIMM %s of %" PRIu64 " MiB plugged%s\n", argv[optind],
		       o.plug.id_out, size >> 20, seen(&o, " (the guest has it online)"));
	return rc;
}

static int vm_mem_remove(int argc, char **argv)
{
	static const struct vm_syntax syn = {
		"vm mem remove", PLUG_OPTS, 2, "NAME and the DIMM's ID", NULL,
	};
	struct vm_opts o;
	struct mortar_vm *vm;
	int rc = vm_begin(&syn, argc, argv, &o, NULL, &vm);

	if (rc)
		return STOP(rc);
	rc = mortar_vm_dimm_remove(vm, argv[optind + 1], &o.plug);
	if ((rc = vm_end(syn.cmd, vm, rc)) == EXIT_OK)
		printf("VM '%s': DIMM %s removed\n", argv[optind], argv[optind + 1]);
	return rc;
}

/* mortar vm mem NAME SIZE: the guest's total memory through virtio-mem. */
static int vm_mem_set(int argc, char **argv)
{
	static const struct vm_syntax syn = {
		"vm mem", MEM_SET_OPTS, 2, "NAME and the total memory SIZE", parse_size,
	};
	struct vm_opts o;
	struct mortar_vm *vm;
	uint64_t total, vmem;
	int rc = vm_begin(&syn, argc, argv, &o, &total, &vm);

	if (rc)
		return STOP(rc);
	rc = mortar_vm_mem_set(vm, total, &o.plug);
	vmem = mortar_vm_state(vm)->virtio_mem_requested;
	if ((rc = vm_end(syn.cmd, vm, rc)) == EXIT_OK)
		printf("VM '%s': memory %" PRIu64 " MiB (virtio-mem %" PRIu64 " MiB)%s\n",
		       argv[optind], total >> 20, vmem >> 20, seen(&o, " (the guest shows it)"));
	return rc;
}

/* ---- migration ---- */

/* "[I=]LOCATION" (I: the disk's index, else the next disk) or, for
 * incoming, "I=SIZE:LOCATION", of each --disk-to into TO (and SIZES). */
static int parse_disk_to(const char *cmd, const struct vm_opts *o, const char **to,
			 uint64_t *sizes)
{
	for (unsigned k = 0, next = 0; k < o->ndisk_to; k++) {
		const char *s = o->disk_to[k];
		unsigned long long size = 0;
		unsigned i = next;
		int n = 0;

		if (sscanf(s, "%u=%n", &i, &n) == 1 && n > 0)
			s += n;
		if (sizes && (sscanf(s, "%llu:%n", &size, &n) != 1 || n == 0))
			return cli_usage(cmd, "--disk-to wants I=SIZE:LOCATION");
		if (sizes)
			s += n;
		if (i >= MORTAR_VM_MAX_DISKS || to[i] || !*s)
			return cli_usage(cmd, "--disk-to %s: a disk given twice, or no such disk",
					 o->disk_to[k]);
		to[i] = s;
		if (sizes)
			sizes[i] = size;
		next = i + 1;
	}
	return 0;
}

/* Progress on a terminal (one line, redrawn) or as JSON lines. */
struct mig_show {
	bool json, tty;
};

static void mig_progress(void *opaque, const struct mortar_vm_progress *p)
{
	const struct mig_show *s = opaque;

	if (s->json) {
		printf("{\"phase\": \"%s\", \"elapsed_ms\": %" PRId64 ", \"disk_total\": %" PRIu64
		       ", \"disk_done\": %" PRIu64 ", \"ram_total\": %" PRIu64 ", \"ram_done\": %"
		       PRIu64 ", \"ram_remaining\": %" PRIu64 ", \"rate\": %" PRIu64 ", \"passes\": "
		       "%u, \"expected_downtime_ms\": %" PRId64 ", \"downtime_ms\": %" PRId64
		       ", \"resume_ms\": %" PRId64 "}\n", p->phase, p->elapsed_ms, p->disk_total,
		       p->disk_done, p->ram_total, p->ram_done, p->ram_remaining, p->rate,
		       p->passes, p->expected_downtime_ms, p->downtime_ms, p->resume_ms);
		fflush(stdout);
	} else if (s->tty) {
		fprintf(stderr, "\rmigrate: %-10s disks %" PRIu64 "/%" PRIu64 " MiB, memory %"
			PRIu64 " MiB sent, %" PRIu64 " MiB left, %.1f MiB/s, expected downtime "
			"%" PRId64 " ms\033[K", p->phase, p->disk_done >> 20, p->disk_total >> 20,
			p->ram_done >> 20, p->ram_remaining >> 20, (double)p->rate / (1 << 20),
			p->expected_downtime_ms);
		if (!strcmp(p->phase, "done"))
			fputc('\n', stderr);
		fflush(stderr);
	}
}

static int vm_migrate(int argc, char **argv)
{
	static const struct vm_syntax syn = { "vm migrate", MIGRATE_OPTS, 1, "the VM's NAME", NULL };
	struct vm_opts o;
	struct mortar_vm *vm;
	struct mig_show show;
	const struct mortar_vm_progress *p = &o.mig.last;
	int rc = vm_begin(&syn, argc, argv, &o, NULL, &vm);

	if (rc)
		return STOP(rc);
	if ((rc = parse_disk_to(syn.cmd, &o, o.mig.disk_to, NULL)) != 0)
		return vm_end(syn.cmd, vm, 0), rc;
	show = (struct mig_show){ o.out == OUTPUT_JSON, isatty(STDERR_FILENO) };
	o.mig.progress = mig_progress;
	o.mig.opaque = &show;
	rc = vm_end(syn.cmd, vm, mortar_vm_migrate(vm, &o.mig));
	if (rc != EXIT_OK)
		return rc;
	if (show.json)
		printf("{\"migrated\": \"%s\", \"to\": \"%s\", \"pid\": %d, \"total_ms\": %" PRId64
		       ", \"downtime_ms\": %" PRId64 ", \"resume_ms\": %" PRId64 ", \"qemu_total_ms\": %"
		       PRId64 ", \"ram_bytes\": %" PRIu64 ", \"live\": %s}\n", argv[optind],
		       o.mig.uri, (int)o.mig.target_pid, p->elapsed_ms, p->downtime_ms,
		       p->resume_ms, p->qemu_total_ms, p->ram_done, p->live ? "true" : "false");
	else
		printf("VM '%s' migrated to %s (now pid %d) in %.1f s, the guest paused %"
		       PRId64 " ms%s + %" PRId64 " ms until the target ran it%s\n", argv[optind],
		       o.mig.uri, (int)o.mig.target_pid, (double)p->elapsed_ms / 1000,
		       p->downtime_ms, p->live ? "" : " (stopped for the whole copy, as under "
		       "TCG with DIMMs or NUMA nodes)", p->resume_ms, o.mig.wait ?
		       "; the guest reports the same vCPUs and memory there" : "");
	return EXIT_OK;
}

/* The target half of `vm migrate --via`: it talks to the source on
 * standard input and output, which also gets its errors. */
static int vm_incoming(int argc, char **argv)
{
	static const struct vm_syntax syn = {
		"vm incoming", INCOMING_OPTS, 1, "the VM's NAME", NULL,
	};
	struct vm_opts o;
	int rc = vm_getopt(&syn, argc, argv, &o, NULL);

	if (rc)
		return STOP(rc);
	if (!o.in.listen)
		return cli_usage(syn.cmd, "give --listen tcp:HOST:PORT");
	if ((rc = parse_disk_to(syn.cmd, &o, o.in.disk_to, o.in.disk_size)) != 0)
		return rc;
	return mortar_vm_incoming(argv[optind], &o.in) < 0 ? EXIT_FAILURE : EXIT_OK;
}

/* ---- the guest's filesystems ---- */

/* img snapshot freezes them and thaws them again; should that thaw
 * fail, its message names this command. */
static int vm_thaw(int argc, char **argv)
{
	static const struct vm_syntax syn = { "vm thaw", THAW_OPTS, 1, "the VM's NAME", NULL };
	struct vm_opts o;
	struct mortar_vm *vm;
	unsigned n = 0;
	int rc = vm_begin(&syn, argc, argv, &o, NULL, &vm);

	if (rc)
		return STOP(rc);
	rc = mortar_vm_fsthaw(vm, o.plug.timeout_s, &n);
	if ((rc = vm_end(syn.cmd, vm, rc)) == EXIT_OK)
		printf("VM '%s': %u filesystem%s thawed\n", argv[optind], n, n == 1 ? "" : "s");
	return rc;
}

/* ---- the subcommands ---- */

static const char vm_usage[] =
	"Usage: mortar vm COMMAND NAME [ARGS...]\n"
	"\n"
	"Start QEMU guests on Mortar disks and scale their vCPUs and memory live.\n"
	"'mortar vm start --help' lists every command's options; see mortar-vm(1).\n";

static const struct cli_command vm_cpu_cmds[] = {
	{ "add", "plug one vCPU (into a chosen slot)", vm_cpu_add, NULL,
	  vm_long_opts, PLUG_OPTS, false },
	{ "remove", "unplug a hot-plugged vCPU", vm_cpu_remove, NULL,
	  vm_long_opts, PLUG_OPTS, false },
};

static const struct cli_table vm_cpu_table = {
	"vm cpu", vm_usage, vm_cpu_cmds, CLI_NCMDS(vm_cpu_cmds), NULL,
};

static const struct cli_command vm_mem_cmds[] = {
	{ "add", "plug a DIMM", vm_mem_add, NULL, vm_long_opts, PLUG_OPTS, false },
	{ "remove", "unplug a DIMM", vm_mem_remove, NULL, vm_long_opts, PLUG_OPTS, false },
};

/* mortar vm mem NAME SIZE: no subcommand, virtio-mem */
static const struct cli_command vm_mem_set_row = {
	"mem", "resize through virtio-mem", vm_mem_set, NULL, vm_long_opts, MEM_SET_OPTS, false,
};

static const struct cli_table vm_mem_table = {
	"vm mem", vm_usage, vm_mem_cmds, CLI_NCMDS(vm_mem_cmds), &vm_mem_set_row,
};

static const struct cli_command vm_cmds[] = {
	{ "start", "start a VM with a topology ready for hotplug", vm_start, NULL,
	  start_opts, NULL, false },
	{ "stop", "power a VM off and clean up after it", vm_stop, NULL,
	  vm_long_opts, STOP_OPTS, false },
	{ "list", "every VM and its state", vm_list, NULL, vm_long_opts, LIST_OPTS, false },
	{ "status", "a VM's vCPUs, memory, disks and what its guest sees", vm_status, NULL,
	  vm_long_opts, STATUS_OPTS, false },
	{ "cpus", "plug or unplug vCPUs until N are present", vm_cpus, NULL,
	  vm_long_opts, PLUG_OPTS, false },
	{ "cpu", "plug or unplug one vCPU", NULL, &vm_cpu_table, NULL, NULL, false },
	{ "mem", "plug or unplug DIMMs; NAME SIZE: resize through virtio-mem", NULL,
	  &vm_mem_table, NULL, NULL, false },
	{ "migrate", "move a VM to a new QEMU with its plugged devices", vm_migrate, NULL,
	  vm_long_opts, MIGRATE_OPTS, false },
	{ "thaw", "thaw the guest's filesystems (left frozen by a failed snapshot)", vm_thaw,
	  NULL, vm_long_opts, THAW_OPTS, false },
	{ "incoming", "receive a VM that migrate --via sends (its target half)", vm_incoming,
	  NULL, vm_long_opts, INCOMING_OPTS, false },
};

const struct cli_table vm_table = {
	"vm", vm_usage, vm_cmds, CLI_NCMDS(vm_cmds), NULL,
};
