/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: error reporting.
 *
 * Every call that can fail returns a negative errno for programs and
 * records, per thread, a message for humans that names the cause and,
 * where one exists, the fix.  The message stays valid until the next
 * failing libmortar call on the same thread.  Completion callbacks that
 * receive a negative result can read the message the same way: the
 * library records it on the loop thread just before calling them.
 */
#ifndef MORTAR_ERROR_H
#define MORTAR_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The message of the last failure on this thread ("" if none). */
const char *mortar_errmsg(void);

/* The errno of the last failure on this thread (positive, 0 if none). */
int mortar_errno(void);

#ifdef __cplusplus
}
#endif
#endif
