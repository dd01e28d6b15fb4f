/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A mortar on another host (remote.c), run through a command the user
 * gives (`ssh host-b mortar`, `ip netns exec b mortar`), with a line
 * protocol on its standard input and output; its standard error is the
 * user's.  A migration's two halves talk this way (incoming.c):
 *
 *   source -> target   the VM's state as one line of JSON, later "go" or
 *                      "abort"
 *   target -> source   "disk I URI" for each disk to copy, then "ready";
 *                      after "go": "running PID", then, when asked to
 *                      wait for the guest, "guest CPUS KIB"; any time:
 *                      "error SENTENCE", after which it has undone
 *                      everything it did and exits */
#ifndef MORTAR_VM_REMOTE_H
#define MORTAR_VM_REMOTE_H

#include <stddef.h>
#include <sys/types.h>

/* Lines read from a file descriptor, each at most VM_LINE_MAX bytes. */
#define VM_LINE_MAX (1 << 20)

struct vm_lines {
	int fd;
	char *buf;
	size_t len, cap, skip;	/* skip: the line returned last */
};

/* The next line (without its newline, valid until the next call) into
 * *LINE, waiting up to TIMEOUT_MS.  -EPIPE at the end of the input,
 * -ETIMEDOUT, -E2BIG for a line too long; with a message. */
int vm_lines_read(struct vm_lines *l, char **line, int timeout_ms);
void vm_lines_free(struct vm_lines *l);

struct vm_remote {
	pid_t pid;
	int in;			/* its standard input */
	struct vm_lines out;	/* its standard output */
};

/* Run the shell command VIA followed by ARGS (each quoted for the
 * shell).  0 or -errno with a message. */
int vm_remote_start(struct vm_remote *rm, const char *via, char *const *args);
/* Send LINE (without its newline). */
int vm_remote_send(struct vm_remote *rm, const char *line);
/* The next line into *LINE, as vm_lines_read; an "error SENTENCE" line
 * becomes -EIO with the sentence as the message. */
int vm_remote_recv(struct vm_remote *rm, char **line, int timeout_ms);
/* Tell it "abort" (a target that has already quit is no error) and end
 * it as vm_remote_end. */
void vm_remote_abort(struct vm_remote *rm, int timeout_ms);
/* Close its input (unless told "go", it then undoes what it did) and
 * wait up to TIMEOUT_MS for it to exit; then kill it. */
void vm_remote_end(struct vm_remote *rm, int timeout_ms);

/* The target half: one line to standard output, flushed. */
void vm_remote_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
