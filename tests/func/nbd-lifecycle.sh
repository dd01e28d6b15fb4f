#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The life of a mortar serve process: the unix socket is 0600 and removed
# at exit; TCP binds 127.0.0.1 unless told otherwise; the pidfile is
# written and removed; daemon mode returns 0 once listening and keeps
# serving; SIGHUP keeps it serving; SIGTERM and SIGINT exit 0, and SIGTERM with
# writes in flight (nbdcopy, and a libnbd client counting its
# acknowledgements) loses nothing that was acknowledged; systemd socket
# activation (LISTEN_FDS/LISTEN_PID); --run passes its environment and
# exit status; startup errors (bad location, socket in use, duplicate
# export names, bad options) fail before listening with the right status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
SERVE_FLAGS=
requires nbdinfo nbdcopy nbdkit ss qemu-io
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"

M=$((1 << 20))
img=$SCRATCH/l.img
"$MORTAR" img create "$img" 64M >/dev/null
qemu-io -f raw -c "write -P 0x42 0 1M" "$img" >/dev/null

# wait_exit PID SECONDS: wait for a child to exit; its status in $RC.
wait_exit() {
	local pid=$1 i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && fail "process $pid still running after $2 s"
	RC=0
	wait "$pid" || RC=$?
}
# wait_gone PID SECONDS: for a process that is not our child (the daemon).
wait_gone() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "process $1 still running after $2 s"
}
reads_42() { # URI: the first MiB reads as 0x42 through NBD
	local out
	out=$(qemu-io -r -f raw -c "read -P 0x42 0 1M" "$1" 2>&1) || fail "qemu-io on $1: $out"
	grep -qi "fail\|error" <<<"$out" && fail "qemu-io on $1: $out"
	return 0
}
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- unix socket: mode 0600, pidfile, removed at exit ---------------------------------
sock=$SCRATCH/l.sock
start_server unix -s "$sock" "$img"
[[ -S $sock ]] || fail "$sock is not a socket"
expect_eq "unix socket mode" "$(stat -c %a "$sock")" 600
expect_eq "unix socket owner" "$(stat -c %u "$sock")" "$(id -u)"
expect_eq "pidfile contents" "$(cat "$SCRATCH/unix.pid")" "$SPID"
reads_42 "nbd+unix:///?socket=$sock"
# SIGHUP reloads (serve-handover.sh checks how): same process, still serving
kill -HUP "$SPID"
sleep 0.5
kill -0 "$SPID" 2>/dev/null || fail "SIGHUP killed the server"
reads_42 "nbd+unix:///?socket=$sock"
echo "ok: SIGHUP reloaded, still serving"
kill -TERM "$SPID"
wait_exit "$SPID" 5
expect_eq "exit status after SIGTERM" "$RC" 0
[[ ! -e $sock ]] || fail "socket $sock left behind after SIGTERM"
[[ ! -e $SCRATCH/unix.pid ]] || fail "pidfile left behind after SIGTERM"
echo "ok: socket and pidfile removed after SIGTERM"
# SIGINT too
start_server int -s "$sock" "$img"
kill -INT "$SPID"
wait_exit "$SPID" 5
expect_eq "exit status after SIGINT" "$RC" 0
[[ ! -e $sock ]] || fail "socket left behind after SIGINT"

# --- TCP: 127.0.0.1 by default ---------------------------------------------------------
port=$(free_port)
start_server tcp -p "$port" "$img"
listen=$(ss -Hltn "sport = :$port" | awk '{print $4}')
expect_eq "TCP listening address (default)" "$listen" "127.0.0.1:$port"
reads_42 "nbd://127.0.0.1:$port/"
# not reachable on the machine's other addresses
other=$(ip -4 -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}' || true)
if [[ -n $other ]]; then
	"$PY" - "$other" "$port" <<'EOF' || fail "the default TCP socket answers on $other"
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)
EOF
	echo "ok: connection to $other:$port refused (bound to 127.0.0.1 only)"
else
	echo "note: no non-loopback IPv4 address to try; checked ss only"
fi
kill -TERM "$SPID"
wait_exit "$SPID" 5
expect_eq "TCP server exit status" "$RC" 0
[[ -z $(ss -Hltn "sport = :$port") ]] || fail "port $port still listening after exit"
# -b 0.0.0.0: all addresses
port=$(free_port)
start_server any -p "$port" -b 0.0.0.0 "$img"
expect_eq "TCP listening address (-b 0.0.0.0)" "$(ss -Hltn "sport = :$port" | awk '{print $4}')" "0.0.0.0:$port"
if [[ -n $other ]]; then
	reads_42 "nbd://$other:$port/"
	echo "ok: -b 0.0.0.0 serves on $other too"
fi
kill -TERM "$SPID"
wait_exit "$SPID" 5

# --- daemon mode ------------------------------------------------------------------------
rc=0
"$MORTAR" serve -s "$sock" -P "$SCRATCH/d.pid" "$img" 2>"$SCRATCH/daemon.log" || rc=$?
expect_eq "daemon: exit status of the launching process" "$rc" 0
[[ -S $sock ]] || fail "daemon: no socket when the parent returned"
[[ -s $SCRATCH/d.pid ]] || fail "daemon: no pidfile when the parent returned"
dpid=$(cat "$SCRATCH/d.pid")
on_exit "kill $dpid 2>/dev/null"
kill -0 "$dpid" 2>/dev/null || fail "daemon: pid $dpid from the pidfile is not running"
reads_42 "nbd+unix:///?socket=$sock"
expect_eq "daemon: its session id (setsid)" "$(ps -o sid= -p "$dpid" | tr -d ' ')" "$dpid"
echo "ok: daemon $dpid serves, in its own session"
kill -TERM "$dpid"
wait_gone "$dpid" 5
[[ ! -e $sock ]] || fail "daemon: socket left behind"
[[ ! -e $SCRATCH/d.pid ]] || fail "daemon: pidfile left behind"
echo "ok: daemon stopped through its pidfile, socket and pidfile removed"
# a daemon that cannot start says so with its exit status
rc=0
"$MORTAR" serve -s "$sock" "$SCRATCH/missing.img" 2>"$SCRATCH/err" || rc=$?
expect_eq "daemon with a missing image: exit status" "$rc" 1
grep -q "missing.img" "$SCRATCH/err" || fail "daemon: no message naming the image: $(cat "$SCRATCH/err")"
[[ ! -e $sock ]] || fail "daemon with a missing image left a socket"

# --- SIGTERM with writes in flight --------------------------------------------------------
big=$SCRATCH/big.img copy=$SCRATCH/copy.img
"$MORTAR" img create "$big" 1G >/dev/null
"$MORTAR" img create "$copy" 1G >/dev/null
start_server inflight -v -s "$sock" "$big" copy="$copy"
# a long nbdcopy: 1 GiB from nbdkit's pattern plugin, rate-limited
nbdcopy --flush -- [ nbdkit --exit-with-parent --filter=rate pattern 1G rate=200M ] \
	"nbd+unix:///copy?socket=$sock" 2>"$SCRATCH/nbdcopy.err" &
cpid=$!
on_exit "kill $cpid 2>/dev/null"
# a libnbd client keeping 32 writes of 256 KiB in flight, each with its own
# pattern, recording which ones the server acknowledged
"$PY" - "$sock" "$SCRATCH/acked" "$SCRATCH/started" <<'EOF' &
import nbd, sys
sock, acked_path, started = sys.argv[1:4]
h = nbd.NBD()
h.connect_unix(sock)
L = 256 << 10
acked, pending, i = [], {}, 0
bufs = {}
try:
    while i < 4096 or pending:
        while i < 4096 and len(pending) < 32:
            bufs[i] = nbd.Buffer.from_bytearray(bytearray([i % 251 + 1]) * L)
            pending[h.aio_pwrite(bufs[i], i * L)] = i
            i += 1
        h.poll(1000)
        for c in list(pending):
            if h.aio_command_completed(c):
                acked.append(pending.pop(c))
        if len(acked) == 64:
            open(started, "w").close()
except nbd.Error as e:
    print("writer stopped:", e, file=sys.stderr)
with open(acked_path, "w") as f:
    f.write(" ".join(map(str, acked)))
EOF
wpid=$!
on_exit "kill $wpid 2>/dev/null"
for ((i = 0; i < 200; i++)); do
	[[ -e $SCRATCH/started ]] && break
	sleep 0.02
done
[[ -e $SCRATCH/started ]] || fail "the writer did not get 64 acknowledgements within 4 s"
sleep 0.3
kill -0 "$cpid" 2>/dev/null || fail "nbdcopy ended before SIGTERM: $(cat "$SCRATCH/nbdcopy.err")"
kill -TERM "$SPID"
wait_exit "$SPID" 10
expect_eq "exit status after SIGTERM with writes in flight" "$RC" 0
wait_exit "$wpid" 10
wait_exit "$cpid" 10
echo "ok: nbdcopy exited $RC after the server stopped: $(tail -1 "$SCRATCH/nbdcopy.err")"
read -ra acked <"$SCRATCH/acked" || true
((${#acked[@]} >= 64)) || fail "only ${#acked[@]} writes acknowledged"
((${#acked[@]} < 4096)) || fail "all 4096 writes finished before SIGTERM: the test proves nothing"
"$PY" - "$big" "${acked[@]}" <<'EOF' || fail "acknowledged writes missing after SIGTERM"
import sys
L = 256 << 10
bad = []
with open(sys.argv[1], "rb") as f:
    for i in map(int, sys.argv[2:]):
        f.seek(i * L)
        if f.read(L) != bytes([i % 251 + 1]) * L:
            bad.append(i)
if bad:
    sys.exit(f"{len(bad)} acknowledged writes not in the file, first: {bad[:10]}")
EOF
echo "ok: all ${#acked[@]} acknowledged writes are in the file after SIGTERM"
[[ ! -e $sock ]] || fail "socket left behind after SIGTERM with clients connected"

# --- socket activation ----------------------------------------------------------------------
# activate SOCKPATH FD3 ARGS...: a python launcher binds SOCKPATH (or opens
# a plain file when FD3 is "file"), puts it on fd 3, sets LISTEN_FDS=1 and
# LISTEN_PID to its own pid, then execs mortar serve ARGS: same pid.
activate() {
	local path=$1 kind=$2
	shift 2
	"$PY" - "$path" "$kind" "$MORTAR" serve "$@" 2>>"$SCRATCH/activate.log" <<'EOF' &
import os, socket, sys
path, kind, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
if kind == "file":
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    fd = s.fileno()
if fd != 3:
    os.dup2(fd, 3)
os.set_inheritable(3, True)  # python's sockets are close-on-exec
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="nbd")
os.execvpe(argv[0], argv, env)
EOF
	SPID=$!
	on_exit "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
}
asock=$SCRATCH/activated.sock
activate "$asock" socket -v "$img"
for ((i = 0; i < 200; i++)); do [[ -S $asock ]] && break; sleep 0.02; done
reads_42 "nbd+unix:///?socket=$asock"
expect_eq "activated: export size through the passed socket" \
	"$(nbdinfo --size "nbd+unix:///?socket=$asock")" $((64 * M))
# it listens on the passed socket only: no TCP port of its own
[[ -z $(ss -Hltnp | grep "pid=$SPID,") ]] || fail "activated server also listens on TCP: $(ss -Hltnp | grep "pid=$SPID,")"
echo "ok: socket activation: serves on fd 3, no TCP listener of its own"
kill -TERM "$SPID"
wait_exit "$SPID" 5
expect_eq "activated server: exit status after SIGTERM" "$RC" 0
rm -f "$asock"
# LISTEN_PID for another process: ignored, -s used
activate_other() {
	LISTEN_FDS=1 LISTEN_PID=1 "$MORTAR" serve -f -s "$sock" "$img" 2>"$SCRATCH/other.log" &
	SPID=$!
	on_exit "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
}
activate_other
for ((i = 0; i < 200; i++)); do [[ -S $sock ]] && break; sleep 0.02; done
reads_42 "nbd+unix:///?socket=$sock"
echo "ok: LISTEN_PID of another process is ignored"
kill -TERM "$SPID"
wait_exit "$SPID" 5
# fd 3 is not a socket: refused at startup
activate "$SCRATCH/notasocket" file "$img"
wait_exit "$SPID" 5
expect_eq "activation with a plain file on fd 3: exit status" "$RC" 1
if command -v systemd-socket-activate >/dev/null 2>&1; then
	ssock=$SCRATCH/sd.sock
	systemd-socket-activate -l "$ssock" "$MORTAR" serve "$img" 2>"$SCRATCH/sd.log" &
	SPID=$!
	on_exit "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
	for ((i = 0; i < 200; i++)); do [[ -S $ssock ]] && break; sleep 0.02; done
	reads_42 "nbd+unix:///?socket=$ssock"
	reads_42 "nbd+unix:///?socket=$ssock"
	echo "ok: systemd-socket-activate: served twice through the passed socket"
	kill -TERM "$SPID"
	wait_exit "$SPID" 5
	expect_eq "systemd-socket-activate: exit status after SIGTERM" "$RC" 0
else
	echo "note: systemd-socket-activate not installed; the python launcher covered activation"
fi

# --- --run ------------------------------------------------------------------------------------
rc=0
"$MORTAR" serve "$img" --run 'exit 3' || rc=$?
expect_eq "--run 'exit 3': exit status" "$rc" 3
rc=0
"$MORTAR" serve "$img" --run 'kill -9 $$' || rc=$?
expect_eq "--run killed by SIGKILL: exit status" "$rc" 137
out=$("$MORTAR" serve "$img" --run 'echo "$uri|$nbd|$unixsocket|$port"; [ -S "$unixsocket" ] && echo sock; nbdinfo --size "$uri"')
IFS='|' read -r u n us p <<<"$(head -1 <<<"$out")"
expect_eq "--run: \$uri" "$u" "nbd+unix:///?socket=$us"
expect_eq "--run: \$nbd" "$n" "$u"
expect_eq "--run: \$port (unix only)" "$p" ""
expect_eq "--run: the private socket exists and serves" "$(tail -n +2 <<<"$out" | tr '\n' ' ')" "sock $((64 * M)) "
[[ ! -e $us && ! -e $(dirname "$us") ]] || fail "--run left its private socket or directory: $us"
echo "ok: --run's private socket and directory are gone"
port=$(free_port)
out=$("$MORTAR" serve -p "$port" "$img" --run 'echo "$uri|$port|$unixsocket"; nbdinfo --size "$uri"')
expect_eq "--run -p: \$uri|\$port|\$unixsocket" "$(head -1 <<<"$out")" "nbd://127.0.0.1:$port/|$port|"
expect_eq "--run -p: serves" "$(tail -1 <<<"$out")" $((64 * M))
out=$("$MORTAR" serve -s "$sock" "$img" --run 'echo "$unixsocket"')
expect_eq "--run -s: \$unixsocket" "$out" "$sock"
[[ ! -e $sock ]] || fail "--run -s left the socket behind"

# --- startup errors: before listening ---------------------------------------------------------
expect_rc 1 "missing.img" "$MORTAR" serve -f -s "$sock" "$SCRATCH/missing.img"
[[ ! -e $sock ]] || fail "a bad location still created the socket"
expect_rc 1 "" "$MORTAR" serve -f -s "$sock" "$img" "$SCRATCH/missing.img"
[[ ! -e $sock ]] || fail "a bad second location still created the socket"
rc=0
out=$("$MORTAR" serve "$SCRATCH/missing.img" --run 'echo ran' 2>&1) || rc=$?
expect_eq "--run with a bad location: exit status" "$rc" 1
[[ $out != *ran* ]] || fail "--run ran its command although the image is missing"
mkdir -p "$SCRATCH/d1" "$SCRATCH/d2"
"$MORTAR" img create "$SCRATCH/d1/x.img" 1M >/dev/null
"$MORTAR" img create "$SCRATCH/d2/x.img" 1M >/dev/null
expect_rc 2 "x.img" "$MORTAR" serve -f -s "$sock" "$SCRATCH/d1/x.img" "$SCRATCH/d2/x.img"
expect_rc 2 "'a'" "$MORTAR" serve -f -s "$sock" a="$SCRATCH/d1/x.img" a="$SCRATCH/d2/x.img"
[[ ! -e $sock ]] || fail "duplicate names still created the socket"
"$MORTAR" serve -s "$sock" a="$SCRATCH/d1/x.img" b="$SCRATCH/d2/x.img" --run 'nbdinfo --list "$uri" >/dev/null' ||
	fail "two files named x.img under different names refused"
echo "ok: the same basename under two NAME= is fine"
# a socket path in use by a running server
start_server busy -s "$sock" "$img"
expect_rc 1 "already exists|in use" "$MORTAR" serve -f -s "$sock" "$img"
reads_42 "nbd+unix:///?socket=$sock"
echo "ok: the first server still serves its socket"
kill -TERM "$SPID"
wait_exit "$SPID" 5
# a TCP port in use
port=$(free_port)
start_server tcpbusy -p "$port" "$img"
expect_rc 1 "$port" "$MORTAR" serve -f -p "$port" "$img"
kill -TERM "$SPID"
wait_exit "$SPID" 5
# usage errors
expect_rc 2 "" "$MORTAR" serve
expect_rc 2 "" "$MORTAR" serve -e 0 "$img"
expect_rc 2 "" "$MORTAR" serve -t 0 "$img"
expect_rc 2 "" "$MORTAR" serve -p 70000 "$img"
expect_rc 2 "" "$MORTAR" serve --bogus "$img"
# vhost-user-blk's options, on the command line and from a configuration
# file (an option on by default is turned off there by its --no- form)
expect_rc 2 "--coalesce-kicks is for --vhost-user-blk" "$MORTAR" serve --coalesce-kicks "$img"
printf 'coalesce-kicks = off\nexport = %s\n' "$img" >"$SCRATCH/ck.conf"
expect_rc 2 "--no-coalesce-kicks is for --vhost-user-blk" "$MORTAR" serve --config "$SCRATCH/ck.conf"
echo PASS
