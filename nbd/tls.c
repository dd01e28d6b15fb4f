/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS with GnuTLS: credentials loaded once at startup, the handshake
 * after NBD_OPT_STARTTLS, and record I/O on a non-blocking socket.
 *
 * Policy: TLS 1.2 or later only; X.509 certificates in the directory
 * layout of nbdkit and QEMU (ca-cert.pem, server-cert.pem,
 * server-key.pem), optionally requiring client certificates signed by the
 * CA; and/or pre-shared keys in psktool's file format, read once so that
 * a bad file fails at startup, and looked up in memory per handshake.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "error.h"
#include "hex.h"
#include "tls-conn.h"

/* TLS 1.2 and 1.3, nothing older; GnuTLS's NORMAL otherwise (it follows
 * the system's crypto policy of the day).  PSK key exchanges with forward
 * secrecy are added when keys are configured. */
#define TLS_PRIORITY "NORMAL:%SERVER_PRECEDENCE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define TLS_PSK ":+ECDHE-PSK:+DHE-PSK"
/* GnuTLS clients on this kind of host list ChaCha20-Poly1305 first, and a
 * GnuTLS server honours that even with %SERVER_PRECEDENCE; where the CPU
 * has AES instructions, AES-GCM is eight times faster (4.3 GB/s against
 * 0.5 GB/s per core here, gnutls-cli --benchmark-ciphers), so ChaCha20 is
 * not offered there.  Every TLS 1.3 client implements AES-128-GCM. */
#define TLS_NO_CHACHA ":-CHACHA20-POLY1305"

static bool cpu_has_aes(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__)
	unsigned long hw = getauxval(AT_HWCAP);
	return (hw & HWCAP_AES) && (hw & HWCAP_PMULL);
#else
	return false;
#endif
}

#define PSK_MAX_USER 255
#define PSK_MAX_KEY 512		/* bytes, after hex decoding */

struct psk_entry {
	char *user;
	unsigned char *key;
	size_t keylen;
};

struct nbd_tls {
	gnutls_certificate_credentials_t x509;	/* NULL without --tls-certificates */
	bool verify_peer;
	gnutls_psk_server_credentials_t psk;	/* NULL without --tls-psk */
	struct psk_entry *keys;
	size_t nkeys;
	gnutls_priority_t prio;
};


/* ---- credentials ---- */

static int file_readable(const char *path, const char *what)
{
	if (access(path, R_OK) < 0)
		return mortar_set_error(errno, "TLS %s %s: %m", what, path);
	return 0;
}

static int load_x509(struct nbd_tls *t, const char *dir)
{
	char ca[4096], cert[4096], key[4096];
	bool have_ca;
	int r;

	if (snprintf(ca, sizeof ca, "%s/ca-cert.pem", dir) >= (int)sizeof ca ||
	    snprintf(cert, sizeof cert, "%s/server-cert.pem", dir) >= (int)sizeof cert ||
	    snprintf(key, sizeof key, "%s/server-key.pem", dir) >= (int)sizeof key)
		return mortar_set_error(ENAMETOOLONG, "--tls-certificates %s: path too "
					"long", dir);
	if ((r = file_readable(cert, "certificate")) < 0 ||
	    (r = file_readable(key, "private key")) < 0)
		return r;
	have_ca = access(ca, R_OK) == 0;
	if (!have_ca && t->verify_peer)
		return mortar_set_error(errno, "TLS CA certificate %s (needed by "
					"--tls-verify-peer): %m", ca);

	r = gnutls_certificate_allocate_credentials(&t->x509);
	if (r < 0)
		return mortar_set_error(ENOMEM, "TLS: %s", gnutls_strerror(r));
	if (have_ca) {
		r = gnutls_certificate_set_x509_trust_file(t->x509, ca, GNUTLS_X509_FMT_PEM);
		if (r < 0)
			return mortar_set_error(EINVAL, "TLS CA certificate %s: %s", ca,
						gnutls_strerror(r));
		if (r == 0)
			return mortar_set_error(EINVAL, "TLS CA certificate %s: no "
						"certificate in the file", ca);
	}
	r = gnutls_certificate_set_x509_key_file(t->x509, cert, key, GNUTLS_X509_FMT_PEM);
	if (r < 0)
		return mortar_set_error(EINVAL, "TLS certificate %s with key %s: %s",
					cert, key, gnutls_strerror(r));
	/* Parameters for DHE key exchanges, from RFC 7919. */
	gnutls_certificate_set_known_dh_params(t->x509, GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
}

/* One "username:hexkey" line, without its newline. */
static int psk_parse_line(struct nbd_tls *t, const char *file, unsigned lineno,
			  char *line)
{
	char *colon = strchr(line, ':'), *hex;
	size_t ulen, hlen;
	struct psk_entry *e, *grown;

	if (!colon)
		return mortar_set_error(EINVAL, "TLS PSK file %s, line %u: expected "
					"username:hexkey (as psktool writes)", file, lineno);
	ulen = (size_t)(colon - line);
	hex = colon + 1;
	hlen = strlen(hex);
	if (ulen == 0 || ulen > PSK_MAX_USER)
		return mortar_set_error(EINVAL, "TLS PSK file %s, line %u: the username "
					"must have 1 to %d characters", file, lineno,
					PSK_MAX_USER);
	if (hlen == 0 || hlen % 2 || hlen / 2 > PSK_MAX_KEY)
		return mortar_set_error(EINVAL, "TLS PSK file %s, line %u: the key must "
					"be an even number of hex digits, at most %d bytes",
					file, lineno, PSK_MAX_KEY);
	for (size_t i = 0; i < t->nkeys; i++)
		if (strlen(t->keys[i].user) == ulen && !memcmp(t->keys[i].user, line, ulen))
			return mortar_set_error(EINVAL, "TLS PSK file %s, line %u: user "
						"'%.*s' appears twice", file, lineno,
						(int)ulen, line);
	grown = realloc(t->keys, (t->nkeys + 1) * sizeof *t->keys);
	if (!grown)
		return mortar_set_error(ENOMEM, "out of memory");
	t->keys = grown;
	e = &t->keys[t->nkeys];
	e->user = strndup(line, ulen);
	e->keylen = hlen / 2;
	e->key = malloc(e->keylen);
	if (!e->user || !e->key) {
		free(e->user);
		free(e->key);
		return mortar_set_error(ENOMEM, "out of memory");
	}
	t->nkeys++;
	if (mortar_unhex(hex, e->keylen, e->key) < 0)
		return mortar_set_error(EINVAL, "TLS PSK file %s, line %u: the key is not "
					"hexadecimal", file, lineno);
	return 0;
}

static int psk_lookup(gnutls_session_t session, const char *user, gnutls_datum_t *key)
{
	struct nbd_tls_conn *c = gnutls_session_get_ptr(session);

	for (size_t i = 0; c && i < c->t->nkeys; i++) {
		const struct psk_entry *e = &c->t->keys[i];

		if (strcmp(e->user, user) != 0)
			continue;
		key->data = gnutls_malloc(e->keylen);
		if (!key->data)
			return -1;
		memcpy(key->data, e->key, e->keylen);
		key->size = (unsigned)e->keylen;
		return 0;
	}
	if (c)
		nbd_log(c->srv, "%s: TLS: unknown PSK user '%.64s'", c->peer, user);
	return -1;
}

static int load_psk(struct nbd_tls *t, const char *file)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int r = 0;

	f = fopen(file, "re");
	if (!f)
		return mortar_set_error(errno, "TLS PSK file %s: %m", file);
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if ((size_t)n != strlen(line)) {
			r = mortar_set_error(EINVAL, "TLS PSK file %s, line %u: NUL byte",
					     file, lineno);
			break;
		}
		r = psk_parse_line(t, file, lineno, line);
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = mortar_set_error(EIO, "TLS PSK file %s: read error", file);
	if (line) {
		explicit_bzero(line, cap);
		free(line);
	}
	fclose(f);
	if (r == 0 && t->nkeys == 0)
		r = mortar_set_error(EINVAL, "TLS PSK file %s: no keys in the file "
				     "(make one with: psktool -u USER -p %s)", file, file);
	if (r < 0)
		return r;
	r = gnutls_psk_allocate_server_credentials(&t->psk);
	if (r < 0)
		return mortar_set_error(ENOMEM, "TLS: %s", gnutls_strerror(r));
	gnutls_psk_set_server_credentials_function(t->psk, psk_lookup);
	gnutls_psk_set_server_known_dh_params(t->psk, GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
}

void nbd_tls_free(struct nbd_tls *t)
{
	if (!t)
		return;
	if (t->x509)
		gnutls_certificate_free_credentials(t->x509);
	if (t->psk)
		gnutls_psk_free_server_credentials(t->psk);
	for (size_t i = 0; i < t->nkeys; i++) {
		explicit_bzero(t->keys[i].key, t->keys[i].keylen);
		free(t->keys[i].key);
		free(t->keys[i].user);
	}
	free(t->keys);
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	free(t);
}

int nbd_tls_load(const char *certdir, const char *pskfile, bool verify_peer,
		 struct nbd_tls **out)
{
	struct nbd_tls *t = calloc(1, sizeof *t);
	const char *errpos = NULL;
	int r = 0;

	*out = NULL;
	if (!t)
		return mortar_set_error(ENOMEM, "out of memory");
	t->verify_peer = verify_peer;
	if (certdir)
		r = load_x509(t, certdir);
	if (r == 0 && pskfile)
		r = load_psk(t, pskfile);
	if (r == 0 && !certdir && !pskfile)
		r = mortar_set_error(EINVAL, "TLS needs --tls-certificates or --tls-psk");
	if (r == 0) {
		char prio[256];

		snprintf(prio, sizeof prio, "%s%s%s", TLS_PRIORITY, pskfile ? TLS_PSK : "",
			 cpu_has_aes() ? TLS_NO_CHACHA : "");
		r = gnutls_priority_init(&t->prio, prio, &errpos);
		if (r < 0) {
			t->prio = NULL;
			r = mortar_set_error(EINVAL, "TLS priority string: %s at '%s'",
					     gnutls_strerror(r), errpos ? errpos : "?");
		}
	}
	if (r < 0) {
		nbd_tls_free(t);
		return r;
	}
	*out = t;
	return 0;
}

/* ---- sessions ---- */

static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 1000000000 ? 1000000000 : (int)ms;
}

/* Wait for EVENTS until DEADLINE or the server stops: 0 or -1. */
static int tls_wait(struct nbd_tls_conn *c, short events,
		    const struct timespec *deadline, bool stop_on_shutdown)
{
	struct pollfd p = { .fd = c->fd, .events = events };

	for (;;) {
		int ms = ms_left(deadline), r;

		if (ms == 0)
			return -1;
		if (stop_on_shutdown && atomic_load(&c->srv->core->stopping))
			return -1;
		r = poll(&p, 1, ms < 200 ? ms : 200);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static short tls_direction(struct nbd_tls_conn *c)
{
	return gnutls_record_get_direction(c->session) ? POLLOUT : POLLIN;
}

static void tls_log_session(struct nbd_tls_conn *c)
{
	gnutls_session_t s = c->session;
	const char *ver = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	char who[300] = "";

	if (!c->srv->core->cfg.verbose)
		return;
	if (gnutls_auth_get_type(s) == GNUTLS_CRD_PSK) {
		const char *u = gnutls_psk_server_get_username(s);
		char shown[100];

		snprintf(who, sizeof who, ", PSK user '%s'",
			 u ? srv_printable(u, strlen(u), shown, sizeof shown) : "?");
	} else {
		unsigned n = 0;
		const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
		gnutls_x509_crt_t crt;
		char dn[256];
		size_t dnlen = sizeof dn;

		if (certs && n && gnutls_x509_crt_init(&crt) == 0) {
			if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
			    gnutls_x509_crt_get_dn(crt, dn, &dnlen) == 0)
				snprintf(who, sizeof who, ", client certificate '%s'", dn);
			gnutls_x509_crt_deinit(crt);
		}
	}
	nbd_debug(c->srv, "%s: TLS established (%s, %s)%s", c->peer, ver ? ver : "?",
		  gnutls_cipher_get_name(gnutls_cipher_get(s)), who);
}

/* With --tls-verify-peer, a certificate session must show a client
 * certificate that the CA signed (GnuTLS checked it during the handshake:
 * check again, for certain). */
static int tls_check_peer(struct nbd_tls_conn *c)
{
	unsigned status = 0;
	int r;

	if (!c->t->verify_peer || gnutls_auth_get_type(c->session) != GNUTLS_CRD_CERTIFICATE)
		return 0;
	r = gnutls_certificate_verify_peers2(c->session, &status);
	if (r < 0) {
		nbd_log(c->srv, "%s: TLS: client certificate: %s", c->peer, gnutls_strerror(r));
		return -1;
	}
	if (status) {
		gnutls_datum_t out = { NULL, 0 };
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
								 &out, 0) == 0) {
			nbd_log(c->srv, "%s: TLS: client certificate refused: %s", c->peer,
				(const char *)out.data);
			gnutls_free(out.data);
		} else {
			nbd_log(c->srv, "%s: TLS: client certificate refused", c->peer);
		}
		return -1;
	}
	return 0;
}

struct nbd_tls_conn *nbd_tls_handshake(struct nbd_server *srv, int fd,
				       const char *peer,
				       const struct timespec *deadline)
{
	struct nbd_tls *t = srv->tls;
	struct nbd_tls_conn *c;
	int r, fl;

	if (!t)
		return NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->srv = srv;
	c->t = t;
	c->fd = fd;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		nbd_log(srv, "%s: TLS: cannot make the socket non-blocking: %m", peer);
		free(c);
		return NULL;
	}
	r = gnutls_init(&c->session, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		nbd_log(srv, "%s: TLS: %s", peer, gnutls_strerror(r));
		free(c);
		return NULL;
	}
	gnutls_session_set_ptr(c->session, c);
	r = gnutls_priority_set(c->session, t->prio);
	if (r == 0 && t->x509) {
		r = gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, t->x509);
		if (t->verify_peer) {
			gnutls_certificate_server_set_request(c->session, GNUTLS_CERT_REQUIRE);
			gnutls_session_set_verify_cert(c->session, NULL, 0);
		}
	}
	if (r == 0 && t->psk)
		r = gnutls_credentials_set(c->session, GNUTLS_CRD_PSK, t->psk);
	if (r < 0) {
		nbd_log(srv, "%s: TLS: %s", peer, gnutls_strerror(r));
		nbd_tls_close(c, false);
		return NULL;
	}
	gnutls_transport_set_int(c->session, fd);
	gnutls_handshake_set_timeout(c->session, (unsigned)(ms_left(deadline) + 1));

	for (;;) {
		r = gnutls_handshake(c->session);
		if (r == GNUTLS_E_SUCCESS)
			break;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (tls_wait(c, tls_direction(c), deadline, true) < 0) {
				nbd_log(srv, "%s: TLS handshake %s", peer,
					atomic_load(&srv->core->stopping) ? "abandoned: the server "
					"is stopping" : "timed out");
				nbd_tls_close(c, false);
				return NULL;
			}
			continue;
		}
		if (gnutls_error_is_fatal(r)) {
			nbd_log(srv, "%s: TLS handshake failed: %s", peer, gnutls_strerror(r));
			nbd_tls_close(c, false);
			return NULL;
		}
		/* A warning alert: carry on. */
	}
	if (tls_check_peer(c) < 0) {
		nbd_tls_close(c, false);
		return NULL;
	}
	tls_log_session(c);
	return c;
}

static ssize_t tls_result(struct nbd_tls_conn *c, ssize_t r, short *events,
			  const char *what)
{
	if (r >= 0)
		return r;
	switch (r) {
	case GNUTLS_E_AGAIN:
	case GNUTLS_E_INTERRUPTED:
		*events = tls_direction(c);
		return -EAGAIN;
	case GNUTLS_E_PREMATURE_TERMINATION:
		nbd_debug(c->srv, "%s: TLS: the client closed without close_notify",
			  c->peer);
		return -ECONNRESET;
	case GNUTLS_E_REHANDSHAKE:
		/* TLS 1.2 renegotiation: not offered, not accepted. */
		nbd_log(c->srv, "%s: TLS: renegotiation refused", c->peer);
		return -EPROTO;
	default:
		nbd_debug(c->srv, "%s: TLS %s: %s", c->peer, what, gnutls_strerror((int)r));
		return -EIO;
	}
}

ssize_t nbd_tls_recv(struct nbd_tls_conn *c, void *buf, size_t len, short *events)
{
	ssize_t r;

	do
		r = gnutls_record_recv(c->session, buf, len);
	while (r == GNUTLS_E_WARNING_ALERT_RECEIVED);
	return tls_result(c, r, events, "receive");
}

ssize_t nbd_tls_send(struct nbd_tls_conn *c, const void *buf, size_t len,
		     short *events)
{
	return tls_result(c, gnutls_record_send(c->session, buf, len), events, "send");
}

void nbd_tls_close(struct nbd_tls_conn *c, bool polite)
{
	if (!c)
		return;
	if (polite) {
		struct timespec deadline;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += 1;
		/* SHUT_WR: send close_notify, do not wait for the client's. */
		while ((r = gnutls_bye(c->session, GNUTLS_SHUT_WR)) == GNUTLS_E_AGAIN ||
		       r == GNUTLS_E_INTERRUPTED)
			if (tls_wait(c, tls_direction(c), &deadline, false) < 0)
				break;
	}
	gnutls_deinit(c->session);
	free(c);
}
