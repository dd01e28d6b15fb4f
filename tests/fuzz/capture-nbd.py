#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Seeds for the NBD fuzz targets, captured from real clients.

  capture-nbd.py SERVER_SOCKET OUTDIR NAME -- CLIENT ARGS...

Listens on a unix socket of its own, runs CLIENT with "$uri" in its
arguments replaced by nbd+unix:///?socket=OURS ("$sock": OURS), forwards every byte both
ways to mortar serve at SERVER_SOCKET, and writes what the client sent:
  OUTDIR/nbd-handshake/NAME     control byte $CONTROL (0), then the whole stream
  OUTDIR/nbd-transmission/NAME  control byte 1 (structured replies), then
                                the stream from its first request on
(tests/fuzz/fuzz-nbd-*.c say what the control byte means).  How the
seeds in tests/fuzz/corpus/ were made is in tests/fuzz/README.
"""
import os
import selectors
import socket
import subprocess
import sys
import tempfile

REQUEST_MAGIC = (0x25609513).to_bytes(4, "big")


def main():
    server, outdir, name = sys.argv[1:4]
    control = int(os.environ.get("CONTROL", "0"))
    client = sys.argv[5:] if sys.argv[4] == "--" else sys.argv[4:]
    tmp = tempfile.mkdtemp()
    ours = os.path.join(tmp, "proxy.sock")
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(ours)
    lsock.listen(8)
    uri = f"nbd+unix:///?socket={ours}"
    proc = subprocess.Popen([a.replace("$uri", uri).replace("$sock", ours) for a in client],
                            stdout=subprocess.DEVNULL)
    sent = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, "listen")
    pairs = {}
    first = True
    while proc.poll() is None or pairs:
        for key, _ in sel.select(timeout=0.2):
            if key.data == "listen":
                c, _ = lsock.accept()
                s = socket.socket(socket.AF_UNIX)
                s.connect(server)
                pairs[c] = (s, first)
                pairs[s] = (c, False)
                first = False
                sel.register(c, selectors.EVENT_READ, "c")
                sel.register(s, selectors.EVENT_READ, "s")
                continue
            src = key.fileobj
            dst, record = pairs.get(src, (None, False))
            if dst is None:
                continue
            data = src.recv(1 << 20)
            if record:
                sent.extend(data)
            if not data:
                for so in (src, dst):
                    sel.unregister(so)
                    pairs.pop(so, None)
                    so.close()
                continue
            dst.sendall(data)
        if proc.poll() is not None and not pairs:
            break
    for sub in ("nbd-handshake", "nbd-transmission"):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)
    with open(os.path.join(outdir, "nbd-handshake", name), "wb") as f:
        f.write(bytes([control]) + sent[:65535])
    at = sent.find(REQUEST_MAGIC, 16)
    if at >= 0:
        with open(os.path.join(outdir, "nbd-transmission", name), "wb") as f:
            f.write(b"\x01" + sent[at:at + (256 << 10)])
    print(f"{name}: {len(sent)} bytes from the client, exit {proc.returncode}")
    os.unlink(ours)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
