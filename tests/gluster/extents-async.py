#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two sides of tests/gluster/extents-async.sh, each over its own NBD
connection (libnbd; URI as nbdinfo takes it).

  extents-async.py map URI     block status of the whole image, request
                               after request; prints "map: N requests,
                               E extents, longest T ms"
  extents-async.py read URI STOPFILE
                               4 KiB reads one after the other until
                               STOPFILE exists; prints "read: N reads,
                               longest T ms"
"""
import os
import sys
import time

import nbd


def connect(uri):
    h = nbd.NBD()
    h.add_meta_context("base:allocation")
    h.connect_uri(uri)
    return h


def do_map(uri):
    h = connect(uri)
    size = h.get_size()
    pos, requests, extents, longest = 0, 0, 0, 0.0
    while pos < size:
        got = []

        def cb(meta, off, ents, err):
            if meta == "base:allocation":
                got.extend(ents)
            return 0
        t = time.monotonic()
        h.block_status(min(size - pos, 2**31), pos, cb)
        longest = max(longest, time.monotonic() - t)
        requests += 1
        extents += len(got) // 2
        pos += sum(got[0::2])
    h.shutdown()
    print("map: %d requests, %d extents, longest %.0f ms" % (requests, extents, longest * 1000))


def do_read(uri, stop):
    h = connect(uri)
    n, longest = 0, 0.0
    while not os.path.exists(stop):
        t = time.monotonic()
        h.pread(4096, (n % 256) * 4096)
        longest = max(longest, time.monotonic() - t)
        n += 1
    h.shutdown()
    print("read: %d reads, longest %.0f ms" % (n, longest * 1000))


if __name__ == "__main__":
    if sys.argv[1] == "map":
        do_map(sys.argv[2])
    else:
        do_read(sys.argv[2], sys.argv[3])
