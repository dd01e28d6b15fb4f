/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libmortar: locations, i.e. everything a user can type to name an image.
 *
 *   disk.img  /var/lib/images/disk.img          plain path (relative or absolute)
 *   file:///var/lib/images/disk.img             file URI (absolute path only)
 *   gluster://host[:port]/VOLUME/PATH           QEMU's syntax, unchanged
 *   gluster+tcp://[::1]:24007/VOLUME/PATH       IPv6 literal in brackets
 *   gluster+unix:///VOLUME/PATH?socket=/run/glusterd.socket
 *   gluster+rdma://host/VOLUME/PATH             parsed, then refused (no rdma)
 *   gluster://h1,h2:24008,[::1]/VOLUME/PATH     Mortar extension: an ordered
 *                                               list of volfile servers
 *   nbd://host[:port]/[EXPORT]  nbds://...  nbd+unix:///[EXPORT]?socket=PATH
 *
 * One parser and one formatter: mortar_location_format() gives a canonical
 * text that parses back to an equal location.
 */
#ifndef MORTAR_LOCATION_H
#define MORTAR_LOCATION_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum mortar_scheme {
	MORTAR_SCHEME_FILE = 0,
	MORTAR_SCHEME_GLUSTER,
	MORTAR_SCHEME_NBD,
};

enum mortar_transport {
	MORTAR_TRANSPORT_TCP = 0,
	MORTAR_TRANSPORT_UNIX,
	MORTAR_TRANSPORT_RDMA,	/* gluster+rdma: parsed so that we can refuse it clearly */
	MORTAR_TRANSPORT_VSOCK,	/* nbd+vsock */
};

#define MORTAR_GLUSTER_DEFAULT_PORT 24007
#define MORTAR_NBD_DEFAULT_PORT 10809

struct mortar_server {
	enum mortar_transport transport;
	char *host;	/* tcp/rdma/vsock: host name, IPv4, or IPv6 without brackets */
	int port;	/* 0 when the text gave none (the scheme's default applies) */
	char *socket;	/* unix: socket path */
};

struct mortar_location {
	enum mortar_scheme scheme;
	/* file: the path as typed (plain) or decoded (file://); gluster: the
	 * image path inside the volume, without the leading '/'. */
	char *path;
	bool file_uri;			/* file: was written as file:// */

	/* gluster: volume name; servers in failover order (at least one). */
	char *volume;
	struct mortar_server *servers;
	size_t nservers;

	/* nbd: export name ("" = default export), TLS (nbds), one server. */
	char *export_name;
	bool tls;
};

/* Parse TEXT.  On success store a new location in *OUT and return 0.
 * On failure return -EINVAL (or -ENOMEM), record a message naming what is
 * wrong with a second line that points at the offending character, and,
 * if ERRPOS is not NULL, store that character's index in TEXT. */
int mortar_location_parse(const char *text, struct mortar_location **out,
			  size_t *errpos);

/* Canonical text of LOC (malloc'd), or NULL with errno = ENOMEM. */
char *mortar_location_format(const struct mortar_location *loc);

void mortar_location_free(struct mortar_location *loc);

/* A copy of LOC in *OUT (0, or -ENOMEM with a message). */
int mortar_location_dup(const struct mortar_location *loc, struct mortar_location **out);
/* A copy of LOC naming PATH in the same place: a local path, or a path in
 * the same volume reached through the same servers. */
int mortar_location_with_path(const struct mortar_location *loc, const char *path,
			      struct mortar_location **out);

/* Do A and B name one volume: gluster, the same volume name reached
 * through at least one common volfile server (one cluster, whichever of
 * its servers is written first); nbd, the same export of one server;
 * file, always (the local host). */
bool mortar_location_same_volume(const struct mortar_location *a,
				 const struct mortar_location *b);
/* Do A and B name one image: the same volume and path; for local files,
 * the same file (device and inode) when both exist, however written. */
bool mortar_location_same_image(const struct mortar_location *a,
				const struct mortar_location *b);

/* Short name of the scheme: "file", "gluster", "nbd". */
const char *mortar_scheme_name(enum mortar_scheme scheme);

#ifdef __cplusplus
}
#endif
#endif
