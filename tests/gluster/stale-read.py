# SPDX-License-Identifier: LGPL-2.1-or-later
# Writers for tests/gluster/stale-read.sh.  Each writer owns one image and
# loops: write a 64 KiB record (its sequence number in every line) to the
# next of 16 slots, wait a moment (as a guest does between a write and
# its flush), flush, read the slot back, read the slot written before it.
# Two kinds of writers run side by side on the same volume:
#   mortar:NAME   through `mortar serve` (libnbd, export NAME)
#   gfapi:PATH    plain libgfapi as a client opens an image by default
#                 (no O_DIRECT, the volume's options): GlusterFS alone,
#                 the control
# One line per record on stdout:
#   W seq=N slot=S ok ms=T | W seq=N slot=S error WHAT
#   W seq=N slot=S STALE read [RECORD] want seq=M
#   W WATCH seq=M slot=S correct after T s | W WATCH seq=M slot=S LOST
# Until the file STOP exists; then each writer prints "W last SLOT=SEQ..."
# (its last acknowledged record per slot) and the program exits.
#
# usage: stale-read.py HOSTS VOLUME SOCKET STOP mortar:NAME... gfapi:PATH...
import ctypes
import os
import random
import sys
import threading
import time

import nbd

REC = 65536
hosts, volume, sock, stop = sys.argv[1:5]
out = threading.Lock()


def say(who, msg):
    with out:
        print(f"{time.strftime('%H:%M:%S')} {who} {msg}", flush=True)


def record(seq, slot):
    return (f"MORTAR-REC seq={seq} slot={slot}\n".encode() * 4096)[:REC]


def what(data):
    return data[:40].split(b"\n")[0].decode(errors="replace")


class Mortar:
    def __init__(self, name):
        self.name = "mortar:" + name
        self.h = nbd.NBD()
        self.h.set_export_name(name)
        self.h.connect_unix(sock)

    def write(self, off, data):
        self.h.pwrite(data, off)

    def flush(self):
        self.h.flush()

    def read(self, off):
        return self.h.pread(REC, off)


class Gfapi:
    lib = None
    fs = None

    @classmethod
    def connect(cls):
        g = ctypes.CDLL("libgfapi.so.0", use_errno=True)
        g.glfs_new.restype = ctypes.c_void_p
        g.glfs_open.restype = ctypes.c_void_p
        g.glfs_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        g.glfs_pwrite.restype = ctypes.c_ssize_t
        g.glfs_pwrite.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                  ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                                  ctypes.c_void_p]
        g.glfs_pread.restype = ctypes.c_ssize_t
        g.glfs_pread.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_long, ctypes.c_int, ctypes.c_void_p]
        g.glfs_fsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        fs = ctypes.c_void_p(g.glfs_new(volume.encode()))
        for h in hosts.split(","):
            g.glfs_set_volfile_server(fs, b"tcp", h.encode(), 24007)
        g.glfs_set_logging(fs, b"/dev/null", 0)
        if g.glfs_init(fs) != 0:
            sys.exit("stale-read.py: glfs_init failed")
        cls.lib, cls.fs = g, fs

    def __init__(self, path):
        if not Gfapi.fs:
            Gfapi.connect()
        self.name = "gfapi:" + path
        self.fd = ctypes.c_void_p(Gfapi.lib.glfs_open(Gfapi.fs, path.encode(), os.O_RDWR))
        if not self.fd.value:
            sys.exit(f"stale-read.py: cannot open {path}")
        self.buf = ctypes.create_string_buffer(REC)

    def write(self, off, data):
        if Gfapi.lib.glfs_pwrite(self.fd, data, REC, off, 0, None, None) != REC:
            raise OSError(ctypes.get_errno(), "write")

    def flush(self):
        if Gfapi.lib.glfs_fsync(self.fd, None, None) != 0:
            raise OSError(ctypes.get_errno(), "fsync")

    def read(self, off):
        if Gfapi.lib.glfs_pread(self.fd, self.buf, REC, off, 0, None) != REC:
            raise OSError(ctypes.get_errno(), "read")
        return self.buf.raw


def watch(c, seq, slot):
    """Read a slot that came back stale again until it holds the record:
    was the write lost, or only not seen for a while?"""
    t0 = time.time()
    while time.time() - t0 < 60:
        time.sleep(0.2)
        try:
            if c.read(slot * REC) == record(seq, slot):
                say(c.name, f"WATCH seq={seq} slot={slot} correct after "
                    f"{time.time() - t0:.1f} s")
                return
        except (OSError, nbd.Error):
            pass
    say(c.name, f"WATCH seq={seq} slot={slot} LOST")


def check(c, seq, slot):
    got = c.read(slot * REC)
    if got != record(seq, slot):
        say(c.name, f"seq={seq} slot={slot} STALE read [{what(got)}] want seq={seq}")
        watch(c, seq, slot)
        return False
    return True


def writer(c):
    seq, prev, last = 0, None, {}
    while not os.path.exists(stop):
        seq += 1
        slot = seq % 16
        t0 = time.time()
        try:
            c.write(slot * REC, record(seq, slot))
            time.sleep(random.uniform(0, 0.15))
            c.flush()
            last[slot] = seq
            if check(c, seq, slot) and (prev is None or check(c, *prev)):
                say(c.name, f"seq={seq} slot={slot} ok ms={int((time.time() - t0) * 1000)}")
            prev = (seq, slot)
        except (OSError, nbd.Error) as e:
            say(c.name, f"seq={seq} slot={slot} error {e}")
            # the slot's content is now unknown: the write may have landed
            last.pop(slot, None)
            prev = None
        time.sleep(0.1)
    say(c.name, "last " + " ".join(f"{s}={n}" for s, n in sorted(last.items())))


clients = [Mortar(a[7:]) if a.startswith("mortar:") else Gfapi(a[6:]) for a in sys.argv[5:]]
threads = [threading.Thread(target=writer, args=(c,)) for c in clients]
for t in threads:
    t.start()
for t in threads:
    t.join()
