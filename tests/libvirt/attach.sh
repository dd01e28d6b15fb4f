#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Mortar disks plugged into a running libvirt domain with the element that
# `mortar export xml` prints:
#  - a writable export: the element has discard='unmap' and no <readonly/>;
#    `virsh attach-device --live` takes it as is, libvirt's view of the
#    disk (dumpxml) keeps the socket, the export name and discard; the
#    guest sees vdb, writes and reads it back, the host finds the data in
#    the image, the guest trims it (the image's allocation drops);
#    `virsh detach-device --live` takes it away (gone from the guest and
#    from libvirt's list);
#  - a read-only export (mortar serve -r): <readonly/> and no discard,
#    --target vdc; the guest sees a read-only disk that reads what the
#    image holds and refuses writes;
#  - mistakes are refused with a sentence: an export the server does not
#    have (its exports are listed), a socket nobody listens on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"

MiB=$((1 << 20))
truncate -s 32M "$SCRATCH/root.img"
lv_serve root "$SCRATCH/root.img"
lv_domain att "$(lv_disk_xml "$(lv_socket root)" vda)"

# wait_guest CONDITION: until the guest's shell says CONDITION holds (30 s).
wait_guest() {
	for _ in $(seq 60); do
		guest_exec "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	fail "'$1' still false in the guest after 30 s; libvirt's disks: $(lv_virsh domblklist att | tr -s ' \n' ' '); the guest's: $(guest_exec 'ls /sys/block' | tr '\n' ' '); its kernel: $(guest_exec 'dmesg | tail -n 8')"
}

# --- a writable export, plugged and unplugged ----------------------------
truncate -s 48M "$SCRATCH/data.img"
lv_serve data "data=$SCRATCH/data.img"
"$MORTAR" export xml "$(lv_socket data)" data >"$LV_DIR/data.xml"
cat "$LV_DIR/data.xml"
grep -q "discard='unmap'" "$LV_DIR/data.xml" || fail "no discard='unmap' for a writable export"
! grep -q "<readonly/>" "$LV_DIR/data.xml" || fail "<readonly/> for a writable export"
lv_virsh attach-device att "$LV_DIR/data.xml" --live || fail "virsh attach-device refused the element"
dom=$(lv_virsh dumpxml att)
disk=$(awk '/<disk/ { d = "" } { d = d $0 "\n" } /<\/disk>/ && d ~ /dev=.vdb./ { print d }' <<<"$dom")
[[ -n $disk ]] || fail "libvirt does not list vdb after the attach: $dom"
for want in "socket='$(lv_socket data)'" "name='data'" "discard='unmap'" "protocol='nbd'"; do
	grep -qF "$want" <<<"$disk" || fail "libvirt's vdb lacks $want: $disk"
done
echo "ok: libvirt holds vdb with the socket, the export name and discard"

wait_guest "test -b /dev/vdb"
expect_eq "vdb's size in the guest (sectors)" "$(guest_exec 'cat /sys/block/vdb/size')" $((48 * MiB / 512))
guest_write_verify /dev/vdb 8 4 mortar-attach
cmp <(pattern mortar-attach $((4 * MiB))) <(dd if="$SCRATCH/data.img" bs=1M skip=8 count=4 2>/dev/null) ||
	fail "data.img does not hold what the guest wrote on vdb"
echo "ok: data.img holds what the guest wrote on vdb"
allocated() { echo $(($(stat -c %b "$SCRATCH/data.img") * 512)); }
guest_trim_frees /dev/vdb 8 4 allocated

lv_virsh detach-device att "$LV_DIR/data.xml" --live || fail "virsh detach-device failed"
for _ in $(seq 60); do
	grep -qw vdb <<<"$(lv_virsh domblklist att)" || break
	sleep 0.5
done
! grep -qw vdb <<<"$(lv_virsh domblklist att)" || fail "vdb is still in libvirt's list 30 s after detach-device"
wait_guest "! test -e /sys/block/vdb"
echo "ok: vdb detached: gone from libvirt and from the guest"

# --- a read-only export ----------------------------------------------------
pattern mortar-read-only $((2 * MiB)) >"$SCRATCH/ro.img"
truncate -s 16M "$SCRATCH/ro.img"
lv_serve ro -r "$SCRATCH/ro.img"
"$MORTAR" export xml --target vdc "$(lv_socket ro)" >"$LV_DIR/ro.xml"
grep -q "<readonly/>" "$LV_DIR/ro.xml" || fail "no <readonly/> for a read-only export: $(cat "$LV_DIR/ro.xml")"
! grep -q "discard=" "$LV_DIR/ro.xml" || fail "discard on a read-only export: $(cat "$LV_DIR/ro.xml")"
grep -q "dev='vdc'" "$LV_DIR/ro.xml" || fail "--target vdc not in the element"
lv_virsh attach-device att "$LV_DIR/ro.xml" --live || fail "virsh attach-device refused the read-only element"
# The guest names disks in the order it finds them: the read-only one is
# the 16 MiB disk, whatever libvirt's target says.
wait_guest "grep -lx $((16 * MiB / 512)) /sys/block/vd*/size"
ro=$(guest_exec "grep -lx $((16 * MiB / 512)) /sys/block/vd*/size" | head -n 1 | cut -d/ -f4)
echo "the read-only disk is $ro in the guest"
expect_eq "$ro read-only in the guest" "$(guest_exec "cat /sys/block/$ro/ro")" 1
expect_eq "what the guest reads on $ro" \
	"$(guest_exec "dd if=/dev/$ro bs=1M count=2 iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" \
	"$(pattern mortar-read-only $((2 * MiB)) | md5sum | cut -d' ' -f1)"
! guest_exec "echo x | dd of=/dev/$ro bs=512 count=1 conv=sync oflag=direct 2>/dev/null" ||
	fail "the guest wrote to the read-only $ro"
echo "ok: the guest reads $ro and cannot write it"

# --- mistakes ----------------------------------------------------------------
expect_error_line "no export 'nope'.*'data'" "$MORTAR" export xml "$(lv_socket data)" nope
expect_error_line "no server listens on $SCRATCH/none.sock" "$MORTAR" export xml "$SCRATCH/none.sock"
expect_rc 2 "absolute path" "$MORTAR" export xml relative.sock
expect_rc 2 "device name" "$MORTAR" export xml --target 'vd"b' "$(lv_socket data)"
echo PASS
