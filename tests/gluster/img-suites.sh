#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The image functional tests again, with the images on GlusterFS volumes:
# tests/func/img-create-info.sh, img-map.sh, img-resize.sh, io-data.sh
# and img-convert.sh run unchanged, their scratch folder on a FUSE mount of
# a test volume and their `mortar` replaced by
# tests/gluster/mortar-on-gluster, which hands Mortar the gluster://
# location of every file under that mount.  So each check of those tests
# now compares what Mortar did through libgfapi with what stat, qemu-img
# and qemu-io see through FUSE, another client.  (QEMU's own gluster driver
# would do as a second client too, but costs ~11 s per qemu-img call in
# glfs_fini: hundreds of calls here.)  Twice:
#  - a one-brick volume;
#  - a replica-3 volume with the virt profile (sharding, quorum, strict
#    O_DIRECT...), as VM hosts run it.  There `qemu-img map` through FUSE
#    would say "all data" (the shard translator refuses SEEK_DATA), so the
#    tests' qemu-img answers maps from the bricks' base and shard files
#    instead (tests/gluster/qemu-img-on-shards): Mortar's map must match
#    the shards that exist.
# The client-side caches of the volumes are off, so that each client sees
# the other's last write at once; the FUSE mount caches no attributes for
# the same reason.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-img qemu-io mount.glusterfs python3
[[ -c /dev/fuse ]] || skip "no /dev/fuse for a FUSE mount"

nocache=(performance.write-behind=off performance.quick-read=off performance.io-cache=off
	 performance.read-ahead=off performance.open-behind=off performance.stat-prefetch=off)
export MORTAR_TEST_REAL=$MORTAR MORTAR_TEST_REAL_QEMU_IMG=$(command -v qemu-img)

# suites VOLUME: the tests with their scratch folder on a FUSE mount of VOLUME.
suites() {
	local vol=$1 mnt=$SCRATCH/fuse-$1 t log n
	mkdir -p "$mnt"
	timeout 60 mount -t glusterfs \
		-o attribute-timeout=0,entry-timeout=0,negative-timeout=0,direct-io-mode=enable \
		"$GLUSTER_HOST:/$vol" "$mnt" || fail "cannot FUSE-mount $vol"
	on_exit "umount -l '$mnt'"
	mkdir "$mnt/tmp"
	for t in img-create-info img-map img-resize io-data img-convert; do
		log=$SCRATCH/$vol-$t.log
		MORTAR_TEST_FUSE=$mnt MORTAR_TEST_GLUSTER_BASE=gluster://$GLUSTER_HOST/$vol \
			MORTAR=$MORTAR_SRC/tests/gluster/mortar-on-gluster TMPDIR=$mnt/tmp \
			bash "$MORTAR_SRC/tests/func/$t.sh" >"$log" 2>&1 || {
			tail -n 30 "$log"
			fail "tests/func/$t.sh failed with its images on $vol"
		}
		n=$(grep -c '^ok' "$log" || true)
		((n > 8)) || fail "tests/func/$t.sh passed on $vol with only $n checks: $(tail -5 "$log")"
		echo "ok: tests/func/$t.sh on $vol, $n checks"
	done
}

vol=mortar-is$$
gluster_volume "$vol" "${nocache[@]}"
suites "$vol"

virt=mortar-iv$$
gluster_volume "$virt" replica 3 group=virt "${nocache[@]}"
mkdir -p "$SCRATCH/bin"
ln -s "$MORTAR_SRC/tests/gluster/qemu-img-on-shards" "$SCRATCH/bin/qemu-img"
PATH=$SCRATCH/bin:$PATH MORTAR_TEST_SHARD_BRICK=$GLUSTER_BRICKS/$virt/brick1 suites "$virt"
echo PASS
