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
requires qemu-storage-daemon

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
vhost_check_prepare g

# Which disk is which: Mortar's answers GET_ID with the export's name.
expect_eq "vda's serial (GET_ID)" "$(vg g 'cat /sys/block/vda/serial')" disk0
vhost_check g vdb "$ref" qemu-storage-daemon 4
vhost_check g vda "$img" mortar 4

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
