#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Several connections write interleaved 512-byte sectors of the same
blocks at once, then every sector is read back and checked.

  direct-sectors.py URI CONNECTIONS BLOCKS ROUNDS [--block BYTES]

Connection c writes sector s of every block when s % CONNECTIONS == c,
with up to 64 requests in flight, all connections walking the blocks in
the same order so that they meet in each block.  Each sector holds
(round, block, sector); after the last round one connection flushes and
reads the blocks back.  Prints "sectors: N written, B wrong" and exits 1
when a sector is wrong (an update lost by a read-modify-write), 2 on a
protocol error.
"""
import argparse
import struct
import sys
import threading

import nbd

SECTOR = 512
INFLIGHT = 64


def pattern(rnd, block, sector):
    return struct.pack("<III", rnd, block, sector) * (SECTOR // 12) + b"\xee" * (SECTOR % 12)


def writer(h, conn, nconn, blocks, bsize, rnd, start, errors):
    per = bsize // SECTOR
    start.wait()
    try:
        for b in range(blocks):
            for s in range(conn, per, nconn):
                while h.aio_in_flight() >= INFLIGHT:
                    h.poll(-1)
                h.aio_pwrite(pattern(rnd, b, s), b * bsize + s * SECTOR)
        while h.aio_in_flight() > 0:
            h.poll(-1)
    except nbd.Error as e:
        errors.append("connection %d: %s" % (conn, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("uri")
    ap.add_argument("connections", type=int)
    ap.add_argument("blocks", type=int)
    ap.add_argument("rounds", type=int)
    ap.add_argument("--block", type=int, default=4096)
    a = ap.parse_args()

    hs = []
    for _ in range(a.connections):
        h = nbd.NBD()
        # As a client that does not ask for block sizes: the server then
        # says its minimum is 1 byte, and 512-byte writes are fair.
        h.set_request_block_size(False)
        h.connect_uri(a.uri)
        hs.append(h)
    if not hs[0].can_multi_conn():
        print("the export does not advertise multi-conn", file=sys.stderr)
        sys.exit(2)
    errors = []
    for rnd in range(1, a.rounds + 1):
        start = threading.Barrier(a.connections)
        ts = [threading.Thread(target=writer, args=(h, c, a.connections, a.blocks,
                                                    a.block, rnd, start, errors))
              for c, h in enumerate(hs)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            print("\n".join(errors), file=sys.stderr)
            sys.exit(2)
    hs[0].flush()
    bad = 0
    per = a.block // SECTOR
    for b in range(a.blocks):
        data = hs[0].pread(a.block, b * a.block)
        for s in range(per):
            if data[s * SECTOR:(s + 1) * SECTOR] != pattern(a.rounds, b, s):
                got = struct.unpack("<III", data[s * SECTOR:s * SECTOR + 12])
                if bad < 5:
                    print("block %d sector %d: holds %s" % (b, s, got), file=sys.stderr)
                bad += 1
    for h in hs:
        h.shutdown()
    print("sectors: %d written, %d wrong" % (a.rounds * a.blocks * per, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
