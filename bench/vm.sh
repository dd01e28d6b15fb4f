#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/vm.sh [--hotplug-only | --migrate-only] [BUILD_DIR]
#
# Hotplug: how long a hotplug takes until the guest shows it (its
# MORTAR-GUEST line), under TCG, through `mortar vm ... --wait` and through
# the same steps sent as raw QMP by a small Python client polling the
# console log (the floor: no checks, no state).  Alternates mortar and raw,
# 3 times each, for a vCPU plug and for a 128 MiB DIMM plug; prints medians
# and the ratio mortar/raw (target: <= 1.2, and <= 1 s).
#
# Migration: a 512 MiB x86 guest (1 vCPU) under TCG on QEMU 10
# (scripts/qemu-backports.sh: Debian's 7.2 refuses migration under TCG)
# moves on this host over tcp:127.0.0.1, first as booted, then with two
# 256 MiB DIMMs (memory-backend-ram) and one vCPU hot-plugged.  Each case
# alternates `mortar vm migrate NAME --to tcp:127.0.0.1:PORT --output=json`
# and its peer, bench/qmp-migrate.py (QEMU's migrate driven by hand over
# QMP: the target started from the source's /proc/PID/cmdline plus the
# plugged devices, migrate, query-migrate polled, cont, the source told
# to quit), RUNS rounds (default 3), which of the two goes first rotating
# from round to round.  Both use the settings vm/migrate.c uses without
# --max-downtime or --bandwidth: late-block-activate on the target,
# pause-before-switchover off on the source, QEMU's default downtime limit
# (300 ms) and max-bandwidth (128 MiB/s), no other capability (no
# multifd, compression, postcopy).  Medians per case of:
#   wall ms        the whole command, from the shell: process start, the
#                  target QEMU's start, the migration, cont on the target,
#                  the source quit, the target's files renamed to the VM's
#   to-cont ms     from the procedure's start (mortar: its total_ms; the
#                  peer: its done_ms) until the target's cont returned
#   QEMU total ms  query-migrate's total-time on the source: from migrate
#                  to the switchover's end (setup, copy, stop-and-copy)
#   downtime ms    query-migrate's downtime: the guest stopped on neither
#                  (with the plugs: from the stop before the copy, on both
#                  sides; see below)
#   MiB sent       query-migrate's ram.transferred (zero pages cost ~nothing)
# with their spread (highest - lowest, in % of the median), and the ratio
# mortar/peer of the medians.  As booted, the same guest moves back and
# forth; with the plugs, every move starts from a guest booted and
# plugged for it: a guest whose DIMMs are on its QEMU's command line (any
# such guest after one migration) aborted QEMU 10.0.2 under TCG in its
# next outgoing migration ("physmem.c:871: tlb_reset_dirty_range_all:
# Assertion `block == qemu_get_ram_block(end - 1)' failed"), moved by
# Mortar and by hand alike (Mortar's targets now put the boot memory's
# block first, vm/argv.c; a target made by hand from the command line
# still has the DIMMs' first).  After each move the VM must run in a new
# QEMU, and after each case the guest must show a vCPU plug: otherwise
# (or if a migration fails) the bench stops with an error.  With the
# plugs the guest has more than one RAM block, which under TCG Mortar
# copies with the guest stopped (vm/migrate.c copy_stopped: QEMU 10.0.2's
# live copy loses writes to all blocks but the first); the peer then does
# the same (qmp-migrate.py --stopped), so that both do the same work.  RUNS sets the
# migration rounds only (the hotplug part fills its 8 vCPUs in 3).
# `virsh migrate --live` is the peer issue 22 names, but not used: libvirt
# refuses a migration to the same host (the same host UUID) unless two
# libvirtds with different host_uuid settings run, its domain would be
# another guest (libvirt's devices and machine options, not Mortar's
# command line), and the tests' libvirtd (scripts/libvirt-fixture.sh)
# runs Debian's QEMU 7.2, which breaks such guests under TCG.
#
# A benchmark: exits 0 whatever the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
parts=(hotplug migrate)
case ${1:-} in
--hotplug-only) parts=(hotplug); shift ;;
--migrate-only) parts=(migrate); shift ;;
esac
build=${1:-$here/../build}
mortar=$(cd "$build" && pwd)/cli/mortar
RUNS=${RUNS:-3}
eval "$("$here/../scripts/guest-assets.sh" x86_64 | sed 's/^/export /')"
export MORTAR_VM_DIR=$(mktemp -d /tmp/mortar-vm-bench.XXXXXX)
cleanup() {
	local p
	# (each may fail: set -e must not end the cleanup; a peer's target
	# may be left by an interrupted run)
	p=$(cat "$MORTAR_VM_DIR/m/qemu-peer.pid" 2>/dev/null) && kill "$p" 2>/dev/null || true
	"$mortar" vm stop --force b >/dev/null 2>&1 || true
	"$mortar" vm stop --force m >/dev/null 2>&1 || true
	rm -rf "$MORTAR_VM_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 141' PIPE
PY=python3; [[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
die() { echo "bench/vm.sh: $*" >&2; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# med V...: the median; median: that of the lines read
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { printf '%s\n' "$@" | median; }
# spread: (highest - lowest) / median of the lines read, in percent
spread() { sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; if (m > 0) printf "%.0f%%", 100 * (v[NR] - v[1]) / m; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

raw() {	# raw KIND N: plug one vCPU (socket N) or one 128 MiB DIMM, wait for the guest
	"$PY" - "$MORTAR_VM_DIR/b" "$1" "$2" <<'PYEOF'
import json, socket, sys, time
d, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def last():
    # (whole lines only: the guest may be writing the last one now)
    line = [l for l in open(d + "/serial.log", errors="replace")
            if l.startswith("MORTAR-GUEST v1") and l.endswith("\n") and "nodes=" in l][-1]
    return dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
before = last()
s = socket.socket(socket.AF_UNIX); s.connect(d + "/qmp.sock"); f = s.makefile("rw")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m:
            return m
f.readline(); cmd("qmp_capabilities")
if kind == "cpu":
    free = [c for c in cmd("query-hotpluggable-cpus")["return"] if "qom-path" not in c]
    slot = min(free, key=lambda c: c["props"]["socket-id"])
    cmd("device_add", driver=slot["type"], id=f"raw{n}", **slot["props"])
    while int(last()["cpus"]) <= int(before["cpus"]): time.sleep(0.02)
else:
    cmd("object-add", **{"qom-type": "memory-backend-ram", "id": f"rawm{n}", "size": 128 << 20})
    cmd("device_add", driver="pc-dimm", id=f"rawd{n}", memdev=f"rawm{n}")
    while int(last()["mem_kib"]) <= int(before["mem_kib"]): time.sleep(0.02)
PYEOF
}

hotplug() {
	local -a mc rc mm rm_
	local cpus=1 i t a b k
	"$mortar" vm start b --kernel "$kernel" --initrd "$initrd" --cpus 1 --max-cpus 8 \
		--memory 512M --max-memory 4G --slots 8 --wait --timeout 120 >/dev/null
	for i in 1 2 3; do
		t=$(now); cpus=$((cpus + 1)); "$mortar" vm cpus b $cpus --wait >/dev/null; mc+=("$(elapsed "$t")")
		# both take the lowest free socket
		t=$(now); raw cpu "$i"; rc+=("$(elapsed "$t")"); cpus=$((cpus + 1))
		t=$(now); "$mortar" vm mem add b 128M --wait >/dev/null; mm+=("$(elapsed "$t")")
		t=$(now); raw mem "$i"; rm_+=("$(elapsed "$t")")
	done
	printf '%-14s %10s %10s %8s\n' step "mortar s" "raw QMP s" ratio
	for k in cpu mem; do
		if [[ $k == cpu ]]; then a=$(med "${mc[@]}"); b=$(med "${rc[@]}"); else a=$(med "${mm[@]}"); b=$(med "${rm_[@]}"); fi
		printf '%-14s %10s %10s %8s\n' "$k plug" "$a" "$b" "$(ratio "$a" "$b")"
	done
	"$mortar" vm stop --force b >/dev/null
}

freeport() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# move WHO: migrate VM m once, by mortar or by the peer; prints its wall
# ms, to-cont ms, QEMU total ms, downtime ms and MiB sent
move() {
	local pid0 port out t wall st
	pid0=$(cat "$MORTAR_VM_DIR/m/qemu.pid")
	port=$(freeport)
	t=$(now)
	if [[ $1 == mortar ]]; then
		out=$("$mortar" vm migrate m --to "tcp:127.0.0.1:$port" --output=json) ||
			die "mortar vm migrate failed (above)"
		wall=$(elapsed "$t")
		out=$(tail -n 1 <<<"$out")
		jq -r --arg w "$wall" '[($w | tonumber) * 1000, .total_ms, .qemu_total_ms,
			.downtime_ms, .ram_bytes / 1048576] | map(floor) | @tsv' <<<"$out"
	else
		out=$("$PY" "$here/qmp-migrate.py" "$MORTAR_VM_DIR/m" "$port" ${STOPPED:+--stopped}) ||
			die "the migration by QMP failed (above)"
		wall=$(elapsed "$t")
		jq -r --arg w "$wall" '[($w | tonumber) * 1000, .done_ms, .total_ms,
			.downtime_ms, .ram_bytes / 1048576] | map(floor) | @tsv' <<<"$out"
	fi
	st=$("$mortar" vm status --output=json m) || die "vm status after a move by $1 failed"
	[[ $(jq -r .state <<<"$st") == running && $(jq -r .pid <<<"$st") != "$pid0" ]] ||
		die "after a move by $1 the VM is not running in a new QEMU: $st"
}

# boot_m [plugged]: VM m, 512 MiB, 1 vCPU; plugged: then 2 DIMMs of
# 256 MiB and one vCPU hot-plugged, each shown by the guest; 3 s idle
boot_m() {
	"$mortar" vm stop --force m >/dev/null 2>&1 || true
	"$mortar" vm start m --qemu "$qemu10" --kernel "$kernel" --initrd "$initrd" --cpus 1 \
		--max-cpus 4 --memory 512M --max-memory 2G --slots 4 --wait --timeout 120 >/dev/null
	if [[ ${1:-} ]]; then
		"$mortar" vm mem add m 256M --wait --timeout 60 >/dev/null
		"$mortar" vm mem add m 256M --wait --timeout 60 >/dev/null
		"$mortar" vm cpus m 2 --wait --timeout 60 >/dev/null
	fi
	# (a guest just booted or plugged is still busy: the first move would
	# pay for it)
	sleep 3
}

# mcase LABEL FIRST [plugged]: RUNS rounds of both, mortar first in the
# first round when FIRST is 0 (the peer when 1), the other first in the
# next; plugged: each move from a guest booted and plugged for it (see
# the header); prints the case's rows: medians and ratios
mcase() {
	local -a rm_ rp order names=(wall to-cont "QEMU total" downtime sent)
	local i k who a b label=$1
	for ((i = 0; i < RUNS; i++)); do
		order=(mortar peer)
		(((i + $2) % 2)) && order=(peer mortar)
		for who in "${order[@]}"; do
			[[ -z ${3:-} ]] || boot_m plugged
			if [[ $who == mortar ]]; then rm_+=("$(move mortar)"); else rp+=("$(move peer)"); fi
		done
	done
	# (the guest must show a plug: it still runs after the moves)
	"$mortar" vm cpus m 3 --wait --timeout 60 >/dev/null ||
		die "the guest did not show a vCPU plugged after the last move"
	for k in 1 2 3 4 5; do
		a=$(printf '%s\n' "${rm_[@]}" | cut -f "$k" | median)
		b=$(printf '%s\n' "${rp[@]}" | cut -f "$k" | median)
		printf '%-16s %-14s %8s %6s %10s %6s %7s\n' "$label" \
			"${names[k - 1]} $( ((k == 5)) && echo MiB || echo ms)" \
			"$a" "($(printf '%s\n' "${rm_[@]}" | cut -f "$k" | spread))" \
			"$b" "($(printf '%s\n' "${rp[@]}" | cut -f "$k" | spread))" "$(ratio "$a" "$b")"
		label=
	done
}

migrate() {
	local q
	q=$("$here/../scripts/qemu-backports.sh") || die "no QEMU 10 (scripts/qemu-backports.sh)"
	qemu10=$(sed -n 's/^x86_64=//p' <<<"$q")
	echo "migration: 512 MiB x86 guest, QEMU $(sed -n 's/^version=//p' <<<"$q") under TCG," \
		"tcp:127.0.0.1, medians of $RUNS (spread: highest - lowest, % of the median)"
	printf '%-16s %-14s %8s %6s %10s %6s %7s\n' case figure mortar "" "QMP peer" "" ratio
	boot_m
	mcase "as booted" 0
	STOPPED=1 mcase "+2 DIMMs +1 vCPU" 1 plugged
	"$mortar" vm stop --force m >/dev/null
}

for part in "${parts[@]}"; do
	"$part"
done
