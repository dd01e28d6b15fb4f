#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The gluster fixture works: a single-brick and a replica-3 volume are
# made, data written through a FUSE mount reads back, a replica volume with
# one brick killed still serves old data and takes new data, delete removes
# a volume and its bricks.  Cleanup at exit is checked by whoever runs this
# (no mortar-* volume, no gluster process if glusterd was not running).
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires mount umount sha256sum
[[ -c /dev/fuse ]] || skip "no /dev/fuse for the glusterfs FUSE client"
command -v mount.glusterfs >/dev/null || requires mount.glusterfs

t0=$(date +%s%N)
ms() { echo $((($(date +%s%N) - t0) / 1000000)); }

one=mortar-st1-$$
rep=mortar-st3-$$
gluster_volume "$one"
echo "ok: $one made in $(ms) ms (including glusterd start if it was not running)"
t1=$(ms)
gluster_volume "$rep" replica 3
echo "ok: $rep made in $(($(ms) - t1)) ms"

# mount_vol NAME DIR: FUSE-mount NAME on DIR, unmounted at exit.
mount_vol() {
	mkdir -p "$2"
	timeout 30 mount -t glusterfs "$GLUSTER_HOST:/$1" "$2" ||
		fail "cannot mount $GLUSTER_HOST:/$1 (see /var/log/glusterfs/$(sed 's|^/||; s|/|-|g' <<<"$2").log)"
	on_exit "umount $2 2>/dev/null || umount -l $2 2>/dev/null"
}
remount() { umount "$2" || fail "cannot unmount $2"; mount_vol "$1" "$2"; }

head -c 3M /dev/urandom >"$SCRATCH/data"
want=$(sha256sum <"$SCRATCH/data")
for v in "$one" "$rep"; do
	m=$SCRATCH/mnt-$v
	mount_vol "$v" "$m"
	cp "$SCRATCH/data" "$m/file"
	sync "$m/file"
	remount "$v" "$m" # read back through a fresh client, not a cache
	expect_eq "data read back from $v" "$(sha256sum <"$m/file")" "$want"
	umount "$m" || fail "cannot unmount $m"
done

# Each replica brick holds a copy.
for i in 1 2 3; do
	b=${MORTAR_GLUSTER_BRICKS:-/var/tmp/mortar-gluster}/$rep/brick$i/file
	expect_eq "copy on brick $i of $rep" "$(sha256sum <"$b")" "$want"
done

# Kill one brick of three: old data still readable, new data written.
pid=$(gluster_brick_pid "$rep" 2) || fail "no pid for brick 2 of $rep"
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! gluster_brick_pid "$rep" 2 >/dev/null 2>&1 || fail "brick 2 of $rep still shown online"
m=$SCRATCH/mnt-$rep
mount_vol "$rep" "$m"
expect_eq "data with brick 2 of $rep killed" "$(sha256sum <"$m/file")" "$want"
echo more >"$m/new" || fail "cannot write to $rep with one brick down"
expect_eq "new file with brick 2 down" "$(cat "$m/new")" more
umount "$m"

# delete removes the volume and its bricks.
gluster_fixture delete "$one"
_gl volume info "$one" >/dev/null 2>&1 && fail "$one still exists after delete"
[[ ! -e ${MORTAR_GLUSTER_BRICKS:-/var/tmp/mortar-gluster}/$one ]] || fail "bricks of $one left behind"
echo "ok: delete removed $one and its bricks"
echo "fixture selftest body took $(ms) ms"
