#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The image functional tests again, with the images on a GlusterFS volume:
# tests/func/img-create-info.sh, img-map.sh, img-resize.sh and io-data.sh
# run unchanged, their scratch folder on a FUSE mount of a test volume and
# their `mortar` replaced by tests/gluster/mortar-on-gluster, which hands
# Mortar the gluster:// location of every file under that mount.  So each
# check of those tests now compares what Mortar did through libgfapi with
# what stat, qemu-img and qemu-io see through FUSE, another client.  (QEMU's
# own gluster driver would do as a second client too, but costs ~11 s per
# qemu-img call in glfs_fini: hundreds of calls here.)  The client-side
# caches of the volume are off, so that each client sees the other's last
# write at once; the FUSE mount caches no attributes for the same reason.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-img qemu-io mount.glusterfs
[[ -c /dev/fuse ]] || skip "no /dev/fuse for a FUSE mount"

vol=mortar-is$$
gluster_volume "$vol" performance.write-behind=off performance.quick-read=off \
	performance.io-cache=off performance.read-ahead=off performance.open-behind=off \
	performance.stat-prefetch=off
mnt=$SCRATCH/fuse
mkdir -p "$mnt"
timeout 60 mount -t glusterfs \
	-o attribute-timeout=0,entry-timeout=0,negative-timeout=0,direct-io-mode=enable \
	"$GLUSTER_HOST:/$vol" "$mnt" || fail "cannot FUSE-mount $vol"
on_exit "umount -l '$mnt'"
mkdir "$mnt/tmp"

export MORTAR_TEST_FUSE=$mnt MORTAR_TEST_GLUSTER_BASE=gluster://$GLUSTER_HOST/$vol
export MORTAR_TEST_REAL=$MORTAR MORTAR=$MORTAR_SRC/tests/gluster/mortar-on-gluster
for t in img-create-info img-map img-resize io-data; do
	log=$SCRATCH/$t.log
	TMPDIR=$mnt/tmp bash "$MORTAR_SRC/tests/func/$t.sh" >"$log" 2>&1 || {
		tail -n 30 "$log"
		fail "tests/func/$t.sh failed with its images on GlusterFS"
	}
	n=$(grep -c '^ok' "$log" || true)
	((n > 10)) || fail "tests/func/$t.sh passed on GlusterFS with only $n checks: $(tail -5 "$log")"
	echo "ok: tests/func/$t.sh on GlusterFS, $n checks"
done
echo PASS
