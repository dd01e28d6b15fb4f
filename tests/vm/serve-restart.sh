#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A guest does not notice mortar serve being replaced under it.  A TCG
# guest writes a 64 KiB record a second to its disk (an NBD export of
# mortar serve), flushes, reads it back and the record before it
# (mortar.io=records, scripts/guest/README), while the server is
# - re-executed in place (SIGUSR2) five times, and reloaded (SIGHUP) once;
# - restarted five times through systemd's fd store (--fdstore, with
#   tests/func/fake-systemd.py playing systemd).
# Every record the guest wrote must verify (no I/O error inside the
# guest), and after the guest stops, every slot of the image holds the
# last record the guest said it wrote there.  Prints the records, the
# restarts and the longest write+flush+verify the guest saw.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")/../func" && pwd)
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"

img=$SCRATCH/disk.img
"$MORTAR" img create "$img" 64M >/dev/null

# boot_guest SOCK LOG: a guest on the NBD export at SOCK, console in LOG.
boot_guest() {
	qemu-system-x86_64 -M q35 -accel tcg -m 256 -smp 1 -nographic -no-reboot \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=ttyS0 quiet mortar.io=records" \
		-blockdev "driver=nbd,server.type=unix,server.path=$1,node-name=d0" \
		-device virtio-blk-pci,drive=d0 \
		-serial "file:$2" -display none -monitor none >/dev/null 2>&1 &
	QPID=$!
	on_exit "kill $QPID 2>/dev/null"
}
records() { grep -ac "MORTAR-GUEST-IO seq=.* ok" "$1" || true; }
wait_records() { # LOG N: until the guest has written N more records
	local want=$(($(records "$1") + $2)) i
	for ((i = 0; i < 600; i++)); do
		(($(records "$1") >= want)) && return 0
		grep -aq "MORTAR-GUEST-IO .* error" "$1" && return 0
		sleep 0.1
	done
	fail "the guest wrote no record for 60 s: $(tail -n 5 "$1")"
}
# check_guest LOG: no error inside the guest; the longest record time.
check_guest() {
	if grep -a "MORTAR-GUEST-IO .* error" "$1"; then
		fail "the guest saw I/O errors (above)"
	fi
	grep -ao "MORTAR-GUEST-IO seq=.* ok ms=[0-9]*" "$1" | sed 's/.*ms=//' | sort -n | tail -n 1
}
# check_image LOG: each slot holds the last record the guest wrote there.
check_image() {
	"$PY" - "$1" "$img" <<'PYEOF' || fail "the image lost acknowledged records (above)"
import re, sys
log, img = sys.argv[1], sys.argv[2]
last = {}
for m in re.finditer(rb"MORTAR-GUEST-IO seq=(\d+) slot=(\d+) ok", open(log, "rb").read()):
    last[int(m.group(2))] = int(m.group(1))
data = open(img, "rb").read(16 * 65536)
bad = 0
for slot, seq in sorted(last.items()):
    rec = data[slot * 65536:(slot + 1) * 65536]
    head = rec[:64].split(b"\n")[0].decode(errors="replace")
    # A later record may have reached the disk, not its console line.
    m = re.match(r"MORTAR-REC seq=(\d+) slot=(\d+)$", head)
    if not m or int(m.group(2)) != slot or int(m.group(1)) < seq:
        print(f"slot {slot}: the guest wrote seq={seq}, the image has {head!r}")
        bad += 1
print(f"ok: {len(last)} slots hold the last records the guest wrote")
sys.exit(1 if bad else 0)
PYEOF
}

# --- re-exec in place ---------------------------------------------------------------------
start_server_unix re "$img"
boot_guest "$SOCK" "$SCRATCH/re.console"
wait_records "$SCRATCH/re.console" 3
for k in 1 2 3 4 5 6; do
	# Five upgrades in place, then a reload.
	sig=USR2
	((k == 6)) && sig=HUP
	signal_and_wait "$sig" "$SPID" "$SCRATCH/re.log" "took over"
	grep -q "took over 1 connection" <<<"$LAST_LINE" ||
		fail "re-exec $k: $(tail -n 10 "$SCRATCH/re.log")"
	wait_records "$SCRATCH/re.console" 2
done
kill -0 "$SPID" || fail "the server is gone"
worst=$(check_guest "$SCRATCH/re.console")
n=$(records "$SCRATCH/re.console")
kill "$QPID"
wait "$QPID" 2>/dev/null || true
check_image "$SCRATCH/re.console"
echo "ok: re-exec: $n records verified by the guest across 5 upgrades and a reload, no error, longest $worst ms"
kill "$SPID"
wait "$SPID" || true

# --- systemd's fd store --------------------------------------------------------------------
fake_systemd 5 4 "$SCRATCH/f.sock" "$img"
boot_guest "$SCRATCH/f.sock" "$SCRATCH/f.console"
wait_records "$SCRATCH/f.console" 1
fake_systemd_wait_restarts 5
wait_records "$SCRATCH/f.console" 2
worst=$(check_guest "$SCRATCH/f.console")
n=$(records "$SCRATCH/f.console")
kill "$QPID"
wait "$QPID" 2>/dev/null || true
fake_systemd_end
check_image "$SCRATCH/f.console"
echo "ok: fd store: $n records verified by the guest across 5 restarts, no error, longest $worst ms"
echo PASS
