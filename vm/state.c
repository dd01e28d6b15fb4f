/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json (state.h).  Reading checks every value's type and range:
 * the file is ours, but a hand edit or a full disk may have damaged it,
 * and a bad value must become a message, not a QEMU argument.  Keys
 * missing from files of older versions take their defaults. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "error.h"
#include "vm-json.h"
#include "state.h"

/* ---- reading: a damaged value stops the load, the first one is named ---- */

struct rd {
	const char *path;
	int err;
};

static int rd_fail(struct rd *r, const char *key, const char *what)
{
	if (!r->err)
		r->err = mortar_set_error(EINVAL, "%s is damaged: \"%s\" %s; stop the VM "
					  "('mortar vm stop --force') and start it again",
					  r->path, key, what);
	return r->err;
}

/* O's KEY as a whole number in [LO, HI]; DFLT when absent. */
static int64_t rd_int(struct rd *r, json_object *o, const char *key, int64_t lo, int64_t hi,
		      int64_t dflt)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return dflt;
	if (!json_object_is_type(v, json_type_int))
		return rd_fail(r, key, "is not a whole number"), dflt;
	n = json_object_get_int64(v);
	if (n < lo || n > hi)
		return rd_fail(r, key, "is out of range"), dflt;
	return n;
}

static bool rd_bool(struct rd *r, json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return false;
	if (!json_object_is_type(v, json_type_boolean))
		return rd_fail(r, key, "is not true or false"), false;
	return json_object_get_boolean(v);
}

/* O's KEY as a string: "" (or NULL with ALLOW_NULL) when absent. */
static const char *rd_str(struct rd *r, json_object *o, const char *key, bool allow_null)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return allow_null ? NULL : "";
	if (!json_object_is_type(v, json_type_string))
		return rd_fail(r, key, "is not a string"), "";
	return json_object_get_string(v);
}

static void rd_copy(struct rd *r, json_object *o, const char *key, char *buf, size_t len)
{
	const char *s = rd_str(r, o, key, false);

	if (strlen(s) >= len)
		rd_fail(r, key, "is too long");
	else
		memcpy(buf, s, strlen(s) + 1);
}

static char *rd_dup(struct rd *r, json_object *o, const char *key)
{
	const char *s = rd_str(r, o, key, true);
	char *d = s ? strdup(s) : NULL;

	if (s && !d && !r->err)
		r->err = mortar_set_error(ENOMEM, "out of memory");
	return d;
}

/* O's KEY as an array (an empty one when absent); its length in *N. */
static json_object *rd_array(struct rd *r, json_object *o, const char *key, size_t *n)
{
	json_object *v;

	*n = 0;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	if (!json_object_is_type(v, json_type_array))
		return rd_fail(r, key, "is not a list"), NULL;
	*n = json_object_array_length(v);
	return v;
}

static void rd_membk(struct rd *r, json_object *o, const char *key, struct vm_membk *b)
{
	const char *spec = rd_str(r, o, key, false);
	char why[PATH_MAX + 128];

	/* (ram for VMs and DIMMs recorded before there was a choice) */
	if (vm_membk_parse(spec[0] ? spec : "ram", b, why, sizeof why) < 0)
		rd_fail(r, key, "is not a memory backend");
}

static void rd_cpu(struct rd *r, json_object *o, void *elem)
{
	struct vm_cpu *c = elem;
	json_object *props;

	rd_copy(r, o, "id", c->id, sizeof c->id);
	rd_copy(r, o, "driver", c->driver, sizeof c->driver);
	c->slot = rd_int(r, o, "slot", 0, INT_MAX, 0);
	if (!json_object_object_get_ex(o, "props", &props) || !props)
		return;
	if (!json_object_is_type(props, json_type_object)) {
		rd_fail(r, "props", "is not an object");
		return;
	}
	json_object_object_foreach(props, k, v) {
		struct vm_cpu_prop *p = &c->props[c->nprops];

		(void)v;
		if (c->nprops == VM_CPU_PROPS_MAX) {
			rd_fail(r, "props", "has too many entries");
			return;
		}
		if (strlen(k) >= sizeof p->name) {
			rd_fail(r, "props", "has a name that is too long");
			return;
		}
		strcpy(p->name, k);
		p->value = rd_int(r, props, k, 0, INT_MAX, 0);
		c->nprops++;
	}
}

static void rd_dimm(struct rd *r, json_object *o, void *elem)
{
	struct vm_dimm *d = elem;

	rd_copy(r, o, "id", d->id, sizeof d->id);
	rd_copy(r, o, "memdev", d->memdev, sizeof d->memdev);
	d->size = (uint64_t)rd_int(r, o, "size", 1, INT64_MAX, 0);
	d->node = (int)rd_int(r, o, "node", 0, VM_MAX_NUMA - 1, 0);
	rd_membk(r, o, "backend", &d->backend);
}

static void rd_disk(struct rd *r, json_object *o, void *elem)
{
	struct vm_disk *d = elem;

	d->location = rd_dup(r, o, "location");
	rd_copy(r, o, "socket", d->socket, sizeof d->socket);
	d->server_pid = (pid_t)rd_int(r, o, "server_pid", 0, INT_MAX, 0);
	/* (states written before vhost-user disks name no protocol: NBD) */
	const char *p = rd_str(r, o, "protocol", false);

	d->protocol = !strcmp(p, "vhost-user") ? VM_DISK_VHOST_USER : VM_DISK_NBD;
	if (*p && strcmp(p, "vhost-user") && strcmp(p, "nbd"))
		rd_fail(r, "protocol", "is neither vhost-user nor nbd");
}

/* O's KEY, a list of objects, into a new array of SIZE-byte elements,
 * each read by FN; their number in *COUNT. */
static void *rd_list(struct rd *r, json_object *o, const char *key, size_t size,
		     void (*fn)(struct rd *, json_object *, void *), size_t *count)
{
	size_t n;
	json_object *a = rd_array(r, o, key, &n);
	char *arr = n ? calloc(n, size) : NULL;

	if (n && !arr && !r->err)
		r->err = mortar_set_error(ENOMEM, "out of memory");
	for (size_t i = 0; arr && i < n && !r->err; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!json_object_is_type(e, json_type_object))
			rd_fail(r, key, "has an entry that is not an object");
		else
			fn(r, e, arr + size * (*count)++);
	}
	return arr;
}

static void rd_argv(struct rd *r, json_object *o, struct vm_state *st)
{
	size_t n;
	json_object *a = rd_array(r, o, "qemu_argv", &n);

	if (!a || r->err)
		return;
	st->qemu_argv = calloc(n + 1, sizeof *st->qemu_argv);
	for (size_t i = 0; st->qemu_argv && i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!json_object_is_type(e, json_type_string)) {
			rd_fail(r, "qemu_argv", "has an entry that is not a string");
			return;
		}
		st->qemu_argv[i] = strdup(json_object_get_string(e));
		if (!st->qemu_argv[i])
			break;
	}
	if ((!st->qemu_argv || (n && !st->qemu_argv[n - 1])) && !r->err)
		r->err = mortar_set_error(ENOMEM, "out of memory");
}

static void rd_state(struct rd *r, json_object *o, struct vm_state *st)
{
	const char *arch = rd_str(r, o, "arch", false);

	rd_copy(r, o, "name", st->name, sizeof st->name);
	if (strcmp(arch, "x86_64") && strcmp(arch, "ppc64"))
		rd_fail(r, "arch", "is neither x86_64 nor ppc64");
	st->arch = !strcmp(arch, "ppc64") ? VM_ARCH_PPC64 : VM_ARCH_X86_64;
	rd_copy(r, o, "accel", st->accel, sizeof st->accel);
	rd_copy(r, o, "cpu_model", st->cpu_model, sizeof st->cpu_model);
	st->kernel = rd_dup(r, o, "kernel");
	st->initrd = rd_dup(r, o, "initrd");
	st->append = rd_dup(r, o, "append");
	st->boot_cpus = (unsigned)rd_int(r, o, "boot_cpus", 0, 4096, 0);
	st->max_cpus = (unsigned)rd_int(r, o, "max_cpus", 0, 4096, 0);
	st->slots = (unsigned)rd_int(r, o, "slots", 0, 4096, 0);
	st->numa = (unsigned)rd_int(r, o, "numa", 0, VM_MAX_NUMA, 0);
	st->memory = (uint64_t)rd_int(r, o, "memory", 0, INT64_MAX, 0);
	st->max_memory = (uint64_t)rd_int(r, o, "max_memory", 0, INT64_MAX, 0);
	st->virtio_mem = (uint64_t)rd_int(r, o, "virtio_mem", 0, INT64_MAX, 0);
	st->virtio_mem_requested = (uint64_t)rd_int(r, o, "virtio_mem_requested", 0,
						    INT64_MAX, 0);
	rd_membk(r, o, "mem_backend", &st->membk);
	st->qemu = rd_dup(r, o, "qemu");
	rd_copy(r, o, "machine", st->machine, sizeof st->machine);
	st->qemu_version = (int)rd_int(r, o, "qemu_version", 0, INT_MAX, 0);
	st->cpu_plugs = (unsigned)rd_int(r, o, "cpu_plugs", 0, INT_MAX, 0);
	st->cpu_unplugged = rd_bool(r, o, "cpu_unplugged");
	st->dimm_seq = (unsigned)rd_int(r, o, "dimm_seq", 0, INT_MAX, 0);
	st->migrated = (unsigned)rd_int(r, o, "migrated", 0, INT_MAX, 0);
	st->cpus = rd_list(r, o, "cpus", sizeof *st->cpus, rd_cpu, &st->ncpus);
	st->dimms = rd_list(r, o, "dimms", sizeof *st->dimms, rd_dimm, &st->ndimms);
	st->disks = rd_list(r, o, "disks", sizeof *st->disks, rd_disk, &st->ndisks);
	rd_argv(r, o, st);
}

int vm_state_load(const char *dir, struct vm_state *st)
{
	char path[PATH_MAX];
	struct rd r = { .path = path };
	json_object *o;

	memset(st, 0, sizeof *st);
	snprintf(path, sizeof path, "%s/state.json", dir);
	o = json_object_from_file(path);
	if (!o) {
		if (access(path, F_OK) < 0)
			return mortar_set_error(ENOENT, "%s: %m", path);
		return mortar_set_error(EINVAL, "%s is damaged (not JSON); stop the VM "
					"('mortar vm stop --force') and start it again", path);
	}
	if (!json_object_is_type(o, json_type_object))
		rd_fail(&r, "(top)", "is not an object");
	else
		rd_state(&r, o, st);
	json_object_put(o);
	return r.err;
}

int vm_state_parse(const char *text, const char *origin, struct vm_state *st)
{
	struct rd r = { .path = origin };
	json_object *o = json_tokener_parse(text);

	memset(st, 0, sizeof *st);
	if (!o || !json_object_is_type(o, json_type_object))
		rd_fail(&r, "(top)", "is not a JSON object");
	else
		rd_state(&r, o, st);
	json_object_put(o);
	return r.err;
}

/* ---- writing ---- */

static json_object *cpu_json(const struct vm_cpu *c)
{
	json_object *o = json_object_new_object(), *props = json_object_new_object();

	vm_json_put_int(o, "slot", c->slot);
	vm_json_put_str(o, "id", c->id);
	for (unsigned i = 0; i < c->nprops; i++)
		vm_json_put_int(props, c->props[i].name, c->props[i].value);
	json_object_object_add(o, "props", props);
	vm_json_put_str(o, "driver", c->driver);
	return o;
}

static json_object *dimm_json(const struct vm_dimm *d)
{
	json_object *o = json_object_new_object();

	vm_json_put_str(o, "id", d->id);
	vm_json_put_str(o, "memdev", d->memdev);
	vm_json_put_int(o, "size", (int64_t)d->size);
	vm_json_put_int(o, "node", d->node);
	vm_membk_put(o, "backend", &d->backend);
	return o;
}

static json_object *disk_json(const struct vm_disk *d)
{
	json_object *o = json_object_new_object();

	vm_json_put_str(o, "location", d->location ? d->location : "");
	vm_json_put_str(o, "socket", d->socket);
	vm_json_put_int(o, "server_pid", d->server_pid);
	vm_json_put_str(o, "protocol", d->protocol == VM_DISK_VHOST_USER ? "vhost-user" : "nbd");
	return o;
}

static json_object *state_json(const struct vm_state *st)
{
	json_object *o = json_object_new_object(), *a;

	vm_json_put_str(o, "name", st->name);
	vm_json_put_str(o, "arch", st->arch == VM_ARCH_PPC64 ? "ppc64" : "x86_64");
	vm_json_put_str(o, "accel", st->accel);
	vm_json_put_str(o, "cpu_model", st->cpu_model);
	vm_json_put_str(o, "kernel", st->kernel ? st->kernel : "");
	vm_json_put_str(o, "initrd", st->initrd ? st->initrd : "");
	if (st->append)
		vm_json_put_str(o, "append", st->append);
	vm_json_put_int(o, "boot_cpus", st->boot_cpus);
	vm_json_put_int(o, "max_cpus", st->max_cpus);
	vm_json_put_int(o, "memory", (int64_t)st->memory);
	vm_json_put_int(o, "max_memory", (int64_t)st->max_memory);
	vm_json_put_int(o, "slots", st->slots);
	vm_json_put_int(o, "numa", st->numa);
	vm_json_put_int(o, "virtio_mem", (int64_t)st->virtio_mem);
	vm_json_put_int(o, "virtio_mem_requested", (int64_t)st->virtio_mem_requested);
	vm_membk_put(o, "mem_backend", &st->membk);
	if (st->qemu)
		vm_json_put_str(o, "qemu", st->qemu);
	vm_json_put_str(o, "machine", st->machine);
	vm_json_put_int(o, "qemu_version", st->qemu_version);
	vm_json_put_int(o, "cpu_plugs", st->cpu_plugs);
	json_object_object_add(o, "cpu_unplugged", json_object_new_boolean(st->cpu_unplugged));
	vm_json_put_int(o, "dimm_seq", st->dimm_seq);
	vm_json_put_int(o, "migrated", st->migrated);
	a = json_object_new_array();
	for (size_t i = 0; i < st->ncpus; i++)
		json_object_array_add(a, cpu_json(&st->cpus[i]));
	json_object_object_add(o, "cpus", a);
	a = json_object_new_array();
	for (size_t i = 0; i < st->ndimms; i++)
		json_object_array_add(a, dimm_json(&st->dimms[i]));
	json_object_object_add(o, "dimms", a);
	a = json_object_new_array();
	for (size_t i = 0; i < st->ndisks; i++)
		json_object_array_add(a, disk_json(&st->disks[i]));
	json_object_object_add(o, "disks", a);
	a = json_object_new_array();
	for (size_t i = 0; st->qemu_argv && st->qemu_argv[i]; i++)
		json_object_array_add(a, json_object_new_string(st->qemu_argv[i]));
	json_object_object_add(o, "qemu_argv", a);
	return o;
}

int vm_state_save(const char *dir, const struct vm_state *st)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	json_object *o = state_json(st);
	int r = 0;

	snprintf(path, sizeof path, "%s/state.json", dir);
	snprintf(tmp, sizeof tmp, "%s/.state.json.tmp", dir);
	if (json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PRETTY) < 0 || rename(tmp, path) < 0)
		r = mortar_set_error(errno ? errno : EIO, "cannot write %s: %m", path);
	json_object_put(o);
	return r;
}

char *vm_state_text(const struct vm_state *st)
{
	json_object *o = state_json(st);
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	if (!s)
		mortar_set_error(ENOMEM, "out of memory");
	return s;
}

void vm_state_free(struct vm_state *st)
{
	free(st->kernel);
	free(st->initrd);
	free(st->append);
	free(st->qemu);
	free(st->cpus);
	free(st->dimms);
	for (size_t i = 0; i < st->ndisks; i++)
		free(st->disks[i].location);
	free(st->disks);
	for (size_t i = 0; st->qemu_argv && st->qemu_argv[i]; i++)
		free(st->qemu_argv[i]);
	free(st->qemu_argv);
	memset(st, 0, sizeof *st);
}

/* ---- the lists ---- */

/* Room for one more element of SIZE in *ARRAY of N. */
static int grow(void **array, size_t n, size_t size)
{
	void *a = realloc(*array, (n + 1) * size);

	if (!a)
		return mortar_set_error(ENOMEM, "out of memory");
	*array = a;
	return 0;
}

int vm_state_add_cpu(struct vm_state *st, const struct vm_cpu *c)
{
	if (grow((void **)&st->cpus, st->ncpus, sizeof *c) < 0)
		return -ENOMEM;
	st->cpus[st->ncpus++] = *c;
	return 0;
}

int vm_state_add_dimm(struct vm_state *st, const struct vm_dimm *d)
{
	if (grow((void **)&st->dimms, st->ndimms, sizeof *d) < 0)
		return -ENOMEM;
	st->dimms[st->ndimms++] = *d;
	return 0;
}

int vm_state_add_disk(struct vm_state *st, const char *location, const char *socket,
		      pid_t server_pid, enum vm_disk_protocol protocol)
{
	struct vm_disk d = { .location = strdup(location), .server_pid = server_pid,
			     .protocol = protocol };

	if (strlen(socket) >= sizeof d.socket)
		return free(d.location), mortar_set_error(ENAMETOOLONG, "socket path too "
							  "long: %s", socket);
	strcpy(d.socket, socket);
	if (!d.location || grow((void **)&st->disks, st->ndisks, sizeof d) < 0) {
		free(d.location);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	st->disks[st->ndisks++] = d;
	return 0;
}

int vm_state_set_qemu(struct vm_state *st, const char *qemu)
{
	char *q = strdup(qemu);

	if (!q)
		return mortar_set_error(ENOMEM, "out of memory");
	free(st->qemu);
	st->qemu = q;
	return 0;
}

bool vm_state_vhost(const struct vm_state *st)
{
	for (size_t i = 0; i < st->ndisks; i++)
		if (st->disks[i].protocol == VM_DISK_VHOST_USER)
			return true;
	return false;
}

void vm_state_del_cpu(struct vm_state *st, size_t i)
{
	memmove(&st->cpus[i], &st->cpus[i + 1], (st->ncpus - i - 1) * sizeof *st->cpus);
	st->ncpus--;
}

void vm_state_del_dimm(struct vm_state *st, size_t i)
{
	memmove(&st->dimms[i], &st->dimms[i + 1], (st->ndimms - i - 1) * sizeof *st->dimms);
	st->ndimms--;
}

ssize_t vm_state_find_cpu(const struct vm_state *st, const char *id)
{
	for (size_t i = 0; i < st->ncpus; i++)
		if (!strcmp(st->cpus[i].id, id))
			return (ssize_t)i;
	return -1;
}

ssize_t vm_state_find_dimm(const struct vm_state *st, const char *id)
{
	for (size_t i = 0; i < st->ndimms; i++)
		if (!strcmp(st->dimms[i].id, id))
			return (ssize_t)i;
	return -1;
}

uint64_t vm_state_dimm_bytes(const struct vm_state *st)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < st->ndimms; i++)
		sum += st->dimms[i].size;
	return sum;
}

void vm_state_topo(const struct vm_state *st, unsigned present_cpus, struct vm_topo *t)
{
	*t = (struct vm_topo){
		.arch = st->arch,
		.boot_cpus = st->boot_cpus,
		.max_cpus = st->max_cpus,
		.present_cpus = present_cpus,
		.cpu_plugs = st->cpu_plugs,
		.cpu_unplugged = st->cpu_unplugged,
		.tcg = !strcmp(st->accel, "tcg"),
		.qemu_version = st->qemu_version,
		.boot_mem = st->memory,
		.max_mem = st->max_memory,
		.plugged_mem = vm_state_dimm_bytes(st),
		.slots = st->slots,
		.slots_used = (unsigned)st->ndimms,
		.nodes = st->numa,
	};
}
