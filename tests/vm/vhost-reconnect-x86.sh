#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A vhost-user-blk server killed with SIGKILL while the guest writes, and
# started again on the same socket: QEMU (reconnect=1) comes back to it,
# the guest sees no I/O error, and every write the guest had seen
# complete is in the image.
#  - first with writes certainly in flight: a snapshot's quiesce (held
#    through the control socket, as `mortar img snapshot` holds it) parks
#    them in the server; the new server finds them in the inflight region
#    QEMU kept and runs them again (its log says so);
#  - then killed at whatever moment, twice;
#  - then a handover (SIGUSR2, the same pid re-executed): the queues
#    pause, QEMU reconnects to the new process.
# Two writers in the guest, each writing numbered 4 KiB records with
# O_DIRECT and noting the last one that completed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vhost.bash"

img=$SCRATCH/disk.img sock=$SCRATCH/vu.sock
"$MORTAR" img create "$img" 64M >/dev/null
serve() { vs_start srv "$sock" -- --threads 2 --vhost-user-blk "$sock" "$img"; }
serve
# shellcheck disable=SC2046
vg_start g 2 $(vhost_dev "$sock" vu 2)

# Writer W writes records W*4096+0.. at blocks of 4 KiB; /tmp/acked.W is
# the last one that completed, /tmp/errors the failures.
vg g 'for w in 0 1; do
	( i=0; while [ ! -e /tmp/stop ]; do
		b=$((w * 4096 + i))
		printf "record %d\n" $b | dd of=/dev/vda bs=4096 seek=$b oflag=direct conv=sync 2>/dev/null ||
			echo "write $b failed" >>/tmp/errors
		echo $b >/tmp/acked.$w; i=$((i + 1))
	done ) </dev/null >/dev/null 2>&1 &
done'
acked() { vg g 'cat /tmp/acked.0 /tmp/acked.1 2>/dev/null' | tr '\n' ' '; }
# progress: wait until both writers moved past where they are now
progress() {
	local before now i
	before=$(acked)
	for ((i = 0; i < 120; i++)); do
		now=$(acked)
		[[ $now != "$before" && $(wc -w <<<"$now") == 2 ]] && { echo "ok: writers at $now"; return 0; }
		sleep 1
	done
	fail "the guest's writers are stuck at $before"
}
progress

# --- writes held in the server by a quiesce, then SIGKILL ---
ctl=$(sed -n 's/.*control socket \(.*\.sock\).*/\1/p' "$SCRATCH/srv.log" | tail -1)
[[ -S $ctl ]] || fail "no control socket in the log"
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(("quiesce file %s\n" % sys.argv[2]).encode())
print(s.recv(100).decode().strip(), flush=True)
time.sleep(600)' "$ctl" "$(stat -c %d:%i "$img")" >"$SCRATCH/quiesce.out" &
holder=$!
on_exit "kill $holder 2>/dev/null"
for ((i = 0; i < 50; i++)); do [[ -s $SCRATCH/quiesce.out ]] && break; sleep 0.1; done
expect_eq "quiesce answer" "$(cat "$SCRATCH/quiesce.out")" "ok 1"
# the writers stop: their next write waits in the server
held=$(acked); sleep 2
expect_eq "writers while quiesced" "$(acked)" "$held"
kill -9 "$(cat "$SCRATCH/srv.pid")"
kill "$holder"
sleep 1
serve
progress
grep -q "request(s) were in flight when the last server stopped; running them again" "$SCRATCH/srv.log" ||
	fail "the new server did not resubmit the held writes: $(tail -20 "$SCRATCH/srv.log")"
echo "ok: $(grep -c "running them again" "$SCRATCH/srv.log") queue(s) resubmitted held writes"

# --- killed at any moment, twice ---
for k in 1 2; do
	kill -9 "$(cat "$SCRATCH/srv.pid")"
	sleep 0.$((RANDOM % 10))
	serve
	progress
done

# --- a handover to a re-executed server ---
pid=$(cat "$SCRATCH/srv.pid")
kill -USR2 "$pid"
for ((i = 0; i < 100; i++)); do
	grep -q "taking over from the previous process" "$SCRATCH/srv.log" && break
	sleep 0.2
done
grep -q "taking over from the previous process" "$SCRATCH/srv.log" ||
	fail "no handover: $(tail "$SCRATCH/srv.log")"
kill -0 "$pid" || fail "the server did not survive its handover: $(tail "$SCRATCH/srv.log")"
progress
grep -q "vhost-user #1: connected" <(sed -n '/taking over from the previous process/,$p' "$SCRATCH/srv.log") ||
	fail "QEMU did not reconnect to the new process"
echo "ok: QEMU reconnected to the process that took over"

vg g 'touch /tmp/stop; sleep 1; cat /tmp/errors 2>/dev/null; dmesg | grep -i "i/o error\|blk_update_request\|critical" || true' >"$SCRATCH/guest-errors"
[[ ! -s $SCRATCH/guest-errors ]] || fail "the guest saw errors: $(cat "$SCRATCH/guest-errors")"
echo "ok: no error in the guest"
# every record up to the last one acknowledged is in the image
read -r a0 a1 <<<"$(acked)"
for w in 0 1; do
	last=$((w == 0 ? a0 : a1))
	for ((b = w * 4096; b <= last; b++)); do
		rec=$(dd if="$img" bs=4096 skip=$b count=1 status=none | head -c 20 | tr -d '\0')
		[[ $rec == "record $b" ]] || fail "block $b holds '$rec' though the guest saw it written"
	done
	echo "ok: writer $w: records $((w * 4096))..$last all in the image"
done
vg_stop g
vs_stop srv
echo PASS
