/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's own view, from its console log (guest.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "guest.h"

bool vm_guest_parse(const char *line, struct vm_guest *g)
{
	struct vm_guest n = { 0 };
	const char *p = strstr(line, "MORTAR-GUEST v1 ");
	char nodes[512] = "";
	char *s, *save = NULL;

	if (!p)
		return false;
	if (sscanf(p, "MORTAR-GUEST v1 seq=%u cpus=%u cpu_list=%127s mem_kib=%lu nodes=%511s",
		   &n.seq, &n.cpus, n.cpu_list, &n.mem_kib, nodes) != 5)
		return false;
	for (s = strtok_r(nodes, ",", &save); s && n.nnodes < VM_MAX_NODES;
	     s = strtok_r(NULL, ",", &save))
		n.node_kib[n.nnodes++] = strtoull(s, NULL, 10);
	n.valid = true;
	*g = n;
	return true;
}

int vm_guest_read(const char *path, struct vm_guest *g)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	memset(g, 0, sizeof *g);
	if (!f)
		return errno == ENOENT ? 0 : mortar_set_error(errno, "%s: %m", path);
	while (fgets(line, sizeof line, f))
		vm_guest_parse(line, g);	/* the last one wins */
	fclose(f);
	return 0;
}
