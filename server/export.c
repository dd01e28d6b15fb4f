/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exports: each image is opened once at startup to learn its size,
 * block sizes and capabilities, so that a bad location fails now, with
 * its message, not at the first client. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <mortar/health.h>
#include "error.h"
#include "internal.h"

static void export_free(struct srv_export *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->description);
	free(e->location);
	free(e->backend);
	mortar_location_free(e->loc);
	srv_quiesce_destroy(&e->q);
	free(e);
}

/* A replicated image in split-brain or still healing serves, but is not
 * what it seems: say so at once (reads in split-brain fail with EIO; a
 * heal in progress means the replica is not redundant yet). */
static void export_replica_warn(struct srv *srv, const struct srv_export *e)
{
	struct mortar_replica_state st;
	struct srv_logctx ctx = { .export = e->name };

	if (mortar_replica_state(e->loc, &st) < 0 || !st.replicated)
		return;
	if (st.split_brain || st.pending || st.unreachable)
		srv_logx(srv, LOG_WARNING, &ctx, "export '%s': warning: %s", e->name, st.detail);
}

static int export_probe(struct srv *srv, struct srv_export *e, struct mortar_loop *loop)
{
	unsigned flags = srv->cfg.open_flags | (e->read_only ? MORTAR_OPEN_RDONLY : 0);
	struct mortar_image *img;
	int r = mortar_location_parse(e->location, &e->loc, NULL);

	if (r < 0)
		return r;
	r = mortar_image_open(loop, e->loc, flags, &img);
	if (r < 0)
		return r;
	e->size = mortar_image_size(img);
	e->caps = mortar_image_caps(img) | (e->read_only ? MORTAR_CAP_READ_ONLY : 0);
	mortar_image_block_size(img, &e->bmin, &e->bpref, &e->bmax);
	e->backend = strdup(mortar_image_backend(img));
	mortar_image_close(img);
	if (!e->backend)
		return mortar_set_error(ENOMEM, "out of memory");
	export_replica_warn(srv, e);
	return 0;
}

static struct srv_export *export_new(const struct srv_export_spec *s, unsigned slot)
{
	struct srv_export *e = calloc(1, sizeof *e);

	if (!e)
		return NULL;
	srv_quiesce_init(&e->q);
	e->slot = slot;
	e->read_only = s->read_only;
	e->name = strdup(s->name);
	e->location = strdup(s->location);
	e->description = s->description ? strdup(s->description) : NULL;
	if (!e->name || !e->location || (s->description && !e->description)) {
		export_free(e);
		return NULL;
	}
	return e;
}

int srv_init(struct srv *srv, const struct srv_config *cfg,
	     const struct srv_export_spec *specs, size_t nspecs)
{
	struct mortar_loop *loop;
	int r = 0;

	memset(srv, 0, sizeof *srv);
	srv->cfg = *cfg;
	srv->nworkers = cfg->nworkers ? cfg->nworkers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (srv->nworkers < 1)
		srv->nworkers = 1;
	srv->exports = calloc(nspecs, sizeof *srv->exports);
	if (!srv->exports)
		return mortar_set_error(ENOMEM, "out of memory");
	r = mortar_loop_new(8, &loop);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nspecs && r == 0; i++) {
		struct srv_export *e = export_new(&specs[i], (unsigned)i);

		if (!e) {
			r = mortar_set_error(ENOMEM, "out of memory");
			break;
		}
		srv->exports[srv->nexports++] = e;
		r = export_probe(srv, e, loop);
	}
	mortar_loop_free(loop);
	return r;
}

void srv_fini(struct srv *srv)
{
	for (size_t i = 0; i < srv->nexports; i++)
		export_free(srv->exports[i]);
	free(srv->exports);
	srv->exports = NULL;
	srv->nexports = 0;
	for (unsigned i = 0; srv->sd_names && i < srv->nsd; i++)
		free(srv->sd_names[i]);
	free(srv->sd_names);
	free(srv->sd_fds);
	srv->sd_names = NULL;
	srv->sd_fds = NULL;
	srv->nsd = 0;
}

struct srv_export *srv_export_find(struct srv *srv, const char *name)
{
	if (!*name && srv->nexports)
		return srv->exports[0];
	for (size_t i = 0; i < srv->nexports; i++)
		if (!strcmp(srv->exports[i]->name, name))
			return srv->exports[i];
	return NULL;
}

#define RESIZE_MAX_MS 30000

int srv_export_resize(struct srv *srv, struct srv_export *e, uint64_t size, unsigned flags)
{
	int r = srv_workers_resize(srv, e, size, flags, RESIZE_MAX_MS);

	if (r < 0)
		return r;
	__atomic_store_n(&e->size, size, __ATOMIC_RELEASE);
	srv_log(srv, "export '%s' is now %llu bytes", e->name, (unsigned long long)size);
	for (unsigned i = 0; i < srv->nresized; i++)
		srv->resized[i](srv, e, srv->resized_ctx[i]);
	return 0;
}

void srv_add_resized(struct srv *srv, void (*fn)(struct srv *, struct srv_export *, void *),
		     void *ctx)
{
	if (srv->nresized < sizeof srv->resized / sizeof srv->resized[0]) {
		srv->resized[srv->nresized] = fn;
		srv->resized_ctx[srv->nresized++] = ctx;
	}
}
