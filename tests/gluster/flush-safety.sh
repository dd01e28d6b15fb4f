#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Flush safety: when a write or an fsync fails (here: the only brick dies),
# the served image fails writes and flushes with a message while the bricks
# do not take them, without losing what it acknowledged: write-behind keeps
# the writes it could not deliver and sends them again at the next fsync.
# Once the brick is back, the same server takes writes again (no restart):
# what was flushed before the fault, what was acknowledged during it, and
# what is written after are all there for a fresh client.  (A request that
# finds no brick is sent again for --retry-timeout before it fails: 2 s
# here, so that the failures come within the test's timeouts; the wait
# itself is tested in brick-kill-fio.sh.)
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-io

vol=mortar-fs$$
gluster_volume "$vol"
uri=gluster://$GLUSTER_HOST/$vol/disk.img
"$MORTAR" img create "$uri" 64M

sock=$SCRATCH/nbd.sock
nbd="nbd+unix:///?socket=$sock"
"$MORTAR" serve -f -v --retry-timeout 2 --socket "$sock" "$uri" 2>"$SCRATCH/serve.log" &
spid=$!
on_exit "kill $spid 2>/dev/null"
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done

qemu-io -f raw "$nbd" -c "write -P 0x61 0 1M" -c flush >/dev/null || fail "first write"
kill -9 "$(gluster_brick_pid "$vol" 1)"
rc=0; out=$(timeout 120 qemu-io -f raw "$nbd" -c "write -P 0x62 1M 1M" -c flush 2>&1) || rc=$?
echo "with the brick dead: rc=$rc $out"
grep -qiE "error|failed" <<<"$out" || fail "the write or flush with the brick dead reported success: $out"
acked=false
grep -q "^wrote 1048576/1048576 bytes at offset 1048576" <<<"$out" && acked=true
rc=0; out=$(timeout 60 qemu-io -f raw "$nbd" -c "write -P 0x63 2M 1M" -c flush 2>&1) || rc=$?
grep -qiE "error|failed" <<<"$out" || fail "a write with the brick still dead reported success: $out"
grep -q "still do not reach the bricks" "$SCRATCH/serve.log" ||
	fail "the server log does not say why writes fail: $(tail -5 "$SCRATCH/serve.log")"
echo "ok: while the brick is dead, writes fail and the server says why"

# The brick comes back (glusterd restarts a killed brick only once it has
# noticed the death: ask again until it is online), and the same server
# takes writes again once its client has reconnected.
for i in $(seq 30); do
	_gl volume start "$vol" force >/dev/null
	sleep 1
	[[ $(_gl volume status "$vol" --xml | grep -c '<status>1</status>') -ge 1 ]] && break
done
((i < 30)) || fail "the brick of $vol does not come back"
for i in $(seq 30); do
	out=$(timeout 60 qemu-io -f raw "$nbd" -c "write -P 0x63 2M 1M" -c flush 2>&1) &&
		! grep -qiE "error|failed" <<<"$out" && break
	sleep 1
done
((i < 30)) || fail "the server does not take writes again after the brick returned: $out"
echo "ok: the same server takes writes again ${i} s after the brick is back"
kill "$spid"; wait "$spid" 2>/dev/null || true

# A fresh client sees everything that was acknowledged.
checks=(-c "read -P 0x61 0 1M" -c "read -P 0x63 2M 1M")
$acked && checks+=(-c "read -P 0x62 1M 1M")
out=$("$MORTAR" io --read-only "$uri" "${checks[@]}" 2>&1) ||
	fail "acknowledged data is missing after the fault (write during it acknowledged: $acked): $out"
echo "ok: flushed before, acknowledged during ($acked) and written after the fault: all there"

# The same when the brick is cut off instead (its node unplugged, past the
# ping timeout): write-behind acknowledges writes the brick never sees;
# they must survive the failed flush and reach the brick once it is back.
vol2=mortar-fc$$
gluster_volume "$vol2" network.ping-timeout=5
uri2=gluster://$GLUSTER_HOST/$vol2/disk.img
"$MORTAR" img create "$uri2" 64M >/dev/null
sock2=$SCRATCH/nbd2.sock
"$MORTAR" serve -f -v --retry-timeout 2 --socket "$sock2" "$uri2" 2>"$SCRATCH/serve2.log" &
spid2=$!
on_exit "kill $spid2 2>/dev/null"
for _ in $(seq 100); do [[ -S $sock2 ]] && break; sleep 0.05; done
nbd2="nbd+unix:///?socket=$sock2"
qemu-io -f raw "$nbd2" -c "write -P 0x71 0 64k" -c flush >/dev/null || fail "first write ($vol2)"
node=$(gluster_brick_node "$vol2" 1)
gluster_pool cut "$node"
on_exit "gluster_pool join $node"
# (-t writeback: no flush after each write, as a guest with a write cache)
out=$(timeout 60 qemu-io -t writeback -f raw "$nbd2" -c "write -P 0x72 64k 64k" 2>&1) || true
echo "write with the brick cut off: $out"
acked=false
grep -q "^wrote 65536/65536 bytes at offset 65536" <<<"$out" && acked=true
rc=0; out=$(timeout 60 qemu-io -f raw "$nbd2" -c flush 2>&1) || rc=$?
echo "flush with the brick cut off: rc=$rc $out"
((rc != 0)) || grep -qiE "error|failed" <<<"$out" || fail "a flush with the brick cut off reported success: $out"
gluster_pool join "$node"
for i in $(seq 60); do
	out=$(timeout 60 qemu-io -f raw "$nbd2" -c "write -P 0x73 128k 64k" -c flush 2>&1) &&
		! grep -qiE "error|failed" <<<"$out" && break
	sleep 1
done
((i < 60)) || fail "the server does not take writes again after the node returned: $out"
kill "$spid2"; wait "$spid2" 2>/dev/null || true
checks=(-c "read -P 0x71 0 64k" -c "read -P 0x73 128k 64k")
$acked && checks+=(-c "read -P 0x72 64k 64k")
out=$("$MORTAR" io --read-only "$uri2" "${checks[@]}" 2>&1) ||
	fail "acknowledged data is missing after the cut (write during it acknowledged: $acked): $out"
echo "ok: a write acknowledged while the brick was cut off reached it after the failed flush ($acked), service back ${i} s after the node"
