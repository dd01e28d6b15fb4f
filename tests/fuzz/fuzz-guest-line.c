/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the guest's console status lines (vm/guest.c,
 * protocol in scripts/guest/README).
 *
 * The console is the guest's to write: anything may come.  A line that
 * parses must give a well-formed view (a terminated cpu list of one
 * word, at most VM_MAX_NODES nodes), and that view, written back as a
 * status line, must parse to the very same view; anything else is a bug
 * in the parser, so the target aborts and libFuzzer keeps the input.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* G as the guest would print it. */
static void format_line(const struct vm_guest *g, char *buf, size_t len)
{
	int n = snprintf(buf, len, "MORTAR-GUEST v1 seq=%u cpus=%u cpu_list=%s mem_kib=%" PRIu64
			 " nodes=", g->seq, g->cpus, g->cpu_list, g->mem_kib);

	for (unsigned i = 0; i < g->nnodes && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, "%s%" PRIu64, i ? "," : "", g->node_kib[i]);
}

static int same(const struct vm_guest *a, const struct vm_guest *b)
{
	if (a->valid != b->valid || a->seq != b->seq || a->cpus != b->cpus ||
	    strcmp(a->cpu_list, b->cpu_list) || a->mem_kib != b->mem_kib || a->nnodes != b->nnodes)
		return 0;
	for (unsigned i = 0; i < a->nnodes; i++)
		if (a->node_kib[i] != b->node_kib[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_guest g, again;
	char *line, out[1024];

	/* vm_guest_read hands over lines of at most 1023 bytes */
	if (size > 1023)
		return 0;
	line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (vm_guest_parse(line, &g)) {
		if (!g.valid || g.nnodes > VM_MAX_NODES || g.from_agent ||
		    strnlen(g.cpu_list, sizeof g.cpu_list) == sizeof g.cpu_list ||
		    strpbrk(g.cpu_list, " \t\n") || !g.cpu_list[0])
			abort();
		format_line(&g, out, sizeof out);
		if (!vm_guest_parse(out, &again) || !same(&g, &again)) {
			fprintf(stderr, "the view does not read back:\n  %s\n  %s\n", line, out);
			abort();
		}
	}
	free(line);
	return 0;
}
