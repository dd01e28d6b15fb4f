/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: VM disks on GlusterFS or local storage, behind one
 * asynchronous interface.  Include this header; link with pkg-config
 * "mortar". */
#ifndef MORTAR_H
#define MORTAR_H

#include <mortar/error.h>
#include <mortar/location.h>
#include <mortar/loop.h>
#include <mortar/image.h>
#include <mortar/doctor.h>
#include <mortar/clone.h>
#include <mortar/snapshot.h>
#include <mortar/health.h>

#ifdef __cplusplus
extern "C" {
#endif
/* The library's version, e.g. "0.1.0". */
const char *mortar_version(void);
#ifdef __cplusplus
}
#endif
#endif
