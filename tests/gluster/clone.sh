#!/bin/bash
# Clones and conversions with GlusterFS on either side, on a real volume:
# a qcow2 image converted straight onto the volume (read through a
# qemu-nbd child, written with libgfapi), a local file cloned onto it and
# back, a clone within the volume; every copy byte-equal (qemu-img
# compare / cmp) and sparse on the brick; `img info` says plainly that
# copies on GlusterFS are full copies; snapshots are refused with a
# pointer to `img clone`.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires qemu-img qemu-io qemu-nbd
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
"$MORTAR" img clone -q "$g/up.img" "$g/within.img" >/dev/null
"$MORTAR" img clone -q "$g/within.img" down.img >/dev/null
cmp local.img down.img || fail "file -> gluster -> gluster -> file differs"
brick=${MORTAR_GLUSTER_BRICKS:-/var/tmp/mortar-gluster}/$vol/brick1
[[ -f $brick/within.img ]] || fail "no within.img on the brick $brick"
alloc=$(du -k "$brick/within.img" | cut -f1)
(( alloc < 8 * 1024 )) || fail "the clone on the brick allocates $alloc KiB: not sparse"
echo "ok: the clone of a 64 MiB image with 3 MiB of data allocates $alloc KiB on the brick"
expect_error_line "already exists.*--force" "$MORTAR" img clone -q local.img "$g/up.img"

info=$("$MORTAR" img info --output=json "$g/up.img")
expect_eq "gluster offload_copy" "$(json_get "$info" storage.offload_copy)" false
grep -q "full sparse copies" <<<"$(json_get "$info" storage.copies)" ||
	fail "info does not say copies are full: $info"
expect_error_line "local images only.*mortar img clone" "$MORTAR" img snapshot "$g/up.img" s1
echo PASS
