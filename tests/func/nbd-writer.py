#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A client that writes and verifies without pause, many requests in
flight, for tests that restart or hand over the server under it.

  nbd-writer.py URI SECONDS [--stop-file F] [--inflight N] [--region MIB]
                [--base MIB]

Over one connection (libnbd, URI as nbdinfo takes it), keeps N requests
in flight: writes of 4 KiB to 128 KiB with a pattern of their own at
random places of MIB MiB from BASE MiB on, each read back once written, and a
model of what the region must hold.  Stops after SECONDS or once the stop
file exists, then reads the whole region and compares it with the model.
Prints "writer: W writes, R reads verified, E errors, worst T ms" and
exits 1 on any error or difference.
"""
import argparse
import os
import random
import sys
import time

import nbd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("uri")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--stop-file")
    ap.add_argument("--inflight", type=int, default=16)
    ap.add_argument("--region", type=int, default=32)
    ap.add_argument("--base", type=int, default=0)
    a = ap.parse_args()

    region = a.region << 20
    base = a.base << 20
    model = bytearray(region)
    busy = bytearray(region // 4096)    # 4 KiB blocks with a request on them
    h = nbd.NBD()
    h.connect_uri(a.uri)
    state = {"writes": 0, "reads": 0, "errors": 0, "worst": 0.0, "seq": 0}
    to_read = []    # writes done, their read-back not issued yet
    rng = random.Random(1)
    end = time.monotonic() + a.seconds

    def stopping():
        return time.monotonic() > end or (a.stop_file and os.path.exists(a.stop_file))

    def mark(off, n, v):
        for b in range(off // 4096, (off + n) // 4096):
            busy[b] = v

    def issue():
        while True:
            n = rng.choice([1, 2, 8, 32]) * 4096
            off = rng.randrange(0, (region - n) // 4096) * 4096
            if not any(busy[off // 4096:(off + n) // 4096]):
                break
        mark(off, n, 1)
        state["seq"] += 1
        data = bytes([state["seq"] % 251]) * n
        t0 = time.monotonic()

        def read_done(buf, err):
            dt = time.monotonic() - t0
            state["worst"] = max(state["worst"], dt)
            if err.value:
                state["errors"] += 1
                print(f"writer: read error at {off}+{n}: {err.value}", flush=True)
            elif bytes(buf.to_bytearray()) != data:
                state["errors"] += 1
                print(f"writer: read back other data at {off}+{n}", flush=True)
            else:
                state["reads"] += 1
            mark(off, n, 0)
            return 1

        def write_done(err):
            if err.value:
                state["errors"] += 1
                print(f"writer: write error at {off}+{n}: {err.value}", flush=True)
                mark(off, n, 0)
                return 1
            state["writes"] += 1
            model[off:off + n] = data
            # libnbd's callbacks may not issue commands: the main loop does.
            to_read.append((off, n, read_done))
            return 1

        h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data)), base + off,
                     completion=write_done)

    def issue_reads():
        while to_read:
            off, n, done = to_read.pop()
            rbuf = nbd.Buffer(n)
            h.aio_pread(rbuf, base + off, completion=lambda err, b=rbuf, d=done: d(b, err))

    try:
        while not stopping():
            issue_reads()
            while h.aio_in_flight() < a.inflight and not stopping():
                issue()
            h.poll(1000)
        while h.aio_in_flight() > 0 or to_read:
            issue_reads()
            h.poll(1000)
        # The whole region, as the model says.
        for off in range(0, region, 1 << 20):
            if h.pread(1 << 20, base + off) != bytes(model[off:off + (1 << 20)]):
                state["errors"] += 1
                print(f"writer: final check: [{off}, +1M) differs", flush=True)
        h.shutdown()
    except nbd.Error as e:
        state["errors"] += 1
        print(f"writer: connection failed: {e}", flush=True)
    print(f"writer: {state['writes']} writes, {state['reads']} reads verified, "
          f"{state['errors']} errors, worst {state['worst'] * 1000:.0f} ms", flush=True)
    return 1 if state["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
