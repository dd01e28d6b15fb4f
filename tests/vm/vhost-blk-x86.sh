#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vhost-user-blk from mortar serve to a real x86 guest (4 vCPUs, 4
# queues), with qemu-storage-daemon's vhost-user-blk export of a second
# image on the same guest as the reference: every step runs on both
# disks, and both must answer alike, so that a wrong expectation here
# fails against QEMU's own back-end too.
#  - the guest sees the export's size, its name (GET_ID), a write-back
#    cache (FLUSH), discard and write-zeroes limits, 4 hardware queues;
#  - a random pattern written with O_DIRECT and fsync (a FLUSH) reads
#    back, and the image on the host holds it;
#  - a discard leaves a hole in the image, reading as zeroes;
#  - write zeroes without unmap reads as zeroes; with unmap (a punch) it
#    leaves a hole;
#  - reads from each of the 4 vCPUs: every queue of Mortar's device
#    served requests, on the worker threads.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vhost.bash"
requires qemu-storage-daemon qemu-img jq
[[ -x /usr/bin/fallocate ]] || skip "no util-linux fallocate to carry into the guest"

M=$((1 << 20))
img=$SCRATCH/mortar.img ref=$SCRATCH/qsd.img
"$MORTAR" img create "$img" 64M >/dev/null
"$MORTAR" img create "$ref" 64M >/dev/null
vs_start mortar "$SCRATCH/m.sock" -- --threads 2 --vhost-user-blk "$SCRATCH/m.sock" "disk0=$img"
qemu-storage-daemon --blockdev "driver=file,node-name=f0,filename=$ref,discard=unmap" \
	--export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$SCRATCH/q.sock,writable=on,num-queues=4" \
	>"$SCRATCH/qsd.log" 2>&1 &
qsd=$!
on_exit "kill $qsd 2>/dev/null"
for ((i = 0; i < 100; i++)); do [[ -S $SCRATCH/q.sock ]] && break; sleep 0.1; done

# shellcheck disable=SC2046
vg_start g 4 $(vhost_dev "$SCRATCH/m.sock" m 4) $(vhost_dev "$SCRATCH/q.sock" q 4)
vg_put g /usr/bin/fallocate /tmp/fallocate
vg g 'dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null'
pat=$(vg g 'md5sum </tmp/pat' | cut -d' ' -f1)
zero1m=$(head -c $M /dev/zero | md5sum | cut -d' ' -f1)

# is_hole IMAGE OFFSET LENGTH: qemu-img's map has a hole covering it.
is_hole() {
	qemu-img map --output=json -f raw "$1" |
		jq -e --argjson o "$2" --argjson l "$3" \
		'any(.[]; .start <= $o and .start + .length >= $o + $l and .data == false)' >/dev/null
}

# check DEV IMAGE: the same steps on either disk; prints what it saw.
check() {
	local d=$1 f=$2 who=$3
	expect_eq "$who: capacity in sectors" "$(vg g "cat /sys/block/$d/size")" $((64 * 2048))
	# (qemu-storage-daemon offers a write-through cache the guest may toggle)
	[[ $who != mortar ]] ||
		expect_eq "$who: cache" "$(vg g "cat /sys/block/$d/queue/write_cache")" "write back"
	(($(vg g "cat /sys/block/$d/queue/discard_max_bytes") > 0)) || fail "$who: no discard"
	(($(vg g "cat /sys/block/$d/queue/write_zeroes_max_bytes") > 0)) || fail "$who: no write zeroes"
	expect_eq "$who: hardware queues" "$(vg g "ls /sys/block/$d/mq | wc -l")" 4

	vg g "dd if=/tmp/pat of=/dev/$d bs=1M seek=1 oflag=direct conv=fsync 2>&1" >/dev/null ||
		fail "$who: pattern write failed"
	expect_eq "$who: pattern read back" \
		"$(vg g "dd if=/dev/$d bs=1M skip=1 count=8 iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" "$pat"
	expect_eq "$who: pattern in the image" "$(host_md5 "$f" 1 8)" "$pat"

	# discard [2M, 3M): a hole, zeroes
	vg g "blkdiscard -o $((2 * M)) -l $M /dev/$d" || fail "$who: blkdiscard failed"
	is_hole "$f" $((2 * M)) $M || fail "$who: no hole after a discard: $(qemu-img map --output=json -f raw "$f")"
	echo "ok: $who: discard left a hole"
	expect_eq "$who: discarded range reads" \
		"$(vg g "dd if=/dev/$d bs=1M skip=2 count=1 iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" "$zero1m"

	# write zeroes [4M, 5M) keeping the blocks, [5M, 6M) unmapping them
	vg g "/tmp/fallocate -z -o $((4 * M)) -l $M /dev/$d" || fail "$who: fallocate -z failed"
	expect_eq "$who: zeroed range in the image" "$(host_md5 "$f" 4 1)" "$zero1m"
	expect_eq "$who: zeroed range reads" \
		"$(vg g "dd if=/dev/$d bs=1M skip=4 count=1 iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" "$zero1m"
	vg g "/tmp/fallocate -p -o $((5 * M)) -l $M /dev/$d" || fail "$who: fallocate -p failed"
	is_hole "$f" $((5 * M)) $M || fail "$who: write zeroes with unmap left no hole"
	echo "ok: $who: write zeroes with unmap left a hole"
	expect_eq "$who: data around the holes" "$(host_md5 "$f" 3 1)" \
		"$(vg g "dd if=/tmp/pat bs=1M skip=2 count=1 2>/dev/null | md5sum" | cut -d' ' -f1)"
}

# Which disk is which: Mortar's answers GET_ID with the export's name.
expect_eq "vda's serial (GET_ID)" "$(vg g 'cat /sys/block/vda/serial')" disk0
check vdb "$ref" qemu-storage-daemon
check vda "$img" mortar

# Reads from every vCPU: blk-mq maps each CPU to its own queue.
vg g 'for c in 0 1 2 3; do taskset -c $c dd if=/dev/vda of=/dev/null bs=4k count=64 skip=$((c * 64)) iflag=direct 2>/dev/null & done; wait'
vg_stop g
for ((i = 0; i < 100; i++)); do
	grep -q "queue 3 stopped" "$SCRATCH/mortar.log" && break
	sleep 0.1
done
for q in 0 1 2 3; do
	n=$(sed -n "s/.*queue $q stopped after \([0-9]*\) requests.*/\1/p" "$SCRATCH/mortar.log" | tail -1)
	((${n:-0} > 0)) || fail "queue $q served no request: $(grep queue "$SCRATCH/mortar.log")"
	echo "ok: queue $q served $n requests"
done
threads=$(sed -n 's/.*started on worker thread \([0-9]*\).*/\1/p' "$SCRATCH/mortar.log" | sort -u | wc -l)
expect_eq "worker threads the queues ran on" "$threads" 2
! grep -q "failed\|malformed\|stops until" "$SCRATCH/mortar.log" ||
	fail "the server logged errors: $(grep "failed\|malformed\|stops until" "$SCRATCH/mortar.log")"
vs_stop mortar
echo PASS
