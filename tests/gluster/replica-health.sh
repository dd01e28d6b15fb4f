#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Replica health of one image, read from each brick's AFR changelog
# attributes through libgfapi (not `gluster volume heal info`), produced
# for real on a replica-3 volume without quorum and with self-heal off:
#  - in sync: `mortar doctor` [ ok ] replica, `img info` in-sync;
#  - a heal pending: writes while node 3 is cut off leave its copy blamed:
#    doctor warns (the replica is not redundant), img info counts it;
#  - split-brain: node 3 back, nodes 1 and 2's bricks down, a write that
#    only brick 3 takes; then every brick up, each side blames the other:
#    doctor fails at the replica step with the heal command to run,
#    img info counts it, `mortar serve` warns at open (and cannot open the
#    image: AFR fails its stat), and a read says what may be wrong; the command doctor gives resolves it, and doctor then
#    finds the copies in sync with the data of the latest write.
# The writers are `mortar serve`s that stay up past AFR's delayed
# changelog update (a process that exits at once may leave it undone).
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires qemu-io jq

vol=mortar-rh$$
gluster_volume "$vol" replica 3 cluster.quorum-type=none cluster.self-heal-daemon=off \
	cluster.data-self-heal=off cluster.metadata-self-heal=off cluster.entry-self-heal=off \
	network.ping-timeout=5
uri=gluster://${GLUSTER_HOSTS// /,}/$vol/s.img
"$MORTAR" img create "$uri" 64M >/dev/null
"$MORTAR" io "$uri" -c "write -P 0xa1 0 1M" -c flush >/dev/null

# doctor_step STEP: "status detail" of STEP in `mortar doctor --output=json`.
doctor_step() {
	"$MORTAR" doctor --output=json "$uri" >"$SCRATCH/doctor.json" || true
	jq -r --arg s "$1" '[.checks[] | select(.step == $s)][0] | "\(.status) \(.detail)"' \
		"$SCRATCH/doctor.json"
}
replica_info() { "$MORTAR" img info --output=json "$uri" | jq -c .replica; }
# serve_write NAME PATTERN [CMD...]: a server that, once up and CMD run,
# writes PATTERN at 0 and stays up 2 s more.
serve_write() {
	start_server_unix "$1" "$uri"
	"${@:3}"
	timeout 60 qemu-io -f raw "nbd+unix:///?socket=$SOCK" -c "write -P $2 0 1M" -c flush \
		>/dev/null 2>&1 || fail "$1: the write of $2 failed"
	sleep 2
	kill "$SPID"
	wait "$SPID" 2>/dev/null || true
}

out=$(doctor_step replica)
[[ $out == "ok 3 copies in sync"* ]] || fail "healthy: doctor says: $out"
expect_eq "img info, healthy" "$(replica_info | jq -c '[.copies, ."in-sync"]')" "[3,true]"

# --- a heal pending ---
on_exit "gluster_pool join 3"
serve_write w1 0xb2 gluster_pool cut 3
out=$(doctor_step replica)
echo "doctor with node 3 cut off: $out"
[[ $out == warning* ]] && grep -q "wait for a self-heal.*blames.*brick3's copy of /s.img" <<<"$out" ||
	fail "pending heal: doctor says: $out"
grep -q "'gluster volume heal $vol'" <<<"$out" || fail "no fix named: $out"
info=$(replica_info)
expect_eq "img info, pending" "$(jq -c '[."in-sync", ."pending-heal" > 0, ."split-brain"]' <<<"$info")" \
	"[false,true,0]"
echo "ok: a pending heal is named, with its bricks and the command that starts it"

# --- split-brain ---
gluster_pool join 3
gluster_wait_bricks "$vol" "brick 3 is not online again"
kill_bricks() { for b in 1 2; do kill -9 "$(gluster_brick_pid "$vol" $b)"; done; }
serve_write w2 0xc3 kill_bricks
_gl volume start "$vol" force >/dev/null || fail "cannot restart the bricks"
gluster_wait_bricks "$vol" "the bricks do not come back"
out=$(doctor_step replica)
echo "doctor after the split: $out"
[[ $out == failed* ]] && grep -q "in split-brain.*blame each other" <<<"$out" ||
	fail "split-brain: doctor says: $out"
grep -q "gluster volume heal $vol split-brain source-brick [^ ]* /s.img" <<<"$out" ||
	fail "doctor names no split-brain command: $out"
# (the copy to keep is brick 3's, the latest write: the command doctor gives)
fix="gluster volume heal $vol split-brain source-brick ${GLUSTER_HOSTS##* }:$GLUSTER_BRICKS/$vol/brick3 /s.img"
"$MORTAR" doctor "$uri" >/dev/null && fail "doctor passed an image in split-brain"
expect_eq "img info, split-brain" "$(replica_info | jq -c '."split-brain" > 0')" true
# (it warns, then cannot open the image: AFR fails even its stat)
timeout -s KILL 60 "$MORTAR" serve -f -s "$SCRATCH/w3.sock" "$uri" 2>"$SCRATCH/w3.log" &&
	fail "mortar serve ran on an image in split-brain: $(cat "$SCRATCH/w3.log")"
grep -q "warning:.*split-brain" "$SCRATCH/w3.log" ||
	fail "mortar serve does not warn at open: $(cat "$SCRATCH/w3.log")"
echo "ok: mortar serve says: $(grep -v "warning:" "$SCRATCH/w3.log" | tail -1)"
OUT=$("$MORTAR" io --read-only "$uri" -c "read 0 1M" 2>&1) && fail "a read in split-brain succeeded: $OUT"
grep -q "split-brain" <<<"$OUT" || fail "the failed read does not name a possible split-brain: $OUT"
echo "ok: the read fails and says: $OUT"

# --- the fix doctor gave ---
out=$(_gl ${fix#gluster }) || fail "'$fix' failed: $out"
out=$(doctor_step replica)
[[ $out == "ok 3 copies in sync"* ]] || fail "after '$fix', doctor says: $out"
"$MORTAR" io --read-only "$uri" -c "read -P 0xc3 0 1M" >/dev/null ||
	fail "the latest write is not what the volume holds after '$fix'"
echo "ok: '$fix' resolves it: copies in sync, the latest write kept"

out=$(doctor_step options)
grep -q "cluster.quorum-type" "$SCRATCH/doctor.json" || fail "doctor does not name the missing quorum: $(cat "$SCRATCH/doctor.json")"
echo PASS
