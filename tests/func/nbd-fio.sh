#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# fio's nbd engine (libnbd) against mortar serve: two jobs (two
# connections) of 4 KiB random writes at queue depth 32 over 256 MiB each,
# verified with crc32c through NBD; the same verification again from the
# image file itself (psync, verify_only), so what NBD acknowledged is what
# landed on disk; then a mixed random read/write verify run over TCP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires fio jq
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio without the nbd engine"
# fio leaves *-verify.state files in the current folder: keep them here.
cd "$SCRATCH"

M=$((1 << 20))
img=$SCRATCH/fio.img
"$MORTAR" img create "$img" 512M >/dev/null

stop_server() {
	local rc=0
	kill -TERM "$SPID"
	wait "$SPID" || rc=$?
	expect_eq "server exit status after SIGTERM" "$rc" 0
}
# check_fio JSON WHAT JOBS: every job finished without error; print totals
check_fio() {
	local json=$1 what=$2 jobs=$3
	# fio may put warnings before the JSON in its --output file
	sed -i -n '/^{/,$p' "$json"
	expect_eq "$what: jobs" "$(jq '.jobs | length' "$json")" "$jobs"
	expect_eq "$what: job errors" "$(jq -c '[.jobs[].error]' "$json")" "$(jq -nc "[range($jobs) | 0]")"
}

# the two jobs write disjoint halves: same blocks from two jobs would fail
# verification by design (each job checks its own data)
common=(--bs=4k --iodepth=32 --size=256M --offset_increment=256M --numjobs=2
	--verify=crc32c --verify_fatal=1 --randrepeat=1 --time_based=0 --group_reporting=0)

# --- unix socket: randwrite + verify --------------------------------------------------
sock=$SCRATCH/fio.sock
start_server unix -s "$sock" "$img"
rc=0
fio --name=nbd-randwrite --ioengine=nbd --uri="nbd+unix:///?socket=$sock" --rw=randwrite \
	"${common[@]}" --output-format=json --output="$SCRATCH/w.json" 2>"$SCRATCH/fio.err" || rc=$?
((rc == 0)) || fail "fio randwrite+verify over NBD exited $rc: $(cat "$SCRATCH/fio.err" "$SCRATCH/w.json")"
check_fio "$SCRATCH/w.json" "randwrite" 2
expect_eq "bytes written by the two jobs" "$(jq '[.jobs[].write.io_bytes] | add' "$SCRATCH/w.json")" $((512 * M))
# verification reads everything written back
expect_eq "bytes read back to verify" "$(jq '[.jobs[].read.io_bytes] | add' "$SCRATCH/w.json")" $((512 * M))
n=$(grep -c ": transmission on export" "$SCRATCH/unix.log")
((n >= 2)) || fail "fio with --numjobs=2 made $n NBD connections"
echo "ok: fio made $n connections"
stop_server

# --- the same data, verified from the file (not through NBD) -------------------------------
rc=0
fio --name=nbd-randwrite --ioengine=psync --filename="$img" --rw=randwrite --verify_only \
	"${common[@]}" --iodepth=1 --output-format=json --output="$SCRATCH/v.json" 2>"$SCRATCH/fio.err" || rc=$?
((rc == 0)) || fail "the data fio wrote through NBD does not verify in the file: $(cat "$SCRATCH/fio.err")"
check_fio "$SCRATCH/v.json" "verify_only on the file" 2
expect_eq "bytes verified in the file" "$(jq '[.jobs[].read.io_bytes] | add' "$SCRATCH/v.json")" $((512 * M))
# and the checker can fail: damage one block, verify again
"$PY" - "$img" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100 * 4096 + 100)
    b = f.read(1)
    f.seek(100 * 4096 + 100)
    f.write(bytes([b[0] ^ 0xff]))
EOF
rc=0
fio --name=nbd-randwrite --ioengine=psync --filename="$img" --rw=randwrite --verify_only \
	"${common[@]}" --iodepth=1 --output-format=json --output="$SCRATCH/bad.json" >/dev/null 2>&1 || rc=$?
((rc != 0)) || fail "fio verify_only did not notice a damaged block"
echo "ok: fio verify_only notices one damaged byte (exit $rc)"

# --- TCP: mixed random read/write with verify, 2 jobs --------------------------------------
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server tcp -p "$port" "$img"
rc=0
fio --name=nbd-randrw --ioengine=nbd --uri="nbd://127.0.0.1:$port/" --rw=randrw --bs=64k \
	--iodepth=16 --size=64M --offset_increment=64M --numjobs=2 --verify=crc32c --verify_fatal=1 \
	--output-format=json --output="$SCRATCH/rw.json" 2>"$SCRATCH/fio.err" || rc=$?
((rc == 0)) || fail "fio randrw+verify over TCP exited $rc: $(cat "$SCRATCH/fio.err")"
check_fio "$SCRATCH/rw.json" "randrw over TCP" 2
stop_server
echo PASS
