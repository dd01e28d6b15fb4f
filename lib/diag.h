/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal: network probes that turn "failed to connect" into a cause. */
#ifndef MORTAR_LIB_DIAG_H
#define MORTAR_LIB_DIAG_H

#include <mortar/location.h>

/* 0 if a connection to S opens within 1 s; else -EHOSTUNREACH (name does
 * not resolve), -ECONNREFUSED, -ETIMEDOUT, -ENOENT (no unix socket)... */
int mortar_probe_server(const struct mortar_server *s, int default_port);

#endif
