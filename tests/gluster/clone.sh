#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Clones and conversions with GlusterFS on either side, on real volumes:
# a qcow2 image converted straight onto the volume (read through a
# qemu-nbd child, written with libgfapi), a local file cloned onto it and
# back, a clone within the volume (through the client where the bricks
# cannot share blocks: a full copy by the bricks would stay pinned on
# them once deleted);
# every copy byte-equal (qemu-img compare / cmp) and sparse on the brick;
# on a volume whose brick is on XFS with reflink=1 the server-side clone
# shares the brick's blocks (filefrag) and takes no space (df); on a
# sharded volume (virt profile) the copies have shard files only where the
# source has data; `img info` says how copies are made (snapshots:
# tests/gluster/snapshot.sh).
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires qemu-img qemu-io qemu-nbd jq getfattr
requires_root

vol=mortar-cl$$
gluster_volume "$vol"
g=gluster://$GLUSTER_HOST/$vol
cd "$SCRATCH"

qemu-img create -q -f qcow2 src.qcow2 128M
qemu-io -f qcow2 -c "write -P 0x5a 0 2M" -c "write -P 0xa5 100M 1M" src.qcow2 >/dev/null
OUT=$("$MORTAR" img convert --output=json src.qcow2 "$g/from-qcow2.img" | tail -1)
expect_eq "converted format" "$(json_get "$OUT" source-format)" qcow2
"$MORTAR" img clone -q "$g/from-qcow2.img" back.raw >/dev/null
qemu-img compare -q -f qcow2 -F raw src.qcow2 back.raw || fail "qcow2 -> gluster -> file differs"
echo "ok: qcow2 converted onto the volume reads back equal"

"$MORTAR" img create local.img 64M >/dev/null
dd if=/dev/urandom of=local.img bs=1M count=3 seek=10 conv=notrunc status=none
OUT=$("$MORTAR" img clone --output=json local.img "$g/up.img" | tail -1)
expect_eq "file -> gluster method" "$(json_get "$OUT" method)" "sparse copy"
OUT=$("$MORTAR" img clone --output=json "$g/up.img" "$g/within.img" | tail -1)
expect_eq "within the volume, ext4 bricks" "$(json_get "$OUT" method)" "sparse copy"
"$MORTAR" img clone -q "$g/within.img" down.img >/dev/null
cmp local.img down.img || fail "file -> gluster -> gluster -> file differs"
brick=$GLUSTER_BRICKS/$vol/brick1
[[ -f $brick/within.img ]] || fail "no within.img on the brick $brick"
alloc=$(du -k "$brick/within.img" | cut -f1)
(( alloc < 8 * 1024 )) || fail "the clone on the brick allocates $alloc KiB: not sparse"
echo "ok: the clone of a 64 MiB image with 3 MiB of data allocates $alloc KiB on the brick"
expect_error_line "already exists.*--force" "$MORTAR" img clone -q local.img "$g/up.img"

info=$("$MORTAR" img info --output=json "$g/up.img")
expect_eq "gluster offload_copy, ext4 bricks" "$(json_get "$info" storage.offload_copy)" false
grep -q "copies through the client" <<<"$(json_get "$info" storage.copies)" ||
	fail "info does not say how copies are made: $info"

# --- the bricks are probed once, not at every `img info` ---
# (each probe leaves the bricks one descriptor they never close and, once
# its scratch copy is deleted, that copy's blocks: mortar-img(1), BUGS)
run=$SCRATCH/run		# an empty runtime folder: nothing remembered yet
mkdir -m 0700 "$run"
bpid=$(gluster_brick_pid "$vol" 1)
fds0=$(ls "/proc/$bpid/fd" | wc -l)
pinned0=$(ls "$brick/.glusterfs/unlink" | wc -l)
for i in 1 2 3 4; do
	again=$(XDG_RUNTIME_DIR=$run "$MORTAR" img info --output=json "$g/up.img")
	expect_eq "info's copies, call $i" "$(json_get "$again" storage.copies)" \
		"$(json_get "$info" storage.copies)"
done
fds1=$(ls "/proc/$bpid/fd" | wc -l)
pinned1=$(ls "$brick/.glusterfs/unlink" | wc -l)
((fds1 - fds0 <= 1 && pinned1 - pinned0 <= 1)) ||
	fail "4 img info calls left the brick $((fds1 - fds0)) more open files and $((pinned1 - pinned0)) more pinned deleted files"
ls "$run"/mortar/gluster-copy/* >/dev/null || fail "no probe result remembered"
echo "ok: 4 img info calls probed the bricks once ($((fds1 - fds0)) descriptor, $((pinned1 - pinned0)) pinned file)"

# --- a sharded volume (the virt profile): only the shards with data ---
# A 2 GiB image with data in three of its 32 shards (64 MiB each), cloned
# onto the volume, within it, and back: every copy equal, and on the
# bricks the clones have shard files only where the source has data.
vv=mortar-clv$$
gluster_volume "$vv" replica 3 group=virt
gv=gluster://$GLUSTER_HOST/$vv
vb=$GLUSTER_BRICKS/$vv/brick1
"$MORTAR" img create sparse.img 2G >/dev/null
for at in 5 700 1900; do
	dd if=/dev/urandom of=sparse.img bs=1M count=3 seek=$at conv=notrunc status=none
done
shards() { # files in .shard of the image PATH on the volume's first brick
	local gfid
	gfid=$(getfattr -n trusted.gfid -e hex "$vb/$1" 2>/dev/null | sed -n 's/^trusted.gfid=0x//p' |
		sed 's/\(........\)\(....\)\(....\)\(....\)/\1-\2-\3-\4-/')
	ls "$vb/.shard" | grep -c "^$gfid\." || true
}
"$MORTAR" img clone -q sparse.img "$gv/s.img" >/dev/null
start=$(date +%s%N)
OUT=$("$MORTAR" img clone --output=json "$gv/s.img" "$gv/t.img" | tail -1)
ms=$((($(date +%s%N) - start) / 1000000))
"$MORTAR" img clone -q "$gv/t.img" back-sparse.img >/dev/null
cmp sparse.img back-sparse.img || fail "file -> sharded volume -> within -> file differs"
expect_eq "shard files of the copy made within the volume" "$(shards t.img)" 2
map=$("$MORTAR" img map --output=json "$gv/t.img")
expect_eq "data extents of the copy" "$(jq -c '[.[] | select(.data) | [.start, .length]]' <<<"$map")" \
	"[[$((5 << 20)),$((3 << 20))],[$((700 << 20)),$((3 << 20))],[$((1900 << 20)),$((3 << 20))]]"
echo "ok: a 2 GiB sharded image with 9 MiB of data cloned within the volume in $ms ms ($(json_get "$OUT" method)), shards only where data is"

# --- a brick on XFS with reflink=1: the bricks' copy is a reflink ---
requires filefrag
xfs=$GLUSTER_FS_DIR/xfs
mount_loop_fs xfs 2G "$xfs" -m reflink=1
vx=mortar-clx$$
MORTAR_GLUSTER_BRICKS=$xfs gluster_volume "$vx"
gx=gluster://$GLUSTER_HOST/$vx
"$MORTAR" img create "$gx/a.img" 512M >/dev/null
dd if=/dev/urandom of=local-big.img bs=1M count=200 status=none
"$MORTAR" img clone -q --force local-big.img "$gx/a.img" >/dev/null
sync
before=$(df -k --output=used "$xfs" | tail -1)
OUT=$("$MORTAR" img clone --output=json "$gx/a.img" "$gx/b.img" | tail -1)
expect_eq "method on an XFS brick" "$(json_get "$OUT" method)" "server-side reflink"
expect_eq "shared on an XFS brick" "$(json_get "$OUT" shared)" true
sync
after=$(df -k --output=used "$xfs" | tail -1)
(( after - before < 8 * 1024 )) || fail "the clone of 200 MiB used $((after - before)) KiB on the XFS brick"
filefrag -v "$xfs/$vx/brick1/b.img" | grep -q shared || fail "no shared extents on the brick"
"$MORTAR" img clone -q "$gx/b.img" back-big.img >/dev/null
cmp local-big.img back-big.img || fail "the server-side clone differs"
echo "ok: server-side clone of 200 MiB on an XFS brick: $((after - before)) KiB used, extents shared"
echo PASS
