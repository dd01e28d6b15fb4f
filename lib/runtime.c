/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-user runtime directory (see runtime.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "runtime.h"

/* Make DIR with MODE unless it exists; it must then be ours, a real
 * directory, and closed to others as far as MODE is (a directory that
 * another user made first, or can write to, could catch our sockets). */
static int private_dir(const char *dir, mode_t mode)
{
	struct stat st;

	if (mkdir(dir, mode) < 0 && errno != EEXIST)
		return mortar_set_error(errno, "cannot create %s: %m", dir);
	if (lstat(dir, &st) < 0)
		return mortar_set_error(errno, "cannot inspect %s: %m", dir);
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return mortar_set_error(EPERM, "%s is not a directory owned by user %u "
					"(another user may have made it to catch Mortar's "
					"sockets); remove it, or set XDG_RUNTIME_DIR to a "
					"private directory", dir, (unsigned)getuid());
	if (st.st_mode & 077 & ~mode)
		return mortar_set_error(EPERM, "%s is open to other users (mode %03o); "
					"run 'chmod %03o %s'", dir,
					(unsigned)(st.st_mode & 0777), (unsigned)mode, dir);
	return 0;
}

int mortar_runtime_dir(const char *sub, char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	mode_t mode = 0700;
	int r, n;

	if (xdg && *xdg == '/' && access(xdg, W_OK) == 0) {
		n = snprintf(buf, len, "%s/mortar", xdg);
	} else if (getuid() == 0) {
		/* Services run as root without a session: /run is theirs.
		 * Others may look in (export sockets for QEMU live below),
		 * never write. */
		n = snprintf(buf, len, "/run/mortar");
		mode = 0755;
	} else {
		n = snprintf(buf, len, "/tmp/mortar-%u", (unsigned)getuid());
	}
	if (n < 0 || (size_t)n >= len)
		return mortar_set_error(ENAMETOOLONG, "runtime directory name too long");
	r = private_dir(buf, mode);
	if (r < 0 || !sub)
		return r;
	n = snprintf(buf + n, len - (size_t)n, "/%s", sub);
	if (n < 0 || (size_t)n >= len)
		return mortar_set_error(ENAMETOOLONG, "runtime directory name too long");
	return private_dir(buf, 0700);
}
