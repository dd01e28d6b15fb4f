#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a replica gives back right after a node's return, under writes
# that each end with a flush and are read back at once (as a guest's
# are).  Replica 3 with the virt profile (ping timeout 10 s), six images
# written through one `mortar serve`, and beside them, as the control,
# six written by plain libgfapi (stale-read.py: GlusterFS alone, no
# O_DIRECT and the volume's own options, as any client opens an image).
# CYCLES times (default 3): node 2 stopped for 8 s and started again,
# node 3 cut off past the ping timeout right after node 2's brick is
# back, plugged back, the heal awaited.
#
# GlusterFS 10.3's AFR notes that a brick missed a write only when its
# eager-locked transaction ends, a second after the last write: a brick
# back before that is not blamed yet and may serve reads, giving the
# block as it was before it went down for 1-3 s after the write and its
# flush succeeded (the control shows it in some runs; the test prints
# how often).  Mortar sets its own graph so that it does not
# (lib/backend-gluster-conn.c): every read through it returns the last
# acknowledged record, and once healed, every brick holds each image's
# last acknowledged records.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires python3 getfattr
"$PY" -c "import nbd; nbd.NBD" 2>/dev/null || skip "python3-libnbd is not installed"
CYCLES=${CYCLES:-3}
PING=10
vol=mortar-sr$$
gluster_volume "$vol" replica 3 group=virt network.ping-timeout=$PING
hosts=${GLUSTER_HOSTS// /,}
exports=() clients=()
for i in 0 1 2 3 4 5; do
	for k in m c; do
		"$MORTAR" img create "gluster://$hosts/$vol/$k$i.img" 2M >/dev/null ||
			fail "cannot create $k$i.img"
	done
	exports+=("m$i=gluster://$hosts/$vol/m$i.img")
	clients+=("mortar:m$i" "gfapi:/c$i.img")
done
"$MORTAR" serve -f --socket "$SCRATCH/nbd.sock" "${exports[@]}" 2>"$SCRATCH/serve.err" &
on_exit "kill $! 2>/dev/null"
for _ in $(seq 100); do [[ -S $SCRATCH/nbd.sock ]] && break; sleep 0.1; done
[[ -S $SCRATCH/nbd.sock ]] || fail "mortar serve did not start: $(cat "$SCRATCH/serve.err")"

log=$SCRATCH/records.log stop=$SCRATCH/stop
"$PY" "$(dirname "$0")/stale-read.py" "$hosts" "$vol" "$SCRATCH/nbd.sock" "$stop" \
	"${clients[@]}" >"$log" 2>&1 &
writers=$!
on_exit "touch '$stop'; kill $writers 2>/dev/null"

count() { grep -c " $1 seq=.* ok " "$log" || true; }
# more WHO N: N more good records from WHO (60 s at most: under quorum
# loss they fail for a while, which is what is tested, not a hang).
more() {
	local want=$(($(count "$1") + $2)) t=$SECONDS
	until (($(count "$1") >= want)); do
		((SECONDS - t < 60)) || { echo "note: $1 wrote no $2 more records in 60 s"; return 0; }
		sleep 0.2
	done
}
more mortar:m0 3
for c in $(seq "$CYCLES"); do
	gluster_pool stop 2
	sleep 8
	gluster_pool start 2
	gluster_wait_bricks "$vol" "cycle $c: the brick of node 2 does not come back"
	more mortar:m0 1
	gluster_pool cut 3
	sleep $((PING + 4))
	gluster_pool join 3
	more mortar:m0 3
	heal=$(gluster_fixture wait-heal "$vol") || fail "cycle $c: the volume does not heal: $heal"
	echo "ok: cycle $c: healed in $heal ms"
done
touch "$stop"
wait "$writers" || fail "the writers failed: $(tail -5 "$log")"
heal=$(gluster_fixture wait-heal "$vol") || fail "the volume does not heal at the end: $heal"

ok() { grep -c " $1:.* ok " "$log" || true; }
errors() { grep -c " $1:.* error " "$log" || true; }
stale() { grep " $1:.* STALE " "$log" || true; }
echo "mortar: $(ok mortar) records read back, $(errors mortar) failed with an error (quorum lost)"
echo "gfapi:  $(ok gfapi) records read back, $(errors gfapi) failed with an error"
echo "GlusterFS alone (the control): $(stale gfapi | wc -l) stale reads"
stale gfapi | sed 's/^/  /'
grep " gfapi:.* WATCH " "$log" | sed 's/^/  /' || true
(($(ok mortar) > 100)) || fail "the Mortar writers made no progress: $(tail -5 "$log")"
s=$(stale mortar)
[[ -z $s ]] || fail "a read through Mortar returned an older record:"$'\n'"$s"$'\n'"$(grep ' mortar:.* WATCH ' "$log")"
echo "ok: every read through Mortar returned the last acknowledged record"

# Every brick holds each Mortar image's last acknowledged records.
"$PY" - "$GLUSTER_BRICKS/$vol" "$log" <<'PYEOF' || fail "an acknowledged write is missing on a brick"
import re, sys
bricks, log = sys.argv[1:3]
bad = 0
for name, slots in re.findall(r" mortar:(m\d) last (.*)", open(log).read()):
    for s, n in (kv.split("=") for kv in slots.split()):
        want = (f"MORTAR-REC seq={n} slot={s}\n".encode() * 4096)[:65536]
        for b in (1, 2, 3):
            with open(f"{bricks}/brick{b}/{name}.img", "rb") as f:
                f.seek(int(s) * 65536)
                got = f.read(65536)
            if got != want:
                bad += 1
                print(f"brick {b}, {name} slot {s}: want seq {n}, has [{got[:30]!r}]")
print(f"{bad} records wrong on the bricks")
sys.exit(1 if bad else 0)
PYEOF
echo "ok: after the heal, every brick holds every acknowledged record"
