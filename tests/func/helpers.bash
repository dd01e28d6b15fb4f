# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the functional tests; sourced after lib.sh by the tests
# that need them.  (Not named *.sh, so tests/run.sh does not run it.)

# The system python when there is one: a pyenv shim in PATH costs half a
# second per call.
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# expect_rc WANT PATTERN CMD...: run CMD, its exit status must be WANT and
# its stderr must match PATTERN (grep -E; empty: anything).  Leaves stdout
# in $OUT and stderr in $ERR.
expect_rc() {
	local want=$1 pattern=$2 rc=0
	shift 2
	OUT=$("$@" 2>"$SCRATCH/.stderr") || rc=$?
	ERR=$(cat "$SCRATCH/.stderr")
	((rc == want)) || fail "'$*' exited $rc, want $want; stderr: $ERR"
	if [[ -n $pattern ]]; then
		grep -qiE -- "$pattern" <<<"$ERR" ||
			fail "stderr of '$*' does not match /$pattern/: $ERR"
	fi
	echo "ok: '$*' exited $rc${ERR:+: $(head -1 <<<"$ERR")}"
}

# An operational error (exit 1) is one line on stderr that names the
# cause; usage errors (exit 2) may add a "Try ... --help" line.
expect_error_line() {
	local pattern=$1
	shift
	expect_rc 1 "$pattern" "$@"
	[[ -n $ERR ]] || fail "'$*' failed without a message"
	(($(wc -l <<<"$ERR") == 1)) || fail "'$*': message is not one line: $ERR"
}

# json_get JSON PATH: print one value of a JSON document; PATH is keys
# and array indexes joined with dots ("block-size.minimum", "0.start").
# jq when installed (python3 through a pyenv shim costs half a second).
if command -v jq >/dev/null 2>&1; then
	json_get() {
		jq -r --arg p "$2" 'getpath($p | split(".") | map(tonumber? // .)) |
			if type == "object" or type == "array" then tojson else . end' <<<"$1"
	}
else
	json_get() {
		"$PY" -c '
import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (bool, dict, list)) or v is None else v)
' "$1" "$2"
	}
fi

# File size and allocation as the kernel sees them, independent of both
# mortar and qemu-img.
file_size() { stat -c %s "$1"; }
file_alloc() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }
# What file_alloc may say of a file without data: 0 on a local file
# system.  On GlusterFS (tests/gluster/img-suites.sh) a brick on ext4
# keeps the file's GlusterFS attributes in a block of their own, which the
# brick counts and GlusterFS reports (cut to the file's size): 4 KiB.
EMPTY_ALLOC=0
[[ -z ${MORTAR_TEST_FUSE:-} ]] || EMPTY_ALLOC=4096

# The location Mortar is given for PATH and the backend it should use:
# PATH and "file", or in the GlusterFS re-run the gluster:// location
# that tests/gluster/mortar-on-gluster substitutes for it, and "gluster".
mortar_loc() {
	if [[ -n ${MORTAR_TEST_FUSE:-} && $1 == "$MORTAR_TEST_FUSE"/* ]]; then
		printf '%s\n' "$MORTAR_TEST_GLUSTER_BASE/${1#"$MORTAR_TEST_FUSE"/}"
	else
		printf '%s\n' "$1"	# (not echo: "-n" is an argument too)
	fi
}
TEST_BACKEND=file
[[ -z ${MORTAR_TEST_FUSE:-} ]] || TEST_BACKEND=gluster

# compare_maps IMAGE: mortar img map --output=json and qemu-img map
# --output=json must describe the same (data, zero) runs over the whole
# image.  Both lists are normalised by merging adjacent extents with equal
# (data, zero), since the tools may split runs at different boundaries.
# Also checks that each list is contiguous from 0 to the file size and
# that mortar's own list is already merged and has qemu-img's keys.
# Prints the normalised runs, as "start length data zero" lines.
compare_maps() {
	local img=$1
	"$MORTAR" img map --output=json "$img" >"$SCRATCH/.map-mortar.json" ||
		fail "mortar img map $img failed"
	qemu-img map -f raw --output=json "$img" >"$SCRATCH/.map-qemu.json" ||
		fail "qemu-img map $img failed"
	"$PY" - "$SCRATCH/.map-mortar.json" "$SCRATCH/.map-qemu.json" \
		"$(file_size "$img")" <<'EOF' || fail "maps of $img differ (see above)"
import json, sys

def load(path, who, size, strict):
    ext = json.load(open(path))
    pos = 0
    for e in ext:
        for k in ("start", "length", "depth", "present", "zero", "data"):
            if k not in e:
                sys.exit(f"{who}: extent {e} lacks key {k}")
        if e["start"] != pos:
            sys.exit(f"{who}: extent {e} does not start at {pos}")
        if e["length"] <= 0:
            sys.exit(f"{who}: empty extent {e}")
        pos += e["length"]
    if pos != size:
        sys.exit(f"{who}: extents end at {pos}, the file has {size} bytes")
    runs = []
    for e in ext:
        key = (bool(e["data"]), bool(e["zero"]))
        if runs and runs[-1][2:] == key:
            if strict:
                sys.exit(f"{who}: adjacent extents not merged at {e['start']}")
            runs[-1][1] += e["length"]
        else:
            runs.append([e["start"], e["length"], *key])
    if strict:
        for e in ext:
            if e.get("offset") != e["start"] or e["depth"] != 0 or e["present"] is not True:
                sys.exit(f"{who}: bad offset/depth/present in {e}")
    return runs

size = int(sys.argv[3])
m = load(sys.argv[1], "mortar", size, True)
q = load(sys.argv[2], "qemu-img", size, False)
if m != q:
    print("mortar  :", m, file=sys.stderr)
    print("qemu-img:", q, file=sys.stderr)
    sys.exit(1)
for r in m:
    print(*r)
EOF
}

# A pattern check with the real qemu-io on the raw file: every byte of
# [OFF, OFF+LEN) must be BYTE.
qemu_read_pattern() {
	local img=$1 byte=$2 off=$3 len=$4 out
	out=$(qemu-io -r -f raw -c "read -P $byte $off $len" "$img" 2>&1) ||
		fail "qemu-io read -P $byte $off $len on $img failed: $out"
	# qemu-io prints "Pattern verification failed" yet may exit 0.
	if grep -qi "verification failed\|error\|failed" <<<"$out"; then
		fail "qemu-io: [$off, +$len) of $img is not all $byte: $out"
	fi
	echo "ok: qemu-io reads $byte over [$off, +$len) of $(basename "$img")"
}

# The opposite: qemu-io must find at least one byte that is not BYTE.
qemu_read_mismatch() {
	local img=$1 byte=$2 off=$3 len=$4 out rc=0
	out=$(qemu-io -r -f raw -c "read -P $byte $off $len" "$img" 2>&1) || rc=$?
	((rc != 0)) || grep -qi "verification failed" <<<"$out" ||
		fail "qemu-io: [$off, +$len) of $img unexpectedly all $byte"
	echo "ok: qemu-io finds bytes other than $byte in [$off, +$len)"
}

# qemu-img info --output=json KEY of a raw image.
qemu_info() {
	local out
	out=$(qemu-img info -f raw --output=json "$1") || fail "qemu-img info $1 failed"
	json_get "$out" "$2"
}

mortar_info() {
	local out
	out=$("$MORTAR" img info --output=json "$1") || fail "mortar img info $1 failed"
	json_get "$out" "$2"
}

# soft_fail MSG: record a failure but go on, so that one wrong message
# does not hide the checks after it; `finish` then fails the test.
_soft_failures=()
soft_fail() {
	echo "FAIL (continuing): $*" >&2
	_soft_failures+=("$*")
}
finish() {
	if ((${#_soft_failures[@]})); then
		printf 'FAIL: %s\n' "${_soft_failures[@]}" >&2
		exit 1
	fi
	echo PASS
}

# qemu_sizes / mortar_sizes IMAGE: "virtual-size actual-size" in one call.
_sizes() {
	if command -v jq >/dev/null 2>&1; then
		jq -r '"\(."virtual-size") \(."actual-size")"' <<<"$1"
	else
		echo "$(json_get "$1" virtual-size) $(json_get "$1" actual-size)"
	fi
}
qemu_sizes() {
	local out
	out=$(qemu-img info -f raw --output=json "$1") || fail "qemu-img info $1 failed"
	_sizes "$out"
}
mortar_sizes() {
	local out
	out=$("$MORTAR" img info --output=json "$1") || fail "mortar img info $1 failed"
	_sizes "$out"
}

# start_server NAME ARGS...: `mortar serve -f $SERVE_FLAGS -P $SCRATCH/NAME.pid
# ARGS...` in the background (SERVE_FLAGS defaults to -v), logging to
# $SCRATCH/NAME.log; returns once the pidfile says it listens, stops it
# at exit.  Sets SPID and appends it to the array `pids`.
pids=()
start_server() {
	local name=$1 i
	shift
	rm -f "$SCRATCH/$name.pid"
	# shellcheck disable=SC2086
	"$MORTAR" serve -f ${SERVE_FLAGS--v} -P "$SCRATCH/$name.pid" "$@" \
		2>"$SCRATCH/$name.log" &
	SPID=$!
	pids+=("$SPID")
	on_exit "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
	for ((i = 0; i < 1000; i++)); do
		[[ -s $SCRATCH/$name.pid ]] && return 0
		kill -0 "$SPID" 2>/dev/null || fail "server $name exited: $(cat "$SCRATCH/$name.log")"
		sleep 0.01
	done
	fail "server $name did not start within 10 s"
}

# start_server_unix NAME ARGS...: the same on the unix socket
# $SCRATCH/NAME.sock, which it leaves in SOCK.
start_server_unix() {
	SOCK=$SCRATCH/$1.sock
	start_server "$1" -s "$SOCK" "${@:2}"
}

# mount_loop_fs TYPE SIZE DIR [MKFS_ARGS...]: a fresh filesystem of TYPE
# (xfs, ext4) in a sparse SIZE file under $SCRATCH, on a loop device,
# mounted on DIR (created); unmounted and detached at exit.
mount_loop_fs() {
	local type=$1 size=$2 dir=$3 backing dev
	shift 3
	requires_root
	requires losetup "mkfs.$type"
	backing=$SCRATCH/.fs-$type-$RANDOM.img
	truncate -s "$size" "$backing"
	"mkfs.$type" -q "$@" "$backing" </dev/null >/dev/null || fail "mkfs.$type failed"
	dev=$(losetup -f --show "$backing") || skip "cannot set up a loop device"
	on_exit "losetup -d '$dev'"
	mkdir -p "$dir"
	mount "$dev" "$dir" || skip "cannot mount $type on a loop device"
	on_exit "umount -l '$dir'"
}

# fake_systemd RESTARTS INTERVAL SOCK IMAGE: `mortar serve -f -v --fdstore
# -s SOCK IMAGE` under tests/func/fake-systemd.py, which restarts it
# RESTARTS times every INTERVAL s through the fd store; returns once the
# first server is ready.  Its output is in $SCRATCH/sd.out, the servers'
# log in $SCRATCH/f.log, its pid in SDPID; fake_systemd_end stops it.
fake_systemd() {
	local i
	mkfifo "$SCRATCH/sd.in"
	"$PY" "$MORTAR_SRC/tests/func/fake-systemd.py" --restarts "$1" --interval "$2" \
		--ready-file "$SCRATCH/sd.pid" -- "$MORTAR" serve -f -v --fdstore -s "$3" "$4" \
		<"$SCRATCH/sd.in" >"$SCRATCH/sd.out" 2>"$SCRATCH/f.log" &
	SDPID=$!
	exec 8>"$SCRATCH/sd.in"
	for ((i = 0; i < 500; i++)); do [[ -s $SCRATCH/sd.pid ]] && return 0; sleep 0.02; done
	fail "the server under fake systemd did not become ready: $(cat "$SCRATCH/sd.out" "$SCRATCH/f.log")"
}
# Wait for the last restart, stop the service, check that every restart
# carried the N (default 1) connections.
fake_systemd_end() {
	local n=${1:-1} restarts
	restarts=$(grep -c "^restart" "$SCRATCH/sd.out" || true)
	echo >&8
	exec 8>&-
	wait "$SDPID" || fail "fake systemd: $(cat "$SCRATCH/sd.out"; tail -n 20 "$SCRATCH/f.log")"
	grep "^restart" "$SCRATCH/sd.out"
	(($(grep -c "took over $n connection" "$SCRATCH/f.log") == restarts)) ||
		fail "a restart did not carry the connection(s): $(grep 'took over' "$SCRATCH/f.log")"
}
fake_systemd_wait_restarts() { # N: until fake systemd has restarted N times
	local i
	for ((i = 0; i < 3000; i++)); do
		grep -q "^restart $1:" "$SCRATCH/sd.out" && return 0
		sleep 0.05
	done
	fail "fake systemd: no restart $1 within 150 s: $(cat "$SCRATCH/sd.out")"
}

# signal_and_wait SIG PID LOG PATTERN: send SIG to PID and wait (30 s at
# most) until LOG holds one more line matching PATTERN; fails otherwise.
# Leaves the last such line in LAST_LINE.
signal_and_wait() {
	local sig=$1 pid=$2 log=$3 pattern=$4 before i
	before=$(grep -c -- "$pattern" "$log" || true)
	kill "-$sig" "$pid"
	for ((i = 0; i < 1500; i++)); do
		(($(grep -c -- "$pattern" "$log" || true) > before)) && break
		sleep 0.02
	done
	(($(grep -c -- "$pattern" "$log" || true) > before)) ||
		fail "after SIG$sig, no '$pattern' in the log: $(tail -n 15 "$log")"
	LAST_LINE=$(grep -- "$pattern" "$log" | tail -n 1)
}
