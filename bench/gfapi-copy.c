/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench/gfapi-copy HOST VOLUME SRC DST
 *
 * The peer for bench/clone.sh on GlusterFS: the fastest copy a libgfapi
 * program can ask for, glfs_copy_file_range of the whole file within the
 * volume (the bricks copy; a reflink on XFS bricks with reflink=1), then
 * fsync.  No hole handling, no temporary name: the bare API.  Prints the
 * seconds spent copying (connection excluded) and exits without
 * glfs_fini(), which takes ~10 s on GlusterFS 10.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glusterfs/api/glfs.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	glfs_fd_t *in, *out;
	struct stat st;
	off_t oi = 0, oo = 0, left;
	double t0;
	glfs_t *fs;

	if (argc != 5) {
		fprintf(stderr, "usage: %s HOST VOLUME SRC DST\n", argv[0]);
		return 2;
	}
	fs = glfs_new(argv[2]);
	if (!fs || glfs_set_volfile_server(fs, "tcp", argv[1], 24007) < 0 ||
	    glfs_set_logging(fs, "/dev/null", 3) < 0 || glfs_init(fs) < 0) {
		fprintf(stderr, "gfapi-copy: cannot connect to %s/%s: %s\n", argv[1],
			argv[2], strerror(errno));
		_exit(1);
	}
	t0 = now();
	in = glfs_open(fs, argv[3], O_RDONLY);
	out = glfs_creat(fs, argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!in || !out || glfs_fstat(in, &st) < 0) {
		fprintf(stderr, "gfapi-copy: open: %s\n", strerror(errno));
		_exit(1);
	}
	for (left = st.st_size; left > 0;) {
		ssize_t n = glfs_copy_file_range(in, &oi, out, &oo, (size_t)left, 0,
						 NULL, NULL, NULL);
		if (n <= 0) {
			fprintf(stderr, "gfapi-copy: copy_file_range: %s\n",
				n < 0 ? strerror(errno) : "no progress");
			_exit(1);
		}
		left -= n;
	}
	if (glfs_fsync(out, NULL, NULL) < 0 || glfs_close(out) < 0) {
		fprintf(stderr, "gfapi-copy: fsync: %s\n", strerror(errno));
		_exit(1);
	}
	glfs_close(in);
	printf("%.3f\n", now() - t0);
	fflush(stdout);
	_exit(0);
}
