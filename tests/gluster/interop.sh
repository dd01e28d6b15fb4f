#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Interop and plumbing on a real volume:
# - an image written through Mortar reads back identically through QEMU's
#   own gluster driver and through a FUSE mount, and the other way round;
# - discard end to end: 64 MiB written, trimmed over NBD, and the brick
#   file's allocation drops;
# - failover: the first volfile server of the list is unreachable, the
#   second one is used.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-img qemu-io

vol=mortar-io$$
gluster_volume "$vol"
base=gluster://$GLUSTER_HOST/$vol
brick=$GLUSTER_BRICKS/$vol/brick1

# Mortar writes, QEMU's driver reads (and compares with a local copy).
"$MORTAR" img create "$base/a.img" 32M
"$MORTAR" io "$base/a.img" -c "write -P 0x5a 0 8M" -c "write -P 0xa5 20M 1M" >/dev/null
"$MORTAR" serve --run 'qemu-img convert -f raw -O raw "$uri" '"$SCRATCH"'/a.raw' "$base/a.img" ||
	fail "copying the image out over NBD"
timeout 60 qemu-img compare -f raw -F raw "$base/a.img" "$SCRATCH/a.raw" >/dev/null 2>&1 ||
	fail "QEMU's gluster driver reads something else than Mortar wrote"
echo "ok: QEMU's gluster driver reads what Mortar wrote"

# QEMU's driver writes, Mortar reads.
timeout 60 qemu-io -f raw -c "write -P 0x3c 4M 1M" "$base/a.img" >/dev/null 2>&1 ||
	fail "qemu-io write through QEMU's gluster driver"
"$MORTAR" io --read-only "$base/a.img" -c "read -P 0x3c 4M 1M" -c "read -P 0x5a 0 4M" >/dev/null ||
	fail "Mortar does not read what QEMU's driver wrote"
echo "ok: Mortar reads what QEMU's gluster driver wrote"

# FUSE, both ways.
if [[ -c /dev/fuse ]] && command -v mount.glusterfs >/dev/null; then
	mnt=$SCRATCH/fuse
	mkdir -p "$mnt"
	mount -t glusterfs "$GLUSTER_HOST:/$vol" "$mnt" || fail "FUSE mount of $vol"
	on_exit "umount -l '$mnt'"
	cmp <(head -c 32M "$mnt/a.img") <("$MORTAR" serve --run 'nbdcopy "$uri" -' "$base/a.img") ||
		fail "FUSE and Mortar disagree on a.img"
	qemu-io -f raw -c "write -P 0x77 10M 1M" "$mnt/a.img" >/dev/null || fail "write through FUSE"
	"$MORTAR" io --read-only "$base/a.img" -c "read -P 0x77 10M 1M" >/dev/null ||
		fail "Mortar does not read what was written through FUSE"
	echo "ok: FUSE and Mortar see the same bytes both ways"
else
	skip "no FUSE here"
fi

# Discard end to end.
"$MORTAR" img create "$base/d.img" 128M
"$MORTAR" io "$base/d.img" -c "write -P 0x11 0 64M" -c flush >/dev/null
before=$(du -k "$brick/d.img" | cut -f1)
"$MORTAR" serve --run 'qemu-io -f raw "$uri" -c "discard 0 64M"' "$base/d.img" >/dev/null ||
	fail "NBD trim"
after=$(du -k "$brick/d.img" | cut -f1)
echo "brick allocation: $before KiB before the trim, $after KiB after"
((before >= 60000)) || fail "the brick file holds only $before KiB after writing 64 MiB"
((after <= before / 8)) || fail "trim did not free the brick's blocks ($before -> $after KiB)"
"$MORTAR" io --read-only "$base/d.img" -c "read -P 0 0 64M" >/dev/null || fail "trimmed range does not read as zeroes"
echo "ok: NBD trim frees blocks on the brick"

# Failover: nothing listens on the first server.
"$MORTAR" io --read-only "gluster://127.0.0.1:24099,$GLUSTER_HOST/$vol/a.img" -c "read -P 0x3c 4M 1M" >/dev/null ||
	fail "the second volfile server was not used"
echo "ok: failover to the second volfile server"
