#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vhost-user-blk on GlusterFS: a guest's disk is an image on a real
# volume, served by mortar serve through libgfapi, and beside it
# qemu-storage-daemon's vhost-user-blk export of a second image on the
# same volume through QEMU's gluster driver, as the reference: the same
# steps on both (tests/vm/vhost.bash, vhost_check), checked on the brick:
#  - the pattern the guest wrote with O_DIRECT and fsync is in the brick's
#    file;
#  - a discard, and write zeroes with unmap, leave holes in the brick's
#    file; write zeroes without unmap reads as zeroes there.
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../vm/vhost.bash"
requires qemu-storage-daemon

vol=mortar-vu$$
gluster_volume "$vol"
g=gluster://$GLUSTER_HOST/$vol
brick=$GLUSTER_BRICKS/$vol/brick1
"$MORTAR" img create "$g/mortar.img" 64M >/dev/null
"$MORTAR" img create "$g/qsd.img" 64M >/dev/null

vs_start mortar "$SCRATCH/m.sock" -- --vhost-user-blk "$SCRATCH/m.sock" "disk0=$g/mortar.img"
qemu-storage-daemon --blockdev "driver=gluster,node-name=g0,volume=$vol,path=qsd.img,server.0.type=inet,server.0.host=$GLUSTER_HOST,server.0.port=24007,discard=unmap" \
	--export "type=vhost-user-blk,id=e0,node-name=g0,addr.type=unix,addr.path=$SCRATCH/q.sock,writable=on" \
	>"$SCRATCH/qsd.log" 2>&1 &
qsd=$!
on_exit "kill $qsd 2>/dev/null"
for ((i = 0; i < 300; i++)); do
	[[ -S $SCRATCH/q.sock ]] && break
	kill -0 $qsd 2>/dev/null || fail "qemu-storage-daemon did not start: $(cat "$SCRATCH/qsd.log")"
	sleep 0.1
done

# shellcheck disable=SC2046
vg_start g 1 $(vhost_dev "$SCRATCH/m.sock" m 1) $(vhost_dev "$SCRATCH/q.sock" q 1)
vhost_check_prepare g
expect_eq "vda's serial (GET_ID)" "$(vg g 'cat /sys/block/vda/serial')" disk0
vhost_check g vdb "$brick/qsd.img" qemu-storage-daemon 1
vhost_check g vda "$brick/mortar.img" mortar 1
vg_stop g
! grep -q "failed\|malformed\|stops until" "$SCRATCH/mortar.log" ||
	fail "the server logged errors: $(grep "failed\|malformed\|stops until" "$SCRATCH/mortar.log")"
vs_stop mortar
echo PASS
