/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GlusterFS client volfiles: parse, look up, render without a translator.
 *
 * The format, as glusterd writes it (glusterd-volgen.c):
 *
 *     volume NAME
 *         type CATEGORY/KIND
 *         option KEY VALUE...
 *         subvolumes CHILD...
 *     end-volume
 *
 * blocks separated by blank lines, children before their parents, the
 * top of the graph last.  '#' starts a comment line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "backend-gluster-volfile.h"

static void xl_free(struct gl_xlator *x)
{
	for (size_t i = 0; i < x->noptions; i++) {
		free(x->keys[i]);
		free(x->values[i]);
	}
	for (size_t i = 0; i < x->nsubvolumes; i++)
		free(x->subvolumes[i]);
	free(x->keys);
	free(x->values);
	free(x->subvolumes);
	free(x->name);
	free(x->type);
}

void gl_volfile_free(struct gl_volfile *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++)
		xl_free(&v->xl[i]);
	free(v->xl);
	free(v);
}

/* Append a copy of S (LEN bytes) to *ARR of *N. */
static int push(char ***arr, size_t *n, const char *s, size_t len)
{
	char **a = realloc(*arr, (*n + 1) * sizeof *a);

	if (!a)
		return -ENOMEM;
	*arr = a;
	if (!(a[*n] = strndup(s, len)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int add_option(struct gl_xlator *x, const char *k, size_t klen,
		      const char *val, size_t vlen)
{
	char **keys = realloc(x->keys, (x->noptions + 1) * sizeof *keys), **values;

	if (!keys)
		return -ENOMEM;
	x->keys = keys;
	if (!(values = realloc(x->values, (x->noptions + 1) * sizeof *values)))
		return -ENOMEM;
	x->values = values;
	keys[x->noptions] = strndup(k, klen);
	values[x->noptions] = strndup(val, vlen);
	x->noptions++;	/* (freed with the rest even when a copy failed) */
	return keys[x->noptions - 1] && values[x->noptions - 1] ? 0 : -ENOMEM;
}

/* The next word of [*P, END): its start, its length in *LEN; *P moves past
 * it.  NULL at the end. */
static const char *word(const char **p, const char *end, size_t *len)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return NULL;
	*p = s;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*len = (size_t)(*p - s);
	return s;
}

static bool is(const char *w, size_t len, const char *lit)
{
	return w && len == strlen(lit) && !memcmp(w, lit, len);
}

/* One line of a block's body into X. */
static int parse_body_line(struct gl_xlator *x, const char *p, const char *end)
{
	size_t len, klen;
	const char *w = word(&p, end, &len), *k;
	int r = 0;

	if (is(w, len, "type")) {
		if (!(w = word(&p, end, &len)) || x->type)
			return -EINVAL;
		return (x->type = strndup(w, len)) ? 0 : -ENOMEM;
	}
	if (is(w, len, "option")) {
		if (!(k = word(&p, end, &klen)))
			return -EINVAL;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		return add_option(x, k, klen, p, (size_t)(end - p));
	}
	if (is(w, len, "subvolumes")) {
		while (r == 0 && (w = word(&p, end, &len)))
			r = push(&x->subvolumes, &x->nsubvolumes, w, len);
		return r;
	}
	return -EINVAL;
}

int gl_volfile_parse(const char *text, size_t len, struct gl_volfile **out)
{
	const char *p = text, *end = text + len;
	struct gl_volfile *v = calloc(1, sizeof *v);
	struct gl_xlator *cur = NULL;
	unsigned line = 0;
	int r = 0;

	if (!v)
		return mortar_set_error(ENOMEM, "out of memory");
	while (p < end && r == 0) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *q = p, *w;
		size_t wl;

		if (!eol)
			eol = end;
		line++;
		w = word(&q, eol, &wl);
		if (!w || *w == '#') {
			/* blank or comment */
		} else if (is(w, wl, "volume") && !cur) {
			struct gl_xlator *xl = realloc(v->xl, (v->n + 1) * sizeof *xl);

			if (!xl || !(w = word(&q, eol, &wl))) {
				r = xl ? -EINVAL : -ENOMEM;
				v->xl = xl ? xl : v->xl;
				break;
			}
			v->xl = xl;
			cur = &v->xl[v->n++];
			memset(cur, 0, sizeof *cur);
			if (!(cur->name = strndup(w, wl)))
				r = -ENOMEM;
		} else if (is(w, wl, "end-volume") && cur) {
			r = cur->type ? 0 : -EINVAL;
			cur = NULL;
		} else if (cur) {
			r = parse_body_line(cur, p, eol);
		} else {
			r = -EINVAL;
		}
		p = eol < end ? eol + 1 : end;
	}
	if (r == 0 && (cur || v->n == 0))
		r = -EINVAL;
	if (r < 0) {
		gl_volfile_free(v);
		return r == -ENOMEM ? mortar_set_error(ENOMEM, "out of memory") :
			mortar_set_error(EINVAL, "the volume's client volfile is not "
					 "understood (line %u)", line);
	}
	*out = v;
	return 0;
}

const struct gl_xlator *gl_volfile_find(const struct gl_volfile *v, const char *type)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->xl[i].type, type))
			return &v->xl[i];
	return NULL;
}

const char *gl_xlator_option(const struct gl_xlator *x, const char *key)
{
	for (size_t i = 0; i < x->noptions; i++)
		if (!strcmp(x->keys[i], key))
			return x->values[i];
	return NULL;
}

/* What NAME stands for once the translators of TYPE are gone. */
static const char *stand_in(const struct gl_volfile *v, const char *type, const char *name)
{
	for (size_t hops = 0; hops <= v->n; hops++) {
		size_t i;

		for (i = 0; i < v->n; i++)
			if (!strcmp(v->xl[i].name, name))
				break;
		if (i == v->n || strcmp(v->xl[i].type, type))
			return name;
		name = v->xl[i].subvolumes[0];
	}
	return name;	/* a cycle: not glusterd's; leave it to gfapi */
}

static void render_xlator(FILE *f, const struct gl_xlator *x, const struct gl_volfile *v,
			  const char *type)
{
	fprintf(f, "volume %s\n    type %s\n", x->name, x->type);
	for (size_t k = 0; k < x->noptions; k++)
		fprintf(f, "    option %s %s\n", x->keys[k], x->values[k]);
	if (x->nsubvolumes) {
		fputs("    subvolumes", f);
		for (size_t k = 0; k < x->nsubvolumes; k++)
			fprintf(f, " %s", type ? stand_in(v, type, x->subvolumes[k]) :
				x->subvolumes[k]);
		fputc('\n', f);
	}
	fputs("end-volume\n\n", f);
}

const struct gl_xlator *gl_volfile_get(const struct gl_volfile *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->xl[i].name, name))
			return &v->xl[i];
	return NULL;
}

int gl_volfile_render_one(const struct gl_volfile *v, const char *name, char **out)
{
	const struct gl_xlator *x = gl_volfile_get(v, name);
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	if (!x || x->nsubvolumes)
		return -ENOENT;
	if (!(f = open_memstream(&buf, &size)))
		return -ENOMEM;
	render_xlator(f, x, v, NULL);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

int gl_volfile_render_without(const struct gl_volfile *v, const char *type, char **out)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->xl[i].type, type) && v->xl[i].nsubvolumes != 1)
			return -ENOTSUP;
	if (!(f = open_memstream(&buf, &size)))
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		const struct gl_xlator *x = &v->xl[i];

		if (strcmp(x->type, type))
			render_xlator(f, x, v, type);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}
