#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar vm migrate of a guest whose disk is vhost-user-blk (mortar vm's
# default), on QEMU 10 (scripts/qemu-backports.sh; QEMU 7.2 under TCG is
# refused for migration): QEMU migrates such a disk only when the server
# logs the guest pages it writes (VHOST_F_LOG_ALL, the log shared in a
# memfd), and the target QEMU connects to the same mortar serve.
#  - before: the guest writes 4 MiB of a pattern;
#  - during: a writer in the guest writes numbered records and reads back
#    the pattern, so that the server writes guest pages (and its used
#    rings) while QEMU copies them (which pages it logs, unit/test-vhost
#    checks bit by bit);
#  - after: migrate --wait returns, the source QEMU is gone, the guest on
#    the target reads the pattern back, its reads during the migration all
#    matched, every record it saw written is in the image, no I/O error;
#    the target writes and reads through the same server.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-agent.bash"
use_qemu10

img=$SCRATCH/disk.img
"$MORTAR" img create "$img" 64M >/dev/null
"$MORTAR" vm start v --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 \
	--memory 256M --disk "$img" --append "mortar.console=0" --wait --timeout 120
on_exit "'$MORTAR' vm stop --force v >/dev/null 2>&1"
GUEST_AGENT=qga_socket QGA_SOCKET=$MORTAR_VM_DIR/v/qga.sock
st=$("$MORTAR" vm status --output=json v)
expect_eq "the disk's protocol" "$(jq -r '.disks[0].protocol' <<<"$st")" vhost-user
pid0=$(jq -r .pid <<<"$st")

guest_exec 'dd if=/dev/urandom of=/tmp/pat bs=1M count=4 2>/dev/null &&
	dd if=/tmp/pat of=/dev/vda bs=1M seek=32 oflag=direct conv=fsync 2>/dev/null' ||
	fail "the guest could not write its pattern"
pat=$(guest_exec 'md5sum </tmp/pat' | cut -d' ' -f1)
guest_exec '( i=0; while [ ! -e /tmp/stop ]; do
	printf "rec %d\n" $i | dd of=/dev/vda bs=4096 seek=$i oflag=direct conv=sync 2>/dev/null ||
		echo "write $i failed" >>/tmp/errors
	echo $i >/tmp/acked
	[ "$(dd if=/dev/vda bs=1M skip=32 count=4 iflag=direct 2>/dev/null | md5sum)" = "$(md5sum </tmp/pat)" ] ||
		echo "read $i differed" >>/tmp/errors
	i=$((i + 1)); done ) </dev/null >/dev/null 2>&1 &'
sleep 3
first=$(head -n 1 "$MORTAR_VM_DIR/v/serial.log")
[[ -n $first ]] || fail "the source's console is empty"

"$MORTAR" vm migrate v --wait --timeout 300
expect_eq "the console before the move, kept as serial.log.1" \
	"$(head -n 1 "$MORTAR_VM_DIR/v/serial.log.1")" "$first"

st=$("$MORTAR" vm status --output=json v)
pid1=$(jq -r .pid <<<"$st")
[[ $pid1 != "$pid0" ]] || fail "the VM still runs in the source QEMU $pid0"
[[ $(awk '{ print $3 }' "/proc/$pid0/stat" 2>/dev/null) =~ ^(Z|X|)$ ]] ||
	fail "the source QEMU $pid0 still runs"
echo "ok: migrated from QEMU $pid0 to $pid1"
a0=$(guest_exec 'cat /tmp/acked')
sleep 3
a1=$(guest_exec 'cat /tmp/acked')
((a1 > a0)) || fail "the guest's writer is stuck on the target at record $a1"
guest_exec 'touch /tmp/stop; sleep 2; cat /tmp/errors 2>/dev/null; dmesg | grep -i "i/o error" || true' \
	>"$SCRATCH/errors"
[[ ! -s $SCRATCH/errors ]] || fail "the guest saw errors: $(cat "$SCRATCH/errors")"
echo "ok: no guest error; records written on both sides of the migration: 0..$a1"
expect_eq "the pattern on the target" \
	"$(guest_exec 'dd if=/dev/vda bs=1M skip=32 count=4 iflag=direct 2>/dev/null | md5sum' | cut -d' ' -f1)" "$pat"
last=$(guest_exec 'cat /tmp/acked')
for ((b = 0; b <= last; b++)); do
	rec=$(dd if="$img" bs=4096 skip=$b count=1 status=none | head -c 12 | tr -d '\0\n')
	[[ $rec == "rec $b" ]] || fail "block $b holds '$rec' though the guest saw it written"
done
echo "ok: records 0..$last all in the image"
"$MORTAR" vm stop v >/dev/null
echo PASS
