#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The control socket of mortar serve (nbd/control.c), spoken to directly:
# while an export is quiesced, a write from an NBD client waits and reads
# go on; the file does not change until "resume"; a client that vanishes
# also resumes it; an image the server does not export answers "none";
# the socket is 0600 in the private runtime directory and is removed when
# the server stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
"$PY" -c 'import nbd' 2>/dev/null || skip "python3-libnbd is not installed"

export XDG_RUNTIME_DIR=$SCRATCH/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
img=$SCRATCH/q.img
"$MORTAR" img create "$img" 8M >/dev/null
start_server_unix q "$img"
ctl=$XDG_RUNTIME_DIR/mortar/serve/$SPID.sock
[[ -S $ctl ]] || fail "no control socket at $ctl"
expect_eq "control socket mode" "$(stat -c %a "$ctl")" 600
expect_eq "runtime dir mode" "$(stat -c %a "$XDG_RUNTIME_DIR/mortar/serve")" 700

"$PY" - "$ctl" "$SCRATCH/q.sock" "$img" <<'PYEOF'
import os, socket, sys, time
import nbd

ctl_path, sock, img = sys.argv[1:4]
st = os.stat(img)

def control(line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(ctl_path)
    s.sendall(line.encode() + b"\n")
    f = s.makefile("rb")
    return s, f, f.readline().decode().strip()

def expect(what, got, want):
    if got != want:
        sys.exit(f"FAIL: {what}: got {got!r:.80}, want {want!r:.80}")
    print(f"ok: {what}: {got!r:.40}")

h = nbd.NBD()
h.connect_unix(sock)

s, f, ans = control("quiesce file 1:1")
expect("answer for an image not exported", ans, "none")
s.close()

s, f, ans = control(f"quiesce file {st.st_dev}:{st.st_ino}")
expect("answer to quiesce", ans, "ok 1")
buf = nbd.Buffer.from_bytearray(bytearray(b"\xab" * 65536))
cookie = h.aio_pwrite(buf, 0)
deadline = time.time() + 1.0
while time.time() < deadline:
    h.poll(0)
    time.sleep(0.05)
expect("write completed while quiesced", h.aio_command_completed(cookie), False)
data = h.pread(4096, 0)       # reads are not held
expect("read while quiesced", bytes(data) == b"\0" * 4096, True)
with open(img, "rb") as fh:
    expect("file changed while quiesced", fh.read(4) , b"\0" * 4)
s.sendall(b"resume\n")
expect("answer to resume", f.readline().decode().strip(), "resumed")
while not h.aio_command_completed(cookie):
    h.poll(1)
h.flush()
with open(img, "rb") as fh:
    expect("data after resume", fh.read(4), b"\xab" * 4)

# A snapshot tool that dies while holding the quiesce must not freeze it.
s, f, ans = control(f"quiesce file {st.st_dev}:{st.st_ino}")
expect("answer to a second quiesce", ans, "ok 1")
cookie = h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(b"\xcd" * 4096)), 4096)
f.close()   # the file object holds the socket open too
s.close()
t0 = time.time()
while not h.aio_command_completed(cookie):
    h.poll(1)
    if time.time() - t0 > 10:
        sys.exit("FAIL: the write still waits 10 s after the quiescing client left")
expect("write after the quiescing client vanished", bytes(h.pread(4, 4096)), b"\xcd" * 4)

s, f, ans = control("hello")
expect("answer to garbage", ans.split()[0], "error")
h.shutdown()
PYEOF
kill -TERM "$SPID"
wait "$SPID" || fail "server exit status $?"
[[ ! -e $ctl ]] || fail "control socket left behind after SIGTERM"
echo PASS
