/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Growable string vectors (strv.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strv.h"

void vm_strv_fail(struct vm_strv *sv, int err)
{
	if (!sv->err)
		sv->err = err < 0 ? err : -err;
}

static int strv_grow(struct vm_strv *sv)
{
	size_t cap = sv->cap ? sv->cap * 2 : 32;
	char **v;

	if (cap > VM_STRV_MAX_ARGS)
		cap = VM_STRV_MAX_ARGS;
	v = realloc(sv->v, cap * sizeof *v);
	if (!v)
		return -ENOMEM;
	sv->v = v;
	sv->cap = cap;
	return 0;
}

/* Take over S (which may be NULL: out of memory) as the next argument. */
static void strv_take(struct vm_strv *sv, char *s)
{
	if (sv->err) {
		free(s);
		return;
	}
	if (!s) {
		vm_strv_fail(sv, ENOMEM);
	} else if (strlen(s) > VM_STRV_MAX_ARG) {
		vm_strv_fail(sv, ENAMETOOLONG);
	} else if (sv->n + 1 >= VM_STRV_MAX_ARGS) {
		vm_strv_fail(sv, E2BIG);
	} else if (sv->n + 1 >= sv->cap && strv_grow(sv) < 0) {
		vm_strv_fail(sv, ENOMEM);
	} else {
		sv->v[sv->n++] = s;
		sv->v[sv->n] = NULL;
		return;
	}
	free(s);
}

void vm_strv_add(struct vm_strv *sv, const char *s)
{
	strv_take(sv, sv->err ? NULL : strdup(s));
}

void vm_strv_addf(struct vm_strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (sv->err)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	strv_take(sv, s);
}

void vm_strv_set(struct vm_strv *sv, size_t i, const char *s)
{
	char *copy;

	if (sv->err || i >= sv->n)
		return;
	copy = strdup(s);
	if (!copy) {
		vm_strv_fail(sv, ENOMEM);
		return;
	}
	free(sv->v[i]);
	sv->v[i] = copy;
}

int vm_strv_error(const struct vm_strv *sv)
{
	switch (sv->err) {
	case 0:
		return 0;
	case -E2BIG:
		return mortar_set_error(E2BIG, "the QEMU command line would have more than %d "
					"arguments", VM_STRV_MAX_ARGS);
	case -ENAMETOOLONG:
		return mortar_set_error(ENAMETOOLONG, "a QEMU argument would be longer than "
					"%d characters (a path that long?)", VM_STRV_MAX_ARG);
	default:
		return mortar_set_error(sv->err, "building the QEMU command line: %s",
					strerror(-sv->err));
	}
}

void vm_strv_free(struct vm_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	*sv = (struct vm_strv)VM_STRV_INIT;
}

char *vm_qemu_escape(const char *s)
{
	size_t commas = 0, len = strlen(s);
	char *out, *o;

	for (const char *p = s; *p; p++)
		commas += *p == ',';
	out = malloc(len + commas + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}
