#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Clients that shut down their reading side, so that the server's replies
# fail, and then send a request that must be refused (a write past the
# end, payload and all): the server used to free such a connection while
# still receiving on it (heap-use-after-free, issue 20).  This is the race
# as a client can provoke it, many times over, against the ASan build (the
# old code failed within a few hundred rounds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
asan=${MORTAR_ASAN:-$MORTAR_SRC/build-asan/cli/mortar}
[[ -x $asan ]] || skip "no ASan build of mortar at $asan (make build-asan)"

"$MORTAR" img create "$SCRATCH/d.img" 16M >/dev/null
sock=$SCRATCH/d.sock
ASAN_OPTIONS=detect_leaks=1:exitcode=99 UBSAN_OPTIONS=halt_on_error=1 \
	"$asan" serve -f --socket "$sock" "$SCRATCH/d.img" 2>"$SCRATCH/serve.err" &
pid=$!
on_exit "kill $pid 2>/dev/null"
for _ in $(seq 200); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || fail "the ASan server did not start: $(cat "$SCRATCH/serve.err")"

"$PY" - "$sock" "${ROUNDS:-1500}" <<'PYEOF' || fail "the client loop failed (server gone?): $(tail -20 "$SCRATCH/serve.err")"
import random, socket, struct, sys, time
path, rounds = sys.argv[1], int(sys.argv[2])
REQ = 0x25609513

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError(f"server closed during the handshake ({len(b)} of {n} bytes)")
        b += c
    return b

L = 65536
for i in range(rounds):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    recv_exact(s, 18)                                    # NBDMAGIC IHAVEOPT flags
    s.sendall(struct.pack(">I", 3))                      # FIXED | NO_ZEROES
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 1, 0))  # EXPORT_NAME ""
    recv_exact(s, 10)                                    # size, flags
    s.shutdown(socket.SHUT_RD)                           # every reply now fails
    try:
        s.sendall(struct.pack(">IHHQQI", REQ, 0, 0, 1, 0, L))          # READ
        time.sleep(random.random() * 0.002)
        s.sendall(struct.pack(">IHHQQI", REQ, 0, 1, 2, 1 << 40, L) + b"x" * L)  # WRITE past the end
    except OSError:
        pass    # the server hung up first: also fine
    s.close()
print(f"ok: {rounds} clients whose replies failed")
PYEOF
kill -0 "$pid" 2>/dev/null || fail "the server died: $(tail -30 "$SCRATCH/serve.err")"
"$PY" -c 'import nbd, sys; h = nbd.NBD(); h.connect_unix(sys.argv[1]); h.pread(4096, 0)' "$sock" ||
	fail "a well-behaved client is not served after them"
kill "$pid"
rc=0
wait "$pid" || rc=$?
grep -q "ERROR: AddressSanitizer\|runtime error" "$SCRATCH/serve.err" && fail "sanitizer report: $(cat "$SCRATCH/serve.err")"
expect_eq "exit status of the ASan server" "$rc" 0
echo PASS
