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

/* Stop the disk servers and remove the runtime files of a VM. */
static void vm_cleanup(const char *dir, json_object *st)
{
	json_object *disks;
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;

	if (st && json_object_object_get_ex(st, "disks", &disks)) {
		for (size_t i = 0; i < json_object_array_length(disks); i++) {
			pid_t pid = (pid_t)jint(json_object_array_get_idx(disks, i), "server_pid");
			if (pid > 0)
				kill(pid, SIGTERM);
		}
	}
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' || strlen(de->d_name) > 2) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				path_in(p, sizeof p, dir, de->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(dir);
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

/* ---- start ---- */

struct start_cfg {
	enum vm_arch arch;
	struct vm_membk membk;		/* boot memory (and default for DIMMs) */
	unsigned cpus, max_cpus, slots, numa;
	uint64_t mem, max_mem, vmem;	/* vmem: virtio-mem capacity */
	const char *kernel, *initrd, *append, *accel;
	const char *disks[MAX_DISKS];
	unsigned ndisks;
	bool wait;
	int timeout_s;
};

static int cfg_set(const char *cmd, struct start_cfg *c, const char *key, const char *val)
{
	if (!strcmp(key, "cpus"))
		c->cpus = (unsigned)atoi(val);
	else if (!strcmp(key, "max-cpus"))
		c->max_cpus = (unsigned)atoi(val);
	else if (!strcmp(key, "slots"))
		c->slots = (unsigned)atoi(val);
	else if (!strcmp(key, "numa"))
		c->numa = (unsigned)atoi(val);
	else if (!strcmp(key, "memory") || !strcmp(key, "max-memory") ||
		 !strcmp(key, "virtio-mem")) {
		uint64_t v;
		if (mortar_parse_size(val, &v) < 0)
			return cli_usage(cmd, "--%s: %s", key, mortar_errmsg()), -1;
		*(!strcmp(key, "memory") ? &c->mem : !strcmp(key, "max-memory") ?
		  &c->max_mem : &c->vmem) = v;
	} else if (!strcmp(key, "kernel"))
		c->kernel = strdup(val);
	else if (!strcmp(key, "initrd"))
		c->initrd = strdup(val);
	else if (!strcmp(key, "append"))
		c->append = strdup(val);
	else if (!strcmp(key, "accel"))
		c->accel = strdup(val);
	else if (!strcmp(key, "disk")) {
		if (c->ndisks == MAX_DISKS)
			return cli_usage(cmd, "at most %d disks", MAX_DISKS), -1;
		c->disks[c->ndisks++] = strdup(val);
	} else if (!strcmp(key, "mem-backend")) {
		char why[PATH_MAX + 128];
		if (vm_membk_parse(val, &c->membk, why, sizeof why) < 0)
			return cli_usage(cmd, "--mem-backend: %s", why), -1;
	} else if (!strcmp(key, "arch")) {
		if (!strcmp(val, "x86_64"))
			c->arch = VM_ARCH_X86_64;
		else if (!strcmp(val, "ppc64") || !strcmp(val, "ppc64le"))
			c->arch = VM_ARCH_PPC64;
		else
			return cli_usage(cmd, "--arch %s: x86_64 (q35) or ppc64 (pseries)", val), -1;
	} else {
		return cli_usage(cmd, "unknown setting '%s'", key), -1;
	}
	return 0;
}

static int cfg_file(const char *cmd, struct start_cfg *c, const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return fprintf(stderr, "%s %s: %s: %m\n", progname, cmd, path), -1;
	while (fgets(line, sizeof line, f)) {
		char *k = line, *eq, *end;

		n++;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || *k == '\n' || !*k)
			continue;
		line[strcspn(line, "\n")] = '\0';
		eq = strchr(k, '=');
		if (!eq) {
			fprintf(stderr, "%s %s: %s:%d: expected key=value\n", progname, cmd, path, n);
			fclose(f);
			return -1;
		}
		for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		eq++;
		while (*eq == ' ' || *eq == '\t')
			eq++;
		if (cfg_set(cmd, c, k, eq) < 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* Serve DISK on SOCK with a daemonised `mortar serve`; its pid. */
static pid_t serve_disk(const char *dir, unsigned i, const char *disk, char *sock, size_t len)
{
	char pidfile[PATH_MAX], exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int status;
	pid_t pid;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(sock, len, "%s/disk%u.sock", dir, i);
	snprintf(pidfile, sizeof pidfile, "%s/disk%u.pid", dir, i);
	pid = fork();
	if (pid == 0) {
		execl(exe, exe, "serve", "-s", sock, "-P", pidfile, disk, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return read_pid(pidfile);
}

/* Whether KVM can run an ordinary guest kernel here: /dev/kvm usable and
 * backed by hardware virtualization (kvm_intel or kvm_amd).  KVM on PVM
 * (kvm_pvm, nested KVM without hardware support) runs only kernels built
 * as PVM guests: a stock kernel hangs there without a word, so auto
 * choice takes TCG.  With SAY, tell why KVM is likely to fail. */
static bool kvm_usable(const char *cmd, bool say)
{
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		if (say)
			fprintf(stderr, "%s %s: note: /dev/kvm: %m; QEMU will fail to start "
				"under KVM (--accel tcg emulates)\n", progname, cmd);
		return false;
	}
	if (access("/sys/module/kvm_intel", F_OK) == 0 ||
	    access("/sys/module/kvm_amd", F_OK) == 0)
		return true;
	if (say)
		fprintf(stderr, "%s %s: note: this KVM has no hardware virtualization "
			"behind it (%s); stock guest kernels may hang under it (--accel "
			"tcg emulates)\n", progname, cmd,
			access("/sys/module/kvm_pvm", F_OK) == 0 ? "kvm_pvm: only PVM "
			"guest kernels run" : "neither kvm_intel nor kvm_amd is loaded");
	return false;
}

/* Run QEMU (which daemonizes) with its output in LOG; on failure, the
 * first line QEMU printed goes to MSG. */
static int qemu_launch(char **qa, const char *log, char *msg, size_t len)
{
	pid_t pid = fork();
	int status;

	msg[0] = '\0';
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(qa[0], qa);
		fprintf(stderr, "cannot run %s: %m\n", qa[0]);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		FILE *f = fopen(log, "r");
		if (f) {
			if (!fgets(msg, (int)len, f))
				msg[0] = '\0';
			fclose(f);
		}
		msg[strcspn(msg, "\n")] = '\0';
		if (!msg[0])
			snprintf(msg, len, "(no message; see %s)", log);
		return -1;
	}
	return 0;
}

static int vm_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "arch", required_argument, NULL, 0x100 },
		{ "cpus", required_argument, NULL, 0x101 },
		{ "max-cpus", required_argument, NULL, 0x102 },
		{ "memory", required_argument, NULL, 0x103 },
		{ "max-memory", required_argument, NULL, 0x104 },
		{ "slots", required_argument, NULL, 0x105 },
		{ "numa", required_argument, NULL, 0x106 },
		{ "disk", required_argument, NULL, 0x107 },
		{ "kernel", required_argument, NULL, 0x108 },
		{ "initrd", required_argument, NULL, 0x109 },
		{ "append", required_argument, NULL, 0x10a },
		{ "accel", required_argument, NULL, 0x10b },
		{ "virtio-mem", required_argument, NULL, 0x10c },
		{ "mem-backend", required_argument, NULL, 0x10d },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *keys[] = { "arch", "cpus", "max-cpus", "memory", "max-memory",
				      "slots", "numa", "disk", "kernel", "initrd", "append",
				      "accel", "virtio-mem", "mem-backend" };
	const char *cmd = "vm start", *name;
	struct start_cfg c = { .cpus = 1, .mem = 512u << 20, .timeout_s = 60 };
	char dir[VM_DIR_MAX], why[PATH_MAX + 512], p[PATH_MAX], msg[300], spec[PATH_MAX + 16];
	char *qa[128];
	char bufs[40][PATH_MAX + 64];
	unsigned na = 0, nb = 0, accel_arg, cpu_arg;
	json_object *st, *old;
	int ch, r = 0, rc = EXIT_ERROR;
	bool accel_auto, ppc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:wt:h", opts, NULL)) != -1) {
		if (ch == 'c') {
			if (cfg_file(cmd, &c, optarg) < 0)
				return EXIT_USAGE;
		} else if (ch == 'w') {
			c.wait = true;
		} else if (ch == 't') {
			c.timeout_s = atoi(optarg);
		} else if (ch == 'h') {
			fputs(vm_usage, stdout);
			return EXIT_OK;
		} else if (ch >= 0x100 && ch <= 0x10d) {
			if (cfg_set(cmd, &c, keys[ch - 0x100], optarg) < 0)
				return EXIT_USAGE;
		} else {
			return cli_usage(cmd, "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	name = argv[optind];
	if (!c.max_cpus)
		c.max_cpus = c.cpus;
	if (!c.max_mem)
		c.max_mem = c.mem;
	if (c.max_mem > c.mem && !c.slots)
		c.slots = 8;
	if (!c.numa)
		c.numa = 1;
	ppc = c.arch == VM_ARCH_PPC64;
	if (!c.kernel || !c.initrd)
		return cli_usage(cmd, "give --kernel and --initrd (scripts/guest-assets.sh "
				 "%s makes a small test guest)", ppc ? "ppc64" : "x86_64");
	if (c.vmem && ppc) {
		fprintf(stderr, "%s %s: --virtio-mem: pseries has no virtio-mem in QEMU; "
			"give it DIMM slots (--slots) and use 'mortar vm mem add'\n", progname,
			cmd);
		return EXIT_ERROR;
	}
	if (c.vmem && (c.vmem % VM_X86_BLOCK || c.mem + c.vmem > c.max_mem)) {
		fprintf(stderr, "%s %s: --virtio-mem %" PRIu64 " MiB must be a multiple of 128 "
			"MiB and fit between --memory and --max-memory (%" PRIu64 " MiB free)\n",
			progname, cmd, c.vmem >> 20, (c.max_mem - c.mem) >> 20);
		return EXIT_ERROR;
	}
	if (vm_rule_start(c.arch, c.cpus, c.max_cpus, c.mem, c.max_mem, c.slots, c.numa, why,
			  sizeof why) < 0 ||
	    vm_membk_check(&c.membk, c.mem, why, sizeof why) < 0) {
		fprintf(stderr, "%s %s: %s\n", progname, cmd, why);
		return EXIT_ERROR;
	}
	accel_auto = !c.accel;
	/* (KVM runs guests of the host's own architecture only) */
	if (!c.accel)
		c.accel = !ppc && kvm_usable(cmd, false) ? "kvm" : "tcg";
	else if (!strcmp(c.accel, "kvm"))
		kvm_usable(cmd, true);
	if (vm_dir(name, dir, sizeof dir) < 0)
		return cli_fail_lib(cmd);
	old = state_load(dir);
	if (old) {
		if (pid_alive(qemu_pid(dir))) {
			fprintf(stderr, "%s %s: VM '%s' is already running (pid %d)\n", progname,
				cmd, name, (int)qemu_pid(dir));
			json_object_put(old);
			return EXIT_ERROR;
		}
		vm_cleanup(dir, old);	/* what a dead VM left: never blocks a restart */
		json_object_put(old);
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s %s: %s: %m\n", progname, cmd, dir);
		return EXIT_ERROR;
	}

	st = json_object_new_object();
	json_object_object_add(st, "name", json_object_new_string(name));
	json_object_object_add(st, "arch", json_object_new_string(ppc ? "ppc64" : "x86_64"));
	json_object_object_add(st, "accel", json_object_new_string(c.accel));
	json_object_object_add(st, "boot_cpus", json_object_new_int((int)c.cpus));
	json_object_object_add(st, "max_cpus", json_object_new_int((int)c.max_cpus));
	json_object_object_add(st, "memory", json_object_new_int64((int64_t)c.mem));
	json_object_object_add(st, "max_memory", json_object_new_int64((int64_t)c.max_mem));
	json_object_object_add(st, "slots", json_object_new_int((int)c.slots));
	json_object_object_add(st, "numa", json_object_new_int((int)c.numa));
	json_object_object_add(st, "virtio_mem", json_object_new_int64((int64_t)c.vmem));
	vm_membk_spec(&c.membk, spec, sizeof spec);
	json_object_object_add(st, "mem_backend", json_object_new_string(spec));
	json_object_object_add(st, "cpu_plugs", json_object_new_int(0));
	json_object_object_add(st, "cpu_unplugged", json_object_new_boolean(false));
	jarr(st, "cpus");
	jarr(st, "dimms");

#define ARG(...) (snprintf(bufs[nb], sizeof bufs[nb], __VA_ARGS__), qa[na++] = bufs[nb++])
	qa[na++] = ppc ? "qemu-system-ppc64" : "qemu-system-x86_64";
	qa[na++] = "-M";
	/* pseries: QEMU's minimal firmware (VOF) boots in 3 s instead of
	 * SLOF's 7; under TCG the speculation capabilities it cannot
	 * emulate are declared broken instead of warned about. */
	qa[na++] = !ppc ? "q35" : !strcmp(c.accel, "tcg") ?
		"pseries,x-vof=on,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,"
		"cap-ccf-assist=off" : "pseries,x-vof=on";
	qa[na++] = "-accel";
	/* TCG: multi-threaded, since thread=single aborts on CPU unplug. */
	accel_arg = na;
	ARG("%s", !strcmp(c.accel, "tcg") ? "tcg,thread=multi" : c.accel);
	cpu_arg = 0;
	if (!ppc) {		/* pseries: the machine's default CPU */
		qa[na++] = "-cpu";
		cpu_arg = na;
		qa[na++] = !strcmp(c.accel, "kvm") ? "host" : "qemu64";
	}
	/* One vCPU per hotplug unit: a socket on q35 (NUMA nodes are whole
	 * sockets: a first hot-added CPU of a node sharing a socket with
	 * another node can take 30 s to come online), a core on pseries. */
	qa[na++] = "-smp";
	if (ppc)
		ARG("%u,maxcpus=%u,sockets=1,cores=%u,threads=1", c.cpus, c.max_cpus, c.max_cpus);
	else
		ARG("%u,maxcpus=%u,sockets=%u,cores=1,threads=1", c.cpus, c.max_cpus, c.max_cpus);
	qa[na++] = "-m";
	if (c.slots)
		ARG("%" PRIu64 "M,slots=%u,maxmem=%" PRIu64 "M", c.mem >> 20, c.slots,
		    c.max_mem >> 20);
	else
		ARG("%" PRIu64 "M", c.mem >> 20);
	if (c.numa > 1) {
		unsigned per = c.max_cpus / c.numa;
		for (unsigned i = 0; i < c.numa; i++) {
			char id[16];

			snprintf(id, sizeof id, "numa%u", i);
			qa[na++] = "-object";
			vm_membk_cmdline(&c.membk, id, c.mem / c.numa, bufs[nb], sizeof bufs[nb]);
			qa[na++] = bufs[nb++];
			qa[na++] = "-numa";
			ARG("node,nodeid=%u,cpus=%u-%u,memdev=numa%u", i, i * per, i * per + per - 1, i);
		}
	}
	if (c.numa <= 1 && c.membk.type != VM_MEMBK_RAM) {
		/* one backend object for the boot memory */
		qa[na++] = "-object";
		vm_membk_cmdline(&c.membk, "ram0", c.mem, bufs[nb], sizeof bufs[nb]);
		qa[na++] = bufs[nb++];
		qa[na++] = "-machine";
		qa[na++] = "memory-backend=ram0";
	}
	if (c.vmem) {
		/* virtio-mem: one device whose plugged size moves in 2 MiB
		 * steps; the x86 guest onlines it in 128 MiB blocks. */
		qa[na++] = "-object";
		ARG("memory-backend-ram,id=vmem0,size=%" PRIu64 "M", c.vmem >> 20);
		qa[na++] = "-device";
		ARG("virtio-mem-pci,id=vmem,memdev=vmem0,node=0,requested-size=0");
	}
	qa[na++] = "-kernel"; qa[na++] = (char *)c.kernel;
	qa[na++] = "-initrd"; qa[na++] = (char *)c.initrd;
	qa[na++] = "-append";
	ARG("console=%s memhp_default_state=online_movable panic=-1 quiet %s",
	    ppc ? "hvc0" : "ttyS0", c.append ? c.append : "");
	for (unsigned i = 0; i < c.ndisks; i++) {
		char sock[VM_DIR_MAX + 32];
		pid_t spid = serve_disk(dir, i, c.disks[i], sock, sizeof sock);
		json_object *d;

		if (spid <= 0) {
			fprintf(stderr, "%s %s: cannot serve disk %s (try 'mortar serve %s' to "
				"see why)\n", progname, cmd, c.disks[i], c.disks[i]);
			goto fail;
		}
		d = json_object_new_object();
		json_object_object_add(d, "location", json_object_new_string(c.disks[i]));
		json_object_object_add(d, "socket", json_object_new_string(sock));
		json_object_object_add(d, "server_pid", json_object_new_int(spid));
		json_object_array_add(jarr(st, "disks"), d);
		qa[na++] = "-blockdev";
		ARG("driver=nbd,node-name=disk%u,server.type=unix,server.path=%s,"
		    "cache.direct=on", i, sock);
		qa[na++] = "-device";
		ARG("virtio-blk-pci,drive=disk%u,id=vd%u", i, i);
	}
	/* The QEMU guest agent's port, used when the guest runs qemu-ga. */
	qa[na++] = "-device"; qa[na++] = "virtio-serial-pci,id=vser0";
	qa[na++] = "-chardev";
	path_in(p, sizeof p, dir, "qga.sock");
	ARG("socket,id=qga0,path=%s,server=on,wait=off", p);
	qa[na++] = "-device";
	qa[na++] = "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0";
	qa[na++] = "-display"; qa[na++] = "none";
	qa[na++] = "-nodefaults";
	qa[na++] = "-no-user-config";
	qa[na++] = "-no-reboot";
	qa[na++] = "-chardev";
	path_in(p, sizeof p, dir, "serial.log");
	ARG("file,id=console,path=%s", p);
	qa[na++] = "-serial"; qa[na++] = "chardev:console";
	qa[na++] = "-qmp";
	path_in(p, sizeof p, dir, "qmp.sock");
	ARG("unix:%s,server=on,wait=off", p);
	qa[na++] = "-pidfile";
	path_in(p, sizeof p, dir, "qemu.pid");
	ARG("%s", p);
	qa[na++] = "-daemonize";
	qa[na] = NULL;
#undef ARG
	state_save(dir, st);

	path_in(p, sizeof p, dir, "qemu.log");
	if (qemu_launch(qa, p, msg, sizeof msg) < 0 && !strcmp(c.accel, "kvm") && cpu_arg &&
	    strstr(msg, "MSR 0x10a")) {
		/* Nested KVM may advertise IA32_ARCH_CAPABILITIES and then
		 * refuse QEMU's write of it (QEMU 7.2 aborts): the host
		 * model without that MSR starts, and the guest only loses
		 * the hint that it need not mitigate some CPU bugs. */
		fprintf(stderr, "%s %s: note: KVM refused the host CPU's "
			"IA32_ARCH_CAPABILITIES MSR (nested virtualization?); using "
			"-cpu host,-arch-capabilities\n", progname, cmd);
		qa[cpu_arg] = "host,-arch-capabilities";
		qemu_launch(qa, p, msg, sizeof msg);
	}
	if (msg[0] && accel_auto && !strcmp(c.accel, "kvm") && cpu_arg) {
		fprintf(stderr, "%s %s: note: QEMU failed under KVM (%s); using TCG "
			"instead (--accel kvm insists on KVM)\n", progname, cmd, msg);
		c.accel = "tcg";
		qa[accel_arg] = "tcg,thread=multi";
		qa[cpu_arg] = "qemu64";
		json_object_object_add(st, "accel", json_object_new_string(c.accel));
		qemu_launch(qa, p, msg, sizeof msg);
	}
	if (msg[0]) {
		fprintf(stderr, "%s %s: QEMU did not start: %s\n", progname, cmd, msg);
		goto fail;
	}
	{
		json_object *a = json_object_new_array();
		for (unsigned i = 0; i < na; i++)
			json_object_array_add(a, json_object_new_string(qa[i]));
		json_object_object_add(st, "qemu_argv", a);
	}
	{
		struct qmp *q;
		char sock[PATH_MAX];

		path_in(sock, sizeof sock, dir, "qmp.sock");
		if (qmp_connect(sock, QMP_TIMEOUT_MS, &q) < 0) {
			cli_fail_lib(cmd);
			goto fail;
		}
		json_object_object_add(st, "qemu_version", json_object_new_int(qmp_version(q)));
		state_save(dir, st);
		if (c.wait) {
			struct vm_guest g;

			/* (QMP stays open: it tells when the guest's agent is up) */
			agent_use(q);
			r = guest_wait(dir, -1, -1, -1, c.timeout_s, &g);
			agent_drop();
		}
		qmp_close(q);
		if (r < 0) {
			/* (QEMU stays up, as with virsh: the console log may tell
			 * why the guest did not report) */
			char msg2[600];

			snprintf(msg2, sizeof msg2, "%s", mortar_errmsg());
			mortar_set_error(mortar_errno(), "%s; the VM keeps running (see %s/serial.log, "
					 "'mortar vm stop %s')", msg2, dir, name);
			rc = cli_fail_lib(cmd);
			goto out;
		}
	}
	printf("VM '%s' started (pid %d, %s, %u/%u vCPUs, %" PRIu64 "/%" PRIu64 " MiB)\n",
	       name, (int)qemu_pid(dir), c.accel, c.cpus, c.max_cpus, c.mem >> 20,
	       c.max_mem >> 20);
	rc = EXIT_OK;
	goto out;
fail:
	{
		pid_t qp = qemu_pid(dir);
		if (pid_alive(qp))
			kill(qp, SIGKILL);
	}
	vm_cleanup(dir, st);
out:
	json_object_put(st);
	return rc;
}

/* ---- stop, list, status ---- */

static int vm_stop(int argc, char **argv)
{
	const char *cmd = "vm stop";
	struct vm_opts o;
	char dir[VM_DIR_MAX], sock[PATH_MAX];
	json_object *st;
	struct qmp *q;
	pid_t pid;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	if (!strcmp(argv[optind], "--help"))
		return EXIT_OK;
	if (vm_dir(argv[optind], dir, sizeof dir) < 0)
		return cli_fail_lib(cmd);
	st = state_load(dir);
	if (!st) {
		fprintf(stderr, "%s %s: no VM named '%s'\n", progname, cmd, argv[optind]);
		return EXIT_ERROR;
	}
	pid = qemu_pid(dir);
	path_in(sock, sizeof sock, dir, "qmp.sock");
	if (pid_alive(pid) && qmp_connect(sock, QMP_TIMEOUT_MS, &q) == 0) {
		/* Ask the guest first; QEMU quits if it does not power off. */
		if (!o.force) {
			qmp_execute(q, "system_powerdown", NULL, NULL);
			for (int i = 0; i < o.timeout_s * 10 && pid_alive(pid); i++)
				usleep(100000);
		}
		if (pid_alive(pid))
			qmp_execute(q, "quit", NULL, NULL);
		qmp_close(q);
	}
	for (int i = 0; i < 50 && pid_alive(pid); i++)
		usleep(100000);
	if (pid_alive(pid))
		kill(pid, SIGKILL);
	vm_cleanup(dir, st);
	json_object_put(st);
	printf("VM '%s' stopped\n", argv[optind]);
	return EXIT_OK;
}

static json_object *vm_describe(const char *name, const char *dir, json_object *st)
{
	json_object *o = json_object_new_object(), *cpus, *mem, *slots, *devs, *jg, *disks, *numa;
	pid_t pid = qemu_pid(dir);
	bool alive = pid_alive(pid);
	struct qmp *q = NULL;
	struct vm_guest g;
	char sock[PATH_MAX];
	uint64_t plugged = 0;
	int present = -1;

	path_in(sock, sizeof sock, dir, "qmp.sock");
	if (alive && qmp_connect(sock, QMP_TIMEOUT_MS, &q) < 0)
		q = NULL;
	agent_use(q);
	guest_read(dir, false, &g);
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "state", json_object_new_string(!alive ? "dead" : q ? "running" :
								  "unreachable"));
	json_object_object_add(o, "pid", json_object_new_int(pid));
	json_object_object_add(o, "arch", json_object_new_string(jstr(st, "arch")));
	json_object_object_add(o, "accel", json_object_new_string(jstr(st, "accel")));

	cpus = json_object_new_object();
	json_object_object_add(cpus, "boot", json_object_new_int((int)jint(st, "boot_cpus")));
	json_object_object_add(cpus, "max", json_object_new_int((int)jint(st, "max_cpus")));
	slots = json_object_new_array();
	if (q) {
		json_object *r;
		if (qmp_execute(q, "query-cpus-fast", NULL, &r) == 0) {
			present = (int)json_object_array_length(r);
			json_object_put(r);
		}
		if (qmp_execute(q, "query-hotpluggable-cpus", NULL, &r) == 0) {
			for (size_t i = 0; i < json_object_array_length(r); i++) {
				json_object *e = json_object_array_get_idx(r, i), *s, *v;
				s = json_object_new_object();
				if (json_object_object_get_ex(e, "props", &v))
					json_object_object_add(s, "props", json_object_get(v));
				json_object_object_add(s, "plugged", json_object_new_boolean(
					json_object_object_get_ex(e, "qom-path", &v)));
				if (json_object_object_get_ex(e, "qom-path", &v))
					json_object_object_add(s, "qom-path", json_object_get(v));
				json_object_array_add(slots, s);
			}
			json_object_put(r);
		}
	}
	json_object_object_add(cpus, "present", present >= 0 ? json_object_new_int(present) : NULL);
	json_object_object_add(cpus, "guest_online", g.valid ? json_object_new_int((int)g.cpus) : NULL);
	json_object_object_add(cpus, "plugs_over_life", json_object_new_int((int)jint(st, "cpu_plugs")));
	json_object_object_add(cpus, "slots", slots);
	json_object_object_add(o, "cpus", cpus);

	mem = json_object_new_object();
	json_object_object_add(mem, "backend", json_object_new_string(
		jstr(st, "mem_backend")[0] ? jstr(st, "mem_backend") : "ram"));
	devs = json_object_new_array();
	{
		json_object *dimms = jarr(st, "dimms");
		for (size_t i = 0; i < json_object_array_length(dimms); i++) {
			json_object *d = json_object_array_get_idx(dimms, i), *e = json_object_new_object();
			json_object_object_add(e, "id", json_object_new_string(jstr(d, "id")));
			json_object_object_add(e, "type", json_object_new_string("dimm"));
			json_object_object_add(e, "size", json_object_new_int64(jint(d, "size")));
			json_object_object_add(e, "node", json_object_new_int((int)jint(d, "node")));
			json_object_object_add(e, "backend", json_object_new_string(
				jstr(d, "backend")[0] ? jstr(d, "backend") : "ram"));
			plugged += (uint64_t)jint(d, "size");
			json_object_array_add(devs, e);
		}
	}
	if (jint(st, "virtio_mem") > 0) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "id", json_object_new_string("vmem"));
		json_object_object_add(e, "type", json_object_new_string("virtio-mem"));
		json_object_object_add(e, "size", json_object_new_int64(jint(st, "virtio_mem")));
		json_object_object_add(e, "requested_size",
				       json_object_new_int64(jint(st, "virtio_mem_requested")));
		json_object_object_add(e, "node", json_object_new_int(0));
		plugged += (uint64_t)jint(st, "virtio_mem_requested");
		json_object_array_add(devs, e);
	}
	json_object_object_add(mem, "boot", json_object_new_int64(jint(st, "memory")));
	json_object_object_add(mem, "max", json_object_new_int64(jint(st, "max_memory")));
	json_object_object_add(mem, "slots", json_object_new_int((int)jint(st, "slots")));
	json_object_object_add(mem, "plugged", json_object_new_int64((int64_t)plugged));
	json_object_object_add(mem, "guest_total", g.valid ?
			       json_object_new_int64((int64_t)g.mem_kib * 1024) : NULL);
	json_object_object_add(mem, "devices", devs);
	json_object_object_add(o, "memory", mem);

	numa = json_object_new_array();
	{
		unsigned nodes = (unsigned)jint(st, "numa"), maxc = (unsigned)jint(st, "max_cpus");
		if (!nodes)
			nodes = 1;
		for (unsigned i = 0; i < nodes; i++) {
			json_object *n = json_object_new_object(), *cl = json_object_new_array();
			for (unsigned c = i * (maxc / nodes); c < (i + 1) * (maxc / nodes); c++)
				json_object_array_add(cl, json_object_new_int((int)c));
			json_object_object_add(n, "node", json_object_new_int((int)i));
			json_object_object_add(n, "cpus", cl);
			json_object_object_add(n, "memory", json_object_new_int64(jint(st, "memory") / nodes));
			json_object_object_add(n, "guest_memory", g.valid && i < g.nnodes ?
				json_object_new_int64((int64_t)g.node_kib[i] * 1024) : NULL);
			json_object_array_add(numa, n);
		}
	}
	json_object_object_add(o, "numa", numa);
	disks = json_object_new_array();
	{
		json_object *d = jarr(st, "disks");
		for (size_t i = 0; i < json_object_array_length(d); i++) {
			json_object *e = json_object_array_get_idx(d, i), *x = json_object_new_object();
			json_object_object_add(x, "location", json_object_new_string(jstr(e, "location")));
			json_object_object_add(x, "socket", json_object_new_string(jstr(e, "socket")));
			json_object_array_add(disks, x);
		}
	}
	json_object_object_add(o, "disks", disks);
	if (g.valid) {
		json_object *n = json_object_new_array();
		jg = json_object_new_object();
		json_object_object_add(jg, "source", json_object_new_string(g.from_agent ? "agent" :
									      "console"));
		json_object_object_add(jg, "seq", json_object_new_int((int)g.seq));
		json_object_object_add(jg, "cpus", json_object_new_int((int)g.cpus));
		json_object_object_add(jg, "cpu_list", json_object_new_string(g.cpu_list));
		json_object_object_add(jg, "mem_kib", json_object_new_int64((int64_t)g.mem_kib));
		for (unsigned i = 0; i < g.nnodes; i++)
			json_object_array_add(n, json_object_new_int64((int64_t)g.node_kib[i]));
		json_object_object_add(jg, "nodes", n);
		json_object_object_add(o, "guest", jg);
	} else {
		json_object_object_add(o, "guest", NULL);
	}
	agent_drop();
	qmp_close(q);
	return o;
}

static void print_status(json_object *o)
{
	json_object *c, *m, *g, *v;

	json_object_object_get_ex(o, "cpus", &c);
	json_object_object_get_ex(o, "memory", &m);
	printf("%s: %s (pid %d, %s)\n", jstr(o, "name"), jstr(o, "state"), (int)jint(o, "pid"),
	       jstr(o, "accel"));
	printf("  vCPUs: %s present of %d max (%d at boot)\n",
	       json_object_object_get_ex(c, "present", &v) && v ? json_object_get_string(v) : "?",
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
	char dir[VM_DIR_MAX];
	json_object *st, *d;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return cli_usage(cmd, "expected the VM's NAME");
	if (vm_dir(argv[optind], dir, sizeof dir) < 0)
		return cli_fail_lib(cmd);
	st = state_load(dir);
	if (!st) {
		fprintf(stderr, "%s %s: no VM named '%s' (see 'mortar vm list')\n", progname,
			cmd, argv[optind]);
		return EXIT_ERROR;
	}
	d = vm_describe(argv[optind], dir, st);
	if (o.out == OUTPUT_JSON)
		cli_print_json(json_object_get(d));
	else
		print_status(d);
	json_object_put(d);
	json_object_put(st);
	return EXIT_OK;
}

static int vm_list(int argc, char **argv)
{
	const char *cmd = "vm list";
	struct vm_opts o;
	char base[VM_DIR_MAX], dir[VM_DIR_MAX + 256];
	json_object *arr = json_object_new_array();
	struct dirent *de;
	DIR *dp;

	if (vm_getopt(cmd, argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (vm_dir("x", base, sizeof base) < 0)
		return cli_fail_lib(cmd);
	base[strlen(base) - 2] = '\0';
	dp = opendir(base);
	while (dp && (de = readdir(dp))) {
		json_object *st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof dir, "%s/%s", base, de->d_name);
		st = state_load(dir);
		if (!st)
			continue;
		json_object_array_add(arr, vm_describe(de->d_name, dir, st));
		json_object_put(st);
	}
	if (dp)
		closedir(dp);
	if (o.out == OUTPUT_JSON) {
		cli_print_json(arr);
		return EXIT_OK;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *v = json_object_array_get_idx(arr, i), *c;
		json_object_object_get_ex(v, "cpus", &c);
		printf("%-20s %-8s pid %-8d %s vCPUs\n", jstr(v, "name"), jstr(v, "state"),
		       (int)jint(v, "pid"), jstr(c, "present"));
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
