/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: checking a location end to end, step by step, so that the
 * first step that fails names the cause and its fix. */
#ifndef MORTAR_DOCTOR_H
#define MORTAR_DOCTOR_H

#ifdef __cplusplus
extern "C" {
#endif

enum mortar_check_status {
	MORTAR_CHECK_OK = 0,
	MORTAR_CHECK_FAILED,
	MORTAR_CHECK_SKIPPED,	/* an earlier step failed, or not asked for */
	MORTAR_CHECK_WARNED,	/* works, but something needs care (detail) */
};

struct mortar_check {
	const char *name;	/* "location", "resolve", "glusterd", "open", "replica",
				 * "read", "write", "options" */
	enum mortar_check_status status;
	int err;		/* negative errno when failed */
	const char *detail;	/* what was found, or the cause and fix */
};

#define MORTAR_DOCTOR_WRITE (1u << 0)	/* also write (the bytes read back) */

typedef void (*mortar_check_fn)(void *opaque, const struct mortar_check *check);

/* Run every check on LOCATION in order, calling FN for each.  Returns 0
 * when all passed, else the negative errno of the first failure. */
int mortar_doctor(const char *location, unsigned flags, mortar_check_fn fn,
		  void *opaque);

#ifdef __cplusplus
}
#endif
#endif
