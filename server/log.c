/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Log lines of the server.
 *
 * Two things keep a client from abusing them: names a client chose
 * (export names, TLS user names) go through srv_printable, so that a
 * name cannot forge log lines or terminal sequences, and lines a client
 * can cause at will (refused connections) go through srv_log_limited, so
 * that a flood of them cannot fill the disk. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "server.h"

void srv_log_open(struct srv *srv)
{
	if (srv->cfg.log == SRV_LOG_SYSLOG)
		openlog("mortar-serve", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	/* libsystemd drops lines silently where no journald listens. */
	if (srv->cfg.log == SRV_LOG_JOURNAL &&
	    access("/run/systemd/journal/socket", W_OK) < 0) {
		srv->cfg.log = SRV_LOG_STDERR;
		srv_log(srv, "no journal here (/run/systemd/journal/socket): logging to "
			"standard error");
	}
}

/* One line to where --log says; in the journal with CTX's fields. */
__attribute__((format(printf, 4, 0)))
static void srv_vlog(const struct srv *srv, int prio, const struct srv_logctx *ctx,
		     const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof buf, fmt, ap);
	switch (srv->cfg.log) {
	case SRV_LOG_JOURNAL:
		if (sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", prio,
				    "SYSLOG_IDENTIFIER=mortar-serve",
				    "MORTAR_CLIENT=%s", ctx && ctx->client ? ctx->client : "",
				    "MORTAR_EXPORT=%s", ctx && ctx->export ? ctx->export : "",
				    "MORTAR_REQUEST=%s", ctx && ctx->request ? ctx->request : "",
				    NULL) == 0)
			break;
		/* The journal refused it: the line must not be lost. */
		fprintf(stderr, "mortar serve: %s\n", buf);
		break;
	case SRV_LOG_SYSLOG:
		syslog(prio, "%s", buf);
		break;
	default:
		fprintf(stderr, "mortar serve: %s\n", buf);
	}
}

void srv_logx(const struct srv *srv, int prio, const struct srv_logctx *ctx,
	      const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !srv->cfg.verbose)
		return;
	va_start(ap, fmt);
	srv_vlog(srv, prio, ctx, fmt, ap);
	va_end(ap);
}

void srv_log(const struct srv *srv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	srv_vlog(srv, LOG_NOTICE, NULL, fmt, ap);
	va_end(ap);
}

void srv_debug(const struct srv *srv, const char *fmt, ...)
{
	va_list ap;

	if (!srv->cfg.verbose)
		return;
	va_start(ap, fmt);
	srv_vlog(srv, LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

void srv_log_limited(const struct srv *srv, struct srv_ratelimit *rl, const char *fmt, ...)
{
	unsigned long long now = now_ms(), last = atomic_load(&rl->last_ms);
	unsigned dropped;
	char buf[900];
	va_list ap;

	/* One thread wins the second; the others count themselves out. */
	if ((last && now - last < 1000) ||
	    !atomic_compare_exchange_strong(&rl->last_ms, &last, now ? now : 1)) {
		atomic_fetch_add(&rl->dropped, 1);
		return;
	}
	dropped = atomic_exchange(&rl->dropped, 0);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (dropped)
		srv_log(srv, "%s (and %u more like it in the last second)", buf, dropped);
	else
		srv_log(srv, "%s", buf);
}

const char *srv_printable(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t o = 0, i;

	if (outlen < 8)
		return outlen ? (out[0] = '\0', out) : out;
	/* Room for one escape, "..." and the NUL is kept at every step. */
	for (i = 0; i < inlen && o + 8 <= outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'' && c != '"')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (i < inlen)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o] = '\0';
	return out;
}
