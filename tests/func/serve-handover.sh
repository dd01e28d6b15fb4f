#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar serve hands its sockets and connections to a new process while
# clients write and verify, 16 requests in flight each (nbd-writer.py):
# - re-exec in place (SIGUSR2), five times, over a unix socket and TCP;
#   meanwhile the binary is replaced (as a package upgrade does: the new
#   process runs the new file) and the configuration gains an export (the
#   new process serves it); same pid, no client error, every connection
#   carried;
# - a TLS connection cannot be carried: it is closed between requests,
#   the log says why, and the client can connect again;
# - SIGHUP reloads the configuration the same way: an export removed
#   closes its connections only, an export whose image changed closes its
#   connections (their clients reconnect), and a configuration that does
#   not parse or names an image that does not open is refused, the
#   server serving on as before;
# - systemd's fd store (--fdstore, SIGTERM as `systemctl restart` sends
#   it), five restarts, with tests/func/fake-systemd.py as systemd: new
#   pid each time, no client error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires psktool
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"
here=$(cd "$(dirname "$0")" && pwd)

"$MORTAR" img create "$SCRATCH/a.img" 64M >/dev/null
"$MORTAR" img create "$SCRATCH/b.img" 8M >/dev/null
psktool -u alice -p "$SCRATCH/keys.psk" >/dev/null
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The binary from a path of our own, to replace it under the server.
mkdir "$SCRATCH/bin"
cp "$MORTAR" "$SCRATCH/bin/mortar"
conf=$SCRATCH/serve.conf
cat >"$conf" <<EOF
# the export and how to reach it
socket = $SCRATCH/h.sock
port = $port
tls = on
tls-psk = $SCRATCH/keys.psk
verbose
export = a=$SCRATCH/a.img
EOF

"$SCRATCH/bin/mortar" serve -f --config "$conf" -P "$SCRATCH/h.pid" 2>"$SCRATCH/h.log" &
spid=$!
on_exit "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
for ((i = 0; i < 500; i++)); do [[ -s $SCRATCH/h.pid ]] && break; sleep 0.02; done
[[ -s $SCRATCH/h.pid ]] || fail "the server did not start: $(cat "$SCRATCH/h.log")"

# Two writers, one per listener, and a TLS client that only holds on.
"$PY" "$here/nbd-writer.py" "nbd+unix:///a?socket=$SCRATCH/h.sock" 60 \
	--stop-file "$SCRATCH/stop" >"$SCRATCH/w1.out" 2>&1 &
w1=$!
"$PY" "$here/nbd-writer.py" "nbd://127.0.0.1:$port/a" 60 --base 32 \
	--stop-file "$SCRATCH/stop" >"$SCRATCH/w2.out" 2>&1 &
w2=$!
mkfifo "$SCRATCH/tls.in"
cat >"$SCRATCH/tls.py" <<'PYEOF'
import nbd, sys
def connect():
    h = nbd.NBD()
    h.set_tls(nbd.TLS_REQUIRE)
    h.set_tls_psk_file(sys.argv[2])
    h.set_tls_username("alice")
    h.set_export_name("a")
    h.connect_unix(sys.argv[1])
    return h
h = connect()
h.pread(4096, 0)
print("tls: connected", flush=True)
sys.stdin.readline()            # the handover happens meanwhile
try:
    h.pread(4096, 0)
    print("tls: still connected after the handover", flush=True)
except nbd.Error as e:
    print("tls: closed by the handover:", e, flush=True)
h = connect()
h.pread(4096, 0)
print("tls: connected again", flush=True)
PYEOF
"$PY" "$SCRATCH/tls.py" "$SCRATCH/h.sock" "$SCRATCH/keys.psk" <"$SCRATCH/tls.in" \
	>"$SCRATCH/tls.out" 2>&1 &
tlspid=$!
exec 7>"$SCRATCH/tls.in"
for ((i = 0; i < 500; i++)); do grep -q connected "$SCRATCH/tls.out" && break; sleep 0.02; done
grep -q "tls: connected" "$SCRATCH/tls.out" || fail "TLS client: $(cat "$SCRATCH/tls.out")"

ino_before=$(stat -c %i "$SCRATCH/bin/mortar")
for k in 1 2 3 4 5; do
	sleep 1
	if ((k == 3)); then
		# An upgrade: a new file at the binary's path, and a new export.
		cp "$MORTAR" "$SCRATCH/bin/mortar.new"
		mv "$SCRATCH/bin/mortar.new" "$SCRATCH/bin/mortar"
		echo "export = b=$SCRATCH/b.img" >>"$conf"
	fi
	signal_and_wait USR2 "$spid" "$SCRATCH/h.log" "took over"
	grep -q "took over [23] connection" <<<"$LAST_LINE" ||
		fail "handover $k: $(tail -n 15 "$SCRATCH/h.log")"
	echo "ok: handover $k: $LAST_LINE"
done
kill -0 "$spid" || fail "the server is gone: $(tail -n 20 "$SCRATCH/h.log")"
expect_eq "pidfile after five re-execs" "$(cat "$SCRATCH/h.pid")" "$spid"
exe=$(readlink "/proc/$spid/exe")
[[ $exe == "$SCRATCH/bin/mortar" ]] || fail "the server runs '$exe', not the new binary"
expect_eq "inode the server runs" "$(stat -L -c %i "/proc/$spid/exe")" "$(stat -c %i "$SCRATCH/bin/mortar")"
[[ $ino_before != "$(stat -c %i "$SCRATCH/bin/mortar")" ]] || fail "the binary was not replaced"
nbdinfo --list "nbd+unix:///?socket=$SCRATCH/h.sock" | grep -q 'export="b"' ||
	fail "the export added to the configuration is not served"
echo "ok: the new binary runs and serves the new export"

echo >&7
exec 7>&-
wait "$tlspid" || true
grep -q "tls: closed by the handover" "$SCRATCH/tls.out" || fail "TLS client: $(cat "$SCRATCH/tls.out")"
grep -q "tls: connected again" "$SCRATCH/tls.out" || fail "TLS client: $(cat "$SCRATCH/tls.out")"
grep -q "a tls connection cannot be carried over" "$SCRATCH/h.log" ||
	fail "the log does not say why the TLS connection ended"
echo "ok: the TLS connection was closed between requests, and reconnects"

# --- SIGHUP: reloads --------------------------------------------------------------------
# hold_client EXPORT: a client of EXPORT that reads every 50 ms until its
# connection is closed (then "EXPORT: closed" in $SCRATCH/EXPORT.out).
hold_client() {
	local i
	"$PY" - "$SCRATCH/h.sock" "$1" >"$SCRATCH/$1.out" 2>&1 <<'PYEOF' &
import nbd, sys, time
name = sys.argv[2]
h = nbd.NBD(); h.set_export_name(name); h.connect_unix(sys.argv[1])
h.pread(4096, 0)
print(name + ": connected", flush=True)
for i in range(300):
    try:
        h.pread(4096, 0)
    except nbd.Error as e:
        print(name + ": closed:", e, flush=True)
        break
    time.sleep(0.05)
PYEOF
	HPID=$!
	for ((i = 0; i < 500; i++)); do grep -q connected "$SCRATCH/$1.out" && return 0; sleep 0.02; done
	fail "client of $1: $(cat "$SCRATCH/$1.out")"
}
reload() { # SIGHUP, then the log line it must bring
	signal_and_wait HUP "$spid" "$SCRATCH/h.log" "$1"
}
# A client of export b, which then goes from the configuration.
hold_client b
sed -i "/^export = b=/d" "$conf"
reload "export 'b' is gone from the configuration"
wait "$HPID"
grep -q "b: closed" "$SCRATCH/b.out" || fail "the client of the removed export: $(cat "$SCRATCH/b.out")"
! nbdinfo --list "nbd+unix:///?socket=$SCRATCH/h.sock" | grep -q 'export="b"' ||
	fail "export b is still served"
echo "ok: SIGHUP: export b removed, its client disconnected, the writers went on"
cp "$conf" "$SCRATCH/good.conf"
echo "bogus-key = 1" >>"$conf"
reload "reload refused, serving on as before"
echo "export = c=$SCRATCH/missing.img" >"$conf.tmp"
cat "$SCRATCH/good.conf" "$conf.tmp" >"$conf"
reload "reload refused, serving on as before: an export of the new configuration"
cp "$SCRATCH/good.conf" "$conf"
echo "ok: broken configurations refused, nothing dropped"

touch "$SCRATCH/stop"
wait "$w1" || fail "writer over the unix socket: $(cat "$SCRATCH/w1.out")"
wait "$w2" || fail "writer over TCP: $(cat "$SCRATCH/w2.out")"
echo "ok: unix $(cat "$SCRATCH/w1.out")"
echo "ok: tcp $(cat "$SCRATCH/w2.out")"
# An export whose image changes: its clients must reconnect.
"$MORTAR" img create "$SCRATCH/a2.img" 64M >/dev/null
hold_client a
sed -i "s|^export = a=.*|export = a=$SCRATCH/a2.img|" "$conf"
reload "export 'a' changed"
wait "$HPID"
grep -q "a: closed" "$SCRATCH/a.out" || fail "the client of the changed export: $(cat "$SCRATCH/a.out")"
echo "ok: SIGHUP: export a now names another image, its client was closed"
kill "$spid"
wait "$spid" || fail "the server exited $? on SIGTERM"
rm -f "$SCRATCH/stop"

# --- systemd's fd store ---------------------------------------------------------------
fake_systemd 5 1 "$SCRATCH/f.sock" "$SCRATCH/a.img"
"$PY" "$here/nbd-writer.py" "nbd+unix:///?socket=$SCRATCH/f.sock" 60 \
	--stop-file "$SCRATCH/stop" >"$SCRATCH/w3.out" 2>&1 &
w3=$!
fake_systemd_wait_restarts 5
touch "$SCRATCH/stop"
wait "$w3" || fail "writer through five restarts: $(cat "$SCRATCH/w3.out")"
fake_systemd_end
grep -q "^status: 1 export(s), 1 connection(s)" "$SCRATCH/sd.out" || fail "no STATUS line with the connection"
echo "ok: fd store $(cat "$SCRATCH/w3.out")"
echo PASS
