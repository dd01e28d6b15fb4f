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

/* Make DIR (0700) unless it exists; it must then be ours and private. */
static int private_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return mortar_set_error(errno, "cannot create %s: %m", dir);
	if (lstat(dir, &st) < 0)
		return mortar_set_error(errno, "cannot inspect %s: %m", dir);
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return mortar_set_error(EPERM, "%s is not a directory owned by user %u; "
					"remove it or set XDG_RUNTIME_DIR", dir,
					(unsigned)getuid());
	if (st.st_mode & 077)
		return mortar_set_error(EPERM, "%s is open to other users (mode %03o); "
					"run 'chmod 700 %s'", dir,
					(unsigned)(st.st_mode & 0777), dir);
	return 0;
}

int mortar_runtime_dir(const char *sub, char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int r, n;

	if (xdg && *xdg == '/' && access(xdg, W_OK) == 0)
		n = snprintf(buf, len, "%s/mortar", xdg);
	else
		n = snprintf(buf, len, "/tmp/mortar-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= len)
		return mortar_set_error(ENAMETOOLONG, "runtime directory name too long");
	r = private_dir(buf);
	if (r < 0 || !sub)
		return r;
	n = snprintf(buf + n, len - (size_t)n, "/%s", sub);
	if (n < 0 || (size_t)n >= len)
		return mortar_set_error(ENAMETOOLONG, "runtime directory name too long");
	return private_dir(buf);
}
