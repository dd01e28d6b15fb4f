#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A guest writing through a Mortar disk while nodes fail: a TCG x86 guest
# (mortar vm, its disk on a replica-3 volume with the virt profile, ping
# timeout 10 s, served by mortar vm's own mortar serve) writes, flushes
# and reads back a 64 KiB record a second (the guest's mortar.io=records
# hook, scripts/guest/init) while
#  1. node 2 is rebooted (every process stopped, started again 8 s later);
#  2. node 3 is cut off past the ping timeout and plugged back;
# before each next step, the disk server is connected to the node that
# came back (by itself) and the volume has healed, as an operator waits
# for a heal before taking another node down.  (Without these waits, node
# 3 cut just after node 2's brick is back but before this client has
# reconnected to it, the guest has twice read a slot back older than the
# record it had just written and flushed there; most likely GlusterFS
# 10.3's replica (AFR) reading from a brick that missed the write, not
# proven.)  The guest sees no I/O error; its slowest record in each case
# (its stall, printed) is within three ping timeouts (mortar-serve(1));
# after the guest stops, each of its 16 slots holds, whole, the last
# record it wrote there.
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-system-x86_64 jq cmp

PING=10
vol=mortar-gv$$
gluster_volume "$vol" replica 3 group=virt network.ping-timeout=$PING
uri=gluster://${GLUSTER_HOSTS// /,}/$vol/g.img
"$MORTAR" img create "$uri" 64M >/dev/null
"$MORTAR" vm start g --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 --memory 384M \
	--disk "$uri" --append mortar.io=records --wait --timeout 180 >/dev/null ||
	fail "the guest did not start"
on_exit "'$MORTAR' vm stop --force g >/dev/null 2>&1"
serial=$MORTAR_VM_DIR/g/serial.log

records() { grep -a "MORTAR-GUEST-IO" "$serial" | tr -d '\r' || true; }
# stall FROM TO: the slowest record among the FROMth (excluded) to the TOth.
stall() {
	records | awk -v a="$1" -v b="$2" 'NR > a && NR <= b && /ok ms=/ {
		sub(/.*ms=/, ""); if ($0 + 0 > m) m = $0 + 0 } END { print m + 0 }'
}
# more_records N: wait (3 min at most) for N more records than now.
more_records() {
	local want=$(($(records | wc -l) + $1)) i
	for ((i = 0; i < 900; i++)); do
		(($(records | wc -l) >= want)) && return 0
		sleep 0.2
	done
	fail "the guest wrote no $1 more records in 3 min: $(records | tail -3)"
}
# reconnected N: the guest's disk server is connected to node N's brick
# again (by itself); before that, a second node lost would leave it one
# brick, below quorum.
reconnected() {
	local ms
	ms=$(gluster_client_back "$(cat "$MORTAR_VM_DIR/g/disk0.pid")" "$1") ||
		fail "the guest's disk server did not connect to node $1's brick again in 30 s"
	echo "ok: the guest's disk server is connected to node $1's brick again (${ms} ms)"
}
healed() {
	local ms
	ms=$(gluster_fixture wait-heal "$vol") || fail "$1: the volume does not heal: $ms"
	echo "ok: $1: healed in $ms ms"
}

more_records 3
echo "ok: the guest writes through its Mortar disk: $(records | tail -1)"

# 1. a node rebooted
r0=$(records | wc -l)
gluster_pool stop 2
sleep 8
gluster_pool start 2
gluster_wait_bricks "$vol" "the brick of node 2 does not come back"
reconnected 2
more_records 3
healed reboot
r1=$(records | wc -l)

# 2. a node cut off past the ping timeout
gluster_pool cut 3
on_exit "gluster_pool join 3"
sleep $((PING + 4))
gluster_pool join 3
reconnected 3
more_records 3
healed cut
r2=$(records | wc -l)

errors=$(records | grep -c " error " || true)
((errors == 0)) || fail "the guest saw $errors I/O errors: $(records | grep " error " | head -3)"
echo "ok: $r2 records, no I/O error; the guest's stall (its slowest record):" \
	"node rebooted $(stall "$r0" "$r1") ms, node cut off $(stall "$r1" "$r2") ms" \
	"(before the faults $(stall 0 "$r0") ms; ping timeout $((PING * 1000)) ms)"
worst=$(stall 0 "$r2")
((worst <= 3 * PING * 1000)) || fail "a record took ${worst} ms, more than three ping timeouts"

# The volume kept every acknowledged record: each slot holds, whole, the
# last record the guest printed for it, or a later one (the guest may
# write another before it stops, and not print it).
cp "$serial" "$SCRATCH/serial.log"
"$MORTAR" vm stop g >/dev/null || fail "vm stop"
"$MORTAR" img clone -q "$uri" "$SCRATCH/g.img" >/dev/null || fail "cannot copy the image out"
"$PY" - "$SCRATCH/serial.log" "$SCRATCH/g.img" <<'PYEOF' || fail "the volume lost acknowledged records (above)"
import re, sys
text = open(sys.argv[1], "rb").read()
img = open(sys.argv[2], "rb").read(16 << 16)
last = {int(s): int(n) for n, s in re.findall(rb"MORTAR-GUEST-IO seq=(\d+) slot=(\d+) ok", text)}
lost = 0
for slot, seq in sorted(last.items()):
    got = img[slot << 16:(slot + 1) << 16]
    m = re.match(rb"MORTAR-REC seq=(\d+) slot=%d\n" % slot, got)
    if not m or int(m.group(1)) < seq or got != (m.group(0) * 4096)[:65536]:
        print(f"slot {slot}: its last record is seq={seq}; the image holds {got[:32]!r}")
        lost += 1
print(f"ok: each of the {len(last)} slots holds its last record or a later one, whole")
sys.exit(1 if lost else 0)
PYEOF
echo PASS
