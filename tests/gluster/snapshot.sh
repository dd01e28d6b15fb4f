#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Snapshots of images on real GlusterFS volumes: kept in the volume beside
# the image (any client of the volume sees them, whatever volfile server it
# names), a full sparse copy through the client on an ext4 brick (said
# plainly; deleting it frees its blocks, which a copy made by the bricks
# would keep pinned) and a reflink made by the bricks on an XFS brick
# with reflink=1 (no space used, extents shared), taken while `mortar serve` exports the image (writes held: the
# snapshot has every acknowledged write), exported read-only, reverted in
# place (refused on an image in use without --force), deleted; leftovers
# of a crashed snapshot are removed by the next one, while another host's
# fresh temporaries are left alone.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires qemu-io nbdinfo nbdcopy
requires_root

vol=mortar-sn$$
gluster_volume "$vol"
g=gluster://$GLUSTER_HOST/$vol
brick=$GLUSTER_BRICKS/$vol/brick1
cd "$SCRATCH"

"$MORTAR" img create a.img 64M >/dev/null
dd if=/dev/urandom of=a.img bs=1M count=4 seek=8 conv=notrunc status=none
"$MORTAR" img clone -q a.img "$g/disk.img" >/dev/null

# --- a snapshot on ext4 bricks: a full copy through the client, said so ---
OUT=$("$MORTAR" img snapshot --output=json "$g/disk.img" s1 | tail -1)
expect_eq "method on an ext4 brick" "$(json_get "$OUT" method)" "sparse copy"
expect_eq "shared on an ext4 brick" "$(json_get "$OUT" shared)" false
[[ $(json_get "$OUT" location) == "$g/.disk.img.snapshots/s1.img" ]] ||
	fail "snapshot location: $(json_get "$OUT" location)"
[[ -f $brick/.disk.img.snapshots/s1.img && -f $brick/.disk.img.snapshots/s1.json ]] ||
	fail "the snapshot is not in the volume: $(ls -la "$brick" "$brick/.disk.img.snapshots" 2>&1)"
OUT=$("$MORTAR" img snapshot list "$g/disk.img")
grep -q "^s1 .*full copy" <<<"$OUT" || fail "list does not say s1 is a full copy: $OUT"
echo "ok: snapshot on an ext4 brick is a full copy through the client, kept in the volume"

# --- taken while mortar serve writes: the writes are held, none lost ---
start_server_unix disk "$g/disk.img"
qemu-io -f raw "nbd+unix:///?socket=$SOCK" -c "write -P 0x11 0 1M" >/dev/null ||
	fail "qemu-io write through mortar serve failed"
OUT=$("$MORTAR" img snapshot --output=json "$g/disk.img" s2 | tail -1)
expect_eq "servers quiesced" "$(json_get "$OUT" quiesced-servers)" 1
"$MORTAR" img clone -q "$g/.disk.img.snapshots/s2.img" s2.raw >/dev/null
qemu-io -f raw -r -c "read -P 0x11 0 1M" s2.raw | grep -q "read 1048576" ||
	fail "s2 lacks the write acknowledged before it"
cmp -s -i 1M:1M a.img s2.raw || fail "s2 differs from the image past the write"
echo "ok: snapshot taken while exported holds the acknowledged write"

# --- seen by any client of the volume ---
other=gluster+tcp://${GLUSTER_HOSTS##* }:24007/$vol/disk.img # node 3
names=$("$MORTAR" img snapshot list --output=json "$other" | jq -r 'map(.name) | join(",")')
expect_eq "snapshots seen through another volfile server" "$names" "s1,s2"
info=$("$MORTAR" img info --output=json "$g/disk.img")
expect_eq "info lists the snapshots" "$(jq -r ".snapshots | join(\",\")" <<<"$info")" "s1,s2"
expect_eq "offload_snapshot on ext4 bricks" "$(json_get "$info" storage.offload_snapshot)" false

# --- exported read-only by name ---
start_server_unix snap --snapshot s1 "$g/disk.img"
snap_pid=$SPID
expect_eq "snapshot export is read-only" \
	"$(nbdinfo --json "nbd+unix:///?socket=$SOCK" | jq -r '.exports[0]."is_read_only"')" true
nbdcopy "nbd+unix:///?socket=$SOCK" s1.copy
cmp a.img s1.copy || fail "the export of s1 differs from the image when s1 was taken"
echo "ok: serve --snapshot s1 exports it read-only, equal to the image then"

# --- revert: refused while in use, then forced, in place ---
expect_error_line "in use by 1 running 'mortar serve'.*--force" \
	"$MORTAR" img snapshot revert "$g/disk.img" s1
"$MORTAR" img snapshot revert -q --force "$g/disk.img" s1 >/dev/null
OUT=$(qemu-io -f raw -r "nbd+unix:///?socket=$SCRATCH/disk.sock" \
	-c "read -P 0x11 0 1M" 2>&1 || true)
grep -q "Pattern verification failed" <<<"$OUT" ||
	fail "the running export still sees the write undone by the revert: $OUT"
"$MORTAR" img clone -q "$g/disk.img" reverted.raw >/dev/null
cmp a.img reverted.raw || fail "the image differs from s1 after revert"
echo "ok: revert --force restores s1 in place; the running export sees it"

# --- delete: the space comes back ---
# (a copy made by the bricks would stay open in the brick process and
# keep its blocks under .glusterfs/unlink until it restarts)
kill "$snap_pid" && wait "$snap_pid" || true	# its export has s1 open
bpid=$(gluster_brick_pid "$vol" 1)
fds0=$(ls "/proc/$bpid/fd" | wc -l)
pinned0=$(ls "$brick/.glusterfs/unlink" | wc -l)
"$MORTAR" img snapshot delete "$g/disk.img" s1 >/dev/null
for ((i = 0; i < 50; i++)); do	# (files still open elsewhere go at their last close)
	fds1=$(ls "/proc/$bpid/fd" | wc -l)
	pinned1=$(ls "$brick/.glusterfs/unlink" | wc -l)
	((fds1 <= fds0 && pinned1 <= pinned0)) && break
	sleep 0.1
done
((fds1 <= fds0 && pinned1 <= pinned0)) ||
	fail "deleting s1 left the brick $((fds1 - fds0)) more open files and $((pinned1 - pinned0)) more pinned files: $(ls -la "$brick/.glusterfs/unlink")"
echo "ok: deleting a snapshot frees it on the brick (open files $fds0 -> $fds1, pinned $pinned0 -> $pinned1)"
expect_eq "after delete" "$("$MORTAR" img snapshot list --output=json "$g/disk.img" |
	jq -r 'map(.name) | join(",")')" s2
[[ ! -e $brick/.disk.img.snapshots/s1.img ]] || fail "s1.img left in the volume"
expect_error_line "has no snapshot 'nope'" "$MORTAR" img snapshot delete "$g/disk.img" nope

# --- leftovers of a crash, ours and another host's ---
d=$g/.disk.img.snapshots
"$MORTAR" img create "$d/dead.img" 1M >/dev/null             # a clone without its description
"$MORTAR" img create "$d/.dead.json.tmp-4194000@$(hostname)" 0 >/dev/null
"$MORTAR" img create "$d/.x.img.tmp-4194001@$(hostname)" 1M >/dev/null
"$MORTAR" img create "$d/busy.img" 1M >/dev/null             # another host still copying
"$MORTAR" img create "$d/.busy.json.tmp-77@elsewhere" 0 >/dev/null
expect_eq "listed mid-crash" "$("$MORTAR" img snapshot list --output=json "$g/disk.img" |
	jq -r 'map(.name) | join(",")')" s2
"$MORTAR" img snapshot -q "$g/disk.img" s3 >/dev/null
left=$(ls -A "$brick/.disk.img.snapshots" | tr '\n' ' ')
expect_eq "snapshot folder after the next snapshot" "$left" \
	".busy.json.tmp-77@elsewhere busy.img s2.img s2.json s3.img s3.json "
echo "ok: a crashed snapshot's leftovers are removed, another host's kept"

# --- a sharded volume (the virt profile): taken, exported, reverted ---
vv=mortar-snv$$
gluster_volume "$vv" replica 3 group=virt
gv=gluster://$GLUSTER_HOST/$vv
"$MORTAR" img create sh.img 1G >/dev/null
dd if=/dev/urandom of=sh.img bs=1M count=2 seek=100 conv=notrunc status=none
dd if=/dev/urandom of=sh.img bs=1M count=2 seek=900 conv=notrunc status=none
"$MORTAR" img clone -q sh.img "$gv/v.img" >/dev/null
start_server_unix vsrv "$gv/v.img"
qemu-io -f raw "nbd+unix:///?socket=$SOCK" -c "write -P 0x3d 500M 1M" >/dev/null ||
	fail "qemu-io write through mortar serve on the sharded volume"
OUT=$("$MORTAR" img snapshot --output=json "$gv/v.img" s | tail -1)
expect_eq "servers quiesced (sharded)" "$(json_get "$OUT" quiesced-servers)" 1
qemu-io -f raw "nbd+unix:///?socket=$SOCK" -c "write -P 0x3e 500M 1M" >/dev/null
"$MORTAR" img clone -q "$gv/.v.img.snapshots/s.img" s-sharded.raw >/dev/null
qemu-io -f raw -r -c "read -P 0x3d 500M 1M" s-sharded.raw | grep -q "read 1048576" ||
	fail "the snapshot on the sharded volume lacks the write acknowledged before it"
cmp -n $((500 << 20)) sh.img s-sharded.raw || fail "the snapshot on the sharded volume differs before 500M"
expect_eq "data extents of the snapshot (sharded)" "$("$MORTAR" img map --output=json \
	"$gv/.v.img.snapshots/s.img" | jq -c '[.[] | select(.data) | .start / 1048576]')" "[100,500,900]"
"$MORTAR" img snapshot revert -q --force "$gv/v.img" s >/dev/null
qemu-io -f raw -r "nbd+unix:///?socket=$SOCK" -c "read -P 0x3d 500M 1M" | grep -q "read 1048576" ||
	fail "the export does not see the reverted data on the sharded volume"
echo "ok: on a sharded volume a snapshot holds the acknowledged write, only the data, and reverts"

# --- bricks on XFS with reflink=1: snapshots share blocks ---
requires filefrag
xfs=$GLUSTER_FS_DIR/xfs
mount_loop_fs xfs 2G "$xfs" -m reflink=1
vx=mortar-snx$$
MORTAR_GLUSTER_BRICKS=$xfs gluster_volume "$vx"
gx=gluster://$GLUSTER_HOST/$vx
dd if=/dev/urandom of=big.img bs=1M count=200 status=none
"$MORTAR" img clone -q big.img "$gx/big.img" >/dev/null
info=$("$MORTAR" img info --output=json "$gx/big.img")
expect_eq "offload_snapshot on XFS bricks" "$(json_get "$info" storage.offload_snapshot)" true
sync
before=$(df -k --output=used "$xfs" | tail -1)
OUT=$("$MORTAR" img snapshot --output=json "$gx/big.img" base | tail -1)
sync
after=$(df -k --output=used "$xfs" | tail -1)
expect_eq "method on an XFS brick" "$(json_get "$OUT" method)" "server-side reflink"
expect_eq "shared on an XFS brick" "$(json_get "$OUT" shared)" true
(( after - before < 8 * 1024 )) || fail "a snapshot of 200 MiB used $((after - before)) KiB"
filefrag -v "$xfs/$vx/brick1/.big.img.snapshots/base.img" | grep -q shared ||
	fail "no shared extents in the snapshot on the brick"
"$MORTAR" img snapshot list "$gx/big.img" | grep -q "^base .*shared blocks" ||
	fail "list does not say base shares blocks"
"$MORTAR" img clone -q "$gx/.big.img.snapshots/base.img" base.raw >/dev/null
cmp big.img base.raw || fail "the reflinked snapshot differs"
echo "ok: snapshot of 200 MiB on an XFS brick: $((after - before)) KiB used, extents shared"
echo PASS
