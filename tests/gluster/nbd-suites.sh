#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The NBD checks of tests/func/nbd-protocol.sh (libnbd's Python binding
# against mortar serve) and tests/func/nbd-robust.sh (misbehaving clients
# on raw sockets) again, with the exports on GlusterFS volumes: the same
# layouts, block status, structured reads, trims, zeroes, errors, option
# haggling, bad magic, oversized and truncated requests, vanished clients,
# served through libgfapi.  Twice:
#  - a one-brick volume, the checks reading the bytes from the brick file;
#  - a replica-3 volume with the virt profile (sharding, quorum, strict
#    O_DIRECT...), as VM hosts run it, the checks reading through a FUSE
#    mount (on a sharded volume the brick files are not the images); block
#    status there comes from the shards that exist.
# The volumes' client-side caches are off (write-behind would acknowledge
# writes the bricks have not seen yet; an NBD client may only count on
# them after a flush, and the checks look sooner).
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"
requires mount.glusterfs
[[ -c /dev/fuse ]] || skip "no /dev/fuse for a FUSE mount"

nocache=(performance.write-behind=off performance.quick-read=off performance.io-cache=off
	 performance.read-ahead=off performance.open-behind=off)

# suites VOLUME FOLDER: the two suites on VOLUME, their files seen in FOLDER.
suites() {
	export MORTAR_TEST_GLUSTER="gluster://$GLUSTER_HOST/$1,$2"
	bash "$MORTAR_SRC/tests/func/nbd-protocol.sh" || fail "the NBD protocol checks failed on $1"
	bash "$MORTAR_SRC/tests/func/nbd-robust.sh" || fail "the misbehaving-client checks failed on $1"
	echo "ok: both suites pass on $1"
}

vol=mortar-np$$
gluster_volume "$vol" "${nocache[@]}"
suites "$vol" "$GLUSTER_BRICKS/$vol/brick1"

virt=mortar-nv$$
gluster_volume "$virt" replica 3 group=virt "${nocache[@]}"
mnt=$SCRATCH/fuse
mkdir -p "$mnt"
timeout 60 mount -t glusterfs \
	-o attribute-timeout=0,entry-timeout=0,negative-timeout=0,direct-io-mode=enable \
	"$GLUSTER_HOST:/$virt" "$mnt" || fail "cannot FUSE-mount $virt"
on_exit "umount -l '$mnt'"
suites "$virt" "$mnt"
echo PASS
