#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Defects an audit of mortar serve found (issue 20), each checked where it
# used to fail:
# - an export name longer than the NBD limit (4096 bytes) is refused at
#   startup; one of exactly 4096 bytes is served, NBD_INFO_NAME included
#   (the reply used to be built in a fixed stack buffer);
# - --pidfile never writes through a symlink planted at the pidfile or
#   beside it, and the pidfile is only removed while it holds our pid;
# - a runtime directory made first by another user stops the server (no
#   serving without a control socket) and makes img snapshot fail
#   instead of copying a live image unquiesced; root without
#   XDG_RUNTIME_DIR uses /run/mortar;
# - the control socket answers only its own user and root (SO_PEERCRED),
#   even when its directory is opened to others;
# - a quiesce that outlives --quiesce-timeout ends with "expired", so that
#   the snapshot knows its copy may be inconsistent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires setpriv
requires_root
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"

img=$SCRATCH/h.img
"$MORTAR" img create "$img" 8M >/dev/null
export XDG_RUNTIME_DIR=$SCRATCH/run
mkdir -m 700 "$XDG_RUNTIME_DIR"

# --- export names: the spec's limit, enforced before listening --------------------------
long=$(head -c 4097 /dev/zero | tr '\0' n)
# (Not expect_rc: it would print the 4 KiB argument.)
refused() { # PATTERN ARGS...: mortar serve ARGS exits 2 with PATTERN on stderr
	local pattern=$1 rc=0
	shift
	"$MORTAR" serve -f -s "$SCRATCH/long.sock" "$@" 2>"$SCRATCH/long.err" || rc=$?
	expect_eq "exit status" "$rc" 2
	grep -qE "$pattern" "$SCRATCH/long.err" || fail "stderr: $(cat "$SCRATCH/long.err")"
	[[ ! -e $SCRATCH/long.sock ]] || fail "the server listened before refusing"
	echo "ok: refused with: $(head -c 100 "$SCRATCH/long.err")"
}
refused "export name of 4097 bytes: NBD allows at most 4096" "$long=$img"
refused "description of 4097 bytes" -D "$long" "$img"

max=${long:1}
start_server_unix max "$max=$img"
got=$("$PY" -c '
import nbd, sys
h = nbd.NBD()
h.set_full_info(True)
h.set_export_name(sys.argv[2])
h.connect_unix(sys.argv[1])
print(len(h.get_canonical_export_name()))' "$SOCK" "$max" 2>&1) || fail "libnbd with full info: $got"
expect_eq "NBD_INFO_NAME of a 4096-byte name" "$got" 4096

# --- the pidfile does not follow symlinks ----------------------------------------------
pdir=$SCRATCH/pids
mkdir "$pdir"
echo precious >"$SCRATCH/victim1"
echo precious >"$SCRATCH/victim2"
ln -s "$SCRATCH/victim1" "$pdir/p.pid"
ln -s "$SCRATCH/victim2" "$pdir/p.pid.tmp"
"$MORTAR" serve -f -s "$SCRATCH/p.sock" -P "$pdir/p.pid" "$img" 2>"$SCRATCH/p.log" &
ppid=$!
on_exit "kill $ppid 2>/dev/null"
for ((i = 0; i < 500; i++)); do
	[[ -f $pdir/p.pid && ! -L $pdir/p.pid ]] && break
	sleep 0.02
done
expect_eq "pidfile replaced the planted symlink" "$(stat -c %F "$pdir/p.pid")" "regular file"
expect_eq "pidfile contents" "$(cat "$pdir/p.pid")" "$ppid"
expect_eq "file behind the planted pidfile link" "$(cat "$SCRATCH/victim1")" precious
expect_eq "file behind the planted temporary link" "$(cat "$SCRATCH/victim2")" precious
kill "$ppid"
wait "$ppid" || fail "serve exited $? on SIGTERM"
[[ ! -e $pdir/p.pid ]] || fail "the pidfile stayed behind"
# A pidfile that another process has taken over is not removed.
"$MORTAR" serve -f -s "$SCRATCH/p.sock" -P "$pdir/q.pid" "$img" 2>>"$SCRATCH/p.log" &
ppid=$!
for ((i = 0; i < 500; i++)); do [[ -s $pdir/q.pid ]] && break; sleep 0.02; done
echo 1 >"$pdir/q.pid"
kill "$ppid"
wait "$ppid" || true
expect_eq "someone else's pidfile kept" "$(cat "$pdir/q.pid")" 1

# --- a squatted runtime directory: fail closed -----------------------------------------
# A user without XDG_RUNTIME_DIR gets /tmp/mortar-UID; here root made it
# first, as another user could.  (UID 64999 is nobody's on this machine.)
uid=64999
squat=/tmp/mortar-$uid
rm -rf "$squat"
mkdir -m 755 "$squat"
on_exit "rm -rf '$squat'"
chmod 755 "$SCRATCH"
chmod 644 "$img"
udir=$SCRATCH/user
mkdir -m 700 "$udir"
chown $uid:$uid "$udir"
as_user() { setpriv --reuid=$uid --regid=$uid --clear-groups env -u XDG_RUNTIME_DIR "$@"; }
expect_rc 1 "no control socket.*$squat is not a directory owned by user $uid" \
	as_user "$MORTAR" serve -f -r -s "$udir/u.sock" "$img"
[[ ! -e $udir/u.sock ]] || fail "the server listened without a control socket"
expect_rc 1 "$squat is not a directory owned by user $uid" \
	as_user "$MORTAR" img snapshot "$img" s1
[[ -z $("$MORTAR" img snapshot list "$img" 2>/dev/null | grep s1) ]] ||
	fail "a snapshot was taken without a usable runtime directory"
rm -rf "$squat"
# (setpriv and env exec: the server keeps the pid that $! gives.)
setpriv --reuid=$uid --regid=$uid --clear-groups env -u XDG_RUNTIME_DIR \
	"$MORTAR" serve -f -r -s "$udir/u.sock" "$img" 2>"$SCRATCH/u.log" &
upid=$!
on_exit "kill $upid 2>/dev/null"
for ((i = 0; i < 500; i++)); do [[ -S $squat/serve/$upid.sock ]] && break; sleep 0.02; done
[[ -S $squat/serve/$upid.sock ]] || fail "no control socket in $squat/serve: $(cat "$SCRATCH/u.log")"
expect_eq "private runtime directory" "$(stat -c '%a %u' "$squat")" "700 $uid"
kill "$upid"
wait "$upid" || true

# Root without XDG_RUNTIME_DIR: /run/mortar, not /tmp.
env -u XDG_RUNTIME_DIR "$MORTAR" serve -f -s "$SCRATCH/r.sock" "$img" 2>"$SCRATCH/r.log" &
rpid=$!
on_exit "kill $rpid 2>/dev/null"
for ((i = 0; i < 500; i++)); do [[ -S /run/mortar/serve/$rpid.sock ]] && break; sleep 0.02; done
[[ -S /run/mortar/serve/$rpid.sock ]] || fail "no control socket in /run/mortar/serve: $(cat "$SCRATCH/r.log")"
expect_eq "/run/mortar/serve mode" "$(stat -c %a /run/mortar/serve)" 700
kill "$rpid"
wait "$rpid" || true

# --- the control socket checks who connects ------------------------------------------------
start_server_unix c --quiesce-timeout 1 "$img"
ctl=$XDG_RUNTIME_DIR/mortar/serve/$SPID.sock
# Open the way to it, as a careless administrator might.
chmod 755 "$XDG_RUNTIME_DIR" "$XDG_RUNTIME_DIR/mortar" "$XDG_RUNTIME_DIR/mortar/serve"
chmod 666 "$ctl"
st=$(stat -c '%d:%i' "$img")
got=$(setpriv --reuid=$uid --regid=$uid --clear-groups "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(sys.argv[2].encode() + b"\n")
except BrokenPipeError:
    pass	# refused before it read anything: the answer is there

print(s.makefile("rb").readline().decode().strip())' "$ctl" "quiesce file $st")
expect_eq "control socket answer to another user" "$got" "error permission denied"
grep -q "refused a client of user $uid" "$SCRATCH/c.log" || fail "the refusal was not logged"

# --- a quiesce that outlives the timeout says so ---------------------------------------------
got=$("$PY" - "$ctl" "quiesce file $st" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
f = s.makefile("rb")
first = f.readline().decode().strip()
t = time.monotonic()
second = f.readline().decode().strip()
print(first, "/", second, "after %.0f s" % (time.monotonic() - t))
PYEOF
)
expect_eq "quiesce past --quiesce-timeout 1" "$got" "ok 1 / expired after 1 s"
"$PY" -c 'import nbd, sys; h = nbd.NBD(); h.connect_unix(sys.argv[1]); h.pwrite(b"x" * 512, 0)' "$SOCK" ||
	fail "writes did not resume after the quiesce expired"
echo PASS
