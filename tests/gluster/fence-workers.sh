#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fence after a failed flush is the image's, not a handle's: mortar
# serve with two workers (--threads 2: connections go round-robin, each
# worker with its own handle of the image).  Once a flush has failed on
# one worker (the only brick killed), every later connection, on either
# worker, has its writes refused until an fsync succeeds, and the server
# says why ("still do not reach the bricks") for each; a write that
# write-behind alone would acknowledge must not slip through.  (Requests
# that find no brick are sent again for --retry-timeout before they fail:
# 2 s here, so that each connection's write and its flush at close end
# well within the test's timeouts.)
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-io

vol=mortar-fw$$
gluster_volume "$vol"
uri=gluster://$GLUSTER_HOST/$vol/disk.img
"$MORTAR" img create "$uri" 64M >/dev/null

sock=$SCRATCH/nbd.sock
nbd="nbd+unix:///?socket=$sock"
log=$SCRATCH/serve.log
"$MORTAR" serve -f -v --threads 2 --retry-timeout 2 --socket "$sock" "$uri" 2>"$log" &
spid=$!
on_exit "kill $spid 2>/dev/null"
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done

fenced() { grep -c "still do not reach the bricks" "$log" || true; }

# Both workers' handles have written and flushed once.
for i in 1 2; do
	qemu-io -f raw "$nbd" -c "write -P 0x6$i $((i - 1))M 1M" -c flush >/dev/null ||
		fail "write $i before the fault"
done
gluster_kill_brick "$vol" 1
rc=0; out=$(timeout 120 qemu-io -f raw "$nbd" -c "write -P 0x70 4M 64k" -c flush 2>&1) || rc=$?
grep -qiE "error|failed" <<<"$out" || fail "a write and flush with the brick dead reported success: $out"
echo "ok: with the brick dead, a write and flush fail"

# Four more connections (two on each worker), each a write alone, as a
# guest with a write cache sends it: each must be refused by the fence.
for i in 1 2 3 4; do
	before=$(fenced)
	out=$(timeout 60 qemu-io -t writeback -f raw "$nbd" -c "write -P 0x7$i $((4 + i))M 64k" 2>&1) || true
	grep -qiE "error|failed" <<<"$out" ||
		fail "connection $i after the failed flush: a write was acknowledged ($out)"
	after=$(fenced)
	((after > before)) || fail "connection $i after the failed flush: the write failed, but not \
for the fence (a handle that did not know of the failure): $(tail -3 "$log")"
	echo "ok: connection $i after the failed flush: write refused by the image's fence"
done
kill "$spid"; wait "$spid" 2>/dev/null || true
echo PASS
