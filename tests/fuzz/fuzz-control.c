/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the control socket of mortar serve
 * (server/control.c): what a client sends to quiesce and resume exports.
 *
 * The input is the client's bytes, written to a socket whose other end
 * is then shut.  "@ID@" in it becomes the DEV:INO of the exported image,
 * so that the fuzzer reaches the quiesce itself (a flush on the running
 * workers, then the wait for "resume" or the end of the stream).  The
 * server must answer or hang up, never crash or leak, and leave no
 * export quiesced.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "../../server/server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 16384

static struct srv srv;
static char dir[] = "/dev/shm/fuzz-ctl.XXXXXX", img[256], id[64];

static void cleanup(void)
{
	char cmd[600];
	int signo;

	srv_run(&srv, -1, &signo);	/* stops at once: control socket, workers */
	srv_fini(&srv);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz-control: cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct srv_export_spec spec = { .name = "disk", .location = img };
	const struct srv_config cfg = {
		.max_connections = 8, .nworkers = 1, .quiesce_timeout_s = 1,
		.max_bytes = 64 << 20, .conn_max_bytes = 64 << 20,
	};
	struct stat st;
	char run[300];
	int fd;

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		exit(1);
	snprintf(img, sizeof img, "%s/disk.img", dir);
	snprintf(run, sizeof run, "%s/run", dir);
	mkdir(run, 0700);
	setenv("XDG_RUNTIME_DIR", run, 1);
	fd = open(img, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || fstat(fd, &st) < 0)
		exit(1);
	close(fd);
	snprintf(id, sizeof id, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	if (srv_init(&srv, &cfg, &spec, 1) < 0 || srv_start(&srv) < 0) {
		fprintf(stderr, "fuzz-control: %s\n", mortar_errmsg());
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[FUZZ_MAX_INPUT * 2];
	size_t n = 0;
	int sv[2];

	if (size > FUZZ_MAX_INPUT)
		return 0;
	for (size_t i = 0; i < size; i++) {
		if (i + 4 <= size && !memcmp(data + i, "@ID@", 4)) {
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", id);
			i += 3;
		} else {
			buf[n++] = (char)data[i];
		}
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (write(sv[1], buf, n) == (ssize_t)n) {
		shutdown(sv[1], SHUT_WR);
		srv_control_serve_fd(&srv, sv[0]);
	}
	close(sv[0]);
	close(sv[1]);
	if (atomic_load(&srv.exports[0]->q.on))
		abort();	/* left quiesced */
	return 0;
}
