/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar vm: start QEMU guests on Mortar disks with a topology ready for
 * hotplug, and scale their vCPUs and memory while they run.
 *
 * Each VM has a runtime directory (state.json, qmp.sock, serial.log,
 * qemu.pid, one NBD socket per disk).  Every command is a short client:
 * it reads state.json, talks QMP, checks the rules of vm/rules.c before
 * QEMU sees anything, and writes state.json back (temporary + rename).
 * The guest's own view comes from its console (vm/guest.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <mortar/mortar.h>
#include "cli.h"
#include "commands.h"
#include "error.h"
#include "runtime.h"
#include "guest.h"
#include "qmp.h"
#include "agent.h"
#include "membk.h"
#include "rules.h"
#include "vm.h"
#include "vm-internal.h"

#define QMP_TIMEOUT_MS 10000
#define MAX_DISKS 8
/* Socket paths must fit in sockaddr_un (108 bytes): keep directories short. */
#define VM_DIR_MAX 80

static const char vm_usage[] =
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
	"       mortar vm migrate NAME [--to unix:PATH|tcp:HOST:PORT] [--force] [--wait]\n"
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
	"  --disk LOCATION      a Mortar location served over NBD as virtio-blk (repeat)\n"
	"  --virtio-mem SIZE    a virtio-mem device that can grow to SIZE (in --max-memory)\n"
	"  --mem-backend B      ram (default), memfd, hugetlbfs or hugetlbfs:PATH\n"
	"  --kernel PATH --initrd PATH --append TEXT\n"
	"  --accel kvm|tcg      default: kvm when hardware KVM is usable, else tcg\n"
	"  --wait               return once the guest reports in (MORTAR-GUEST line)\n"
	"Runtime directories: $MORTAR_VM_DIR/NAME (default: the per-user runtime\n"
	"directory's vm/).  See mortar-vm(1).\n";

/* ---- runtime directory and state ---- */

static int vm_dir(const char *name, char *buf, size_t len)
{
	const char *env = getenv("MORTAR_VM_DIR");
	char base[PATH_MAX];

	if (len > VM_DIR_MAX)
		len = VM_DIR_MAX;

	if (strchr(name, '/') || name[0] == '.' || !name[0] || strlen(name) > 64)
		return mortar_set_error(EINVAL, "bad VM name '%s': use letters, digits, '-', "
					"'_' (no '/', not starting with '.')", name);
	if (env && *env) {
		if (mkdir(env, 0700) < 0 && errno != EEXIST)
			return mortar_set_error(errno, "%s: %m", env);
		snprintf(base, sizeof base, "%s", env);
	} else if (mortar_runtime_dir("vm", base, sizeof base) < 0) {
		return -mortar_errno();
	}
	if (snprintf(buf, len, "%s/%s", base, name) >= (int)len)
		return mortar_set_error(ENAMETOOLONG, "VM directory %s/%s is too long for its "
					"sockets (at most %d characters): use a shorter "
					"MORTAR_VM_DIR or name", base, name, VM_DIR_MAX - 1);
	return 0;
}

static void path_in(char *buf, size_t len, const char *dir, const char *file)
{
	snprintf(buf, len, "%s/%s", dir, file);
}

static json_object *state_load(const char *dir)
{
	char p[PATH_MAX];

	path_in(p, sizeof p, dir, "state.json");
	return json_object_from_file(p);
}

static int state_save(const char *dir, json_object *st)
{
	char p[PATH_MAX], tmp[PATH_MAX];

	path_in(p, sizeof p, dir, "state.json");
	path_in(tmp, sizeof tmp, dir, ".state.json.tmp");
	if (json_object_to_file_ext(tmp, st, JSON_C_TO_STRING_PRETTY) < 0 ||
	    rename(tmp, p) < 0)
		return mortar_set_error(EIO, "cannot write %s", p);
	return 0;
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static json_object *jarr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v)) {
		v = json_object_new_array();
		json_object_object_add(o, key, v);
	}
	return v;
}

static bool pid_alive(pid_t pid)
{
	char p[64], comm[64] = "";
	FILE *f;

	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	snprintf(p, sizeof p, "/proc/%d/comm", (int)pid);
	f = fopen(p, "r");
	if (f) {
		if (!fgets(comm, sizeof comm, f))
			comm[0] = '\0';
		fclose(f);
	}
	if (strncmp(comm, "qemu", 4))
		return false;
	/* A killed daemonised QEMU may linger as a zombie until its new
	 * parent reaps it: that is dead too. */
	snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
	f = fopen(p, "r");
	if (f) {
		char state = 'R';
		if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
			state = 'R';
		fclose(f);
		if (state == 'Z' || state == 'X')
			return false;
	}
	return true;
}

/* The pid in the pidfile PATH (QEMU's or mortar serve's), 0 if none. */
static pid_t read_pid(const char *path)
{
	long pid = 0;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &pid) != 1 || pid < 0)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

static pid_t qemu_pid(const char *dir)
{
	char p[PATH_MAX];

	path_in(p, sizeof p, dir, "qemu.pid");
	return read_pid(p);
}

/* ---- what the guest sees: its agent, else its console ---- */

/* This process's connection to the guest agent of the VM it works on, and
 * that VM's QMP (to see whether the guest has the agent's port open). */
static struct qmp *agent_conn, *agent_qmp;
static long agent_next_check;

static long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether qemu-ga has the port open in the guest: QEMU reports the
 * guest side of the chardev as its frontend. */
static bool agent_port_open(struct qmp *q)
{
	json_object *r;
	bool open = false;

	if (qmp_execute(q, "query-chardev", NULL, &r) < 0)
		return false;
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *c = json_object_array_get_idx(r, i), *v;

		if (!strcmp(jstr(c, "label"), "qga0") &&
		    json_object_object_get_ex(c, "frontend-open", &v))
			open = json_object_get_boolean(v);
	}
	json_object_put(r);
	return open;
}

/* Q is the VM's QMP: keep it, to find the agent when it is needed. */
static void agent_use(struct qmp *q)
{
	agent_qmp = q;
}

/* Connect to the agent if the guest runs one (checked at most once a
 * second).  Only when needed: each agent call is a round trip through
 * the guest, which costs under TCG. */
static void agent_connect(const char *dir)
{
	char sock[PATH_MAX];

	if (agent_conn || !agent_qmp || mono_ms() < agent_next_check)
		return;
	agent_next_check = mono_ms() + 1000;
	path_in(sock, sizeof sock, dir, "qga.sock");
	if (access(sock, F_OK) == 0 && agent_port_open(agent_qmp))
		qmp_connect_agent(sock, 2000, &agent_conn);
}

static void agent_drop(void)
{
	qmp_close(agent_conn);
	agent_conn = NULL;
	agent_qmp = NULL;
}

/* The guest's view: its last console status line when it prints them
 * (they carry MemTotal and the NUMA nodes, which the agent cannot give),
 * else its agent when it runs one.  With ONLINE, the agent first onlines
 * whatever QEMU plugged and the guest left offline. */
static bool guest_read_agent(const char *dir, struct vm_guest *g)
{
	agent_connect(dir);
	if (!agent_conn)
		return false;
	if (vm_agent_view(agent_conn, g) == 0)
		return true;
	qmp_close(agent_conn);
	agent_conn = NULL;
	g->valid = false;
	return false;
}

/* Once the agent has answered for the guest in this process, it is asked
 * first: the two sources count memory differently (the console MemTotal,
 * the agent online blocks: 414840 and 524288 KiB for one 512 MiB guest),
 * so a figure taken before a plug from the agent, because the console
 * had no line yet, must be compared with the agent's after it. */
static bool agent_first;

static void guest_read(const char *dir, bool online, struct vm_guest *g)
{
	char log[PATH_MAX];

	if (online)
		agent_connect(dir);
	if (agent_conn && online && vm_agent_online(agent_conn, NULL, NULL) < 0) {
		qmp_close(agent_conn);	/* gone (migrated, stopped) */
		agent_conn = NULL;
	}
	if (agent_first && guest_read_agent(dir, g))
		return;
	path_in(log, sizeof log, dir, "serial.log");
	vm_guest_read(log, g);
	if (g->valid)
		return;
	agent_first = guest_read_agent(dir, g);
}

/* ---- waiting for the guest ---- */

static bool guest_has(const struct vm_guest *g, int cpus, int64_t mem_kib_min,
		      int64_t mem_kib_max)
{
	if (!g->valid)
		return false;
	if (cpus >= 0 && g->cpus != (unsigned)cpus)
		return false;
	if (mem_kib_min >= 0 && (int64_t)g->mem_kib < mem_kib_min)
		return false;
	if (mem_kib_max >= 0 && (int64_t)g->mem_kib > mem_kib_max)
		return false;
	return true;
}

/* Wait until the guest shows CPUS (or -1: any) and memory in the range. */
static int guest_wait(const char *dir, int cpus, int64_t kmin, int64_t kmax, int timeout_s,
		      struct vm_guest *g)
{
	long t0 = mono_ms();

	for (bool help = false;;) {
		/* A guest that reports on its console onlines by itself; the
		 * agent onlines for it after 0.5 s, and at once for a guest
		 * that does not report there. */
		guest_read(dir, help, g);
		if (guest_has(g, cpus, kmin, kmax))
			return 0;
		if (mono_ms() - t0 >= timeout_s * 1000L)
			break;
		help = !g->valid || g->from_agent || mono_ms() - t0 >= 500;
		usleep(50000);
	}
	if (!g->valid)
		return mortar_set_error(ETIMEDOUT, "the guest printed no MORTAR-GUEST line "
					"and no guest agent answered within %d s; is its init "
					"the one of scripts/guest-assets.sh (or printing the "
					"protocol), or qemu-ga running in it?", timeout_s);
	if (cpus >= 0 && g->cpus != (unsigned)cpus)
		return mortar_set_error(ETIMEDOUT, "after %d s the guest shows %u online "
					"vCPUs, not %d: QEMU has them, but the guest did not "
					"online them (its init must write 1 to "
					"/sys/devices/system/cpu/cpuN/online)", timeout_s,
					g->cpus, cpus);
	return mortar_set_error(ETIMEDOUT, "after %d s the guest shows %" PRIu64 " KiB of "
				"memory: QEMU plugged it, but the guest did not online it "
				"(boot it with memhp_default_state=online_movable)",
				timeout_s, g->mem_kib);
}

/* ---- shared option parsing ---- */

struct vm_opts {
	bool wait, force;
	int timeout_s;
	int node;
	const char *id;
	const char *backend;		/* mem add --backend */
	int slot;			/* cpu add --slot */
	enum output_format out;
};

static int vm_getopt(const char *cmd, int argc, char **argv, struct vm_opts *o)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "force", no_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 't' },
		{ "node", required_argument, NULL, 'n' },
		{ "id", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "backend", required_argument, NULL, 'b' },
		{ "slot", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct vm_opts){ .timeout_s = 30, .node = -1, .slot = -1, .out = OUTPUT_HUMAN };
	optind = 1;
	while ((c = getopt_long(argc, argv, "wFt:n:i:o:b:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->slot = atoi(optarg); break;
		case 'b': o->backend = optarg; break;
		case 'w': o->wait = true; break;
		case 'F': o->force = true; break;
		case 't': o->timeout_s = atoi(optarg); break;
		case 'n': o->node = atoi(optarg); break;
		case 'i': o->id = optarg; break;
		case 'o':
			if (cli_parse_output(cmd, optarg, &o->out) < 0)
				return -1;
			break;
		case 'h': fputs(vm_usage, stdout); exit(EXIT_OK);
		default: cli_usage(cmd, "unknown option"); return -1;
		}
	}
	if (o->timeout_s < 1)
		o->timeout_s = 1;
	return 0;
}

/* Open a running VM: its directory, state and QMP. */
/* After a plug or unplug: record the VM's new state, then, with --wait,
 * wait for the guest to show it (CPUS, memory in [KMIN, KMAX], -1: any).
 * -1 with the message printed when the guest does not. */
static int save_and_wait(const char *cmd, const char *dir, json_object *st,
			 const struct vm_opts *o, int cpus, int64_t kmin, int64_t kmax,
			 struct vm_guest *g)
{
	state_save(dir, st);
	if (o->wait && guest_wait(dir, cpus, kmin, kmax, o->timeout_s, g) < 0) {
		cli_fail_lib(cmd);
		return -1;
	}
	return 0;
}

static int vm_open(const char *cmd, const char *name, char *dir, size_t dlen,
		   json_object **st, struct qmp **q)
{
	pid_t pid;
	char sock[PATH_MAX];

	*st = NULL;
	*q = NULL;
	if (vm_dir(name, dir, dlen) < 0 || !(*st = state_load(dir))) {
		if (!*st && mortar_errno() != EINVAL)
			fprintf(stderr, "%s %s: no VM named '%s' (see 'mortar vm list')\n",
				progname, cmd, name);
		else
			cli_fail_lib(cmd);
		return -1;
	}
	pid = qemu_pid(dir);
	if (!pid_alive(pid)) {
		fprintf(stderr, "%s %s: VM '%s' is not running: its QEMU (pid %d) is gone; "
			"'mortar vm stop %s' cleans up\n", progname, cmd, name, (int)pid, name);
		json_object_put(*st);
		*st = NULL;
		return -1;
	}
	path_in(sock, sizeof sock, dir, "qmp.sock");
	if (qmp_connect(sock, QMP_TIMEOUT_MS, q) < 0) {
		cli_fail_lib(cmd);
		json_object_put(*st);
		*st = NULL;
		return -1;
	}
	agent_use(*q);
	return 0;
}

/* Run QEMU (which daemonizes) with its output in LOG; on failure, the
 * first line QEMU printed goes to MSG. */
static int qemu_launch(char **qa, const char *log, char *msg, size_t len)
{
	msg[0] = '\0';
	if (vm_qemu_launch(qa, log) == 0)
		return 0;
	snprintf(msg, len, "%s", mortar_errmsg());
	return -1;
}

/* A whole number for option OPT in [LO, HI], or a usage error. */
static int vm_opt_uint(const char *cmd, const char *opt, const char *arg, unsigned lo,
		       unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = arg[0] >= '0' && arg[0] <= '9' ? strtoul(arg, &end, 10) : 0;
	if (arg[0] < '0' || arg[0] > '9' || *end || errno || v < lo || v > hi) {
		cli_usage(cmd, "%s %s: not a whole number from %u to %u", opt, arg, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

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
	{ "kernel", required_argument, NULL, 's' },
	{ "initrd", required_argument, NULL, 's' },
	{ "append", required_argument, NULL, 's' },
	{ "accel", required_argument, NULL, 's' },
	{ "virtio-mem", required_argument, NULL, 's' },
	{ "mem-backend", required_argument, NULL, 's' },
	{ "config", required_argument, NULL, 'c' },
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The settings, --wait and --timeout of start into C, *WAIT_S. */
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
		if (ch == 'w')
			wait = true;
		if (ch == 't' && vm_opt_uint(cmd, "--timeout", optarg, 1, 86400, &timeout_s) < 0)
			return EXIT_USAGE;
		if (ch == 'h')
			return fputs(vm_usage, stdout), -1;
		if (ch == '?')
			return cli_usage(cmd, "unknown option");
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
		return rc < 0 ? EXIT_OK : rc;
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
	const char *cmd = "vm stop";
	struct vm_opts o;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	if (mortar_vm_stop(argv[optind], o.force, o.timeout_s) < 0)
		return cli_fail_lib(cmd);
	printf("VM '%s' stopped\n", argv[optind]);
	return EXIT_OK;
}

static const char *jstr_or(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : dflt;
}

static void print_status(json_object *o)
{
	json_object *c, *m, *g;

	json_object_object_get_ex(o, "cpus", &c);
	json_object_object_get_ex(o, "memory", &m);
	printf("%s: %s (pid %d, %s)\n", jstr(o, "name"), jstr(o, "state"), (int)jint(o, "pid"),
	       jstr(o, "accel"));
	printf("  vCPUs: %s present of %d max (%d at boot)\n", jstr_or(c, "present", "?"),
	       (int)jint(c, "max"), (int)jint(c, "boot"));
	printf("  memory: %" PRId64 " MiB at boot + %" PRId64 " MiB plugged, max %" PRId64
	       " MiB, %d slots\n", jint(m, "boot") >> 20, jint(m, "plugged") >> 20,
	       jint(m, "max") >> 20, (int)jint(m, "slots"));
	if (json_object_object_get_ex(o, "guest", &g) && g)
		printf("  guest sees: %d vCPUs online (%s), %" PRId64 " KiB\n", (int)jint(g, "cpus"),
		       jstr(g, "cpu_list"), jint(g, "mem_kib"));
	else
		printf("  guest: no report yet\n");
}

static int vm_status(int argc, char **argv)
{
	const char *cmd = "vm status";
	struct vm_opts o;
	struct mortar_vm *vm;
	json_object *d;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	if (mortar_vm_load(argv[optind], &vm) < 0)
		return cli_fail_lib(cmd);
	d = mortar_vm_describe(vm);
	mortar_vm_close(vm);
	if (o.out == OUTPUT_JSON)
		cli_print_json(d);
	else
		print_status(d);
	if (o.out != OUTPUT_JSON)
		json_object_put(d);
	return EXIT_OK;
}

static int vm_list(int argc, char **argv)
{
	const char *cmd = "vm list";
	struct vm_opts o;
	json_object *arr;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	arr = mortar_vm_list();
	if (o.out == OUTPUT_JSON) {
		cli_print_json(arr);
		return EXIT_OK;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i), *c;

		json_object_object_get_ex(v, "cpus", &c);
		printf("%-20s %-8s pid %-8d %s vCPUs\n", jstr(v, "name"), jstr(v, "state"),
		       (int)jint(v, "pid"), jstr_or(c, "present", "?"));
	}
	json_object_put(arr);
	return EXIT_OK;
}

/* ---- scaling ---- */

static void topo_from(json_object *st, struct qmp *q, struct vm_topo *t)
{
	json_object *r, *dimms = jarr(st, "dimms");

	memset(t, 0, sizeof *t);
	t->boot_cpus = (unsigned)jint(st, "boot_cpus");
	t->max_cpus = (unsigned)jint(st, "max_cpus");
	t->cpu_plugs = (unsigned)jint(st, "cpu_plugs");
	{
		json_object *v;
		t->cpu_unplugged = json_object_object_get_ex(st, "cpu_unplugged", &v) &&
				   json_object_get_boolean(v);
	}
	t->tcg = !strcmp(jstr(st, "accel"), "tcg");
	t->arch = !strcmp(jstr(st, "arch"), "ppc64") ? VM_ARCH_PPC64 : VM_ARCH_X86_64;
	t->qemu_version = (int)jint(st, "qemu_version");
	t->boot_mem = (uint64_t)jint(st, "memory");
	t->max_mem = (uint64_t)jint(st, "max_memory");
	t->slots = (unsigned)jint(st, "slots");
	t->nodes = (unsigned)jint(st, "numa");
	t->slots_used = (unsigned)json_object_array_length(dimms);
	for (size_t i = 0; i < t->slots_used; i++)
		t->plugged_mem += (uint64_t)jint(json_object_array_get_idx(dimms, i), "size");
	t->present_cpus = t->boot_cpus;
	if (qmp_execute(q, "query-cpus-fast", NULL, &r) == 0) {
		t->present_cpus = (unsigned)json_object_array_length(r);
		json_object_put(r);
	}
}

/* The hotplug unit's number: a socket on q35, a core on pseries. */
static int64_t cpu_slot(json_object *props)
{
	json_object *v;

	return json_object_object_get_ex(props, "socket-id", &v) ? json_object_get_int64(v) :
	       jint(props, "core-id");
}

/* Plug one vCPU into the free slot with the lowest number (on NODE when
 * >= 0), or into SLOT when >= 0; ID names the device (NULL: cpu-sSLOT),
 * and what it got goes to ID_OUT.  0, -1 (QEMU refused: message set), or
 * -2 with WHY set. */
static int cpu_plug_one(struct qmp *q, json_object *st, int node, int slot, const char *want_id,
			char *id, size_t idlen, char *why, size_t len)
{
	json_object *r, *best = NULL, *args, *props, *v;
	int64_t best_sock = INT64_MAX, max_slot = -1;
	int rc;

	if (qmp_execute(q, "query-hotpluggable-cpus", NULL, &r) < 0)
		return -1;
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *e = json_object_array_get_idx(r, i);
		int64_t sock;

		if (!json_object_object_get_ex(e, "props", &props))
			continue;
		sock = cpu_slot(props);
		if (sock > max_slot)
			max_slot = sock;
		if (slot >= 0 && sock == slot && json_object_object_get_ex(e, "qom-path", &v)) {
			const char *path = json_object_get_string(v);
			const char *per = "/machine/peripheral/";

			snprintf(why, len, "slot %d is taken (%s%s); see the free ones in 'mortar "
				 "vm status'", slot, strncmp(path, per, strlen(per)) ?
				 "by a boot vCPU" : "by vCPU ", strncmp(path, per, strlen(per)) ?
				 "" : path + strlen(per));
			json_object_put(r);
			return -2;
		}
		if (json_object_object_get_ex(e, "qom-path", &v))
			continue;
		if (node >= 0 && jint(props, "node-id") != node)
			continue;
		if (slot >= 0 && sock != slot)
			continue;
		if (sock < best_sock) {
			best_sock = sock;
			best = e;
		}
	}
	if (!best) {
		if (slot >= 0 && slot > max_slot)
			snprintf(why, len, "slot %d: this VM has slots 0-%" PRId64, slot, max_slot);
		else if (slot >= 0)
			snprintf(why, len, "slot %d is not on node %d", slot, node);
		else
			snprintf(why, len, "no free vCPU slot%s", node >= 0 ? " on that node" : "");
		json_object_put(r);
		return -2;
	}
	json_object_object_get_ex(best, "props", &props);
	if (want_id)
		snprintf(id, idlen, "%s", want_id);
	else
		snprintf(id, idlen, "cpu-s%" PRId64, best_sock);
	args = json_object_new_object();
	json_object_object_add(args, "driver", json_object_new_string(jstr(best, "type")));
	json_object_object_add(args, "id", json_object_new_string(id));
	json_object_object_foreach(props, k, pv)
		json_object_object_add(args, k, json_object_get(pv));
	rc = qmp_execute(q, "device_add", args, NULL);
	if (rc == 0) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "slot", json_object_new_int64(best_sock));
		json_object_object_add(c, "id", json_object_new_string(id));
		json_object_object_add(c, "props", json_object_get(props));
		json_object_object_add(c, "driver", json_object_new_string(jstr(best, "type")));
		json_object_array_add(jarr(st, "cpus"), c);
		json_object_object_add(st, "cpu_plugs", json_object_new_int((int)jint(st, "cpu_plugs") + 1));
	}
	json_object_put(r);
	return rc < 0 ? -1 : 0;
}

static bool cpu_present(struct qmp *q, const char *id)
{
	json_object *r;
	bool found = false;
	char want[64];

	snprintf(want, sizeof want, "/machine/peripheral/%s", id);
	if (qmp_execute(q, "query-cpus-fast", NULL, &r) < 0)
		return true;
	/* x86: the CPU's own path; pseries: the core's threads below it */
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		const char *path = jstr(json_object_array_get_idx(r, i), "qom-path");
		size_t n = strlen(want);

		if (!strncmp(path, want, n) && (path[n] == '\0' || path[n] == '/'))
			found = true;
	}
	json_object_put(r);
	return found;
}

/* Unplug the hot-plugged vCPU at index IDX of the state's list: 0, or -1
 * with the message printed. */
static int cpu_unplug(const char *cmd, struct qmp *q, json_object *st, size_t idx, int timeout_s)
{
	json_object *cpus = jarr(st, "cpus"), *args;
	char id[64];

	snprintf(id, sizeof id, "%s", jstr(json_object_array_get_idx(cpus, idx), "id"));
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(id));
	if (qmp_execute(q, "device_del", args, NULL) < 0)
		return cli_fail_lib(cmd), -1;
	/* x86 sends DEVICE_DELETED only for the CPU's lapic: ask QEMU which
	 * CPUs it still has instead. */
	for (int i = 0; i < timeout_s * 20 && cpu_present(q, id); i++)
		usleep(50000);
	if (cpu_present(q, id)) {
		fprintf(stderr, "%s %s: the guest did not release vCPU %s within %d s\n",
			progname, cmd, id, timeout_s);
		return -1;
	}
	json_object_array_del_idx(cpus, idx, 1);
	json_object_object_add(st, "cpu_unplugged", json_object_new_boolean(true));
	return 0;
}

/* vm cpu add NAME [--slot N] [--node N] [--id ID]: one vCPU, where asked. */
static int vm_cpu_add(int argc, char **argv)
{
	const char *cmd = "vm cpu add";
	struct vm_opts o;
	struct vm_topo t;
	struct vm_guest g;
	char dir[VM_DIR_MAX], why[512], id[64];
	json_object *st;
	struct qmp *q;
	int r, rc = EXIT_ERROR;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	if (vm_open(cmd, argv[optind], dir, sizeof dir, &st, &q) < 0)
		return EXIT_ERROR;
	topo_from(st, q, &t);
	if (vm_rule_cpus(&t, t.present_cpus + 1, why, sizeof why) < 0) {
		fprintf(stderr, "%s %s: %s\n", progname, cmd, why);
		goto out;
	}
	r = cpu_plug_one(q, st, o.node, o.slot, o.id, id, sizeof id, why, sizeof why);
	if (r == -2)
		fprintf(stderr, "%s %s: %s\n", progname, cmd, why);
	if (r == -1)
		cli_fail_lib(cmd);
	if (r < 0) {
		state_save(dir, st);
		goto out;
	}
	if (save_and_wait(cmd, dir, st, &o, (int)t.present_cpus + 1, -1, -1, &g) < 0)
		goto out;
	printf("VM '%s': vCPU %s plugged%s\n", argv[optind], id,
	       o.wait ? " (the guest has it online)" : "");
	rc = EXIT_OK;
out:
	qmp_close(q);
	json_object_put(st);
	return rc;
}

/* vm cpu remove NAME ID: that hot-plugged vCPU. */
static int vm_cpu_remove(int argc, char **argv)
{
	const char *cmd = "vm cpu remove";
	struct vm_opts o;
	struct vm_topo t;
	struct vm_guest g;
	char dir[VM_DIR_MAX];
	json_object *st, *cpus;
	struct qmp *q;
	size_t idx = SIZE_MAX;
	int rc = EXIT_ERROR;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 2)
		return cli_usage(cmd, "expected NAME and the vCPU's ID");
	if (vm_open(cmd, argv[optind], dir, sizeof dir, &st, &q) < 0)
		return EXIT_ERROR;
	topo_from(st, q, &t);
	cpus = jarr(st, "cpus");
	for (size_t i = 0; i < json_object_array_length(cpus); i++)
		if (!strcmp(jstr(json_object_array_get_idx(cpus, i), "id"), argv[optind + 1]))
			idx = i;
	if (idx == SIZE_MAX) {
		fprintf(stderr, "%s %s: VM '%s' has no hot-plugged vCPU '%s' (boot vCPUs "
			"cannot be unplugged; 'mortar vm status' lists the plugged ones)\n",
			progname, cmd, argv[optind], argv[optind + 1]);
		goto out;
	}
	if (cpu_unplug(cmd, q, st, idx, o.timeout_s) < 0) {
		state_save(dir, st);
		goto out;
	}
	if (save_and_wait(cmd, dir, st, &o, (int)t.present_cpus - 1, -1, -1, &g) < 0)
		goto out;
	printf("VM '%s': vCPU %s removed\n", argv[optind], argv[optind + 1]);
	rc = EXIT_OK;
out:
	qmp_close(q);
	json_object_put(st);
	return rc;
}

static int vm_cpus(int argc, char **argv)
{
	const char *cmd = "vm cpus";
	struct vm_opts o;
	struct vm_topo t;
	struct vm_guest g;
	char dir[VM_DIR_MAX], why[512];
	json_object *st;
	struct qmp *q;
	unsigned target;
	int rc = EXIT_ERROR;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 2)
		return cli_usage(cmd, "expected NAME and the number of vCPUs");
	target = (unsigned)atoi(argv[optind + 1]);
	if (vm_open(cmd, argv[optind], dir, sizeof dir, &st, &q) < 0)
		return EXIT_ERROR;
	topo_from(st, q, &t);
	if (vm_rule_cpus(&t, target, why, sizeof why) < 0) {
		fprintf(stderr, "%s %s: %s\n", progname, cmd, why);
		goto out;
	}
	while (t.present_cpus < target) {
		char id[64];
		int r = cpu_plug_one(q, st, o.node, -1, NULL, id, sizeof id, why, sizeof why);
		if (r == -2) {
			fprintf(stderr, "%s %s: %s\n", progname, cmd, why);
			goto save;
		}
		if (r < 0) {
			cli_fail_lib(cmd);
			goto save;
		}
		t.present_cpus++;
	}
	while (t.present_cpus > target) {
		size_t n = json_object_array_length(jarr(st, "cpus"));

		if (n == 0)
			break;
		if (cpu_unplug(cmd, q, st, n - 1, o.timeout_s) < 0)
			goto save;
		t.present_cpus--;
	}
	if (save_and_wait(cmd, dir, st, &o, (int)target, -1, -1, &g) < 0)
		goto out;
	printf("VM '%s': %u vCPUs%s\n", argv[optind], target, o.wait ? " (the guest has them online)" : "");
	rc = EXIT_OK;
	goto out;
save:
	state_save(dir, st);
out:
	qmp_close(q);
	json_object_put(st);
	return rc;
}

static int vm_mem_add(int argc, char **argv)
{
	const char *cmd = "vm mem add";
	struct vm_opts o;
	struct vm_topo t;
	struct vm_guest g0, g;
	struct vm_membk bk;
	char dir[VM_DIR_MAX], why[PATH_MAX + 512], id[64], memdev[80], spec[PATH_MAX + 16];
	json_object *st, *args;
	struct qmp *q;
	uint64_t size;
	int rc = EXIT_ERROR;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 2)
		return cli_usage(cmd, "expected NAME and SIZE");
	if (mortar_parse_size(argv[optind + 1], &size) < 0)
		return cli_usage(cmd, "%s", mortar_errmsg());
	if (vm_open(cmd, argv[optind], dir, sizeof dir, &st, &q) < 0)
		return EXIT_ERROR;
	topo_from(st, q, &t);
	/* --backend, else the VM's (ram for VMs started before it existed) */
	if (!o.backend)
		o.backend = jstr(st, "mem_backend")[0] ? jstr(st, "mem_backend") : "ram";
	if (vm_membk_parse(o.backend, &bk, why, sizeof why) < 0 ||
	    vm_rule_dimm(&t, size, o.node, why, sizeof why) < 0 ||
	    vm_membk_check(&bk, size, why, sizeof why) < 0) {
		fprintf(stderr, "%s %s: %s\n", progname, cmd, why);
		goto out;
	}
	if (o.id)
		snprintf(id, sizeof id, "%s", o.id);
	else
		snprintf(id, sizeof id, "dimm%u", (unsigned)jint(st, "dimm_seq") + 1);
	snprintf(memdev, sizeof memdev, "mem-%s", id);
	guest_read(dir, false, &g0);
	args = vm_membk_qmp(&bk, memdev, size);
	if (qmp_execute(q, "object-add", args, NULL) < 0) {
		cli_fail_lib(cmd);
		goto out;
	}
	args = json_object_new_object();
	json_object_object_add(args, "driver", json_object_new_string("pc-dimm"));
	json_object_object_add(args, "id", json_object_new_string(id));
	json_object_object_add(args, "memdev", json_object_new_string(memdev));
	if (o.node >= 0)
		json_object_object_add(args, "node", json_object_new_int(o.node));
	if (qmp_execute(q, "device_add", args, NULL) < 0) {
		json_object *del = json_object_new_object();
		cli_fail_lib(cmd);
		json_object_object_add(del, "id", json_object_new_string(memdev));
		qmp_execute(q, "object-del", del, NULL);
		goto out;
	}
	{
		json_object *d = json_object_new_object();
		json_object_object_add(d, "id", json_object_new_string(id));
		json_object_object_add(d, "memdev", json_object_new_string(memdev));
		json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
		json_object_object_add(d, "node", json_object_new_int(o.node < 0 ? 0 : o.node));
		vm_membk_spec(&bk, spec, sizeof spec);
		json_object_object_add(d, "backend", json_object_new_string(spec));
		json_object_array_add(jarr(st, "dimms"), d);
		json_object_object_add(st, "dimm_seq", json_object_new_int((int)jint(st, "dimm_seq") + 1));
	}
	if (save_and_wait(cmd, dir, st, &o, -1,
			  g0.valid ? (int64_t)(g0.mem_kib + (size >> 10) * 9 / 10) : 0, -1, &g) < 0)
		goto out;
	printf("VM '%s': DIMM %s of %" PRIu64 " MiB plugged%s\n", argv[optind], id, size >> 20,
	       o.wait ? " (the guest has it online)" : "");
	rc = EXIT_OK;
out:
	qmp_close(q);
	json_object_put(st);
	return rc;
}

static int vm_mem_remove(int argc, char **argv)
{
	const char *cmd = "vm mem remove";
	struct vm_opts o;
	struct vm_guest g0, g;
	char dir[VM_DIR_MAX];
	json_object *st, *dimms, *d = NULL, *args;
	struct qmp *q;
	size_t idx = 0;
	int rc = EXIT_ERROR;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 2)
		return cli_usage(cmd, "expected NAME and the DIMM's ID");
	if (vm_open(cmd, argv[optind], dir, sizeof dir, &st, &q) < 0)
		return EXIT_ERROR;
	dimms = jarr(st, "dimms");
	for (size_t i = 0; i < json_object_array_length(dimms); i++)
		if (!strcmp(jstr(json_object_array_get_idx(dimms, i), "id"), argv[optind + 1])) {
			d = json_object_array_get_idx(dimms, i);
			idx = i;
		}
	if (!d) {
		fprintf(stderr, "%s %s: VM '%s' has no DIMM '%s' (see 'mortar vm status')\n",
			progname, cmd, argv[optind], argv[optind + 1]);
		goto out;
	}
	guest_read(dir, false, &g0);
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(argv[optind + 1]));
	if (qmp_execute(q, "device_del", args, NULL) < 0) {
		cli_fail_lib(cmd);
		goto out;
	}
	for (;;) {
		json_object *data = NULL;
		if (qmp_wait_event(q, "DEVICE_DELETED", o.timeout_s * 1000, &data) < 0) {
			fprintf(stderr, "%s %s: the guest did not release DIMM %s within %d s "
				"(memory in use by the kernel cannot go: boot with "
				"memhp_default_state=online_movable)\n", progname, cmd,
				argv[optind + 1], o.timeout_s);
			goto out;
		}
		bool mine = data && !strcmp(jstr(data, "device"), argv[optind + 1]);
		json_object_put(data);
		if (mine)
			break;
	}
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(jstr(d, "memdev")));
	qmp_execute(q, "object-del", args, NULL);
	{
		int64_t size = jint(d, "size");
		json_object_array_del_idx(dimms, idx, 1);
		if (save_and_wait(cmd, dir, st, &o, -1, -1, g0.valid ?
				  (int64_t)g0.mem_kib - (size >> 10) * 9 / 10 : -1, &g) < 0)
			goto out;
	}
	printf("VM '%s': DIMM %s removed\n", argv[optind], argv[optind + 1]);
	rc = EXIT_OK;
out:
	qmp_close(q);
	json_object_put(st);
	return rc;
}

/* ---- migration after hotplug ---- */

/* The target must be started with the source's topology as it is now:
 * every hot-plugged vCPU and DIMM as a cold-plugged device with the same
 * id, or QEMU refuses the incoming state.  Build that command line from
 * state.json: the original one, with the target's own pidfile, QMP socket
 * and console, the plugged devices appended, and -incoming defer. */
static char **target_argv(json_object *st, const char *dir, char (*bufs)[PATH_MAX + 128],
			  size_t nbufs)
{
	json_object *argv0, *cpus = jarr(st, "cpus"), *dimms = jarr(st, "dimms");
	size_t n, nb = 0, na = 0;
	char **a;

	if (!json_object_object_get_ex(st, "qemu_argv", &argv0))
		return NULL;
	n = json_object_array_length(argv0);
	a = calloc(n + 4 * json_object_array_length(dimms) + 2 * json_object_array_length(cpus) + 8,
		   sizeof *a);
	if (!a)
		return NULL;
	for (size_t i = 0; i < n && nb + 8 < nbufs; i++) {
		const char *v = json_object_get_string(json_object_array_get_idx(argv0, i));
		const char *prev = i ? json_object_get_string(json_object_array_get_idx(argv0, i - 1)) : "";

		if (!strcmp(v, "-daemonize"))
			continue;	/* added back at the end */
		if (!strcmp(prev, "-pidfile"))
			snprintf(bufs[nb], sizeof bufs[nb], "%s/qemu-target.pid", dir);
		else if (!strcmp(prev, "-qmp"))
			snprintf(bufs[nb], sizeof bufs[nb], "unix:%s/qmp-target.sock,server=on,wait=off", dir);
		else if (!strcmp(prev, "-chardev") && !strncmp(v, "file,id=console,", 16))
			snprintf(bufs[nb], sizeof bufs[nb], "file,id=console,path=%s/serial-target.log", dir);
		else {
			a[na++] = (char *)v;
			continue;
		}
		a[na++] = bufs[nb++];
	}
	for (size_t i = 0; i < json_object_array_length(cpus) && nb + 4 < nbufs; i++) {
		json_object *c = json_object_array_get_idx(cpus, i), *props;
		int k;

		k = snprintf(bufs[nb], sizeof bufs[nb], "%s,id=%s", jstr(c, "driver"), jstr(c, "id"));
		if (json_object_object_get_ex(c, "props", &props)) {
			json_object_object_foreach(props, key, val)
				k += snprintf(bufs[nb] + k, sizeof bufs[nb] - (size_t)k, ",%s=%s",
					      key, json_object_get_string(val));
		}
		a[na++] = "-device";
		a[na++] = bufs[nb++];
	}
	for (size_t i = 0; i < json_object_array_length(dimms) && nb + 4 < nbufs; i++) {
		json_object *d = json_object_array_get_idx(dimms, i);

		struct vm_membk bk;
		char why[PATH_MAX + 128];

		/* the DIMM's backend again (ram for DIMMs recorded without) */
		if (vm_membk_parse(jstr(d, "backend")[0] ? jstr(d, "backend") : "ram", &bk,
				   why, sizeof why) < 0)
			vm_membk_parse("ram", &bk, why, sizeof why);
		vm_membk_cmdline(&bk, jstr(d, "memdev"), (uint64_t)jint(d, "size"), bufs[nb],
				 sizeof bufs[nb]);
		a[na++] = "-object";
		a[na++] = bufs[nb++];
		snprintf(bufs[nb], sizeof bufs[nb], "pc-dimm,id=%s,memdev=%s,node=%d",
			 jstr(d, "id"), jstr(d, "memdev"), (int)jint(d, "node"));
		a[na++] = "-device";
		a[na++] = bufs[nb++];
	}
	a[na++] = "-incoming";
	a[na++] = "defer";
	a[na++] = "-daemonize";
	a[na] = NULL;
	return a;
}

static int vm_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 'T' },
		{ "force", no_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "vm migrate", *to = NULL;
	char dir[VM_DIR_MAX], p[PATH_MAX], p2[PATH_MAX], uri[PATH_MAX + 16], msg[300];
	static char bufs[64][PATH_MAX + 128];
	json_object *st, *args, *ret;
	struct qmp *q, *tq = NULL;
	struct vm_guest g0, g;
	char **targv = NULL;
	int c, timeout_s = 120, rc = EXIT_ERROR;
	bool wait = false, done = false, force = false;
	pid_t tpid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "T:Ft:wh", opts, NULL)) != -1) {
		switch (c) {
		case 'T': to = optarg; break;
		case 'F': force = true; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'w': wait = true; break;
		case 'h': fputs(vm_usage, stdout); return EXIT_OK;
		default: return cli_usage(cmd, "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	if (vm_open(cmd, argv[optind], dir, sizeof dir, &st, &q) < 0)
		return EXIT_ERROR;
	/* (the agent's socket moves to the target: the console is read) */
	agent_drop();
	if (!force && !strcmp(jstr(st, "accel"), "tcg") && jint(st, "qemu_version") < 100000) {
		/* Measured on QEMU 7.2 under TCG (tests/vm/manual/): migrated
		 * guests broke on the target in about a third of the trials
		 * (page faults, RCU stalls, "stack is corrupted" panics), more
		 * often after a hotplug, also without one when the guest had
		 * NUMA nodes and an NBD disk.  Possible, but only knowingly. */
		fprintf(stderr, "%s %s: refused: on QEMU %d.%d under TCG, guests migrated "
			"here broke on the target in about 1 of 3 trials (memory "
			"corruption, RCU stalls; more often after a hotplug); use KVM or "
			"QEMU 10, or pass --force to migrate anyway\n", progname, cmd,
			(int)jint(st, "qemu_version") / 10000,
			(int)jint(st, "qemu_version") / 100 % 100);
		goto out;
	}
	if (!to) {
		snprintf(uri, sizeof uri, "unix:%s/migrate.sock", dir);
	} else if (!strncmp(to, "unix:", 5) || !strncmp(to, "tcp:", 4)) {
		snprintf(uri, sizeof uri, "%s", to);
	} else {
		cli_usage(cmd, "--to wants unix:PATH or tcp:HOST:PORT");
		goto out;
	}
	path_in(p, sizeof p, dir, "serial.log");
	vm_guest_read(p, &g0);
	targv = target_argv(st, dir, bufs, sizeof bufs / sizeof bufs[0]);
	if (!targv) {
		fprintf(stderr, "%s %s: state.json of '%s' has no QEMU command line\n",
			progname, cmd, argv[optind]);
		goto out;
	}
	path_in(p, sizeof p, dir, "qemu-target.log");
	if (qemu_launch(targv, p, msg, sizeof msg) < 0) {
		fprintf(stderr, "%s %s: the target QEMU did not start: %s\n", progname, cmd, msg);
		goto out;
	}
	path_in(p, sizeof p, dir, "qmp-target.sock");
	if (qmp_connect(p, QMP_TIMEOUT_MS, &tq) < 0) {
		cli_fail_lib(cmd);
		goto kill_target;
	}
	args = json_object_new_object();
	json_object_object_add(args, "uri", json_object_new_string(uri));
	if (qmp_execute(tq, "migrate-incoming", args, NULL) < 0) {
		cli_fail_lib(cmd);
		goto kill_target;
	}
	args = json_object_new_object();
	json_object_object_add(args, "uri", json_object_new_string(uri));
	if (qmp_execute(q, "migrate", args, NULL) < 0) {
		cli_fail_lib(cmd);
		goto kill_target;
	}
	for (int i = 0; i < timeout_s * 10 && !done; i++) {
		json_object *status;
		const char *s;

		if (qmp_execute(q, "query-migrate", NULL, &ret) < 0) {
			cli_fail_lib(cmd);
			goto kill_target;
		}
		s = json_object_object_get_ex(ret, "status", &status) ?
			json_object_get_string(status) : "";
		if (!strcmp(s, "completed")) {
			done = true;
		} else if (!strcmp(s, "failed") || !strcmp(s, "cancelled")) {
			json_object *e;
			fprintf(stderr, "%s %s: migration %s: %s\n", progname, cmd, s,
				json_object_object_get_ex(ret, "error-desc", &e) ?
				json_object_get_string(e) : "(no reason given)");
			json_object_put(ret);
			goto kill_target;
		}
		json_object_put(ret);
		if (!done)
			usleep(100000);
	}
	if (!done) {
		fprintf(stderr, "%s %s: migration did not complete within %d s; cancelled\n",
			progname, cmd, timeout_s);
		qmp_execute(q, "migrate_cancel", NULL, NULL);
		goto kill_target;
	}
	/* The target runs the guest now: the source goes, the target's files
	 * take the VM's names. */
	qmp_execute(q, "quit", NULL, NULL);
	qmp_close(q);
	q = NULL;
	for (int i = 0; i < 50 && pid_alive(qemu_pid(dir)); i++)
		usleep(100000);
	{
		static const char *names[][2] = {
			{ "qemu-target.pid", "qemu.pid" }, { "qmp-target.sock", "qmp.sock" },
			{ "serial-target.log", "serial.log" },
		};
		for (size_t i = 0; i < 3; i++) {
			path_in(p, sizeof p, dir, names[i][0]);
			path_in(p2, sizeof p2, dir, names[i][1]);
			rename(p, p2);
		}
	}
	/* qemu_argv stays the boot command line: a later migration
	 * replays the devices from "cpus" and "dimms" again. */
	json_object_object_add(st, "migrated", json_object_new_int((int)jint(st, "migrated") + 1));
	state_save(dir, st);
	tpid = qemu_pid(dir);
	if (wait) {
		/* The guest's next status line lands in the target's console:
		 * it must show what it showed before. */
		if (guest_wait(dir, g0.valid ? (int)g0.cpus : -1,
			       g0.valid ? (int64_t)g0.mem_kib : -1,
			       g0.valid ? (int64_t)g0.mem_kib : -1, 30, &g) < 0) {
			cli_fail_lib(cmd);
			goto out;
		}
	}
	printf("VM '%s' migrated to %s (now pid %d)%s\n", argv[optind], uri, (int)tpid,
	       wait ? "; the guest reports the same vCPUs and memory there" : "");
	rc = EXIT_OK;
	goto out;
kill_target:
	if (tq)
		qmp_execute(tq, "quit", NULL, NULL);
	{
		pid_t t;

		path_in(p, sizeof p, dir, "qemu-target.pid");
		t = read_pid(p);
		if (t > 0 && pid_alive(t))
			kill(t, SIGKILL);
		unlink(p);
		path_in(p, sizeof p, dir, "qmp-target.sock");
		unlink(p);
	}
out:
	qmp_close(tq);
	qmp_close(q);
	free(targv);
	json_object_put(st);
	return rc;
}

/* mortar vm mem NAME SIZE: the guest's total memory, through virtio-mem
 * when the VM has it, else by plugging a DIMM (growth) or unplugging the
 * newest DIMMs (shrink). */
static int vm_mem_set(int argc, char **argv)
{
	const char *cmd = "vm mem";
	struct vm_opts o;
	struct vm_guest g0, g;
	char dir[VM_DIR_MAX];
	json_object *st, *args, *ret = NULL;
	struct qmp *q;
	uint64_t target, boot, dimms = 0, vmax;
	int64_t plugged;
	int rc = EXIT_ERROR;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 2)
		return cli_usage(cmd, "expected NAME and the total memory SIZE");
	if (mortar_parse_size(argv[optind + 1], &target) < 0)
		return cli_usage(cmd, "%s", mortar_errmsg());
	if (vm_open(cmd, argv[optind], dir, sizeof dir, &st, &q) < 0)
		return EXIT_ERROR;
	boot = (uint64_t)jint(st, "memory");
	vmax = (uint64_t)jint(st, "virtio_mem");
	for (size_t i = 0; i < json_object_array_length(jarr(st, "dimms")); i++)
		dimms += (uint64_t)jint(json_object_array_get_idx(jarr(st, "dimms"), i), "size");
	guest_read(dir, false, &g0);
	if (!vmax) {
		fprintf(stderr, "%s %s: VM '%s' has no virtio-mem device (start it with "
			"--virtio-mem SIZE); use 'mortar vm mem add|remove' for DIMMs\n",
			progname, cmd, argv[optind]);
		goto out;
	}
	if (target % VM_X86_BLOCK || target < boot + dimms || target > boot + dimms + vmax) {
		fprintf(stderr, "%s %s: %" PRIu64 " MiB: the total must be a multiple of 128 MiB "
			"(the x86 guest's memory block) between %" PRIu64 " and %" PRIu64
			" MiB (boot memory + DIMMs, plus the virtio-mem device's %" PRIu64
			" MiB)\n", progname, cmd, target >> 20, (boot + dimms) >> 20,
			(boot + dimms + vmax) >> 20, vmax >> 20);
		goto out;
	}
	/* What the device has plugged now is what the guest's MemTotal
	 * (read above) counts: the change to wait for is from there. */
	args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string("/machine/peripheral/vmem"));
	json_object_object_add(args, "property", json_object_new_string("size"));
	if (qmp_execute(q, "qom-get", args, &ret) < 0) {
		cli_fail_lib(cmd);
		goto out;
	}
	plugged = json_object_get_int64(ret);
	json_object_put(ret);
	args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string("/machine/peripheral/vmem"));
	json_object_object_add(args, "property", json_object_new_string("requested-size"));
	json_object_object_add(args, "value", json_object_new_int64((int64_t)(target - boot - dimms)));
	if (qmp_execute(q, "qom-set", args, NULL) < 0) {
		cli_fail_lib(cmd);
		goto out;
	}
	json_object_object_add(st, "virtio_mem_requested",
			       json_object_new_int64((int64_t)(target - boot - dimms)));
	state_save(dir, st);
	if (o.wait && g0.valid) {
		/* MemTotal moves by what was plugged or unplugged (give or
		 * take what the kernel keeps for the memmap). */
		int64_t delta = (int64_t)(target - boot - dimms) - plugged;
		int64_t want = (int64_t)g0.mem_kib + delta / 1024;
		int64_t slack = (delta < 0 ? -delta : delta) / 1024 / 10 + 1024;
		if (guest_wait(dir, -1, want - slack, want + slack, o.timeout_s, &g) < 0) {
			cli_fail_lib(cmd);
			goto out;
		}
	}
	printf("VM '%s': memory %" PRIu64 " MiB (virtio-mem %" PRIu64 " MiB)%s\n", argv[optind],
	       target >> 20, (target - boot - dimms) >> 20,
	       o.wait ? " (the guest shows it)" : "");
	rc = EXIT_OK;
out:
	qmp_close(q);
	json_object_put(st);
	return rc;
}

int cmd_vm(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(vm_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "start"))
		return vm_start(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stop"))
		return vm_stop(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return vm_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return vm_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cpu") && argc >= 3 && !strcmp(argv[2], "add"))
		return vm_cpu_add(argc - 2, argv + 2);
	if (!strcmp(argv[1], "cpu") && argc >= 3 && !strcmp(argv[2], "remove"))
		return vm_cpu_remove(argc - 2, argv + 2);
	if (!strcmp(argv[1], "cpus"))
		return vm_cpus(argc - 1, argv + 1);
	if (!strcmp(argv[1], "migrate"))
		return vm_migrate(argc - 1, argv + 1);
	if (!strcmp(argv[1], "mem") && argc >= 3 && !strcmp(argv[2], "add"))
		return vm_mem_add(argc - 2, argv + 2);
	if (!strcmp(argv[1], "mem") && argc >= 3 && !strcmp(argv[2], "remove"))
		return vm_mem_remove(argc - 2, argv + 2);
	if (!strcmp(argv[1], "mem"))
		return vm_mem_set(argc - 1, argv + 1);
	fprintf(stderr, "%s vm: unknown subcommand '%s'\n", progname, argv[1]);
	fputs(vm_usage, stderr);
	return EXIT_USAGE;
}
