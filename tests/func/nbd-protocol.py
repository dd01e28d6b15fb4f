#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mortar serve through libnbd's Python binding (run by nbd-protocol.sh).

  nbd-protocol.py prepare IMG            write the layout below into IMG
  nbd-protocol.py run DIR                the checks; DIR holds the sockets,
                                         images and server logs made by
                                         nbd-protocol.sh

Every check prints "ok: ..." or raises; a failed check ends its group of
checks, the other groups still run, and any failure exits 1.
"""
import errno
import os
import random
import sys
import time

import nbd

K = 1024
M = 1 << 20
SIZE = 64 * M
MAX_REQ = 32 * M
# Exports on GlusterFS (tests/gluster/nbd-suites.sh): a fast zero is a
# discard there (the bricks punch), so one with NO_HOLE fails at once.
GLUSTER = bool(os.environ.get("MORTAR_TEST_GLUSTER"))

# The layout of p.img: (offset, length, content) with content a byte value,
# "rand" (seeded random bytes) or "zero" (zeroes, written: allocated).
LAYOUT = [
    (0, 64 * K, 0x11),
    (1 * M, 128 * K, "rand"),
    (2 * M, 256 * K, "zero"),
    (4 * M, 4 * K, 0x22),
    (5 * M, 64 * K, 0x23),
    (5 * M + 128 * K, 64 * K, 0x24),
    (SIZE - 4 * K, 4 * K, 0x33),
]
# base:allocation of p.img as merged (offset, length, flags) runs
EXTENTS = [
    (0, 64 * K, 0),
    (64 * K, M - 64 * K, 3),
    (M, 128 * K, 0),
    (M + 128 * K, M - 128 * K, 3),
    (2 * M, 256 * K, 0),
    (2 * M + 256 * K, 2 * M - 256 * K, 3),
    (4 * M, 4 * K, 0),
    (4 * M + 4 * K, M - 4 * K, 3),
    (5 * M, 64 * K, 0),
    (5 * M + 64 * K, 64 * K, 3),
    (5 * M + 128 * K, 64 * K, 0),
    (5 * M + 192 * K, SIZE - 4 * K - 5 * M - 192 * K, 3),
    (SIZE - 4 * K, 4 * K, 0),
]


def content(kind, length):
    if kind == "rand":
        return random.Random(1234).randbytes(length)
    if kind == "zero":
        return bytes(length)
    return bytes([kind]) * length


def prepare(path):
    with open(path, "r+b") as f:
        for off, ln, kind in LAYOUT:
            os.pwrite(f.fileno(), content(kind, ln), off)
        os.fsync(f.fileno())


def ok(msg):
    print("ok:", msg, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    ok(msg)


def expect_err(want_errno, what, fn, *args, **kw):
    """FN(*ARGS) must fail with the server's (or libnbd's) WANT_ERRNO."""
    try:
        fn(*args, **kw)
    except nbd.Error as e:
        if e.errnum != want_errno:
            raise AssertionError(f"{what}: failed with errno {e.errnum} ({e.string}), "
                                 f"want {errno.errorcode[want_errno]}")
        ok(f"{what} -> {errno.errorcode[want_errno]}")
        return e
    raise AssertionError(f"{what}: succeeded, want {errno.errorcode[want_errno]}")


def file_bytes(path, off, ln):
    with open(path, "rb") as f:
        return os.pread(f.fileno(), ln, off)


def connect(sock, name="", structured=True, meta=True, strict=None):
    h = nbd.NBD()
    h.set_export_name(name)
    h.set_full_info(True)
    if not structured:
        h.set_request_structured_replies(False)
    if meta:
        h.add_meta_context("base:allocation")
    h.connect_unix(sock)
    if strict is not None:
        h.set_strict_mode(strict)
    return h


def extents(h, off, ln, flags=0):
    """Block status of [OFF, OFF+LN): a list of (offset, length, flags),
    asking again where the server described less than asked."""
    out = []
    pos = off
    while pos < off + ln:
        got = []

        def cb(ctx, o, ents, err):
            assert ctx == "base:allocation", f"block status for context {ctx}"
            assert o == pos, f"block status reply for offset {o}, asked {pos}"
            got.extend(ents)
            return 0

        h.block_status(off + ln - pos, pos, cb, flags)
        assert got and len(got) % 2 == 0, f"block status at {pos}: {got}"
        for i in range(0, len(got), 2):
            assert got[i] > 0, f"block status: empty extent in {got}"
            out.append((pos, got[i], got[i + 1]))
            pos += got[i]
        if flags & nbd.CMD_FLAG_REQ_ONE:
            break
    return out


def merged(exts, lo=0, hi=None):
    """Merge adjacent runs with equal flags, clipped to [LO, HI)."""
    runs = []
    for o, ln, fl in exts:
        end = o + ln if hi is None else min(o + ln, hi)
        o = max(o, lo)
        if end <= o:
            continue
        if runs and runs[-1][2] == fl and runs[-1][0] + runs[-1][1] == o:
            runs[-1] = (runs[-1][0], runs[-1][1] + end - o, fl)
        else:
            runs.append((o, end - o, fl))
    return runs


def chunks(h, ln, off, flags=0):
    """pread_structured: the buffer and the list of (offset, length, status)."""
    seen = []

    def cb(sub, o, status, err):
        seen.append((o, len(sub), status, bytes(sub)))
        return 0

    buf = h.pread_structured(ln, off, cb, flags)
    return buf, seen


def check_chunks(what, seen, off, ln, want):
    """Chunks must tile [OFF, OFF+LN) exactly; data chunks carry WANT's
    bytes, hole chunks lie where WANT is zero."""
    pos = off
    for o, n, status, data in sorted(seen):
        assert o == pos, f"{what}: chunk at {o}, want {pos} (gap or overlap): {[c[:3] for c in seen]}"
        assert status in (nbd.READ_DATA, nbd.READ_HOLE), f"{what}: chunk status {status}"
        part = want[o - off:o - off + n]
        if status == nbd.READ_DATA:
            assert data == part, f"{what}: data chunk at {o}+{n} differs from the image"
        else:
            assert part == bytes(n), f"{what}: hole chunk at {o}+{n} over non-zero data"
            assert data == bytes(n), f"{what}: hole chunk buffer not zero"
        pos += n
    assert pos == off + ln, f"{what}: chunks end at {pos}, want {off + ln}"


def wait_all(h, cookies):
    """Poll until every cookie completes; each must have succeeded."""
    pending = set(cookies)
    deadline = time.monotonic() + 20
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} commands still in flight after 20 s")
        for c in list(pending):
            if h.aio_command_completed(c):	# raises if the command failed
                pending.discard(c)
        if pending:
            h.poll(1000)


def log_has(path, text):
    with open(path, errors="replace") as f:
        return text in f.read()


# ----------------------------------------------------------------------------

def t_basics(d):
    h = connect(f"{d}/rw.sock")
    check(h.get_size() == SIZE, f"get_size = {SIZE}")
    check(h.get_structured_replies_negotiated(), "structured replies negotiated")
    check(h.can_meta_context("base:allocation"), "base:allocation negotiated")
    check(not h.is_read_only(), "writable export: is_read_only false")
    for cap in ("can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero", "can_df",
                "can_multi_conn", "can_cache"):
        check(getattr(h, cap)(), f"{cap} true")
    check(h.get_block_size(nbd.SIZE_MAXIMUM) == MAX_REQ, "maximum block size 32 MiB")
    check(h.get_canonical_export_name() == "p.img", "the default export's canonical name is p.img")
    # plain reads of the whole layout
    for off, ln, kind in LAYOUT:
        check(h.pread(ln, off) == content(kind, ln), f"pread {off}+{ln} matches the image")
    check(h.pread(3 * K, 64 * K - K) == b"\x11" * K + bytes(2 * K),
          "pread across the end of a data run")
    h.shutdown()
    # zero-length requests (libnbd sends them only in non-strict mode): the
    # spec says unspecified but no disconnect; a read must not fail
    h = connect(f"{d}/rw.sock", strict=0)
    check(h.pread(0, 7) == b"", "zero-length structured read")
    check(h.pread(4096, 0) == b"\x11" * 4096, "the connection works after a zero-length read")
    h.shutdown()
    h = connect(f"{d}/rw.sock", structured=False, strict=0)
    check(h.pread(0, 7) == b"", "zero-length simple read")
    check(h.pread(4096, 0) == b"\x11" * 4096, "the connection works after it")
    h.shutdown()


def t_block_status(d):
    h = connect(f"{d}/rw.sock")
    got = merged(extents(h, 0, SIZE))
    check(got == EXTENTS, "block status of the whole export = the layout")
    # from the middle of a hole, of a data run; a window inside one run
    check(merged(extents(h, 100 * K, 2 * M), 100 * K, 100 * K + 2 * M) == merged(EXTENTS, 100 * K, 100 * K + 2 * M),
          "block status from inside a hole")
    check(merged(extents(h, M + 4 * K, 8 * K)) == [(M + 4 * K, 8 * K, 0)],
          "block status inside a data run describes only what was asked")
    # REQ_ONE: exactly one extent, not beyond the request
    for off, ln, want in [(0, SIZE, (0, 64 * K, 0)), (64 * K, SIZE - 64 * K, (64 * K, M - 64 * K, 3)),
                          (M, 4 * M, (M, 128 * K, 0)), (M + 64 * K, 16 * K, (M + 64 * K, 16 * K, 0)),
                          (2 * M + 300 * K, 100 * K, (2 * M + 300 * K, 100 * K, 3))]:
        e = extents(h, off, ln, nbd.CMD_FLAG_REQ_ONE)
        check(len(e) == 1, f"REQ_ONE at {off}+{ln}: one extent")
        o, n, fl = e[0]
        check(fl == want[2] and n <= ln, f"REQ_ONE at {off}+{ln}: flags {fl}, length {n} <= {ln}")
        check((o, n, fl) == want, f"REQ_ONE at {off}+{ln} = {want}")
    # every extent reported zero reads as zeroes
    for o, n, fl in merged(extents(h, 0, 8 * M)):
        if fl & nbd.STATE_ZERO:
            assert h.pread(min(n, 4 * M), o) == bytes(min(n, 4 * M)), f"zero extent at {o} is not zero"
    ok("every STATE_ZERO extent of the first 8 MiB reads as zeroes")
    # without a negotiated meta context, libnbd refuses block status
    h2 = connect(f"{d}/rw.sock", meta=False)
    check(not h2.can_meta_context("base:allocation"), "no meta context unless asked")
    try:
        h2.block_status(4096, 0, lambda *a: 0)
        raise AssertionError("block status without a meta context succeeded")
    except nbd.Error:
        ok("block status without a meta context fails")
    h2.shutdown()
    h.shutdown()


def t_structured_reads(d):
    img = f"{d}/p.img"
    h = connect(f"{d}/rw.sock")
    # data then a hole, one read of 1 MiB
    buf, seen = chunks(h, M, 0)
    want = file_bytes(img, 0, M)
    check(buf == want, "pread_structured 0+1M: buffer matches the image")
    check_chunks("0+1M", seen, 0, M, want)
    holes = sum(n for o, n, s, _ in seen if s == nbd.READ_HOLE)
    data = sum(n for o, n, s, _ in seen if s == nbd.READ_DATA)
    check(holes >= (M - 64 * K) * 3 // 4, f"0+1M: {holes} bytes came as OFFSET_HOLE chunks")
    check(data >= 64 * K and all(o < 64 * K or s == nbd.READ_HOLE or d == bytes(n)
                                   for o, n, s, d in seen),
          f"0+1M: the 64 KiB of data came as OFFSET_DATA ({data} bytes)")
    # written zeroes are zeroes too
    buf, seen = chunks(h, 256 * K, 2 * M)
    check_chunks("2M+256k (written zeroes)", seen, 2 * M, 256 * K, bytes(256 * K))
    check(all(s == nbd.READ_HOLE for _, _, s, _ in seen), "written zeroes (256 KiB read) come as holes")
    # data only: no hole chunk
    buf, seen = chunks(h, 128 * K, M)
    check_chunks("1M+128k (random)", seen, M, 128 * K, file_bytes(img, M, 128 * K))
    check(all(s == nbd.READ_DATA for _, _, s, _ in seen), "random data comes as data chunks only")
    # DF: one content chunk, data, covering everything
    buf, seen = chunks(h, M, 0, nbd.CMD_FLAG_DF)
    check(len(seen) == 1 and seen[0][:3] == (0, M, nbd.READ_DATA),
          f"DF read 0+1M: one data chunk ({[c[:3] for c in seen]})")
    check(seen[0][3] == file_bytes(img, 0, M), "DF read: contents match")
    # small reads (< 64 KiB) carry no holes
    buf, seen = chunks(h, 32 * K, 100 * K)
    check([c[:3] for c in seen] == [(100 * K, 32 * K, nbd.READ_DATA)] and seen[0][3] == bytes(32 * K),
          "a 32 KiB read of a hole is one data chunk of zeroes")
    # many alternations, unaligned offset and length: reassembles correctly
    for off, ln in [(3, 6 * M - 5), (5 * M - 1000, 300 * K + 7), (SIZE - 8 * M + 1, 8 * M - 1),
                    (0, MAX_REQ)]:
        buf, seen = chunks(h, ln, off)
        want = file_bytes(img, off, ln)
        check(buf == want, f"pread_structured {off}+{ln}: buffer matches ({len(seen)} chunks)")
        check_chunks(f"{off}+{ln}", seen, off, ln, want)
    h.shutdown()


def t_simple_replies(d):
    img = f"{d}/p.img"
    h = connect(f"{d}/rw.sock", structured=False, strict=0)
    check(not h.get_structured_replies_negotiated(), "structured replies off when not requested")
    check(not h.can_meta_context("base:allocation"), "no meta context without structured replies")
    check(not h.can_df(), "no DF without structured replies")
    buf, seen = chunks(h, M, 0)
    check(len(seen) == 1 and seen[0][:3] == (0, M, nbd.READ_DATA) and buf == file_bytes(img, 0, M),
          "simple replies: pread_structured sees one data chunk with the contents")
    check(h.pread(4 * M, M) == file_bytes(img, M, 4 * M), "simple replies: a 4 MiB read")
    h.pwrite(b"\x5e" * 4096, 30 * M)
    check(file_bytes(img, 30 * M, 4096) == b"\x5e" * 4096, "simple replies: write lands in the file")
    expect_err(errno.EINVAL, "simple: read past the end", h.pread, 8192, SIZE - 4096)
    expect_err(errno.EINVAL, "simple: read at the end + 1", h.pread, 1, SIZE)
    expect_err(errno.ENOSPC, "simple: write past the end", h.pwrite, b"x" * 8192, SIZE - 4096)
    expect_err(errno.EINVAL, "simple: read over 32 MiB", h.pread, MAX_REQ + 4096, 0)
    # the connection still works after errors
    check(h.pread(4096, SIZE - 4096) == b"\x33" * 4096, "simple: the connection survives errors")
    h.shutdown()


def t_writes(d):
    img = f"{d}/p.img"
    h = connect(f"{d}/rw.sock")
    base = 40 * M
    h.pwrite(b"\xa1" * M, base)
    check(file_bytes(img, base, M) == b"\xa1" * M, "pwrite 1 MiB lands in the file")
    h.pwrite(b"\xa2" * 1000, base + 3, nbd.CMD_FLAG_FUA)
    check(file_bytes(img, base, 1004) == b"\xa1" * 3 + b"\xa2" * 1000 + b"\xa1",
          "unaligned FUA pwrite keeps its neighbours")
    h.flush()
    ok("flush")
    h.cache(M, base)
    ok("cache")
    # trim punches a hole (ext4), reads back zero
    h.trim(256 * K, base)
    check(h.pread(256 * K, base) == bytes(256 * K), "trimmed range reads as zeroes")
    check(merged(extents(h, base, 256 * K)) == [(base, 256 * K, 3)], "trimmed range is a hole")
    check(h.pread(4096, base + 256 * K) == b"\xa1" * 4096, "trim kept the next block")
    # zero (may trim), zero with NO_HOLE, zero with FUA
    h.zero(128 * K, base + 256 * K)
    check(h.pread(128 * K, base + 256 * K) == bytes(128 * K), "zeroed range reads as zeroes")
    h.zero(128 * K, base + 384 * K, nbd.CMD_FLAG_NO_HOLE)
    check(file_bytes(img, base + 384 * K, 128 * K) == bytes(128 * K), "NO_HOLE zero: zeroes in the file")
    h.zero(100, base + 512 * K + 1, nbd.CMD_FLAG_FUA)
    check(file_bytes(img, base + 512 * K, 102) == b"\xa1" + bytes(100) + b"\xa1",
          "unaligned FUA zero of 100 bytes keeps its neighbours")
    check(file_bytes(img, base + 640 * K, M - 640 * K) == b"\xa1" * (M - 640 * K),
          "the rest of the written MiB is untouched")
    # fast zero on ext4 (punch or zero range), on GlusterFS (a discard):
    # succeeds
    h.zero(64 * K, base + 640 * K, nbd.CMD_FLAG_FAST_ZERO)
    check(file_bytes(img, base + 640 * K, 64 * K) == bytes(64 * K), "fast zero succeeds")
    if GLUSTER:
        # ... unless the range must stay allocated: zerofill may write
        # every zero on the bricks
        h.pwrite(b"\xa2" * 64 * K, base + 640 * K)
        h.flush()
        t0 = time.monotonic()
        expect_err(errno.ENOTSUP, "GlusterFS: fast zero with NO_HOLE", h.zero, 64 * K,
                   base + 640 * K, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)
        check(time.monotonic() - t0 < 1.0, "GlusterFS: the fast zero failed fast")
        check(file_bytes(img, base + 640 * K, 64 * K) == b"\xa2" * 64 * K,
              "GlusterFS: a failed fast zero left the data")
        h.zero(64 * K, base + 640 * K, nbd.CMD_FLAG_NO_HOLE)
        check(file_bytes(img, base + 640 * K, 64 * K) == bytes(64 * K),
              "GlusterFS: a zero with NO_HOLE (zerofill) zeroes")
    # out of range (strict mode off so that libnbd sends them)
    h.set_strict_mode(0)
    expect_err(errno.EINVAL, "read past the end", h.pread, 8192, SIZE - 4096)
    expect_err(errno.EINVAL, "read starting past the end", h.pread, 512, SIZE + 4096)
    expect_err(errno.ENOSPC, "write past the end", h.pwrite, b"\xbb" * 8192, SIZE - 4096)
    check(file_bytes(img, SIZE - 4096, 4096) == b"\x33" * 4096, "a refused write changed nothing")
    check(os.path.getsize(img) == SIZE, "a refused write did not grow the file")
    expect_err(errno.ENOSPC, "write zeroes past the end", h.zero, 8192, SIZE - 4096)
    expect_err(errno.EINVAL, "trim past the end", h.trim, 8192, SIZE - 4096)
    expect_err(errno.EINVAL, "cache past the end", h.cache, 8192, SIZE - 4096)
    check(file_bytes(img, SIZE - 4096, 4096) == b"\x33" * 4096, "refused zero/trim changed nothing")
    expect_err(errno.EOVERFLOW, "structured read over 32 MiB", h.pread, MAX_REQ + 4096, 0)
    check(h.pread(MAX_REQ, 0) == file_bytes(img, 0, MAX_REQ), "a read of exactly 32 MiB works")
    check(h.pread(4096, SIZE - 4096) == b"\x33" * 4096, "the connection survives the errors")
    h.shutdown()


def t_in_flight(d):
    img = f"{d}/p.img"
    h = connect(f"{d}/rw.sock")
    base, n, ln = 48 * M, 128, 64 * K
    bufs = [nbd.Buffer.from_bytearray(bytearray([(i * 7 + 1) & 0xff]) * ln) for i in range(n)]
    cookies = [h.aio_pwrite(bufs[i], base + i * ln) for i in range(n)]
    check(h.aio_in_flight() >= 64, f"{h.aio_in_flight()} writes in flight (issued {n})")
    wait_all(h, cookies)
    ok(f"{n} aio_pwrite completed without error")
    for i in range(n):
        assert file_bytes(img, base + i * ln, ln) == bytes([(i * 7 + 1) & 0xff]) * ln, f"write {i} not in the file"
    ok(f"all {n} writes are in the file")
    rbufs = [nbd.Buffer(ln) for _ in range(n)]
    cookies = [h.aio_pread(rbufs[i], base + ((i * 37) % n) * ln) for i in range(n)]
    wait_all(h, cookies)
    for i in range(n):
        j = (i * 37) % n
        assert rbufs[i].to_bytearray() == bytes([(j * 7 + 1) & 0xff]) * ln, f"aio_pread {i} wrong"
    ok(f"{n} aio_pread in flight returned the right data")
    # more bytes in flight than the server takes at once (96 MiB of reads)
    rbufs = [nbd.Buffer(4 * M) for _ in range(24)]
    cookies = [h.aio_pread(rbufs[i], (i % 16) * 4 * M) for i in range(24)]
    wait_all(h, cookies)
    for i in (0, 1, 12, 23):
        o = (i % 16) * 4 * M
        assert rbufs[i].to_bytearray() == file_bytes(img, o, 4 * M), f"4 MiB read {i} wrong"
    ok("24 reads of 4 MiB in flight (96 MiB) completed, contents right")
    # mixed: writes and reads of other ranges and flushes interleaved
    cookies = []
    wb = [nbd.Buffer.from_bytearray(bytearray([0x80 + i]) * 4096) for i in range(100)]
    rb = [nbd.Buffer(4096) for _ in range(100)]
    for i in range(100):
        cookies.append(h.aio_pwrite(wb[i], 56 * M + i * 8192, flags=nbd.CMD_FLAG_FUA if i % 10 == 0 else 0))
        cookies.append(h.aio_pread(rb[i], i * 4096))
        if i % 25 == 24:
            cookies.append(h.aio_flush())
    wait_all(h, cookies)
    want = file_bytes(img, 0, 100 * 4096)
    assert all(rb[i].to_bytearray() == want[i * 4096:(i + 1) * 4096] for i in range(100)), "mixed reads wrong"
    assert all(file_bytes(img, 56 * M + i * 8192, 4096) == bytes([0x80 + i]) * 4096 for i in range(100))
    ok("300+ interleaved writes, reads and flushes in flight completed correctly")
    h.shutdown()


def t_read_only(d):
    img = f"{d}/ro.img"
    before = file_bytes(img, 0, SIZE)
    h = connect(f"{d}/ro.sock", strict=0)
    check(h.is_read_only(), "-r: is_read_only")
    check(not h.can_trim() and not h.can_zero(), "-r: no trim, no write zeroes")
    check(h.pread(64 * K, 0) == b"\x11" * 64 * K, "-r: reads work")
    check(merged(extents(h, 0, SIZE)) == EXTENTS, "-r: block status works")
    expect_err(errno.EPERM, "-r: pwrite", h.pwrite, b"\xff" * 4096, 0)
    expect_err(errno.EPERM, "-r: pwrite with FUA", h.pwrite, b"\xff" * 4096, 0, nbd.CMD_FLAG_FUA)
    expect_err(errno.EPERM, "-r: trim", h.trim, 4096, 0)
    expect_err(errno.EPERM, "-r: write zeroes", h.zero, 4096, 0)
    check(h.pread(4096, 0) == b"\x11" * 4096, "-r: the connection survives refused writes")
    h.shutdown()
    check(file_bytes(img, 0, SIZE) == before, "-r: the image is unchanged")
    # the refusals came from the server (libnbd in strict mode refuses by itself)
    check(log_has(f"{d}/ro.log", "the export is read-only"), "-r: the server logged the refused writes")


def t_fast_zero_tmpfs(d):
    img = f"{d}/shm/z.img"
    h = connect(f"{d}/shm.sock")
    check(h.can_fast_zero(), "tmpfs export advertises fast zero")
    h.pwrite(b"\x5a" * M, 0)
    h.flush()
    # tmpfs has no FALLOC_FL_ZERO_RANGE: fast zero that may not punch fails
    t0 = time.monotonic()
    expect_err(errno.ENOTSUP, "tmpfs: fast zero with NO_HOLE", h.zero, M, 0,
               nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)
    took = time.monotonic() - t0
    check(took < 1.0, f"tmpfs: the fast zero failed fast ({took:.3f} s)")
    check(h.pread(M, 0) == b"\x5a" * M, "tmpfs: a failed fast zero left the data")
    check(file_bytes(img, 0, M) == b"\x5a" * M, "tmpfs: the file still holds the data")
    # may trim: punching is fast on tmpfs
    h.zero(512 * K, 0, nbd.CMD_FLAG_FAST_ZERO)
    check(h.pread(512 * K, 0) == bytes(512 * K), "tmpfs: fast zero (may trim) zeroes")
    check(h.pread(512 * K, 512 * K) == b"\x5a" * (512 * K), "tmpfs: ... and only its range")
    check(merged(extents(h, 0, 512 * K)) == [(0, 512 * K, 3)], "tmpfs: fast zero punched a hole")
    # NO_HOLE without FAST: writes zeroes, allocated
    h.zero(256 * K, 512 * K, nbd.CMD_FLAG_NO_HOLE)
    check(file_bytes(img, 512 * K, 256 * K) == bytes(256 * K), "tmpfs: NO_HOLE zero writes zeroes")
    e = merged(extents(h, 512 * K, 256 * K))
    check(all(not fl & nbd.STATE_HOLE for _, _, fl in e), f"tmpfs: NO_HOLE zero left no hole ({e})")
    fd = os.open(img, os.O_RDONLY)
    try:
        check(os.lseek(fd, 512 * K, os.SEEK_DATA) == 512 * K, "tmpfs: SEEK_DATA agrees: allocated")
    finally:
        os.close(fd)
    check(file_bytes(img, 768 * K, 256 * K) == b"\x5a" * (256 * K), "tmpfs: the last 256 KiB untouched")
    h.shutdown()


def t_opt_mode(d, desc):
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_unix(f"{d}/rw.sock")
    check(h.aio_is_negotiating(), "opt mode: negotiating")
    seen = []
    n = h.opt_list(lambda name, description: seen.append((name, description)) or 0)
    check(n == 2 and seen == [("p.img", desc), ("second", desc)],
          f"opt_list: names and descriptions ({seen})")
    ctxs = []
    n = h.opt_list_meta_context(lambda name: ctxs.append(name) or 0)
    check("base:allocation" in ctxs, f"opt_list_meta_context lists base:allocation ({ctxs})")
    h.set_full_info(True)
    h.set_export_name("second")
    h.opt_info()
    check(h.get_size() == 4 * M, "opt_info second: size 4 MiB")
    check(h.get_export_description() == desc, "opt_info second: description")
    check(h.get_canonical_export_name() == "second", "opt_info second: canonical name")
    check(h.is_read_only() is False and h.can_trim(), "opt_info second: flags")
    h.set_export_name("nosuch")
    try:
        h.opt_info()
        raise AssertionError("opt_info of an unknown export succeeded")
    except nbd.Error as e:
        check(e.errnum == errno.ENOENT, f"opt_info of an unknown export: NBD_REP_ERR_UNKNOWN ({e.string})")
    try:
        h.opt_go()
        raise AssertionError("opt_go of an unknown export succeeded")
    except nbd.Error as e:
        check(e.errnum == errno.ENOENT, f"opt_go of an unknown export: NBD_REP_ERR_UNKNOWN ({e.string})")
    check(h.aio_is_negotiating(), "still negotiating after the refused opt_go")
    h.set_export_name("")
    h.opt_go()
    check(h.aio_is_ready(), "opt_go of the default export")
    check(h.get_size() == SIZE and h.get_canonical_export_name() == "p.img",
          "the default export is p.img")
    check(h.get_export_description() == desc, "the default export's description")
    check(h.pread(64 * K, 0) == b"\x11" * 64 * K, "reads after opt_go")
    h.shutdown()
    # a plain connection to an unknown export fails
    h = nbd.NBD()
    h.set_export_name("nosuch")
    try:
        h.connect_unix(f"{d}/rw.sock")
        raise AssertionError("connecting to an unknown export succeeded")
    except nbd.Error as e:
        ok(f"connect to an unknown export fails: {e.string}")
    # opt_abort ends cleanly
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_unix(f"{d}/rw.sock")
    h.opt_abort()
    check(h.aio_is_closed(), "opt_abort closes")
    if hasattr(h, "opt_extended_headers"):
        h = nbd.NBD()
        h.set_opt_mode(True)
        h.connect_unix(f"{d}/rw.sock")
        check(h.opt_extended_headers() is False, "opt_extended_headers: unsupported")
    else:
        print("skip: libnbd", nbd.NBD().get_version(), "has no opt_extended_headers; "
              "unknown options are checked by nbd-robust.py with raw sockets")


def main():
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
        return
    d, desc = sys.argv[2], sys.argv[3]
    tests = sys.argv[4:] or ["basics", "block_status", "structured_reads", "simple_replies",
                             "writes", "in_flight", "read_only", "fast_zero_tmpfs", "opt_mode"]
    failed = []
    for t in tests:
        print(f"--- {t}", flush=True)
        f = globals()["t_" + t]
        try:
            f(d, desc) if t == "opt_mode" else f(d)
        except (AssertionError, nbd.Error, OSError) as e:
            print(f"FAIL ({t}): {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            failed.append(t)
    if failed:
        print("FAIL: " + ", ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
