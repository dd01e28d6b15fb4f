/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the guest itself sees (view.c): its console status lines when it
 * prints them (guest.h), else its QEMU guest agent when it runs one
 * (agent.h), and waiting until it shows a change. */
#ifndef MORTAR_VM_VIEW_H
#define MORTAR_VM_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "guest.h"
#include "qmp.h"

/* One process's session with the guest of one VM. */
struct vm_view {
	char console[128];	/* the console log */
	char agent_sock[128];	/* the agent's socket */
	struct qmp *qmp;	/* the VM's QMP (not owned): is the agent's port open? */
	struct qmp *agent;	/* connected once the agent answered */
	long next_check_ms;	/* when to look for the agent again */
	bool agent_first;	/* the agent answered: ask it first from now on */
};

/* Where a view comes from; the two count memory differently. */
enum vm_view_source {
	VM_FROM_ANY,
	VM_FROM_CONSOLE,	/* MemTotal */
	VM_FROM_AGENT,		/* online memory blocks */
};

/* What to wait for: -1 in a field means any. */
struct vm_expect {
	int cpus;
	int64_t kib_min, kib_max;
	enum vm_view_source source;	/* of the figures (a view taken before) */
};

#define VM_EXPECT_ANY ((struct vm_expect){ -1, -1, -1, VM_FROM_ANY })

/* A session for the VM whose runtime directory is DIR and whose QMP is
 * QMP (NULL: the console only; the agent is found through QMP). */
void vm_view_init(struct vm_view *v, const char *dir, const char *console, struct qmp *qmp);
/* Forget QMP and the agent (the VM moved or stopped). */
void vm_view_close(struct vm_view *v);

/* The guest's view now into G (g->valid false: no view yet).  With
 * ONLINE, the agent first onlines what QEMU plugged and the guest left
 * offline. */
void vm_view_read(struct vm_view *v, bool online, struct vm_guest *g);

/* Wait up to TIMEOUT_S for the guest to show E; its last view in G.
 * 0, or -ETIMEDOUT with a message that says what the guest did not do. */
int vm_view_wait(struct vm_view *v, const struct vm_expect *e, int timeout_s,
		 struct vm_guest *g);

/* Whether qemu-ga has its port open in the guest of the VM whose QMP is
 * QMP: QEMU reports the guest side of the chardev as its frontend. */
bool vm_agent_port_open(struct qmp *qmp);

/* Milliseconds on the monotonic clock. */
long vm_now_ms(void);

#endif
