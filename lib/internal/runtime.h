/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: the per-user directory for sockets and logs that must not be
 * shared with other users. */
#ifndef MORTAR_LIB_RUNTIME_H
#define MORTAR_LIB_RUNTIME_H

#include <stddef.h>

/* Fill BUF with "$XDG_RUNTIME_DIR/mortar/SUB", or without a usable
 * XDG_RUNTIME_DIR "/run/mortar/SUB" for root and "/tmp/mortar-UID/SUB"
 * for other users, creating the directories (SUB with mode 0700).  Refuses (-EPERM, message set) a directory that is a symlink
 * or belongs to someone else: in /tmp another user could have made it
 * first to catch our sockets.  SUB may be NULL. */
int mortar_runtime_dir(const char *sub, char *buf, size_t len);

#endif
