#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# fio with verify=crc32c through `mortar serve gluster://...` (fio's nbd
# engine, two jobs on two connections) on a replica-3 volume, while the
# volume is hurt:
#  1. one brick killed mid-write: every write completes and verifies;
#  2. glusterd killed and restarted mid-write: I/O goes on (bricks keep
#     serving; glusterd is only asked for volfiles and ports);
#  3. two bricks killed (quorum lost): a write waits the server's
#     --retry-timeout (3 s here), sent again each second, then fails with
#     an error (no silent loss); the server survives and says why;
#  4. a write made while quorum is still lost waits through the server's
#     default --retry-timeout (30 s), and succeeds once the bricks are
#     back, without a restart; what was written before is intact.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires fio jq qemu-io
requires_root
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio without the nbd engine"

vol=mortar-bk$$
gluster_volume "$vol" replica 3
uri=gluster://$GLUSTER_HOST/$vol/disk.img
"$MORTAR" img create "$uri" 256M >/dev/null
# (case 3's server, opened while the bricks are all up)
start_server_unix srvq --retry-timeout 3 "$uri"
QSOCK=$SOCK QPID=$SPID
start_server_unix srv "$uri"
cd "$SCRATCH"

run_fio() {	# run_fio NAME OFFSET: 2 jobs x 32 MiB random writes + verify
	fio --output-format=json --output="$1.json" --name="$1" --ioengine=nbd \
		--uri="nbd+unix:///?socket=$SOCK" --rw=randwrite --bs=64k --iodepth=8 \
		--size=32M --offset="$2" --offset_increment=32M --numjobs=2 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 >/dev/null 2>"$1.err"
}
fio_ok() {	# every job wrote and verified, no error
	local j
	j=$(sed -n '/^{/,$p' "$1.json")
	[[ $(jq '[.jobs[] | select(.error != 0)] | length' <<<"$j") == 0 ]] ||
		fail "$1: fio errors: $(jq -c '[.jobs[].error]' <<<"$j") $(tail -3 "$1.err")"
	echo "ok: $1: $(jq '[.jobs[].write.io_bytes] | add' <<<"$j") bytes written and verified"
}

# 1. one brick dies while fio writes
run_fio onebrick 0 &
fpid=$!
bg_owned "$fpid"
sleep 1
kill -9 "$(gluster_brick_pid "$vol" 2)"
wait "$fpid" || fail "fio failed with one brick of three down: $(tail -5 onebrick.err)"
fio_ok onebrick

# 2. the glusterd of brick 2's node dies and comes back while fio writes
#    (and, starting, brings the dead brick back)
node=$(gluster_brick_node "$vol" 2)
run_fio glusterd 64M &
fpid=$!
bg_owned "$fpid"
sleep 1
gluster_pool kill-glusterd "$node" || fail "cannot kill the glusterd of node $node"
sleep 1
gluster_pool start-glusterd "$node" || fail "glusterd of node $node did not come back"
wait "$fpid" || fail "fio failed across a glusterd restart: $(tail -5 glusterd.err)"
fio_ok glusterd

# 3. quorum lost: a second brick dies
qemu-io -f raw "nbd+unix:///?socket=$SOCK" -c 'write -P 0x5a 200M 4M' -c flush >/dev/null ||
	fail "a write through mortar serve failed with every brick up"
# (the glusterd restart above brought brick 2 back: kill both others)
for b in 2 3; do
	p=$(gluster_brick_pid "$vol" $b 2>/dev/null) && kill -9 "$p"
done
sleep 1
t0=$(date +%s%N)
OUT=$(qemu-io -f raw "nbd+unix:///?socket=$QSOCK" -c 'write -P 0x66 128M 1M' -c flush 2>&1) &&
	grep -q "wrote" <<<"$OUT" && ! grep -qi "error\|fail" <<<"$OUT" &&
	fail "a write with 1 brick of 3 (quorum lost) succeeded: $OUT"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms >= 3000)) || fail "the write failed after $ms ms, before the 3 s of --retry-timeout"
echo "ok: writes fail once quorum is lost, after $ms ms of retries: $(grep -i -m1 'error\|fail' <<<"$OUT")"
kill -0 "$QPID" || fail "mortar serve died when quorum was lost"
grep -qiE "quorum|brick|not connected|read-only" "$SCRATCH/srvq.log" ||
	fail "the server log does not say why: $(tail -3 "$SCRATCH/srvq.log")"
echo "ok: the server says: $(grep -iE -m1 'quorum|brick|not connected|read-only' "$SCRATCH/srvq.log")"

glog=$(gluster_client_log "$vol")
grep -q "requests are sent again every second for up to 3.0 s" "$glog" ||
	fail "the client log does not tell of the retries: $(grep mortar: "$glog" | tail -3)"
grep -q "a request gave up (retry timeout)" "$glog" ||
	fail "the client log does not tell that a request gave up: $(grep mortar: "$glog" | tail -3)"
echo "ok: the client log says: $(grep -o 'mortar: .*gave up.*' "$glog" | tail -1)"

# 4. a write while quorum is still lost, through a server with the
#    default retry timeout, and the bricks back meanwhile (glusterd
#    restarts a dead brick on a repeated start force)
kill "$QPID"; wait "$QPID" 2>/dev/null || true
t0=$(date +%s%N)
qemu-io -f raw "nbd+unix:///?socket=$SOCK" -c 'write -P 0x77 150M 1M' -c flush \
	-c 'read -P 0x77 150M 1M' >waited.out 2>&1 &
wpid=$!
bg_owned "$wpid"
sleep 2
kill -0 "$wpid" 2>/dev/null || fail "the write did not wait for the bricks: $(cat waited.out)"
for i in 1 2 3; do
	_gl volume start "$vol" force >/dev/null 2>&1 || true
	sleep 1
done
wait "$wpid" || fail "the write that waited for quorum failed: $(cat waited.out)"
grep -qi "error\|fail" waited.out && fail "the write that waited for quorum failed: $(cat waited.out)"
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q "the bricks answer again" "$glog" ||
	fail "the client log does not tell of the end of the outage: $(grep mortar: "$glog" | tail -3)"
echo "ok: a write made while quorum was lost succeeded once the bricks were back, after $ms ms;" \
	"$(grep -o 'the bricks answer again.*' "$glog" | tail -1)"
kill "$SPID"; wait "$SPID" 2>/dev/null || true
# (the bricks may take a few seconds to be reachable again)
for ((i = 0; i < 30; i++)); do
	OUT=$("$MORTAR" io --read-only "$uri" -c 'read -P 0x5a 200M 4M' -c 'read -P 0x77 150M 1M' 2>&1) && break
	sleep 1
done
((i < 30)) || fail "data written before the quorum loss is not intact: $OUT"
echo "ok: data written before the quorum loss is intact after the bricks return"
echo PASS
