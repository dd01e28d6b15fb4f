/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: temporaries beside an image.
 *
 * A copy or a snapshot description is written under a temporary name and
 * renamed into place when complete.  Temporaries are named "...tmp-TAG"
 * with TAG = "PID@HOST", so that on a volume several hosts share, each can
 * tell its own dead temporaries from another host's live ones.
 */
#ifndef MORTAR_LIB_TEMP_H
#define MORTAR_LIB_TEMP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "backend.h"

int mortar_tmp_tag(char *buf, size_t len);
/* Is the temporary tagged TAG, last modified at MTIME, abandoned?  Ours
 * (this host): its process is gone.  Another host's: untouched for a day
 * (we cannot ask that host).  Unparsable tags: as another host's. */
bool mortar_tmp_abandoned(const char *tag, time_t mtime);
/* "DIR/.BASE.tmp-TAG" for PATH = "DIR/BASE" (".BASE.tmp-TAG" without a
 * folder), in BUF; -ENAMETOOLONG with a message when it does not fit. */
int mortar_tmp_name(const char *path, char *buf, size_t len);
/* Remove the abandoned temporaries of PATH (".BASE.tmp-*" beside it) in
 * the namespace OPS, CTX.  Best effort: nothing is reported. */
void mortar_tmp_remove_stale(const struct mortar_fs_ops *ops, void *ctx, const char *path);
/* Remove the entries of DIR named PREFIX + TAG with an abandoned TAG. */
void mortar_tmp_remove_prefixed(const struct mortar_fs_ops *ops, void *ctx,
				const char *dir, const char *prefix);
/* Split PATH into its folder (".", "/" or "A/B", in DIR) and *BASE (points
 * into PATH).  -ENAMETOOLONG when DIR is too small. */
int mortar_path_split(const char *path, char *dir, size_t dlen, const char **base);

#endif
