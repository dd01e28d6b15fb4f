#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar serve --tls: STARTTLS with X.509 certificates (certtool) and
# pre-shared keys (psktool), against real clients: nbdinfo and libnbd's
# Python binding (GnuTLS), qemu-img and qemu-io (GnuTLS, QEMU's own code),
# and Python's ssl module (OpenSSL) speaking the handshake byte by byte.
# --tls=require refuses clear text, --tls=on allows both; bad credentials
# fail the client, never the server; bad files fail the server at startup.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires certtool psktool nbdinfo qemu-img qemu-io
"$PY" -c 'import nbd, ssl' 2>/dev/null || skip "python3 with the nbd (python3-libnbd) and ssl modules"
"$PY" -c 'import nbd, sys; sys.exit(0 if nbd.NBD().supports_tls() else 1)' ||
	skip "libnbd without TLS support"

M=$((1 << 20))

# --- credentials ----------------------------------------------------------------
# A CA; the server's certificate and key (srv/); a client's (cli/, with the
# CA to trust); another CA with its own client and server (evil/): trusted
# by nobody here.
certs() {
	local dir=$1 cn=$2
	mkdir -p "$dir"
	certtool --generate-privkey --outfile "$dir/ca-key.pem" >/dev/null 2>&1
	printf 'cn = %s\nca\ncert_signing_key\nexpiration_days = 2\n' "$cn" >"$dir/ca.info"
	certtool --generate-self-signed --load-privkey "$dir/ca-key.pem" \
		--template "$dir/ca.info" --outfile "$dir/ca-cert.pem" >/dev/null 2>&1
	printf 'organization = Mortar test\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' \
		>"$dir/server.info"
	certtool --generate-privkey --outfile "$dir/server-key.pem" >/dev/null 2>&1
	certtool --generate-certificate --load-privkey "$dir/server-key.pem" \
		--load-ca-certificate "$dir/ca-cert.pem" --load-ca-privkey "$dir/ca-key.pem" \
		--template "$dir/server.info" --outfile "$dir/server-cert.pem" >/dev/null 2>&1
	printf 'cn = alice\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n' \
		>"$dir/client.info"
	certtool --generate-privkey --outfile "$dir/client-key.pem" >/dev/null 2>&1
	certtool --generate-certificate --load-privkey "$dir/client-key.pem" \
		--load-ca-certificate "$dir/ca-cert.pem" --load-ca-privkey "$dir/ca-key.pem" \
		--template "$dir/client.info" --outfile "$dir/client-cert.pem" >/dev/null 2>&1
	[[ -s $dir/server-cert.pem && -s $dir/client-cert.pem ]] || fail "certtool failed in $dir"
}
certs "$SCRATCH/pki" "Mortar test CA"
certs "$SCRATCH/evil" "Someone else's CA"
srv=$SCRATCH/srv cli=$SCRATCH/cli nocert=$SCRATCH/nocert badcli=$SCRATCH/badcli
untrusting=$SCRATCH/untrusting
mkdir -p "$srv" "$cli" "$nocert" "$badcli" "$untrusting"
cp "$SCRATCH"/pki/{ca-cert.pem,server-cert.pem,server-key.pem} "$srv/"
cp "$SCRATCH"/pki/{ca-cert.pem,client-cert.pem,client-key.pem} "$cli/"
cp "$SCRATCH"/pki/ca-cert.pem "$nocert/"
# a client certificate from the wrong CA (but trusting the right server)
cp "$SCRATCH"/pki/ca-cert.pem "$badcli/"
cp "$SCRATCH"/evil/{client-cert.pem,client-key.pem} "$badcli/"
# a client that trusts only the other CA: must refuse our server
cp "$SCRATCH"/evil/{ca-cert.pem,client-cert.pem,client-key.pem} "$untrusting/"
echo "ok: certificates made with certtool"

psk=$SCRATCH/psk
mkdir -p "$psk" "$SCRATCH/wrongpsk" "$SCRATCH/mallory"
psktool -u alice -p "$psk/keys.psk" >/dev/null
psktool -u alice -p "$SCRATCH/wrongpsk/keys.psk" >/dev/null
psktool -u mallory -p "$SCRATCH/mallory/keys.psk" >/dev/null
[[ $(cut -d: -f1 "$psk/keys.psk") == alice ]] || fail "psktool wrote: $(cat "$psk/keys.psk")"
echo "ok: PSK files made with psktool"

img=$SCRATCH/tls.img
"$MORTAR" img create "$img" 64M >/dev/null

# stop_server NAME PID: SIGTERM, exit 0 within 5 s, no sanitizer report.
stop_server() {
	local name=$1 pid=$2 rc=0 i
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && fail "server $name still running 5 s after SIGTERM"
	wait "$pid" || rc=$?
	((rc == 0)) || fail "server $name exited $rc: $(tail -5 "$SCRATCH/$name.log")"
	if grep -qE 'Sanitizer|runtime error:|LeakSanitizer' "$SCRATCH/$name.log"; then
		fail "sanitizer report from server $name: $(cat "$SCRATCH/$name.log")"
	fi
	echo "ok: server $name stopped cleanly"
}
log_has() {
	grep -qE -- "$2" "$SCRATCH/$1.log" || fail "log of $1 lacks /$2/: $(cat "$SCRATCH/$1.log")"
	echo "ok: log of $1 has /$2/"
}

# nbdpy SOCK TLS [ARGS...] <<'EOF' ... EOF: Python with libnbd, handle `h`
# connected to SOCK with TLS "x509:DIR", "psk:FILE:USER" or "plain",
# base:allocation requested.  The script is on stdin; ARGS in sys.argv[3:].
NBDPY_PRELUDE='
import nbd, sys
sock, tls = sys.argv[1], sys.argv[2]
h = nbd.NBD()
if tls.startswith("x509:"):
    h.set_tls(nbd.TLS_REQUIRE)
    h.set_tls_certificates(tls[5:])
    h.set_tls_verify_peer(True)  # off by default on unix sockets
elif tls.startswith("psk:"):
    f, user = tls[4:].rsplit(":", 1)
    h.set_tls(nbd.TLS_REQUIRE)
    h.set_tls_psk_file(f)
    h.set_tls_username(user)
else:
    h.set_tls(nbd.TLS_DISABLE)
h.add_meta_context("base:allocation")
h.connect_unix(sock)
'
nbdpy() {
	local sock=$1 tls=$2
	shift 2
	{ printf '%s\n' "$NBDPY_PRELUDE"; cat; } >"$SCRATCH/.nbdpy.py"
	"$PY" "$SCRATCH/.nbdpy.py" "$sock" "$tls" "$@"
}

# qemu_tls_opts DIR: --object and --image-opts for QEMU's NBD client over
# TLS with the X.509 files of DIR (ca-cert.pem, client-cert.pem, ...).
qemu_x509() {
	local dir=$1 sock=$2
	shift 2
	"$@" --object "tls-creds-x509,id=tls0,dir=$dir,endpoint=client" \
		--image-opts "driver=nbd,server.type=unix,server.path=$sock,tls-creds=tls0,tls-hostname=localhost"
}

# The raw protocol checks (Python's ssl module, i.e. OpenSSL, as the TLS client).
cat >"$SCRATCH/raw.py" <<'RAWPY'
"""Raw NBD protocol checks of mortar serve's TLS, for tests/func/nbd-tls.sh.

Usage: nbd-tls-raw.py CHECK SOCKET CLIENT_DIR
CLIENT_DIR holds ca-cert.pem, client-cert.pem, client-key.pem.  Speaks the
handshake byte by byte, so that it can do what well-behaved clients never
do: options before STARTTLS, STARTTLS with data or twice, EXPORT_NAME in
clear text, requests that the server must refuse.  Python's ssl module
(OpenSSL) is the TLS client: a second implementation next to libnbd's and
QEMU's GnuTLS.
"""
import socket
import ssl
import struct
import sys
import time

NBD_MAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x0003E889045565A9
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_GO, OPT_STRUCTURED_REPLY = 7, 8
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
ERR = 1 << 31
REP_ERR_UNSUP, REP_ERR_INVALID, REP_ERR_TLS_REQD = ERR | 1, ERR | 3, ERR | 5
REQ_MAGIC, SIMPLE_MAGIC, STRUCT_MAGIC = 0x25609513, 0x67446698, 0x668E33EF
CMD_READ, CMD_WRITE, CMD_DISC = 0, 1, 2
NBD_EPERM, NBD_EINVAL, NBD_ENOSPC = 1, 22, 28

check, path, cdir = sys.argv[1], sys.argv[2], sys.argv[3]


def ok(what):
    print(f"ok: raw {check}: {what}")


def die(what):
    print(f"FAIL: raw {check}: {what}", file=sys.stderr)
    sys.exit(1)


def recvall(s, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def connect():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(path)
    magic, opt, flags = struct.unpack(">QQH", recvall(s, 18))
    if magic != NBD_MAGIC or opt != IHAVEOPT:
        die("bad greeting")
    s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
    return s


def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def get_reply(s, want_opt):
    magic, opt, typ, n = struct.unpack(">QIII", recvall(s, 20))
    if magic != REP_MAGIC or opt != want_opt:
        die(f"bad reply header magic={magic:#x} opt={opt}")
    return typ, recvall(s, n)


def expect_reply(s, opt, want, what, data=b""):
    send_opt(s, opt, data)
    typ, payload = get_reply(s, opt)
    if typ != want:
        die(f"{what}: reply {typ:#x} ({payload!r}), want {want:#x}")
    ok(f"{what} -> {typ:#x}" + (f" ({payload.decode(errors='replace')})" if payload else ""))
    return payload


def closed(s):
    """True when the server hung up (EOF or reset) within the timeout."""
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
        return True


def starttls(s, with_cert=True):
    expect_reply(s, OPT_STARTTLS, REP_ACK, "STARTTLS")
    ctx = ssl.create_default_context(cafile=f"{cdir}/ca-cert.pem")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if with_cert:
        ctx.load_cert_chain(f"{cdir}/client-cert.pem", f"{cdir}/client-key.pem")
    ts = ctx.wrap_socket(s, server_hostname="localhost")
    ok(f"TLS up ({ts.version()})")
    return ts


def go(s, name=b""):
    send_opt(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    size = None
    while True:
        typ, payload = get_reply(s, OPT_GO)
        if typ == REP_INFO and struct.unpack(">H", payload[:2])[0] == 0:
            size = struct.unpack(">Q", payload[2:10])[0]
        elif typ == REP_ACK:
            return size
        elif typ != REP_INFO:
            die(f"GO: reply {typ:#x} {payload!r}")


def request(s, typ, offset, length, flags=0, cookie=0x1234, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, typ, cookie, offset, length) + payload)


def simple_reply(s, cookie=0x1234, datalen=0):
    magic, err, c = struct.unpack(">IIQ", recvall(s, 16))
    if magic != SIMPLE_MAGIC or c != cookie:
        die(f"bad simple reply magic={magic:#x} cookie={c:#x}")
    data = recvall(s, datalen) if err == 0 and datalen else b""
    return err, data


def chunk(s, cookie=0x1234):
    magic, flags, typ, c, n = struct.unpack(">IHHQI", recvall(s, 20))
    if magic != STRUCT_MAGIC or c != cookie:
        die(f"bad structured reply magic={magic:#x} cookie={c:#x}")
    return flags, typ, recvall(s, n)


if check == "require":
    # Before TLS: only STARTTLS and ABORT are answered for real.
    s = connect()
    expect_reply(s, OPT_LIST, REP_ERR_TLS_REQD, "LIST in clear text")
    expect_reply(s, OPT_STRUCTURED_REPLY, REP_ERR_TLS_REQD, "STRUCTURED_REPLY in clear text")
    expect_reply(s, OPT_GO, REP_ERR_TLS_REQD, "GO in clear text",
                 struct.pack(">IH", 0, 0))
    expect_reply(s, 4242, REP_ERR_TLS_REQD, "an unknown option in clear text")
    expect_reply(s, OPT_STARTTLS, REP_ERR_INVALID, "STARTTLS with data", b"xxxx")
    s = starttls(s)
    expect_reply(s, OPT_STARTTLS, REP_ERR_INVALID, "STARTTLS twice")
    send_opt(s, OPT_LIST)
    typ, payload = get_reply(s, OPT_LIST)
    if typ != REP_SERVER or b"tls.img" not in payload:
        die(f"LIST over TLS: {typ:#x} {payload!r}")
    typ, _ = get_reply(s, OPT_LIST)
    if typ != REP_ACK:
        die("LIST over TLS: no ACK")
    ok("LIST over TLS lists tls.img")
    size = go(s)
    ok(f"GO over TLS: size {size}")
    # Simple replies (no STRUCTURED_REPLY): data, then errors.
    request(s, CMD_READ, 0, 4096)
    err, data = simple_reply(s, datalen=4096)
    if err:
        die(f"read over TLS: error {err}")
    ok(f"read 4096 bytes over TLS, first byte {data[0]:#x}")
    request(s, CMD_READ, size - 512, 1024)
    err, _ = simple_reply(s)
    if err != NBD_EINVAL:
        die(f"read past the end: error {err}, want EINVAL")
    ok("read past the end -> EINVAL")
    request(s, CMD_WRITE, size - 512, 1024, payload=b"\x00" * 1024)
    err, _ = simple_reply(s)
    if err != NBD_ENOSPC:
        die(f"write past the end: error {err}, want ENOSPC")
    ok("write past the end -> ENOSPC (payload consumed)")
    request(s, CMD_WRITE, 0, 16, flags=0x10, payload=b"\x00" * 16)
    err, _ = simple_reply(s)
    if err != NBD_EINVAL:
        die(f"write with a bad flag: error {err}, want EINVAL")
    ok("write with a bad flag -> EINVAL")
    request(s, 99, 0, 0)
    err, _ = simple_reply(s)
    if err != NBD_EINVAL:
        die(f"unknown command: error {err}, want EINVAL")
    ok("unknown command -> EINVAL")
    request(s, CMD_READ, 0, 4096, flags=4)  # DF without structured replies
    err, _ = simple_reply(s)
    if err != NBD_EINVAL:
        die(f"DF without structured replies: error {err}")
    ok("DF without structured replies -> EINVAL")
    # A write larger than the maximum block size: the server hangs up.
    request(s, CMD_WRITE, 0, 64 << 20)
    if not closed(s):
        die("a 64 MiB write did not drop the connection")
    ok("a write over the maximum block size drops the connection")

    # Bad request magic over TLS: dropped.
    s = connect()
    s = starttls(s)
    go(s)
    s.sendall(b"\xde\xad\xbe\xef" + b"\x00" * 24)
    if not closed(s):
        die("bad request magic did not drop the connection")
    ok("bad request magic drops the connection")

    # EXPORT_NAME in clear text: the protocol lets the server only hang up.
    s = connect()
    send_opt(s, OPT_EXPORT_NAME, b"")
    if not closed(s):
        die("EXPORT_NAME without TLS was not refused")
    ok("EXPORT_NAME without TLS: disconnected")

    # EXPORT_NAME over TLS works: 10 bytes (size, flags) with NO_ZEROES.
    s = connect()
    s = starttls(s)
    send_opt(s, OPT_EXPORT_NAME, b"")
    size2, flags = struct.unpack(">QH", recvall(s, 10))
    if size2 != size:
        die(f"EXPORT_NAME over TLS: size {size2}, want {size}")
    request(s, CMD_DISC, 0, 0)
    ok("EXPORT_NAME over TLS, then a clean disconnect")

    # Not TLS after the ACK: the handshake fails, the server goes on.
    s = connect()
    expect_reply(s, OPT_STARTTLS, REP_ACK, "STARTTLS (then garbage)")
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4)
    if not closed(s):
        die("garbage instead of a TLS ClientHello was not refused")
    ok("garbage instead of TLS: disconnected")

    # ABORT works before TLS.
    s = connect()
    expect_reply(s, OPT_ABORT, REP_ACK, "ABORT in clear text")

elif check == "on-structured":
    # --tls=on: clear text allowed; what was negotiated before STARTTLS is
    # forgotten after it (CVE-2021-3716), so without a new
    # STRUCTURED_REPLY, replies are simple.
    s = connect()
    expect_reply(s, OPT_STRUCTURED_REPLY, REP_ACK, "STRUCTURED_REPLY in clear text")
    s = starttls(s)
    go(s)
    request(s, CMD_READ, 0, 512)
    err, _ = simple_reply(s, datalen=512)
    if err:
        die(f"read: error {err}")
    ok("after STARTTLS, replies are simple again")
    # Read-only export: writes refused with EPERM, over TLS too.
    request(s, CMD_WRITE, 0, 512, payload=b"\x01" * 512)
    err, _ = simple_reply(s)
    if err != NBD_EPERM:
        die(f"write to a read-only export: error {err}, want EPERM")
    ok("write to a read-only export over TLS -> EPERM")
    request(s, CMD_DISC, 0, 0)

    # Structured replies negotiated over TLS: errors carry a message.
    s = connect()
    s = starttls(s)
    expect_reply(s, OPT_STRUCTURED_REPLY, REP_ACK, "STRUCTURED_REPLY over TLS")
    size = go(s)
    request(s, CMD_READ, size, 512)
    flags, typ, payload = chunk(s)
    if typ != 0x8001 or not flags & 1:
        die(f"read past the end: chunk type {typ:#x} flags {flags}")
    err, mlen = struct.unpack(">IH", payload[:6])
    msg = payload[6:6 + mlen].decode()
    if err != NBD_EINVAL or "beyond the end" not in msg:
        die(f"read past the end: error {err} message {msg!r}")
    ok(f"structured error chunk: {msg}")
    request(s, CMD_READ, 0, 0)
    flags, typ, payload = chunk(s)
    if typ != 0 or not flags & 1 or payload:
        die("zero-length read: want one NONE chunk with DONE")
    ok("zero-length structured read -> NONE chunk")
    request(s, CMD_READ, 4096, 8192)
    flags, typ, payload = chunk(s)
    if typ != 1 or not flags & 1 or struct.unpack(">Q", payload[:8])[0] != 4096 \
            or len(payload) != 8 + 8192:
        die(f"structured read: chunk type {typ} flags {flags} len {len(payload)}")
    ok("structured read -> one OFFSET_DATA chunk with DONE")
    request(s, CMD_DISC, 0, 0)

elif check == "off":
    s = connect()
    expect_reply(s, OPT_STARTTLS, REP_ERR_UNSUP, "STARTTLS with --tls=off")
    go(s)
    ok("plain GO after a refused STARTTLS")

elif check == "no-client-cert":
    # --tls-verify-peer: a client without a certificate is refused.
    s = connect()
    try:
        s = starttls(s, with_cert=False)
        go(s)
    except (ssl.SSLError, EOFError, ConnectionResetError, BrokenPipeError) as e:
        ok(f"refused without a client certificate: {e}")
    else:
        die("a client without a certificate got through --tls-verify-peer")

elif check == "untrusted-server":
    # The client trusts another CA: it must refuse the server's certificate.
    s = connect()
    try:
        s = starttls(s)
    except ssl.SSLCertVerificationError as e:
        ok(f"server certificate refused by a client of another CA: {e.verify_message}")
    else:
        die("a client of another CA accepted the server's certificate")

elif check == "idle-after-starttls":
    # STARTTLS, then silence: the handshake deadline ends it.
    s = connect()
    expect_reply(s, OPT_STARTTLS, REP_ACK, "STARTTLS (then silence)")
    t0 = time.monotonic()
    if not closed(s):
        die("an idle TLS handshake was not dropped")
    ok(f"idle TLS handshake dropped after {time.monotonic() - t0:.1f} s")

else:
    die(f"unknown check {check}")
RAWPY

# --- startup: credentials are checked before listening ----------------------------
expect_rc 2 "needs credentials" "$MORTAR" serve -f -s "$SCRATCH/x.sock" --tls=require "$img"
expect_rc 2 "needs credentials" "$MORTAR" serve -f -s "$SCRATCH/x.sock" --tls=on "$img"
expect_rc 2 "off, on or require" "$MORTAR" serve -f -s "$SCRATCH/x.sock" --tls=maybe "$img"
expect_rc 2 "TLS is off" "$MORTAR" serve -f -s "$SCRATCH/x.sock" --tls-certificates "$srv" "$img"
expect_rc 2 "tls-certificates" "$MORTAR" serve -f -s "$SCRATCH/x.sock" --tls=on \
	--tls-psk "$psk/keys.psk" --tls-verify-peer "$img"
expect_error_line "$SCRATCH/nowhere/server-cert.pem" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=require --tls-certificates "$SCRATCH/nowhere" "$img"
mkdir -p "$SCRATCH/nokey"
cp "$srv/server-cert.pem" "$SCRATCH/nokey/"
expect_error_line "$SCRATCH/nokey/server-key.pem" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-certificates "$SCRATCH/nokey" "$img"
mkdir -p "$SCRATCH/noca"
cp "$srv"/server-{cert,key}.pem "$SCRATCH/noca/"
expect_error_line "$SCRATCH/noca/ca-cert.pem" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-certificates "$SCRATCH/noca" --tls-verify-peer "$img"
mkdir -p "$SCRATCH/mixed"
cp "$srv/server-cert.pem" "$SCRATCH/mixed/"
cp "$SCRATCH/evil/server-key.pem" "$SCRATCH/mixed/"
expect_error_line "server-cert.pem.*server-key.pem" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-certificates "$SCRATCH/mixed" "$img"
mkdir -p "$SCRATCH/junk"
echo "not a certificate" >"$SCRATCH/junk/server-cert.pem"
cp "$srv/server-key.pem" "$SCRATCH/junk/"
expect_error_line "$SCRATCH/junk/server-cert.pem" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-certificates "$SCRATCH/junk" "$img"
expect_error_line "$SCRATCH/missing.psk" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-psk "$SCRATCH/missing.psk" "$img"
printf 'alice\n' >"$SCRATCH/bad1.psk"
expect_error_line "bad1.psk, line 1" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-psk "$SCRATCH/bad1.psk" "$img"
printf 'bob:00ff\nalice:12zz\n' >"$SCRATCH/bad2.psk"
expect_error_line "bad2.psk, line 2.*hex" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-psk "$SCRATCH/bad2.psk" "$img"
: >"$SCRATCH/empty.psk"
expect_error_line "empty.psk: no keys" "$MORTAR" serve -f -s "$SCRATCH/x.sock" \
	--tls=on --tls-psk "$SCRATCH/empty.psk" "$img"
[[ ! -e $SCRATCH/x.sock ]] || fail "a server with bad credentials made its socket"
# the daemon form reports the failure through its exit status as well
expect_error_line "server-cert.pem" "$MORTAR" serve -s "$SCRATCH/x.sock" \
	--tls=require --tls-certificates "$SCRATCH/nowhere" "$img"

# --- --tls=require: certificates and keys -----------------------------------------
start_server_unix req --tls=require --tls-certificates "$srv" --tls-psk "$psk/keys.psk" -t 3 "$img"
req_sock=$SOCK req_pid=$SPID

# nbdinfo with a libnbd URI
expect_rc 0 "" nbdinfo "nbds+unix:///?socket=$req_sock&tls-certificates=$cli"
grep -q "with TLS" <<<"$OUT" || fail "nbdinfo does not report TLS: $OUT"
grep -q "export-size: $((64 * M))" <<<"$OUT" || fail "nbdinfo size: $OUT"
expect_rc 0 "" nbdinfo --json "nbds+unix://alice@/?socket=$req_sock&tls-psk-file=$psk/keys.psk"
expect_eq "export size over TLS-PSK (nbdinfo)" "$(json_get "$OUT" exports.0.export-size)" $((64 * M))

# libnbd writes and reads back over X.509; every command
nbdpy "$req_sock" "x509:$cli" <<'PY' || fail "nbdsh over TLS (X.509)"
assert h.get_tls_negotiated(), "TLS not negotiated"
assert h.get_structured_replies_negotiated()
M = 1 << 20
h.pwrite(b"\xab" * M, 0)
h.pwrite(b"\x5c" * 65536, M + 4096, nbd.CMD_FLAG_FUA)
assert h.pread(M, 0) == b"\xab" * M
assert h.pread(65536, M + 4096) == b"\x5c" * 65536
assert h.pread(4096, M) == bytes(4096)
h.flush()
h.cache(M, 0)
# block status: data where written, a hole after
ext = []
h.block_status(8 * M, 0, lambda ctx, off, entries, err: ext.extend(entries) or 0)
assert ext[0] >= M and ext[1] & 3 == 0, ext
h.zero(65536, 0)
assert h.pread(65536, 0) == bytes(65536)
h.trim(M, 2 * M)
h.zero(4096, 4 * M, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
# errors come from the server (libnbd's own checks off)
h.set_strict_mode(0)
try:
    h.pread(4096, 64 * M - 1024)
    raise SystemExit("a read past the end succeeded")
except nbd.Error as e:
    assert e.errno == "EINVAL", e
try:
    h.pwrite(b"x" * 4096, 64 * M)
    raise SystemExit("a write past the end succeeded")
except nbd.Error as e:
    assert e.errno == "ENOSPC", e
h.set_strict_mode(nbd.STRICT_COMMANDS | nbd.STRICT_BOUNDS)
# many requests in flight over one TLS connection
bufs = []
for i in range(32):
    b = nbd.Buffer(65536)
    h.aio_pread(b, 8 * M + i * 65536)
    bufs.append(b)
while h.aio_in_flight() > 0:
    h.poll(-1)
for b in bufs:
    assert b.to_bytearray() == bytes(65536)
# TLS shares the clear-text path: 64 writes of distinct patterns in flight
# at once, then 64 reads of them in flight, replies in any order
import random
slots = list(range(64))
random.shuffle(slots)
for i in slots:
    h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray([i]) * 65536), 16 * M + i * 65536)
while h.aio_in_flight() > 0:
    h.poll(-1)
bufs = {}
for i in slots:
    bufs[i] = nbd.Buffer(65536)
    h.aio_pread(bufs[i], 16 * M + i * 65536)
while h.aio_in_flight() > 0:
    h.poll(-1)
for i, b in bufs.items():
    assert b.to_bytearray() == bytearray([i]) * 65536, f"slot {i}"
# ...and sparse reads: a read over a hole arrives as hole chunks
kinds = []
h.pread_structured(M, 40 * M, lambda buf, off, status, err: kinds.append(status) or 0)
assert nbd.READ_HOLE in kinds and nbd.READ_DATA not in kinds, kinds
h.shutdown()
print("ok: libnbd over TLS (X.509): write, read, flush, cache, block status, zero, trim, "
      "errors, 64 writes and 64 reads in flight, hole chunks")
PY
# nbdcopy over TLS, 64 requests in flight on each of 2 connections: the
# copy equals the image
nbdcopy --requests=64 --connections=2 \
	"nbds+unix:///?socket=$req_sock&tls-certificates=$cli" "$SCRATCH/tlscopy.img" ||
	fail "nbdcopy over TLS"
cmp "$img" "$SCRATCH/tlscopy.img" || fail "the copy made over TLS differs from the image"
echo "ok: nbdcopy over TLS (64 requests in flight per connection) copies the image exactly"
# and PSK, reading what the X.509 session wrote
nbdpy "$req_sock" "psk:$psk/keys.psk:alice" <<'PY' || fail "nbdsh over TLS (PSK)"
assert h.get_tls_negotiated()
M = 1 << 20
assert h.pread(M - 65536, 65536) == b"\xab" * (M - 65536)
assert h.pread(65536, M + 4096) == b"\x5c" * 65536
h.pwrite(b"\x77" * 12345, 3 * M + 17)
h.shutdown()
print("ok: libnbd over TLS (PSK)")
PY

# QEMU's client: qemu-io writes over TLS, libnbd reads back over TLS
expect_rc 0 "" qemu_x509 "$cli" "$req_sock" qemu-img info --output=json
expect_eq "qemu-img info over TLS: virtual-size" "$(json_get "$OUT" virtual-size)" $((64 * M))
expect_rc 0 "" qemu_x509 "$cli" "$req_sock" qemu-io -c "write -P 0x3c $((5 * M)) 1M" \
	-c "write -P 0x3d $((6 * M + 512)) 3000" -c "read -P 0x77 $((3 * M + 17)) 12345"
grep -qi "verification failed" <<<"$OUT" && fail "qemu-io over TLS: $OUT"
nbdpy "$req_sock" "x509:$cli" <<'PY' || fail "reading qemu-io's writes over TLS"
M = 1 << 20
assert h.pread(M, 5 * M) == b"\x3c" * M
assert h.pread(3000, 6 * M + 512) == b"\x3d" * 3000
assert h.pread(512, 6 * M) == bytes(512)
print("ok: libnbd reads over TLS what qemu-io wrote over TLS")
PY
# QEMU with PSK: it wants DIR/keys.psk
expect_rc 0 "" qemu-io --object "tls-creds-psk,id=tls0,dir=$psk,username=alice,endpoint=client" \
	--image-opts "driver=nbd,server.type=unix,server.path=$req_sock,tls-creds=tls0" \
	-c "read -P 0x3c $((5 * M)) 1M"
grep -qi "verification failed" <<<"$OUT" && fail "qemu-io over TLS-PSK: $OUT"
echo "ok: qemu-io over TLS-PSK reads the data"
# the data is really in the file
qemu_read_pattern "$img" 0x3c $((5 * M)) 1M

# clear text is refused, with TLS named
expect_rc 1 "" nbdinfo "nbd+unix:///?socket=$req_sock"
LIBNBD_DEBUG=1 nbdinfo "nbd+unix:///?socket=$req_sock" >"$SCRATCH/.plain.log" 2>&1 &&
	fail "nbdinfo in clear text got through --tls=require"
grep -q "server error message: this server requires TLS" "$SCRATCH/.plain.log" ||
	fail "libnbd did not get the TLS message: $(grep -i error "$SCRATCH/.plain.log")"
echo "ok: nbdinfo in clear text refused; the server said TLS is required"
expect_rc 1 "TLS" qemu-img info "nbd+unix:///?socket=$req_sock"
nbdpy "$req_sock" plain <<'PY' 2>"$SCRATCH/.err" && fail "libnbd in clear text got through"
print("connected?!")
PY
grep -q "requires TLS" "$SCRATCH/.err" || fail "libnbd in clear text: $(cat "$SCRATCH/.err")"
echo "ok: libnbd in clear text refused: $(tail -1 "$SCRATCH/.err")"

# bad credentials fail the client, not the server
nbdpy "$req_sock" "psk:$SCRATCH/wrongpsk/keys.psk:alice" <<'PY' 2>"$SCRATCH/.err" && fail "a wrong PSK got through"
print("connected?!")
PY
echo "ok: wrong PSK refused: $(tail -1 "$SCRATCH/.err")"
nbdpy "$req_sock" "psk:$SCRATCH/mallory/keys.psk:mallory" <<'PY' 2>"$SCRATCH/.err" && fail "an unknown PSK user got through"
print("connected?!")
PY
echo "ok: unknown PSK user refused: $(tail -1 "$SCRATCH/.err")"
# (libnbd checks the server's certificate only over TCP, with a hostname:
# QEMU and OpenSSL do here)
expect_rc 1 "certificate" qemu_x509 "$untrusting" "$req_sock" qemu-img info
"$PY" "$SCRATCH/raw.py" untrusted-server "$req_sock" "$untrusting" || fail "raw checks (untrusted)"
expect_rc 0 "" nbdinfo "nbds+unix:///?socket=$req_sock&tls-certificates=$cli"
echo "ok: the server still serves after failed TLS handshakes"

# the protocol edge cases, byte by byte
"$PY" "$SCRATCH/raw.py" require "$req_sock" "$cli" || fail "raw checks (require)"
"$PY" "$SCRATCH/raw.py" idle-after-starttls "$req_sock" "$cli" || fail "raw checks (idle)"
expect_rc 0 "" nbdinfo "nbds+unix:///?socket=$req_sock&tls-certificates=$cli"
log_has req "TLS established \(TLS1\.[23]"
log_has req "PSK user 'alice'"
log_has req "unknown PSK user 'mallory'"
log_has req "TLS handshake (timed out|failed)"
log_has req "EXPORT_NAME without TLS refused"
log_has req "bad request magic"

# shutdown with a TLS client connected and idle: it ends after SIGTERM
nbdpy "$req_sock" "x509:$cli" "$SCRATCH/.idle-ready" <<'PY' >"$SCRATCH/.idle.out" 2>&1 &
import time
assert h.pread(4096, 5 * (1 << 20)) == b"\x3c" * 4096
open(sys.argv[3], "w").close()
t0 = time.monotonic()
try:
    while time.monotonic() - t0 < 30:
        h.pread(4096, 0)
        time.sleep(0.05)
    print("still connected after 30 s")
except nbd.Error as e:
    print("disconnected by the server:", e)
PY
idle=$!
for ((i = 0; i < 100; i++)); do [[ -e $SCRATCH/.idle-ready ]] && break; sleep 0.05; done
[[ -e $SCRATCH/.idle-ready ]] || fail "the idle TLS client did not connect: $(cat "$SCRATCH/.idle.out")"
stop_server req "$req_pid"
wait "$idle" || true
grep -q "disconnected by the server" "$SCRATCH/.idle.out" ||
	fail "TLS client at shutdown: $(cat "$SCRATCH/.idle.out")"
echo "ok: a TLS client was disconnected at shutdown, the server exited 0"
qemu_read_pattern "$img" 0x77 $((3 * M + 17)) 12345

# --- --tls=on: both, read-only ------------------------------------------------------
start_server_unix on --tls=on --tls-certificates "$srv" --read-only "$img"
on_sock=$SOCK on_pid=$SPID
expect_rc 0 "" nbdinfo "nbd+unix:///?socket=$on_sock"
grep -q "without TLS" <<<"$OUT" || fail "nbdinfo in clear text: $OUT"
expect_rc 0 "" nbdinfo "nbds+unix:///?socket=$on_sock&tls-certificates=$cli"
grep -q "with TLS" <<<"$OUT" || fail "nbdinfo over TLS: $OUT"
grep -q "is_read_only: true" <<<"$OUT" || fail "read-only over TLS: $OUT"
expect_rc 0 "" qemu-io -r -f raw -c "read -P 0x3c $((5 * M)) 1M" "nbd+unix:///?socket=$on_sock"
expect_rc 0 "" qemu_x509 "$cli" "$on_sock" qemu-io -r -c "read -P 0x3c $((5 * M)) 1M"
grep -qi "verification failed" <<<"$OUT" && fail "qemu-io over TLS (on): $OUT"
"$PY" "$SCRATCH/raw.py" on-structured "$on_sock" "$cli" || fail "raw checks (on)"
# PSK was not configured here
nbdpy "$on_sock" "psk:$psk/keys.psk:alice" <<'PY' 2>/dev/null && fail "PSK accepted without --tls-psk"
print("connected?!")
PY
echo "ok: PSK refused by a certificate-only server"
stop_server on "$on_pid"

# --- --tls-verify-peer ----------------------------------------------------------------
# also over TCP, where libnbd checks the server's certificate and name
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server_unix verify --tls=require --tls-certificates "$srv" --tls-verify-peer \
	-p "$port" -b 127.0.0.1 "$img"
ver_sock=$SOCK ver_pid=$SPID
expect_rc 0 "" nbdinfo --size "nbds://localhost:$port/?tls-certificates=$cli"
expect_eq "size over TCP and TLS" "$OUT" $((64 * M))
expect_rc 1 "certificate" nbdinfo --size "nbds://localhost:$port/?tls-certificates=$untrusting"
expect_rc 0 "" qemu-io -r --object "tls-creds-x509,id=tls0,dir=$cli,endpoint=client" \
	--image-opts "driver=nbd,server.type=inet,server.host=localhost,server.port=$port,tls-creds=tls0" \
	-c "read -P 0x3c $((5 * M)) 1M"
grep -qi "verification failed" <<<"$OUT" && fail "qemu-io over TCP and TLS: $OUT"
expect_rc 0 "" nbdinfo "nbds+unix:///?socket=$ver_sock&tls-certificates=$cli"
grep -q "with TLS" <<<"$OUT" || fail "nbdinfo with a client certificate: $OUT"
expect_rc 0 "" qemu_x509 "$cli" "$ver_sock" qemu-io -r -c "read -P 0x3c $((5 * M)) 1M"
expect_rc 1 "" nbdinfo "nbds+unix:///?socket=$ver_sock&tls-certificates=$nocert"
echo "ok: no client certificate: refused"
expect_rc 1 "" nbdinfo "nbds+unix:///?socket=$ver_sock&tls-certificates=$badcli"
echo "ok: a client certificate from another CA: refused"
"$PY" "$SCRATCH/raw.py" no-client-cert "$ver_sock" "$cli" || fail "raw checks (verify)"
expect_rc 0 "" nbdinfo "nbds+unix:///?socket=$ver_sock&tls-certificates=$cli"
log_has verify "client certificate 'CN=alice'"
log_has verify "TLS handshake failed"
stop_server verify "$ver_pid"

# --- --tls=off: STARTTLS is not offered ---------------------------------------------
start_server_unix off "$img"
"$PY" "$SCRATCH/raw.py" off "$SOCK" "$cli" || fail "raw checks (off)"
expect_rc 1 "" nbdinfo "nbds+unix:///?socket=$SOCK&tls-certificates=$cli"
stop_server off "$SPID"

# --- --run: $uri asks for TLS with --tls=require ---------------------------------------
expect_rc 0 "" "$MORTAR" serve --tls=require --tls-certificates "$srv" \
	--run "nbdinfo --size \"\${uri}&tls-certificates=$cli\"" "$img"
expect_eq "nbdinfo --size through --run over TLS" "$OUT" $((64 * M))
finish
