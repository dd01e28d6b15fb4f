/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The settings of `mortar vm start` (vm.h): from options or a file of
 * key=value lines, each value parsed whole (a count that is not a
 * number is refused, not read as 0). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/mortar.h>
#include "error.h"
#include "disk.h"
#include "vm.h"

void mortar_vm_config_init(struct mortar_vm_config *c)
{
	memset(c, 0, sizeof *c);
	c->cpus = 1;
	c->mem = 512ull << 20;
}

void mortar_vm_config_free(struct mortar_vm_config *c)
{
	free(c->kernel);
	free(c->initrd);
	free(c->append);
	free(c->accel);
	free(c->qemu);
	for (unsigned i = 0; i < c->ndisks; i++)
		free(c->disks[i]);
	memset(c, 0, sizeof *c);
}

/* A count: decimal digits only, at most 65535 (the rules say more). */
static int set_count(const char *key, const char *value, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = value[0] >= '0' && value[0] <= '9' ? strtoul(value, &end, 10) : 0;
	if (value[0] < '0' || value[0] > '9' || *end || errno || v > 65535)
		return mortar_set_error(EINVAL, "--%s %s: not a whole number from 0 to 65535",
					key, value);
	*out = (unsigned)v;
	return 0;
}

static int set_string(char **field, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return mortar_set_error(ENOMEM, "out of memory");
	free(*field);
	*field = s;
	return 0;
}

static int set_size(const char *key, const char *value, uint64_t *out)
{
	if (mortar_parse_size(value, out) < 0) {
		mortar_error_prefix("--%s", key);
		return -EINVAL;
	}
	return 0;
}

static int set_arch(const char *value, enum vm_arch *arch)
{
	if (!strcmp(value, "x86_64"))
		*arch = VM_ARCH_X86_64;
	else if (!strcmp(value, "ppc64") || !strcmp(value, "ppc64le"))
		*arch = VM_ARCH_PPC64;
	else
		return mortar_set_error(EINVAL, "--arch %s: x86_64 (q35) or ppc64 (pseries)",
					value);
	return 0;
}

static int set_disk(struct mortar_vm_config *c, const char *value)
{
	if (c->ndisks == MORTAR_VM_MAX_DISKS)
		return mortar_set_error(EINVAL, "at most %d disks", MORTAR_VM_MAX_DISKS);
	c->disks[c->ndisks] = NULL;
	if (set_string(&c->disks[c->ndisks], value) < 0)
		return -ENOMEM;
	c->ndisks++;
	return 0;
}

int mortar_vm_config_set(struct mortar_vm_config *c, const char *key, const char *value)
{
	char why[PATH_MAX + 128];

	if (!strcmp(key, "cpus"))
		return set_count(key, value, &c->cpus);
	if (!strcmp(key, "max-cpus"))
		return set_count(key, value, &c->max_cpus);
	if (!strcmp(key, "slots"))
		return set_count(key, value, &c->slots);
	if (!strcmp(key, "numa"))
		return set_count(key, value, &c->numa);
	if (!strcmp(key, "memory"))
		return set_size(key, value, &c->mem);
	if (!strcmp(key, "max-memory"))
		return set_size(key, value, &c->max_mem);
	if (!strcmp(key, "virtio-mem"))
		return set_size(key, value, &c->vmem);
	if (!strcmp(key, "kernel"))
		return set_string(&c->kernel, value);
	if (!strcmp(key, "initrd"))
		return set_string(&c->initrd, value);
	if (!strcmp(key, "append"))
		return set_string(&c->append, value);
	if (!strcmp(key, "accel"))
		return set_string(&c->accel, value);
	if (!strcmp(key, "qemu"))
		return set_string(&c->qemu, value);
	if (!strcmp(key, "disk"))
		return set_disk(c, value);
	if (!strcmp(key, "disk-protocol"))
		return vm_disk_protocol_parse(value, &c->disk_protocol);
	if (!strcmp(key, "arch"))
		return set_arch(value, &c->arch);
	if (!strcmp(key, "mem-backend")) {
		if (vm_membk_parse(value, &c->membk, why, sizeof why) < 0)
			return mortar_set_error(EINVAL, "--mem-backend: %s", why);
		return 0;
	}
	return mortar_set_error(EINVAL, "unknown setting '%s'", key);
}

/* Split LINE ("key = value\n") in place: the key, or NULL for a blank
 * line or a comment; *VALUE NULL when there is no '='. */
static char *split_line(char *line, char **value)
{
	char *k = line, *eq, *end;

	*value = NULL;
	k += strspn(k, " \t");
	if (*k == '#' || *k == '\n' || !*k)
		return NULL;
	k[strcspn(k, "\n")] = '\0';
	eq = strchr(k, '=');
	if (!eq)
		return k;
	for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	eq++;
	*value = eq + strspn(eq, " \t");
	return k;
}

int mortar_vm_config_file(struct mortar_vm_config *c, const char *path)
{
	char line[1024], *key = NULL, *value = NULL;
	FILE *f = fopen(path, "re");
	int n = 0, r = 0;

	if (!f)
		return mortar_set_error(errno, "%s: %m", path);
	while (r == 0 && fgets(line, sizeof line, f)) {
		n++;
		key = split_line(line, &value);
		if (key && !value)
			r = mortar_set_error(EINVAL, "%s:%d: expected key=value", path, n);
		else if (key && mortar_vm_config_set(c, key, value) < 0)
			r = -EINVAL;
	}
	fclose(f);
	if (r < 0 && key && value)
		mortar_error_prefix("%s:%d", path, n);
	return r;
}
