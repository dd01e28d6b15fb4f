/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the NBD handshake (nbd/handshake.c, and the TLS
 * handshake of nbd/tls.c when the input asks for STARTTLS).
 *
 * Input: one control byte, then what the client sends.  The control byte
 * chooses the server's TLS policy (0: off; 1: on, 2: require, both with a
 * PSK) and, bit 2, whether a second export exists.  The bytes wait in a
 * socket whose other end is then shut, so that every read ends.  The
 * server's replies must go somewhere: thousands of small replies overflow
 * a socket buffer of the usual size, and a server that cannot send waits
 * for its handshake deadline (2 s an input).  As root, the server's end
 * gets a send buffer that holds whatever 64 KiB of options can make it
 * say, and the replies are dropped with the socket; otherwise a thread
 * reads them as a client would.  A thread per input is what made long
 * runs slow (half the time in wakeups) and grow: ~190 bytes an input,
 * ASan's quarantine off too (its bookkeeping of threads, we think), 2 GiB
 * after about 9 M inputs.  The handshake must end in
 * a session, a polite end or an error, never crash, hang past its
 * deadline or leak, whatever the option stream says.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "../../nbd/server.h"
#include "../../nbd/tls.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536	/* always fits in the socket's buffer */

static struct srv one, two;		/* one export; two exports */
static struct nbd_tls *tls;
static char img[] = "/dev/shm/fuzz-hs.XXXXXX", psk[] = "/dev/shm/fuzz-psk.XXXXXX";

static void cleanup(void)
{
	srv_fini(&one);
	srv_fini(&two);
	nbd_tls_free(tls);
	unlink(img);
	unlink(psk);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct srv_export_spec specs[] = {
		{ .name = "disk", .location = img, .description = "fuzzing" },
		{ .name = "other", .location = img, .read_only = true },
	};
	const struct srv_config cfg = { .max_connections = 8, .nworkers = 1 };
	int fd = mkstemp(img), pf = mkstemp(psk);
	static const char key[] = "alice:00112233445566778899aabbccddeeff\n";

	(void)argc;
	(void)argv;
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || pf < 0 ||
	    write(pf, key, sizeof key - 1) != (ssize_t)sizeof key - 1) {
		perror("fuzz-nbd-handshake");
		exit(1);
	}
	close(fd);
	close(pf);
	if (srv_init(&one, &cfg, specs, 1) < 0 || srv_init(&two, &cfg, specs, 2) < 0 ||
	    nbd_tls_load(NULL, psk, false, &tls) < 0) {
		fprintf(stderr, "fuzz-nbd-handshake: %s\n", mortar_errmsg());
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

/* The client's reading side: everything the server says, until it closes. */
static void *drain(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];

	while (read(fd, buf, sizeof buf) > 0)
		;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pthread_t reader;
	struct nbd_server srv = { .handshake_timeout_ms = 2000 };
	struct nbd_session s = { .fd = -1 };
	int sv[2], big = 1 << 20, huge = 64 << 20;
	bool drained;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	srv.core = data[0] & 4 ? &two : &one;
	srv.tls = (data[0] & 3) ? tls : NULL;
	srv.tls_required = (data[0] & 3) == 2;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	/* The replies of 64 KiB of options (at most 4096, a few sends each,
	 * each send a buffer of ~1 KiB in the kernel) fit in 64 MiB. */
	drained = setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &huge, sizeof huge) == 0;
	if (!drained)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	if (!drained && pthread_create(&reader, NULL, drain, &sv[1]) != 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	s.fd = sv[0];
	snprintf(s.peer, sizeof s.peer, "fuzz");
	nbd_handshake(&srv, sv[0], &s);
	/* Whatever it agreed on: the session's TLS state and socket (whose
	 * closing ends the reader). */
	nbd_session_close(&s);
	if (!drained)
		pthread_join(reader, NULL);
	close(sv[1]);
	return 0;
}
