#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Flush safety: when a write or an fsync fails (here: the only brick dies), the served
# image refuses writes from then on with a message, even after the brick is
# back, so that data lost in the client's caches is never silently
# papered over; reopening (a new server) works again and sees the data
# that was flushed before the fault.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-io

vol=mortar-fs$$
gluster_volume "$vol"
uri=gluster://$GLUSTER_HOST/$vol/disk.img
"$MORTAR" img create "$uri" 64M

sock=$SCRATCH/nbd.sock
nbd="nbd+unix:///?socket=$sock"
"$MORTAR" serve -f -v --socket "$sock" "$uri" 2>"$SCRATCH/serve.log" &
spid=$!
on_exit "kill $spid 2>/dev/null"
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done

qemu-io -f raw "$nbd" -c "write -P 0x61 0 1M" -c flush >/dev/null || fail "first write"
kill -9 "$(gluster_brick_pid "$vol" 1)"
rc=0; out=$(timeout 120 qemu-io -f raw "$nbd" -c "write -P 0x62 1M 1M" -c flush 2>&1) || rc=$?
echo "with the brick dead: rc=$rc $out"
grep -qiE "error|failed" <<<"$out" || fail "the write or flush with the brick dead reported success: $out"

# The brick comes back; the image stays fenced.
# (glusterd restarts a killed brick only once it has noticed the death:
# ask again until the brick is online.)
for i in $(seq 30); do
	_gl volume start "$vol" force >/dev/null
	sleep 1
	[[ $(_gl volume status "$vol" --xml | grep -c '<status>1</status>') -ge 1 ]] && break
done
((i < 30)) || fail "the brick of $vol does not come back"
rc=0; out=$(timeout 60 qemu-io -f raw "$nbd" -c "write -P 0x63 2M 1M" -c flush 2>&1) || rc=$?
echo "after the brick is back: rc=$rc $out"
grep -qiE "error|failed" <<<"$out" || fail "writes accepted after a failed flush: $out"
grep -q "earlier write or flush failed" "$SCRATCH/serve.log" ||
	fail "the server log does not say why writes are refused: $(tail -5 "$SCRATCH/serve.log")"
kill "$spid"; wait "$spid" 2>/dev/null || true

# A fresh open works (once the restarted brick takes connections), and
# what was flushed before the fault is there.
for i in $(seq 30); do
	out=$("$MORTAR" io "$uri" -c "read -P 0x61 0 1M" -c "write -P 0x64 3M 1M" -c flush 2>&1) && break
	sleep 1
done
((i < 30)) || fail "reopening after the fault: $out"
echo "ok: a failed write or flush fences the image until it is reopened"
