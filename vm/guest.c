/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's own view, from its console log (guest.h).  The console is
 * the guest's to write and the kernel's to interleave with: a line is
 * read only when every field is there, in order, whole and in range;
 * anything else is not a status line. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "guest.h"

#define LINE_START "MORTAR-GUEST v1 "

/* A decimal number of TEXT's first LEN characters, at most MAX. */
static bool number(const char *text, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(text[i] - '0');

		if (text[i] < '0' || text[i] > '9' || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* The value of field KEY at *P ("KEY=VALUE"), ended by a space or the
 * end of the line; *P moves past it and its space.  Its length in *LEN. */
static const char *field(const char **p, const char *key, size_t *len)
{
	size_t k = strlen(key);
	const char *v;

	if (strncmp(*p, key, k) || (*p)[k] != '=')
		return NULL;
	v = *p + k + 1;
	*len = strcspn(v, " \r\n");
	*p = v + *len + (v[*len] == ' ');
	return *len ? v : NULL;
}

static bool number_field(const char **p, const char *key, uint64_t max, uint64_t *out)
{
	size_t len;
	const char *v = field(p, key, &len);

	return v && number(v, len, max, out);
}

/* "0-2,5": digits, dashes and commas. */
static bool cpu_list_field(const char **p, struct vm_guest *g)
{
	size_t len;
	const char *v = field(p, "cpu_list", &len);

	if (!v || len >= sizeof g->cpu_list || strspn(v, "0123456789,-") < len)
		return false;
	memcpy(g->cpu_list, v, len);
	g->cpu_list[len] = '\0';
	return true;
}

/* "K0,K1,...": the first VM_MAX_NODES are kept. */
static bool nodes_field(const char **p, struct vm_guest *g)
{
	size_t len;
	const char *v = field(p, "nodes", &len), *end;

	if (!v)
		return false;
	end = v + len;
	while (v < end) {
		size_t n = strcspn(v, ",");
		uint64_t kib;

		if (v + n > end)
			n = (size_t)(end - v);
		if (!number(v, n, UINT64_MAX, &kib))
			return false;
		if (g->nnodes < VM_MAX_NODES)
			g->node_kib[g->nnodes++] = kib;
		v += n;
		if (v < end && ++v == end)
			return false;	/* a trailing comma */
	}
	return true;
}

bool vm_guest_parse(const char *line, struct vm_guest *g)
{
	struct vm_guest n = { 0 };
	const char *p = strstr(line, LINE_START);
	uint64_t seq, cpus;

	if (!p)
		return false;
	p += strlen(LINE_START);
	if (!number_field(&p, "seq", UINT_MAX, &seq) || !number_field(&p, "cpus", UINT_MAX, &cpus) ||
	    !cpu_list_field(&p, &n) || !number_field(&p, "mem_kib", UINT64_MAX, &n.mem_kib) ||
	    !nodes_field(&p, &n) || p[strspn(p, " \r\n")] != '\0')
		return false;
	n.seq = (unsigned)seq;
	n.cpus = (unsigned)cpus;
	n.valid = true;
	*g = n;
	return true;
}

int vm_guest_read(const char *path, struct vm_guest *g)
{
	char line[1024];
	FILE *f = fopen(path, "re");

	memset(g, 0, sizeof *g);
	if (!f)
		return errno == ENOENT ? 0 : mortar_set_error(errno, "%s: %m", path);
	/* (the last whole one wins: a line without its newline may still
	 * be being written) */
	while (fgets(line, sizeof line, f))
		if (strchr(line, '\n'))
			vm_guest_parse(line, g);
	fclose(f);
	return 0;
}
