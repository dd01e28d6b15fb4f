#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A libvirt domain boots on a Mortar NBD disk, as on a Debian host:
#  - mortar serve --socket-group kvm gives QEMU (libvirt-qemu, group kvm)
#    a socket it may open, and nothing more (root:kvm 0660);
#  - the domain starts, its QEMU runs as libvirt-qemu, the guest sees the
#    disk with its size and with discard;
#  - the guest writes 8 MiB, reads them back, and the host finds them in
#    the image; the guest trims them: the image's allocation drops by
#    them (a hole appears) and both sides read zeroes there.
. "$(dirname "$0")/lib.sh"

MiB=$((1 << 20))
img=$SCRATCH/boot.img
truncate -s 64M "$img"
lv_serve boot "$img"
sock=$(lv_socket boot)
expect_eq "socket owner, group and mode" "$(stat -c '%U:%G %a' "$sock")" "root:kvm 660"

lv_domain boot "$(lv_disk_xml "$sock" vda boot.img)"
pid=$(lv_qemu_pid boot)
expect_eq "QEMU's user" "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" "$(id -u libvirt-qemu)"
expect_eq "QEMU's group" "$(awk '/^Gid:/ { print $2 }' "/proc/$pid/status")" "$(getent group kvm | cut -d: -f3)"

expect_eq "disk size in the guest (sectors)" "$(guest_exec 'cat /sys/block/vda/size')" $((64 * MiB / 512))
dmax=$(guest_exec 'cat /sys/block/vda/queue/discard_max_bytes')
((dmax > 0)) || fail "the guest's vda takes no discard (discard_max_bytes=$dmax)"
echo "ok: the guest may discard (up to $dmax bytes a request)"

# 8 MiB of a pattern at 16 MiB, written and read back with O_DIRECT.
pattern="mortar-libvirt-boot-trim"
guest_write_verify /dev/vda 16 8 "$pattern"
cmp <(pattern "$pattern" $((8 * MiB))) <(dd if="$img" bs=1M skip=16 count=8 2>/dev/null) ||
	fail "the image does not hold what the guest wrote"
echo "ok: the image holds what the guest wrote"
allocated() { echo $(($(stat -c %b "$img") * 512)); }
(($(allocated) >= 8 * MiB)) || fail "the image has $(allocated) bytes allocated after 8 MiB were written"
guest_trim_frees /dev/vda 16 8 allocated
zero=$(head -c $((8 * MiB)) /dev/zero | md5sum | cut -d' ' -f1)
expect_eq "the image after the trim" "$(dd if="$img" bs=1M skip=16 count=8 2>/dev/null | md5sum | cut -d' ' -f1)" "$zero"
expect_eq "the guest's view after the trim" \
	"$(guest_exec 'dd if=/dev/vda bs=1M skip=16 count=8 iflag=direct 2>/dev/null | md5sum' | cut -d' ' -f1)" "$zero"
echo PASS
