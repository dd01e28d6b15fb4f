#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Live resize of a vhost-user-blk export: `mortar img resize` of an image
# that a mortar serve exports asks the server to resize it (control
# socket), and the server sends QEMU a configuration change; QEMU 7.2
# forwards it, so the running guest sees the new capacity without a
# reboot.  (qemu-storage-daemon 7.2's block_resize of its own export was
# measured here not to reach the guest: NOTES-host.md.)
#  - grown by 32 MiB: /sys/block/vda/size follows, the kernel says
#    "capacity change", and the guest writes and reads back its new last
#    MiB, which the image holds;
#  - shrunk with --shrink: the guest follows again;
#  - a new NBD client of the same server sees the new size (nbdinfo);
#  - without --shrink a smaller size is refused and nothing changes;
#  - beside it, a read-only export (serve -r): the guest's second disk is
#    read-only (VIRTIO_BLK_F_RO), a write to it fails, the image is
#    untouched.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vhost.bash"
requires nbdinfo

M=$((1 << 20))
img=$SCRATCH/disk.img
"$MORTAR" img create "$img" 64M >/dev/null
vs_start srv "$SCRATCH/v.sock" "$SCRATCH/nbd.sock" -- \
	--vhost-user-blk "$SCRATCH/v.sock" --socket "$SCRATCH/nbd.sock" "$img"
ro=$SCRATCH/ro.img
"$MORTAR" img create "$ro" 16M >/dev/null
"$MORTAR" io "$ro" -c 'write -P 0x5a 0 1M' >/dev/null
vs_start ro "$SCRATCH/ro.sock" -- -r --vhost-user-blk "$SCRATCH/ro.sock" "$ro"
# shellcheck disable=SC2046
vg_start g 1 $(vhost_dev "$SCRATCH/v.sock" v 1) $(vhost_dev "$SCRATCH/ro.sock" r 1)

expect_eq "the read-only disk in the guest" "$(vg g 'cat /sys/block/vdb/ro')" 1
! vg g 'echo x | dd of=/dev/vdb bs=4096 oflag=direct conv=sync 2>/dev/null' ||
	fail "the guest wrote to a read-only export"
expect_eq "the read-only image" "$(head -c 4 "$ro" | od -An -tx1 | tr -d ' ')" 5a5a5a5a
expect_eq "what the guest reads of it" "$(vg g 'dd if=/dev/vdb bs=4 count=1 2>/dev/null | od -An -tx1' | tr -d ' ')" 5a5a5a5a
expect_eq "guest size before" "$(vg g 'cat /sys/block/vda/size')" $((64 * 2048))

# guest_size_becomes SECTORS: within 20 s
guest_size_becomes() {
	local i s
	for ((i = 0; i < 40; i++)); do
		s=$(vg g 'cat /sys/block/vda/size')
		[[ $s == "$1" ]] && { echo "ok: the guest sees $s sectors"; return 0; }
		sleep 0.5
	done
	fail "the guest still sees $s sectors, want $1"
}

"$MORTAR" img resize "$img" +32M
expect_eq "image size" "$(stat -c %s "$img")" $((96 * M))
guest_size_becomes $((96 * 2048))
vg g 'dmesg' | grep -q "detected capacity change from $((64 * 2048)) to $((96 * 2048))" ||
	fail "the guest kernel logged no capacity change"
grep -q "export 'disk.img' is now $((96 * M)) bytes" "$SCRATCH/srv.log" ||
	fail "the server did not log the resize"
expect_eq "NBD size after the resize" "$(nbdinfo --size "nbd+unix:///?socket=$SCRATCH/nbd.sock")" $((96 * M))

# the new end is usable
vg g 'dd if=/dev/urandom of=/tmp/pat bs=1M count=1 2>/dev/null'
pat=$(vg g 'md5sum </tmp/pat' | cut -d' ' -f1)
vg g 'dd if=/tmp/pat of=/dev/vda bs=1M seek=95 oflag=direct conv=fsync 2>&1' >/dev/null ||
	fail "writing the new last MiB failed"
expect_eq "new last MiB read back" \
	"$(vg g 'dd if=/dev/vda bs=1M skip=95 count=1 iflag=direct 2>/dev/null | md5sum' | cut -d' ' -f1)" "$pat"
expect_eq "new last MiB in the image" "$(host_md5 "$img" 95 1)" "$pat"

# smaller: refused without --shrink, followed with it
expect_fail_msg "pass --shrink" "$MORTAR" img resize "$img" 80M
expect_eq "image size after the refusal" "$(stat -c %s "$img")" $((96 * M))
"$MORTAR" img resize --shrink "$img" 80M
guest_size_becomes $((80 * 2048))
expect_eq "reading past the new end fails in the guest" \
	"$(vg g 'dd if=/dev/vda bs=1M skip=85 count=1 iflag=direct 2>/dev/null | wc -c')" 0
vg_stop g
vs_stop srv
vs_stop ro
echo PASS
