#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A libvirt domain boots from a vhost-user-blk Mortar disk, as on a Debian
# host:
#  - mortar serve --vhost-user-blk --socket-group kvm gives QEMU
#    (libvirt-qemu, group kvm) the socket; `mortar export xml` finds it
#    speaks vhost-user and prints the <disk type='vhostuser'> element
#    (with <reconnect>), which libvirt takes as it is; the domain shares
#    its memory (memfd);
#  - the guest sees the disk with its size and discard, writes 8 MiB and
#    reads them back, and the image holds them;
#  - the server is killed (SIGKILL) and started again while the guest
#    writes: QEMU reconnects (libvirt's <reconnect>), the guest sees no
#    error and its data is there;
#  - the guest trims: a hole in the image;
#  - a second export is plugged into the running domain with virsh
#    attach-device and the file export xml printed (its comment included),
#    the guest sees it, and it is unplugged again.
. "$(dirname "$0")/lib.sh"

MiB=$((1 << 20))
img=$SCRATCH/vu.img
sock=$(lv_socket vu)
truncate -s 64M "$img"
serve() {
	"$MORTAR" serve --vhost-user-blk "$sock" --socket-group kvm -P "$(lv_pidfile vu)" "$img" ||
		fail "mortar serve --vhost-user-blk did not start"
}
on_exit "lv_stop_server vu; rm -f '$sock'"
serve
expect_eq "socket owner, group and mode" "$(stat -c '%U:%G %a' "$sock")" "root:kvm 660"

"$MORTAR" export xml --target vda "$sock" >"$SCRATCH/disk.xml"
grep -q "<disk type='vhostuser' device='disk'>" "$SCRATCH/disk.xml" ||
	fail "export xml printed no vhostuser disk: $(cat "$SCRATCH/disk.xml")"
grep -q "<reconnect enabled='yes'" "$SCRATCH/disk.xml" || fail "no <reconnect> in the element"
echo "ok: export xml printed a vhostuser disk"
LV_DOMAIN_XML="<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>" \
	lv_domain vu "$(grep -v '^<!--' "$SCRATCH/disk.xml")"
pid=$(lv_qemu_pid vu)
expect_eq "QEMU's user" "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")" "$(id -u libvirt-qemu)"
grep -q "vhost-user-blk-pci" "/proc/$pid/cmdline" || fail "QEMU has no vhost-user-blk device"
# (grep -q may leave before virsh is done: no pipe, or pipefail sees SIGPIPE)
grep -q "<reconnect enabled='yes'" <<<"$(lv_virsh dumpxml vu)" || fail "libvirt dropped <reconnect>"

expect_eq "disk size in the guest (sectors)" "$(guest_exec 'cat /sys/block/vda/size')" $((64 * MiB / 512))
(($(guest_exec 'cat /sys/block/vda/queue/discard_max_bytes') > 0)) || fail "the guest's vda takes no discard"

pattern="mortar-libvirt-vhost-user"
guest_exec "yes $pattern | head -c $((8 * MiB)) >/tmp/p &&
	dd if=/tmp/p of=/dev/vda bs=1M seek=16 oflag=direct conv=notrunc,fsync 2>/dev/null &&
	dd if=/dev/vda bs=1M skip=16 count=8 iflag=direct 2>/dev/null | cmp - /tmp/p" ||
	fail "the guest could not write and read back 8 MiB"
cmp <(pattern "$pattern" $((8 * MiB))) <(dd if="$img" bs=1M skip=16 count=8 2>/dev/null) ||
	fail "the image does not hold what the guest wrote"
echo "ok: the guest wrote 8 MiB and read them back; the image holds them"

# a writer in the guest while the server is killed and started again: it
# runs until told to stop (a fixed count was done within the 2 s the test
# waited on an idle machine), at most 4,000 records (below the 16 MiB used
# above)
guest_exec '( i=0; while [ $i -lt 4000 ] && [ ! -e /tmp/stop ]; do
	printf "rec %d\n" $i | dd of=/dev/vda bs=4096 seek=$i oflag=direct conv=sync 2>/dev/null ||
		echo "write $i failed" >>/tmp/errors
	echo $i >/tmp/acked; i=$((i + 1)); done; touch /tmp/done ) </dev/null >/dev/null 2>&1 &'
# acked_at_least N: wait (5 min at most) until the writer has acked record N
acked_at_least() {
	local i
	for ((i = 0; i < 300; i++)); do
		(($(guest_exec 'cat /tmp/acked 2>/dev/null || echo -1') >= $1)) && return 0
		sleep 1
	done
	return 1
}
acked_at_least 10 || fail "the guest's writer did not start"
acked=$(guest_exec 'cat /tmp/acked')
! guest_exec 'test -e /tmp/done' || fail "the writer was done before the server was killed"
kill -9 "$(cat "$(lv_pidfile vu)")"
echo "ok: server killed with the guest's writer at record $acked"
sleep 1
serve
acked_at_least $((acked + 20)) || fail "the guest's writer did not go on after the restart"
guest_exec 'touch /tmp/stop'
for ((i = 0; i < 60; i++)); do
	guest_exec 'test -e /tmp/done' && break
	sleep 1
done
guest_exec 'test -e /tmp/done' || fail "the guest's writer did not finish after the restart"
last=$(guest_exec 'cat /tmp/acked')
echo "ok: the writer went on to record $last after the restart"
guest_exec 'cat /tmp/errors 2>/dev/null; dmesg | grep -i "i/o error" || true' >"$SCRATCH/errors"
[[ ! -s $SCRATCH/errors ]] || fail "the guest saw errors: $(cat "$SCRATCH/errors")"
for b in 0 "$acked" "$last"; do
	expect_eq "record $b in the image" "$(dd if="$img" bs=4096 skip="$b" count=1 status=none | head -c 12 | tr -d '\0\n')" "rec $b"
done

before=$(($(stat -c %b "$img") * 512))
guest_exec "blkdiscard -o $((16 * MiB)) -l $((8 * MiB)) /dev/vda" || fail "blkdiscard failed in the guest"
after=$(($(stat -c %b "$img") * 512))
((before - after >= 8 * MiB)) || fail "the trim freed $((before - after)) bytes, not 8 MiB"
echo "ok: the guest's trim made a hole of 8 MiB in the image"

img2=$SCRATCH/vu2.img sock2=$(lv_socket vu2)
truncate -s 32M "$img2"
on_exit "lv_stop_server vu2; rm -f '$sock2'"
"$MORTAR" serve --vhost-user-blk "$sock2" --socket-group kvm -P "$(lv_pidfile vu2)" "$img2" ||
	fail "the second server did not start"
"$MORTAR" export xml --target vdb "$sock2" >"$SCRATCH/disk2.xml"
lv_virsh attach-device vu "$SCRATCH/disk2.xml" --live >/dev/null ||
	fail "virsh attach-device refused export xml's file: $(cat "$SCRATCH/disk2.xml")"
for ((i = 0; i < 60; i++)); do
	[[ $(guest_exec 'cat /sys/block/vdb/size 2>/dev/null') == $((32 * MiB / 512)) ]] && break
	sleep 1
done
expect_eq "the plugged disk in the guest (sectors)" "$(guest_exec 'cat /sys/block/vdb/size')" $((32 * MiB / 512))
guest_exec 'echo plugged | dd of=/dev/vdb bs=4096 oflag=direct conv=sync 2>/dev/null' ||
	fail "the guest cannot write the plugged disk"
expect_eq "what the guest wrote to it" "$(head -c 7 "$img2")" plugged
lv_virsh detach-device vu "$SCRATCH/disk2.xml" --live >/dev/null || fail "virsh detach-device failed"
echo PASS
