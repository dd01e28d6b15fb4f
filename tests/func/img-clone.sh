#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img clone on real filesystems: on XFS made with reflink=1 a 1 GiB
# image (256 MiB of data) clones by reflink — filefrag shows shared
# extents, df barely moves, `img info` says offload_copy; on ext4 it falls
# back to a copy that keeps holes and says so; --no-reflink copies on XFS
# too.  Every clone is byte-identical (cmp, qemu-img compare).  An
# existing destination needs --force.  A clone killed with SIGKILL leaves
# no destination, and its temporary file is removed by the next clone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires filefrag qemu-img cmp

xfs=$SCRATCH/xfs ext=$SCRATCH/ext4
mount_loop_fs xfs 2G "$xfs" -m reflink=1
mount_loop_fs ext4 2G "$ext" -F

# 1 GiB image, data in four 64 MiB runs with holes between them.
make_image() {
	local img=$1 i
	"$MORTAR" img create "$img" 1G >/dev/null
	for i in 0 3 7 12; do
		dd if=/dev/urandom of="$img" bs=1M count=64 seek=$((i * 64)) conv=notrunc status=none
	done
}
used_kib() { df -k --output=used "$1" | tail -1; }
shared_extents() { filefrag -v "$1" | grep -c shared || true; }

# --- XFS: reflink ---
make_image "$xfs/a.img"
sync
before=$(used_kib "$xfs")
OUT=$("$MORTAR" img clone --output=json "$xfs/a.img" "$xfs/b.img")
res=$(tail -1 <<<"$OUT")
expect_eq "method on XFS" "$(json_get "$res" method)" reflink
expect_eq "shared on XFS" "$(json_get "$res" shared)" true
sync
after=$(used_kib "$xfs")
(( after - before < 4096 )) || fail "a reflink clone used $((after - before)) KiB (want < 4 MiB)"
echo "ok: clone of 256 MiB of data used $((after - before)) KiB on XFS"
(( $(shared_extents "$xfs/b.img") > 0 )) || fail "filefrag shows no shared extents: $(filefrag -v "$xfs/b.img")"
echo "ok: filefrag shows shared extents"
cmp "$xfs/a.img" "$xfs/b.img" || fail "reflink clone differs"
info=$("$MORTAR" img info --output=json "$xfs/a.img")
expect_eq "XFS offload_copy" "$(json_get "$info" storage.offload_copy)" true
expect_eq "XFS offload_snapshot" "$(json_get "$info" storage.offload_snapshot)" true

# an existing destination
expect_error_line "already exists.*--force" "$MORTAR" img clone -q "$xfs/a.img" "$xfs/b.img"
"$MORTAR" img clone -q --force "$xfs/a.img" "$xfs/b.img" >/dev/null
cmp "$xfs/a.img" "$xfs/b.img" || fail "forced clone differs"

# --no-reflink copies for real, keeping holes
OUT=$("$MORTAR" img clone --no-reflink --output=json "$xfs/a.img" "$xfs/c.img")
expect_eq "method with --no-reflink" "$(json_get "$(tail -1 <<<"$OUT")" method)" "sparse copy"
expect_eq "shared extents after --no-reflink" "$(shared_extents "$xfs/c.img")" 0
alloc=$(du -k "$xfs/c.img" | cut -f1)
(( alloc >= 256 * 1024 && alloc < 300 * 1024 )) || fail "copy allocates $alloc KiB, want ~256 MiB"
qemu-img compare -q -f raw -F raw "$xfs/a.img" "$xfs/c.img" || fail "copy differs"
echo "ok: --no-reflink copy is equal and allocates $alloc KiB"

# --- ext4: no reflink, falls back and says so ---
make_image "$ext/a.img"
OUT=$("$MORTAR" img clone "$ext/a.img" "$ext/b.img")
grep -q "copy_file_range" <<<"$OUT" || fail "ext4 clone did not say how: $OUT"
grep -q "blocks shared" <<<"$OUT" && fail "ext4 clone claims shared blocks: $OUT"
cmp "$ext/a.img" "$ext/b.img" || fail "ext4 clone differs"
alloc=$(du -k "$ext/b.img" | cut -f1)
(( alloc < 300 * 1024 )) || fail "ext4 clone allocates $alloc KiB: holes were filled"
info=$("$MORTAR" img info "$ext/a.img")
grep -q "full copies" <<<"$info" || fail "img info on ext4 does not say copies are full: $info"
echo "ok: ext4 falls back to copy_file_range, keeps holes ($alloc KiB), says so"

# --- SIGKILL in the middle of a copy ---
"$MORTAR" img clone -q --no-reflink "$ext/a.img" "$ext/killed.img" &
pid=$!
for ((i = 0; i < 200; i++)); do
	compgen -G "$ext/.killed.img.tmp-*" >/dev/null && break
	sleep 0.01
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
[[ ! -e $ext/killed.img ]] || fail "a killed clone left its destination"
ls -a "$ext" | grep -q "^.killed.img.tmp-$pid$" || echo "note: the clone finished its temporary before the kill"
"$MORTAR" img clone -q "$ext/a.img" "$ext/killed.img" >/dev/null
! compgen -G "$ext/.killed.img.tmp-*" >/dev/null || fail "stale temporary not removed: $(ls -a "$ext")"
cmp "$ext/a.img" "$ext/killed.img" || fail "clone after a killed one differs"
echo "ok: a killed clone leaves no destination; the next clone removes its temporary"

# --- across backends is covered by tests/gluster/clone.sh ---
echo PASS
