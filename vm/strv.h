/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A growable, bounded vector of strings for building command lines
 * (strv.c).  Errors are sticky: once an append fails (out of memory, too
 * many or too long arguments) every later one is a no-op and
 * vm_strv_error() says why, so that a builder checks once, at the end. */
#ifndef MORTAR_VM_STRV_H
#define MORTAR_VM_STRV_H

#include <stddef.h>

/* Bounds of one command line: far above what a VM needs (a few hundred
 * arguments with every slot plugged), far below what exec refuses. */
#define VM_STRV_MAX_ARGS 4096
#define VM_STRV_MAX_ARG 8192

struct vm_strv {
	char **v;		/* NULL-terminated once anything was added */
	size_t n, cap;
	int err;		/* 0, or the first failure as -errno */
};

#define VM_STRV_INIT { NULL, 0, 0, 0 }

/* Append a copy of S. */
void vm_strv_add(struct vm_strv *sv, const char *s);
/* Append the formatted text. */
void vm_strv_addf(struct vm_strv *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Replace argument I (I < n) with a copy of S. */
void vm_strv_set(struct vm_strv *sv, size_t i, const char *s);
/* Record a failure (-errno or errno) as if an append had failed. */
void vm_strv_fail(struct vm_strv *sv, int err);
/* Record a failure (-errno or errno) as if an append had failed. */
void vm_strv_fail(struct vm_strv *sv, int err);
/* 0, or the first failure as -errno with mortar_errmsg() set again. */
int vm_strv_error(const struct vm_strv *sv);
void vm_strv_free(struct vm_strv *sv);

/* S as a value inside a QEMU option list ("key=VALUE,key=..."), where a
 * comma ends the value unless doubled: "/a,b" becomes "/a,,b".  A new
 * string (caller frees), NULL when out of memory. */
char *vm_qemu_escape(const char *s);

#endif
