#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The ASan+UBSan build of mortar serve, with clients that connect, work,
# misbehave and vanish: no leak or error report at exit, and the open
# file descriptors back to their baseline after every client left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-io nbdinfo nbdcopy
asan=${MORTAR_ASAN:-$MORTAR_SRC/build-asan/cli/mortar}
[[ -x $asan ]] || skip "no ASan build of mortar at $asan (make build-asan)"

cd "$SCRATCH"
"$MORTAR" img create disk.img 64M
sock=$SCRATCH/nbd.sock
ASAN_OPTIONS=detect_leaks=1:exitcode=99 UBSAN_OPTIONS=halt_on_error=1 \
	"$asan" serve -f --socket "$sock" disk.img 2>serve.err &
pid=$!
on_exit "kill $pid 2>/dev/null"
for _ in $(seq 200); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || fail "the ASan server did not start: $(cat serve.err)"
uri="nbd+unix:///?socket=$sock"
nbdinfo "$uri" >/dev/null || fail "first client"
sleep 0.3
base=$(ls /proc/$pid/fd | wc -l)
echo "baseline: $base fds"

for round in 1 2 3; do
	qemu-io -f raw "$uri" -c "write -P 0x$round$round 0 1M" -c "read -P 0x$round$round 0 1M" >/dev/null ||
		fail "qemu-io round $round"
	nbdcopy "$uri" copy.img || fail "nbdcopy round $round"
	nbdinfo --map "$uri" >/dev/null || fail "nbdinfo round $round"
	# Clients that vanish: mid-handshake, mid-request, mid-write payload.
	"$PY" - "$sock" <<'PY'
import socket, struct, sys
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); return s
s = conn(); s.recv(18); s.close()                      # during the greeting
s = conn(); s.recv(18); s.sendall(struct.pack(">I", 1)); s.sendall(b"IHAVEOPT"); s.close()
s = conn(); s.recv(18); s.sendall(struct.pack(">I", 3))
name = b""
s.sendall(b"IHAVEOPT" + struct.pack(">II", 7, 4 + len(name) + 2) + struct.pack(">I", 0) + struct.pack(">H", 0))
buf = b""
while True:                                            # read option replies up to ACK
    hdr = s.recv(20, socket.MSG_WAITALL)
    if len(hdr) < 20: break
    _, opt, typ, ln = struct.unpack(">QIII", hdr)
    if ln: s.recv(ln, socket.MSG_WAITALL)
    if typ == 1: break
# a write whose payload never fully arrives
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, 0, 65536) + b"x" * 1000)
s.close()
PY
done
# Give the server a moment to notice every departure.
for _ in $(seq 50); do
	now=$(ls /proc/$pid/fd | wc -l)
	((now <= base)) && break
	sleep 0.1
done
expect_eq "open fds after every client left" "$now" "$base"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
expect_eq "exit status of the ASan server after SIGTERM" "$rc" 0
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error" serve.err; then
	cat serve.err
	fail "sanitizer report from mortar serve"
fi
echo "ok: no leaks, no sanitizer reports, fds back to baseline"
