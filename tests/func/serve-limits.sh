#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What one client can take from mortar serve (issue 20):
# - request memory: a client that asks for 200 MiB of reads and never
#   reads the replies makes the server hold at most about its
#   --max-connection-memory, and two such clients at most about the
#   server's --max-request-memory (the server's RSS is measured); with the
#   default limits it would hold 64 MiB each;
# - --idle-timeout: a client that says nothing is disconnected after it,
#   one that keeps working is not;
# - refused connections (over --max-connections) are logged at most once
#   a second, with a count of the lines left out.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"

M=$((1 << 20))
img=$SCRATCH/l.img
"$MORTAR" img create "$img" 256M >/dev/null
"$MORTAR" io "$img" -c "write -P 0x61 0 256M" >/dev/null

# A raw client: handshake, then COUNT reads of 1 MiB, replies never read.
cat >"$SCRATCH/hog.py" <<'PYEOF'
import socket, struct, sys, time
path, count, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(path)
def rx(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
rx(18)
s.sendall(struct.pack(">I", 3))                          # FIXED | NO_ZEROES
s.sendall(struct.pack(">QII", 0x49484156454F5054, 1, 0))  # EXPORT_NAME ""
rx(10)
for i in range(count):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, (i % 200) << 20, 1 << 20))
print("sent", flush=True)
time.sleep(hold)
PYEOF
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# hogs SOCK PID N: N hogging clients; prints the server's RSS growth (KiB).
hogs() {
	local sock=$1 pid=$2 n=$3 before after i hp=()
	before=$(rss_kib "$pid")
	for ((i = 0; i < n; i++)); do
		"$PY" "$SCRATCH/hog.py" "$sock" 200 4 >"$SCRATCH/hog$i.out" 2>&1 &
		hp+=($!)
	done
	sleep 2.5
	after=$(rss_kib "$pid")
	kill "${hp[@]}" 2>/dev/null
	wait "${hp[@]}" 2>/dev/null
	echo $((after - before))
}

start_server_unix defaults --threads 1 "$img"
grow_default=$(hogs "$SOCK" "$SPID" 1)
start_server_unix conn --threads 1 --max-connection-memory 4M "$img"
grow_conn=$(hogs "$SOCK" "$SPID" 1)
start_server_unix server --threads 1 --max-request-memory 6M "$img"
grow_server=$(hogs "$SOCK" "$SPID" 2)
echo "RSS growth under 200 MiB of unread replies: default $grow_default KiB," \
	"--max-connection-memory 4M $grow_conn KiB, --max-request-memory 6M (2 clients) $grow_server KiB"
((grow_default > 32 * 1024)) || fail "the hog did not take memory with the default limits ($grow_default KiB): the test proves nothing"
((grow_conn < 12 * 1024)) || fail "--max-connection-memory 4M: the server grew by $grow_conn KiB"
((grow_server < 14 * 1024)) || fail "--max-request-memory 6M: the server grew by $grow_server KiB"
"$PY" -c 'import nbd, sys; h = nbd.NBD(); h.connect_unix(sys.argv[1]); assert h.pread(4096, 0) == b"a" * 4096' "$SOCK" ||
	fail "the server does not serve after the hogs left"
echo "ok: request memory is bounded per connection and per server"

# --- --idle-timeout --------------------------------------------------------------------------
start_server_unix idle --idle-timeout 2 "$img"
"$PY" - "$SOCK" <<'PYEOF' || fail "idle timeout (above)"
import nbd, sys, time
idle = nbd.NBD(); idle.connect_unix(sys.argv[1])
busy = nbd.NBD(); busy.connect_unix(sys.argv[1])
for i in range(16):               # 4 s: busy works every quarter second
    busy.pread(4096, 0)
    time.sleep(0.25)
try:
    idle.pread(4096, 0)
    sys.exit("the idle client was not disconnected after 4 s with --idle-timeout 2")
except nbd.Error as e:
    print("ok: the idle client was disconnected:", e)
busy.pread(4096, 0)
print("ok: the busy client was not")
PYEOF
grep -q "idle for 2 s (--idle-timeout)" "$SCRATCH/idle.log" || fail "no log line for the idle client"

# --- refused connections, rate-limited in the log -----------------------------------------------
start_server_unix full -e 1 "$img"
"$PY" - "$SOCK" <<'PYEOF'
import nbd, socket, sys, time
keep = nbd.NBD(); keep.connect_unix(sys.argv[1])
for i in range(200):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.close()
time.sleep(1.2)
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()   # a line with the count
time.sleep(0.3)
PYEOF
n=$(grep -c "refusing a connection" "$SCRATCH/full.log" || true)
((n >= 1 && n <= 4)) || fail "$n lines for 201 refused connections: $(head -5 "$SCRATCH/full.log")"
grep -q "and [0-9]* more like it in the last second" "$SCRATCH/full.log" ||
	fail "the lines left out are not counted: $(grep refusing "$SCRATCH/full.log")"
echo "ok: 201 refused connections, $n log lines: $(grep refusing "$SCRATCH/full.log" | tail -n 1)"
echo PASS
