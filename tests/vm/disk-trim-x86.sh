#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar vm --disk-protocol nbd attaches its disks with discard=unmap and a
# reconnect delay:
#  - the guest sees a disk that takes discards; it writes 8 MiB, reads
#    them back, trims them: the image's allocation drops by 8 MiB and the
#    range reads zeroes;
#  - the VM's `mortar serve` is stopped while the guest writes and started
#    again 3 s later on the same socket: QEMU reconnects and the guest's
#    write waits for it instead of failing (without reconnect-delay it
#    fails at once); the data is in the image;
#  - a disk whose server cannot start: vm start says why, in the server's
#    own words.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-agent.bash"

expect_error_line "cannot serve disk $SCRATCH/none.img: .*does not exist" \
	"$MORTAR" vm start bad --kernel "$KERNEL" --initrd "$INITRD" --disk-protocol nbd \
	--disk "$SCRATCH/none.img"

MiB=$((1 << 20))
img=$SCRATCH/trim.img
"$MORTAR" img create "$img" 64M >/dev/null
"$MORTAR" vm start tr --kernel "$KERNEL" --initrd "$INITRD" --memory 256M --disk-protocol nbd --disk "$img" \
	--wait --timeout 120
on_exit "'$MORTAR' vm stop --force tr >/dev/null 2>&1"
guest_of_vm tr

dmax=$(guest_exec 'cat /sys/block/vda/queue/discard_max_bytes')
((dmax > 0)) || fail "the guest's vda takes no discard (discard_max_bytes=$dmax)"
echo "ok: the guest may discard (up to $dmax bytes a request)"
guest_write_verify /dev/vda 16 8 mortar-vm-trim
cmp <(pattern mortar-vm-trim $((8 * MiB))) <(dd if="$img" bs=1M skip=16 count=8 2>/dev/null) ||
	fail "the image does not hold what the guest wrote"
allocated() { echo $(($(stat -c %b "$img") * 512)); }
guest_trim_frees /dev/vda 16 8 allocated
expect_eq "the image after the trim" "$(dd if="$img" bs=1M skip=16 count=8 2>/dev/null | md5sum | cut -d' ' -f1)" \
	"$(head -c $((8 * MiB)) /dev/zero | md5sum | cut -d' ' -f1)"

# --- the server goes away for 3 s while the guest writes ----------------------
dir=$MORTAR_VM_DIR/tr
pid=$(cat "$dir/disk0.pid")
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || fail "the VM's mortar serve (pid $pid) did not stop"
start=$SECONDS
guest_write_verify /dev/vda 32 1 mortar-vm-reconnect >"$SCRATCH/gap.out" 2>&1 &
writer=$!
sleep 3
# (vm stop stops the server it started: this one is the test's)
on_exit "kill \$(cat '$SCRATCH/again.pid') 2>/dev/null"
"$MORTAR" serve -s "$dir/disk0.sock" -P "$SCRATCH/again.pid" "$img" || fail "the server did not start again"
wait "$writer" || fail "the guest's write failed while the server was away: $(cat "$SCRATCH/gap.out")"
echo "ok: the guest's write waited $((SECONDS - start)) s for the server and succeeded"
cmp <(pattern mortar-vm-reconnect $MiB) <(dd if="$img" bs=1M skip=32 count=1 2>/dev/null) ||
	fail "the image does not hold the write made while the server was away"
! grep -aq "I/O error" "$dir/serial.log" || fail "the guest's kernel logged I/O errors: $(grep -a 'I/O error' "$dir/serial.log" | head -3)"
echo "ok: the image holds it; no I/O error in the guest"
"$MORTAR" vm stop --force tr >/dev/null
echo PASS
