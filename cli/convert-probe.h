/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar img convert: what a source image is, asked of qemu-img before
 * anything reads it (convert-probe.c). */
#ifndef MORTAR_CLI_CONVERT_PROBE_H
#define MORTAR_CLI_CONVERT_PROBE_H

#include <limits.h>
#include <json-c/json.h>

struct convert_probe {
	char format[32];	/* qcow2, vmdk, raw... */
	/* The first other file the image names (empty: none), and what it
	 * is to the image: "backing file", "external data file", "extent". */
	char ref[PATH_MAX];
	const char *ref_kind;
};

/* Run `qemu-img info` on the local file PATH (under limits of memory and
 * CPU time, as a crafted header may ask for a lot of either) and fill P.
 * EXIT_OK, or EXIT_ERROR once the cause is reported as from CMD. */
int convert_probe(const char *cmd, const char *path, struct convert_probe *p);

/* The files other than PATH itself that the image described by INFO
 * (qemu-img info's JSON for PATH) makes QEMU read: its backing file,
 * qcow2's external data file, VMDK extents.  Fills P->ref and
 * P->ref_kind with the first, or leaves P->ref empty. */
void convert_probe_refs(json_object *info, const char *path, struct convert_probe *p);

#endif
