#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Faults on a real replica-3 volume: a brick killed mid-use does not stop
# I/O nor lose data; a volume that is stopped, or was never started, is
# named as such (not "failed to connect, see the logs"); a served image
# whose volume stops gives clients an error, and the server survives.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-io

vol=mortar-fl$$
gluster_volume "$vol" replica 3
uri=gluster://$GLUSTER_HOST/$vol/disk.img
"$MORTAR" img create "$uri" 64M
"$MORTAR" io "$uri" -c "write -P 0x11 0 4M" >/dev/null

# One brick of three dies: writes and reads go on, old data intact.
pid=$(gluster_brick_pid "$vol" 1)
[[ -n $pid ]] || fail "no pid for brick 1 of $vol"
kill -9 "$pid"
"$MORTAR" io "$uri" -c "write -P 0x22 4M 4M" -c flush -c "read -P 0x11 0 4M" \
	-c "read -P 0x22 4M 4M" >/dev/null || fail "I/O with one brick of three down"
echo "ok: a replica-3 volume with one brick down keeps serving"

# A volume that exists but was never started.
idle=mortar-id$$
gluster_volume "$idle" --stopped
expect_fail_msg "exists but none of its bricks answers.*gluster volume start $idle" \
	"$MORTAR" img info "gluster://$GLUSTER_HOST/$idle/disk.img"

# Served over NBD when the volume stops: clients get errors, not hangs,
# and the server stays up to serve again once the volume is back.  (Each
# request is sent again for --retry-timeout first: 2 s here, where the
# default 30 s would make the write, the flush and qemu-io's flush at
# close take 90 s.)
sock=$SCRATCH/nbd.sock
"$MORTAR" serve -f --retry-timeout 2 --socket "$sock" "$uri" 2>"$SCRATCH/serve.log" &
spid=$!
on_exit "kill $spid 2>/dev/null"
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
qemu-io -f raw "nbd+unix:///?socket=$sock" -c "read -P 0x11 0 1M" >/dev/null ||
	fail "read through the server before the fault"
_gl volume stop "$vol" force >/dev/null || fail "cannot stop $vol"
rc=0
out=$(timeout 120 qemu-io -f raw "nbd+unix:///?socket=$sock" -c "write -P 0x33 0 1M" -c flush 2>&1) || rc=$?
echo "client with the volume stopped: rc=$rc: $out"
((rc != 124)) || fail "the client hung with the volume stopped"
grep -qiE "error|failed" <<<"$out" || fail "no error reached the client: $out"
kill -0 "$spid" || fail "the server died when the volume stopped"
echo "ok: the volume stopping gives the client an error and the server lives"
