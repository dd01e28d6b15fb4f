#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mortar serve against misbehaving clients, with raw sockets (run by
nbd-robust.sh).

  nbd-robust.py DIR

DIR holds main.sock (mortar serve -t 1 of r.img, 16 MiB, whose first
MiB is 0x5a, and other=o.img) and max2.sock (the same image, --max-connections 2).
After every misbehaviour a well-behaved connection must still work.
Every check prints "ok: ..." or raises; a failed check ends its group of
checks, the other groups still run, and any failure exits 1.
"""
import os
import select
import socket
import struct
import sys
import time

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x0003E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCT_MAGIC = 0x668E33EF
FIXED, NO_ZEROES = 1, 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_GO, OPT_STRUCTURED = 1, 2, 3, 7, 8
OPT_INFO, OPT_SET_META, OPT_EXTENDED_HEADERS = 6, 10, 11
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
ERR = 1 << 31
REP_ERR_UNSUP, REP_ERR_INVALID, REP_ERR_UNKNOWN, REP_ERR_TOO_BIG = ERR + 1, ERR + 3, ERR + 6, ERR + 9
CMD_READ, CMD_WRITE, CMD_DISC, CMD_BLOCK_STATUS = 0, 1, 2, 7
FLAG_FUA = 1
TYPE_NONE, TYPE_DATA, TYPE_HOLE, TYPE_BLOCK_STATUS, TYPE_ERROR = 0, 1, 2, 5, (1 << 15) + 1
EINVAL, ENOSPC = 22, 28
M = 1 << 20
SIZE = 16 * M


def ok(msg):
    print("ok:", msg, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    ok(msg)


class Closed(Exception):
    pass


def recv_exact(s, n, timeout=5.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"waited {timeout} s for {n} bytes, got {len(buf)}")
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(buf))
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def wait_closed(s, timeout):
    """Seconds until the server closes S (reading and discarding), or None."""
    t0 = time.monotonic()
    while True:
        left = t0 + timeout - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            if not s.recv(65536):
                return time.monotonic() - t0
        except ConnectionResetError:
            return time.monotonic() - t0
        except (socket.timeout, TimeoutError):
            return None


def dial(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s


def greet(s, cflags=FIXED | NO_ZEROES):
    magic, opt, hflags = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, f"bad greeting {magic:x} {opt:x}"
    assert hflags & FIXED, "server does not offer fixed newstyle"
    if cflags is not None:
        s.sendall(struct.pack(">I", cflags))
    return hflags


def send_opt(s, opt, data=b"", magic=IHAVEOPT):
    s.sendall(struct.pack(">QII", magic, opt, len(data)) + data)


def read_rep(s):
    magic, opt, typ, ln = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == REPMAGIC, f"bad option reply magic {magic:x}"
    return opt, typ, recv_exact(s, ln) if ln else b""


def go(s, name=b""):
    """OPT_GO; returns (size, transmission flags)."""
    send_opt(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    size = tflags = None
    while True:
        opt, typ, data = read_rep(s)
        assert opt == OPT_GO, f"reply to option {opt}, want GO"
        if typ == REP_INFO and struct.unpack(">H", data[:2])[0] == 0:
            size, tflags = struct.unpack(">QH", data[2:12])
        elif typ == REP_ACK:
            assert size is not None, "GO acknowledged without NBD_INFO_EXPORT"
            return size, tflags
        elif typ & ERR:
            raise AssertionError(f"GO refused: {typ:x} {data!r}")


def session(path, structured=True):
    """A connection in transmission on the default export."""
    s = dial(path)
    greet(s)
    if structured:
        send_opt(s, OPT_STRUCTURED)
        opt, typ, _ = read_rep(s)
        assert (opt, typ) == (OPT_STRUCTURED, REP_ACK), f"structured replies: {typ:x}"
    size, _ = go(s)
    assert size == SIZE, f"export size {size}"
    return s


def request(s, typ, off, ln, cookie, flags=0, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, typ, cookie, off, ln) + payload)


def read_reply(s, structured):
    """One whole reply: (cookie, error, data) — for structured replies the
    chunks up to DONE, data reassembled, error from an error chunk, and
    the error message in .msg of the returned dict."""
    if not structured:
        magic, err, cookie = struct.unpack(">IIQ", recv_exact(s, 16))
        assert magic == SIMPLE_MAGIC, f"bad simple reply magic {magic:x}"
        return {"cookie": cookie, "error": err}
    out = {"error": 0, "chunks": [], "data": {}}
    while True:
        magic, flags, typ, cookie, ln = struct.unpack(">IHHQI", recv_exact(s, 20))
        assert magic == STRUCT_MAGIC, f"bad structured reply magic {magic:x}"
        payload = recv_exact(s, ln) if ln else b""
        out["cookie"] = cookie
        out["chunks"].append(typ)
        if typ == TYPE_DATA:
            out["data"][struct.unpack(">Q", payload[:8])[0]] = payload[8:]
        elif typ == TYPE_HOLE:
            o, n = struct.unpack(">QI", payload)
            out["data"][o] = bytes(n)
        elif typ & (1 << 15):
            err, mlen = struct.unpack(">IH", payload[:6])
            out["error"] = err
            out["msg"] = payload[6:6 + mlen].decode("utf-8", "replace")
            assert len(payload) >= 6 + mlen, "error chunk shorter than its message"
        if flags & 1:
            return out


def read_ok(s, off, ln, cookie, structured=True):
    """A read on S must succeed and return ln bytes (checked by the caller)."""
    request(s, CMD_READ, off, ln, cookie)
    r = read_reply(s, structured)
    assert r["cookie"] == cookie, f"reply for cookie {r['cookie']}, want {cookie}"
    assert r["error"] == 0, f"read failed with {r['error']}"
    if not structured:
        return recv_exact(s, ln)
    data = b""
    for o in sorted(r["data"]):
        assert o == off + len(data), "chunks leave a gap"
        data += r["data"][o]
    assert len(data) == ln, f"read returned {len(data)} bytes"
    return data


def healthy(path, what):
    """A fresh connection negotiates and reads the 0x5a first MiB."""
    s = session(path)
    data = read_ok(s, 0, 65536, 0xC0FFEE)
    assert data == b"\x5a" * 65536, "wrong data"
    request(s, CMD_DISC, 0, 0, 1)
    s.close()
    ok(f"the server still serves after: {what}")


# ----------------------------------------------------------------------------

def t_client_flags(d):
    main = f"{d}/main.sock"
    for flags, what in [(0, "non-fixed newstyle client (flags 0)"),
                        (NO_ZEROES, "client flags NO_ZEROES without FIXED_NEWSTYLE"),
                        (FIXED | 0x100, "unknown client flag 0x100")]:
        s = dial(main)
        greet(s, flags)
        # a non-fixed client would go straight to EXPORT_NAME
        try:
            send_opt(s, OPT_EXPORT_NAME, b"")
        except (BrokenPipeError, ConnectionResetError):
            pass
        t = wait_closed(s, 3)
        check(t is not None, f"{what}: dropped ({t and round(t, 3)} s)")
        s.close()
    healthy(main, "refused client flags")
    # an oldstyle client expects the server to talk first with the oldstyle
    # magic; it gets newstyle and says nothing: the timeout drops it (below).


def t_handshake_timeout(d):
    main = f"{d}/main.sock"
    s = dial(main)
    greet(s, None)		# read the greeting, send nothing
    t = wait_closed(s, 5)
    check(t is not None and 0.5 <= t <= 3.0, f"silent client dropped after {t and round(t, 2)} s (-t 1)")
    s.close()
    # a client that keeps talking but never finishes is dropped too: the
    # deadline covers the whole handshake
    s = dial(main)
    greet(s)
    t0 = time.monotonic()
    dropped = None
    while time.monotonic() - t0 < 5:
        try:
            send_opt(s, OPT_LIST)
            while True:
                opt, typ, _ = read_rep(s)
                if typ == REP_ACK:
                    break
        except (Closed, BrokenPipeError, ConnectionResetError, TimeoutError):
            dropped = time.monotonic() - t0
            break
        time.sleep(0.2)
    check(dropped is not None and dropped <= 3.0,
          f"a client haggling forever is dropped after {dropped and round(dropped, 2)} s")
    s.close()
    # a half-sent option header: dropped as well
    s = dial(main)
    greet(s)
    s.sendall(struct.pack(">Q", IHAVEOPT))
    t = wait_closed(s, 5)
    check(t is not None and t <= 3.0, f"half an option header: dropped after {t and round(t, 2)} s")
    s.close()
    # the timeout is for negotiation only: an idle connection in
    # transmission stays
    s = session(main)
    time.sleep(1.8)
    check(read_ok(s, 0, 4096, 7) == b"\x5a" * 4096, "a connection idle for 1.8 s in transmission still works")
    s.close()
    healthy(main, "handshake timeouts")


def t_bad_option_magic(d):
    main = f"{d}/main.sock"
    s = dial(main)
    greet(s)
    send_opt(s, OPT_LIST, magic=0x0123456789ABCDEF)
    t = wait_closed(s, 3)
    check(t is not None and t < 1.0, f"garbage option magic: dropped ({t and round(t, 3)} s)")
    s.close()
    # garbage right after the greeting (an HTTP request, say)
    s = dial(main)
    greet(s, None)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    t = wait_closed(s, 3)
    check(t is not None, "an HTTP request instead of a handshake: dropped")
    s.close()
    healthy(main, "garbage option magic")


def t_options(d):
    main = f"{d}/main.sock"
    s = dial(main)
    greet(s)
    # unknown options: NBD_REP_ERR_UNSUP, and haggling goes on
    for opt in (OPT_EXTENDED_HEADERS, 0x1234, 0x7FFFFFFF):
        send_opt(s, opt, b"some data" if opt == 0x1234 else b"")
        o, typ, data = read_rep(s)
        check(o == opt and typ == REP_ERR_UNSUP, f"unknown option {opt:#x}: NBD_REP_ERR_UNSUP ({data!r})")
    # option data too large: TOO_BIG (or a hang-up), and the server lives on
    big = 1 << 20
    send_opt(s, OPT_LIST, b"\0" * big)
    try:
        o, typ, data = read_rep(s)
        check(o == OPT_LIST and typ == REP_ERR_TOO_BIG, f"1 MiB of option data: NBD_REP_ERR_TOO_BIG ({data!r})")
        send_opt(s, OPT_LIST)
        names = []
        while True:
            o, typ, data = read_rep(s)
            if typ == REP_ACK:
                break
            assert typ == REP_SERVER, f"LIST reply {typ:x}"
            n = struct.unpack(">I", data[:4])[0]
            names.append(data[4:4 + n])
        check(names == [b"r.img", b"other"], f"LIST after TOO_BIG works on the same connection ({names})")
    except (Closed, ConnectionResetError):
        ok("1 MiB of option data: the server hung up (allowed)")
    s.close()
    healthy(main, "an oversized option")
    # LIST with data is invalid; ABORT is acknowledged and closes
    s = dial(main)
    greet(s)
    send_opt(s, OPT_LIST, b"x")
    o, typ, _ = read_rep(s)
    check(typ == REP_ERR_INVALID, "LIST with data: NBD_REP_ERR_INVALID")
    send_opt(s, OPT_GO, struct.pack(">I", 6) + b"nosuch" + struct.pack(">H", 0))
    o, typ, msg = read_rep(s)
    check(typ == REP_ERR_UNKNOWN and msg, f"GO nosuch: NBD_REP_ERR_UNKNOWN with a message ({msg!r})")
    send_opt(s, OPT_GO, struct.pack(">I", 10) + b"r.img")	# name length past the data
    o, typ, _ = read_rep(s)
    check(typ == REP_ERR_INVALID, "GO with a malformed name length: NBD_REP_ERR_INVALID")
    send_opt(s, OPT_ABORT)
    o, typ, _ = read_rep(s)
    check((o, typ) == (OPT_ABORT, REP_ACK), "ABORT acknowledged")
    check(wait_closed(s, 3) is not None, "ABORT: the server closes")
    s.close()
    # EXPORT_NAME of an unknown export: the only answer is hanging up
    s = dial(main)
    greet(s)
    send_opt(s, OPT_EXPORT_NAME, b"nosuch")
    check(wait_closed(s, 3) is not None, "EXPORT_NAME nosuch: dropped")
    s.close()
    # EXPORT_NAME of a known one, with NO_ZEROES: 10 bytes, then transmission
    s = dial(main)
    greet(s)
    send_opt(s, OPT_EXPORT_NAME, b"r.img")
    size, tflags = struct.unpack(">QH", recv_exact(s, 10))
    check(size == SIZE and tflags & 1, f"EXPORT_NAME r.img: size {size}, flags {tflags:#x}")
    check(read_ok(s, 0, 4096, 3, structured=False) == b"\x5a" * 4096, "EXPORT_NAME: simple replies work")
    s.close()
    # without NO_ZEROES: 124 more bytes of zeroes
    s = dial(main)
    greet(s, FIXED)
    send_opt(s, OPT_EXPORT_NAME, b"")
    reply = recv_exact(s, 134)
    check(reply[10:] == bytes(124), "EXPORT_NAME without NO_ZEROES: 124 zero bytes follow")
    check(read_ok(s, M - 4096, 8192, 4, structured=False) == b"\x5a" * 4096 + bytes(4096),
          "... and transmission works")
    s.close()


def t_transmission_errors(d):
    main = f"{d}/main.sock"
    s = session(main)
    # a structured error chunk carries errno and a message
    request(s, CMD_READ, SIZE - 4096, 8192, 11)
    r = read_reply(s, True)
    check(r["cookie"] == 11 and r["error"] == EINVAL and r["chunks"] == [TYPE_ERROR],
          f"read past the end: one NBD_REPLY_TYPE_ERROR chunk, EINVAL ({r})")
    check(len(r.get("msg", "")) > 0 and r["msg"].isprintable(), f"the error chunk has a message: {r.get('msg')!r}")
    # unknown command, unknown flag: EINVAL, the connection goes on
    request(s, 99, 0, 4096, 12)
    r = read_reply(s, True)
    check(r["cookie"] == 12 and r["error"] == EINVAL, f"unknown command 99: EINVAL ({r.get('msg')!r})")
    request(s, CMD_READ, 0, 4096, 13, flags=FLAG_FUA)
    r = read_reply(s, True)
    check(r["error"] == EINVAL, f"READ with FUA: EINVAL ({r.get('msg')!r})")
    # a write past the end: its payload is consumed, ENOSPC, stream in sync
    request(s, CMD_WRITE, SIZE - 100, 200, 14, payload=b"\xee" * 200)
    r = read_reply(s, True)
    check(r["cookie"] == 14 and r["error"] == ENOSPC, "write past the end: ENOSPC")
    check(read_ok(s, 0, 4096, 15) == b"\x5a" * 4096, "the stream is in sync after a refused write")
    # pipelined: several requests in one send, replies for all
    s.sendall(b"".join(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, 100 + i, i * 4096, 4096)
                       for i in range(50)))
    cookies = set()
    for _ in range(50):
        r = read_reply(s, True)
        assert r["error"] == 0 and list(r["data"].values()) == [b"\x5a" * 4096]
        cookies.add(r["cookie"])
    check(cookies == set(range(100, 150)), "50 pipelined reads in one send: 50 right replies")
    # DISC after a read: the read is answered, then the server closes
    request(s, CMD_READ, 4096, 4096, 16)
    request(s, CMD_DISC, 0, 0, 17)
    r = read_reply(s, True)
    check(r["cookie"] == 16 and r["error"] == 0, "the read before DISC is answered")
    check(wait_closed(s, 3) is not None, "DISC: the server closes")
    s.close()


def t_bad_request_magic(d):
    main = f"{d}/main.sock"
    other = session(main)
    s = session(main)
    check(read_ok(s, 0, 4096, 1) == b"\x5a" * 4096, "victim connection works")
    s.sendall(struct.pack(">IHHQQI", 0xDEADBEEF, 0, CMD_READ, 2, 0, 4096))
    t = wait_closed(s, 3)
    check(t is not None, f"bad request magic: that connection is dropped ({t and round(t, 3)} s)")
    s.close()
    check(read_ok(other, 0, 4096, 3) == b"\x5a" * 4096, "another connection opened before still works")
    other.close()
    healthy(main, "a bad request magic")


def t_huge_write(d):
    main = f"{d}/main.sock"
    other = session(main)
    s = session(main)
    request(s, CMD_WRITE, 0, 64 * M, 5)
    # send a little of the payload; the server must not wait for 64 MiB
    try:
        s.sendall(b"\xcc" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    t = wait_closed(s, 3)
    check(t is not None, f"a WRITE of 64 MiB (over the 32 MiB maximum): dropped ({t and round(t, 3)} s)")
    s.close()
    check(read_ok(other, 0, 65536, 6) == b"\x5a" * 65536, "another connection still works")
    other.close()
    healthy(main, "an oversized write")
    # nothing of it was written
    with open(f"{d}/r.img", "rb") as f:
        check(f.read(65536) == b"\x5a" * 65536, "the oversized write changed nothing")


def t_truncated(d):
    main = f"{d}/main.sock"
    s = session(main)
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, 1, 0, 4096)[:14])
    s.close()
    healthy(main, "half a request header, then close")
    s = session(main)
    request(s, CMD_WRITE, 2 * M, 65536, 2, payload=b"\x77" * 1000)
    s.close()
    healthy(main, "a write with a truncated payload, then close")
    with open(f"{d}/r.img", "rb") as f:
        f.seek(2 * M)
        check(f.read(1000) == bytes(1000), "the truncated write was not applied")
    # many requests in flight, then the client goes away without reading
    s = session(main)
    s.sendall(b"".join(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, i, 0, M) for i in range(64)))
    s.close()
    healthy(main, "64 reads of 1 MiB in flight, then close without reading")
    # a connection reset in the middle of the handshake
    s = dial(main)
    greet(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    send_opt(s, OPT_GO, b"\0\0")
    s.close()
    healthy(main, "a reset in the middle of an option")


def t_max_connections(d):
    path = f"{d}/max2.sock"
    a = session(path)		# in transmission
    b = dial(path)		# in the handshake
    greet(b)
    time.sleep(0.1)
    c = dial(path)
    t = wait_closed(c, 2)
    check(t is not None and t < 1.0, f"third connection with -e 2: closed at once ({t and round(t, 3)} s)")
    c.close()
    check(read_ok(a, 0, 4096, 1) == b"\x5a" * 4096, "the first connection still works")
    b.close()
    # the slot is freed once the handshake thread notices the close
    deadline = time.monotonic() + 3
    while True:
        c = dial(path)
        try:
            greet(c)
            break
        except (Closed, ConnectionResetError):
            c.close()
            if time.monotonic() > deadline:
                raise AssertionError("the slot of a closed connection was not freed within 3 s")
            time.sleep(0.1)
    send_opt(c, OPT_STRUCTURED)
    read_rep(c)
    go(c)
    check(read_ok(c, 0, 4096, 2) == b"\x5a" * 4096, "after one closes, a new connection is served")
    d3 = dial(path)
    check(wait_closed(d3, 2) is not None, "with two in transmission, a third is closed again")
    d3.close()
    a.close()
    c.close()


def set_meta(s, name, queries):
    """NBD_OPT_SET_META_CONTEXT; returns (contexts, final reply type)."""
    data = struct.pack(">I", len(name)) + name + struct.pack(">I", len(queries))
    for q in queries:
        data += struct.pack(">I", len(q)) + q
    send_opt(s, OPT_SET_META, data)
    ctxs = []
    while True:
        o, typ, d = read_rep(s)
        assert o == OPT_SET_META, f"reply to option {o}, want SET_META_CONTEXT"
        if typ == REP_META:
            ctxs.append(d[4:])
        else:
            return ctxs, typ


def info(s, name):
    send_opt(s, OPT_INFO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    while True:
        o, typ, d = read_rep(s)
        if typ == REP_ACK or typ & ERR:
            return typ


def block_status(s, cookie):
    request(s, CMD_BLOCK_STATUS, 0, M, cookie)
    return read_reply(s, True)


def t_meta_context(d):
    main = f"{d}/main.sock"
    # SET_META_CONTEXT needs structured replies first
    s = dial(main)
    greet(s)
    ctxs, typ = set_meta(s, b"", [b"base:allocation"])
    check(typ == REP_ERR_INVALID and not ctxs, "SET_META_CONTEXT before STRUCTURED_REPLY: NBD_REP_ERR_INVALID")
    s.close()
    # the plain case
    s = dial(main)
    greet(s)
    send_opt(s, OPT_STRUCTURED)
    read_rep(s)
    ctxs, typ = set_meta(s, b"", [b"base:allocation"])
    check(typ == REP_ACK and ctxs == [b"base:allocation"], "SET_META_CONTEXT base:allocation")
    go(s)
    r = block_status(s, 1)
    check(r["error"] == 0 and r["chunks"] == [TYPE_BLOCK_STATUS], "block status after SET_META_CONTEXT + GO")
    s.close()
    # a later SET_META_CONTEXT with no queries replaces the set: none left
    s = dial(main)
    greet(s)
    send_opt(s, OPT_STRUCTURED)
    read_rep(s)
    set_meta(s, b"", [b"base:allocation"])
    ctxs, typ = set_meta(s, b"", [])
    check(typ == REP_ACK and ctxs == [], "SET_META_CONTEXT with no queries selects nothing")
    go(s)
    r = block_status(s, 2)
    check(r["error"] == EINVAL, "block status after the contexts were replaced by none: EINVAL")
    check(read_ok(s, 0, 4096, 3) == b"\x5a" * 4096, "... and the connection goes on")
    s.close()
    # NBD_OPT_INFO about another export between SET_META_CONTEXT and GO
    # does not void the contexts: proto.md, NBD_OPT_SET_META_CONTEXT: the
    # client may send block status if "the final time it was sent, it
    # referred to the same export name that was ultimately selected for
    # transmission phase"
    s = dial(main)
    greet(s)
    send_opt(s, OPT_STRUCTURED)
    read_rep(s)
    ctxs, typ = set_meta(s, b"", [b"base:allocation"])
    assert typ == REP_ACK and ctxs == [b"base:allocation"]
    check(info(s, b"other") == REP_ACK, "NBD_OPT_INFO of export 'other'")
    go(s)
    r = block_status(s, 4)
    check(r["error"] == 0 and r["chunks"] == [TYPE_BLOCK_STATUS],
          f"SET_META_CONTEXT(''), INFO('other'), GO(''): block status works ({r.get('msg')!r})")
    s.close()


def main():
    d = sys.argv[1]
    tests = sys.argv[2:] or ["client_flags", "bad_option_magic", "options", "transmission_errors",
                             "bad_request_magic", "huge_write", "truncated", "max_connections",
                             "meta_context", "handshake_timeout"]
    failed = []
    for t in tests:
        print(f"--- {t}", flush=True)
        try:
            globals()["t_" + t](d)
        except (AssertionError, Closed, TimeoutError, OSError) as e:
            print(f"FAIL ({t}): {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            failed.append(t)
    if failed:
        print("FAIL: " + ", ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
