#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Coalesced kicks (mortar serve --coalesce-kicks, the default) with
# requests that do not come back: while a queue has requests in flight it
# reads its ring at their completions instead of being kicked, so a
# request that the guest adds behind slow ones would wait for them.  Two
# things prevent that: a flush, discard or write zeroes in flight turns
# coalescing off, and a timer turns notifications back on when the ring
# has gone unread for a millisecond.  On a sharded volume of two bricks,
# with the brick that holds one shard stopped (SIGSTOP) and the other
# running, each on the same queue:
#  - a read of the stopped brick's shard stays in flight; a read of the
#    running brick's shard made behind it completes in a few seconds at
#    most (the timer: without it, it waited until the brick came back);
#  - a write and its flush to the stopped brick's shard stay in flight;
#    a read of the running brick's shard made behind them completes too
#    (no coalescing behind a flush);
#  - once the brick runs again the stalled read returns what the shard
#    held, the write and flush complete, and the write is in its shard's
#    file on the brick;
#  - the server says the timer turned notifications back on.
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../vm/vhost.bash"

vol=mortar-vl$$
gluster_volume "$vol" distribute 2 features.shard=on features.shard-block-size=4MB
g=gluster://$GLUSTER_HOST/$vol
"$MORTAR" img create "$g/disk.img" 64M >/dev/null

vs_start mortar "$SCRATCH/m.sock" -- --threads 1 \
	--vhost-user-blk "$SCRATCH/m.sock" "disk0=$g/disk.img"
# shellcheck disable=SC2046
vg_start g 1 $(vhost_dev "$SCRATCH/m.sock" m 1)
vg g 'dd if=/dev/urandom of=/tmp/pat bs=4k count=2 2>/dev/null'

# A block in each of shards 1 to 15, so that every shard file exists.
vg g 'for k in $(seq 1 15); do dd if=/tmp/pat of=/dev/vda bs=4k count=1 seek=$((k * 1024)) \
	oflag=direct conv=fsync 2>/dev/null || echo "write $k failed"; done' |
	grep . && fail "writing the shards failed"

# The base file (and what the shard translator asks of it) stays on a
# running brick: stop the other one.
b1=$GLUSTER_BRICKS/$vol/brick1 b2=$GLUSTER_BRICKS/$vol/brick2
if [[ -f $b1/disk.img ]]; then stop=2 run=$b1 held=$b2; else stop=1 run=$b2 held=$b1; fi
shard_on() { find "$1/.shard" -name '*.[0-9]*' 2>/dev/null | sed 's/.*\.//' | sort -n | head -1; }
slow=$(shard_on "$held") fast=$(shard_on "$run")
[[ -n $slow && -n $fast ]] ||
	fail "the shards are not on both bricks: $(find "$b1/.shard" "$b2/.shard" 2>&1 | tr '\n' ' ')"
echo "shard $slow on the brick to stop ($stop), shard $fast on the other"

pid=$(gluster_brick_pid "$vol" "$stop") || fail "brick $stop of $vol is not online"
on_exit "kill -CONT $pid 2>/dev/null"
kill -STOP "$pid"

in_flight() {	# WHAT NAME: guest job NAME (below) has not ended
	expect_eq "$1, still in flight" \
		"$(vg g "[ -e /tmp/$2.rc ] && cat /tmp/$2.rc || echo waiting")" waiting
}
# A read of the running brick's shard must not wait behind WHAT.
quick_read() {
	local ms
	# (busybox's date has no %N: /proc/uptime counts hundredths)
	ms=$(vg g "t0=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/vda of=/dev/null bs=4k \
		count=1 skip=$((fast * 1024)) iflag=direct 2>/dev/null && awk -v t0=\$t0 \
		'{ printf \"%d\\n\", (\$1 - t0) * 1000 }' /proc/uptime")
	echo "a read behind $1 took $ms ms"
	[[ $ms =~ ^[0-9]+$ ]] || fail "the read behind $1 did not complete: $ms"
	((ms < 5000)) || fail "the read waited $ms ms behind $1"
}

# 1. a read that the stopped brick holds (block 0 of its shard)
vg g "(dd if=/dev/vda of=/tmp/r1 bs=4k count=1 skip=$((slow * 1024)) iflag=direct \
	2>/tmp/r1.err; echo \$? >/tmp/r1.rc) >/dev/null 2>&1 &"
sleep 3
in_flight "the read from the stopped brick" r1
quick_read "a stalled read"
in_flight "the read from the stopped brick, after the quick one" r1

# 2. a write and flush that the stopped brick holds (block 1 of its shard)
vg g "(dd if=/tmp/pat of=/dev/vda bs=4k count=1 skip=1 seek=$((slow * 1024 + 1)) \
	oflag=direct conv=fsync 2>/tmp/w1.err; echo \$? >/tmp/w1.rc) >/dev/null 2>&1 &"
sleep 3
in_flight "the write and flush to the stopped brick" w1
quick_read "a stalled flush"
in_flight "the write and flush to the stopped brick, after the quick read" w1

kill -CONT "$pid"
for ((i = 0; i < 120; i++)); do
	rc=$(vg g 'cat /tmp/r1.rc /tmp/w1.rc 2>/dev/null | tr "\n" " "')
	[[ $rc == "0 0 " ]] && break
	sleep 0.5
done
expect_eq "the stalled read's and write's exit codes once the brick runs again" "$rc" "0 0 "
want0=$(vg g 'dd if=/tmp/pat bs=4k count=1 2>/dev/null | md5sum' | cut -d' ' -f1)
want1=$(vg g 'dd if=/tmp/pat bs=4k count=1 skip=1 2>/dev/null | md5sum' | cut -d' ' -f1)
expect_eq "what the stalled read returned" "$(vg g 'md5sum </tmp/r1' | cut -d' ' -f1)" "$want0"
expect_eq "the stalled write read back in the guest" "$(vg g "dd if=/dev/vda bs=4k count=1 \
	skip=$((slow * 1024 + 1)) iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" "$want1"
vg_stop g
vs_stop mortar
expect_eq "the stalled write in its shard on the brick" "$(dd if="$(find "$held/.shard" \
	-name "*.$slow")" bs=4k skip=1 count=1 status=none | md5sum | cut -d' ' -f1)" "$want1"
lulls=$(sed -n 's/.*queue 0 stopped after .*after a lull: \([0-9]*\).*/\1/p' "$SCRATCH/mortar.log" | tail -1)
echo "notifications back on after a lull: $lulls time(s)"
[[ $lulls =~ ^[0-9]+$ ]] && ((lulls >= 1)) ||
	fail "the server did not say it turned notifications back on: $(tail -3 "$SCRATCH/mortar.log")"
echo PASS
