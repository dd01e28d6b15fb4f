#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migration with a disk that moves, between two hosts that share no
# storage, x86 q35 on QEMU 10: network namespaces a and b on a bridge made
# here (tests/vm/hosts.bash); the guest's disk is an image in a's folder,
# written by the guest all along (a record a second), copied while the
# guest runs to a new image in b's folder (--disk-to: QEMU's
# blockdev-mirror to b's mortar serve, finished at the switchover).
#  - on a: a vCPU and a DIMM plugged; a pattern written at 2 MiB;
#  - --disk-to refused without --via;
#  - a migration cut short by its --timeout, on a terminal (script): the
#    progress line is drawn there; QEMU's own migration parameters on the
#    source are the --bandwidth and --max-downtime given, and the memory
#    sent stays within that rate; the VM runs on in the same QEMU, b
#    keeps neither a runtime directory nor the copy of the disk;
#  - the migration: --bandwidth and --max-downtime given; progress as
#    JSON lines shows the disk copied, then memory;
#  - on b: the vCPU and DIMM under their ids, the guest seen through its
#    agent, the disk location b's image; the records went on without an
#    error; a pattern written on b at 3 MiB;
#  - b's image holds both patterns; a's image the first only;
#  - hot-plugging on b.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-agent.bash"
. "$(dirname "$0")/hosts.bash"
use_qemu10
hosts_up

img_a=$SCRATCH/host-a/guest.img img_b=$SCRATCH/host-b/guest.img
"$MORTAR" img create "$img_a" 64M >/dev/null
mortar_on a vm start m --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 \
	--max-cpus 2 --memory 256M --max-memory 512M --slots 2 --disk "$img_a" \
	--disk-protocol nbd --append mortar.io=records --wait --timeout 120
mortar_on a vm cpus m 2 --wait --timeout 60
mortar_on a vm mem add m 128M --id d1 --wait --timeout 60

GUEST_AGENT=qga_socket QGA_SOCKET=$SCRATCH/host-a/m/qga.sock
guest_wait_agent 120 || fail "the guest agent does not answer on host a"
in_guest() { guest_exec 'cat /sys/devices/system/cpu/online; grep MemTotal /proc/meminfo' | tr -s ' '; }
seen_a=$(in_guest)
echo "the guest on a: $seen_a"
write_at() {	# BYTE MIB: 64 KiB of BYTE at MIB MiB, synced
	guest_exec "dd if=/dev/zero bs=65536 count=1 2>/dev/null | tr '\\0' '\\$1' |
		dd of=/dev/vda bs=65536 seek=$(($2 * 16)) conv=fsync 2>/dev/null"
}
write_at 273 2 || fail "the guest cannot write on a"
io_a=$(grep -ao 'MORTAR-GUEST-IO seq=[0-9]* slot=[0-9]* [a-z]*' "$SCRATCH/host-a/m/serial.log" | tail -n 1)
[[ $io_a == *" ok" ]] || fail "the guest's disk records on a: '$io_a'"

expect_error_line "--disk-to copies a disk to another host's storage: give --via too" \
	mortar_on a vm migrate m --disk-to "$img_b"

# --- cut short: 1 MiB/s leaves most of the memory unsent at 8 s ---
pid_a=$(cat "$SCRATCH/host-a/m/qemu.pid")
rc=0 t0=$SECONDS
script -qec "$(via_cmd a) vm migrate m --to tcp:$HOST_B:4444 --via '$(via_cmd b)' \
	--disk-to 0=$img_b --bandwidth 1M --max-downtime 321 --timeout 8" "$SCRATCH/tty.log" \
	>/dev/null </dev/null || rc=$?
tr '\r' '\n' <"$SCRATCH/tty.log" | grep -a "migrate" | tail -n 3
((rc == 1)) || fail "the migration cut short by --timeout exited $rc, want 1"
grep -aq "the migration did not complete within 8 s" "$SCRATCH/tty.log" ||
	fail "no timeout message on the terminal"
sent=$(tr '\r' '\n' <"$SCRATCH/tty.log" |
	sed -n 's/^migrate: memory *disks 64\/64 MiB, memory \([0-9]*\) MiB sent, .*expected downtime .*/\1/p' | tail -n 1)
[[ -n $sent ]] || fail "no progress line of the memory copy on the terminal"
params=$(MORTAR_VM_DIR=$SCRATCH/host-a vm_qmp m query-migrate-parameters)
expect_eq "max-bandwidth in the source QEMU" "$(jq '.return."max-bandwidth"' <<<"$params")" 1048576
expect_eq "downtime-limit in the source QEMU" "$(jq '.return."downtime-limit"' <<<"$params")" 321
((sent <= 16)) || fail "$sent MiB of memory sent within 8 s at --bandwidth 1M"
expect_eq "the source after the timeout" "$(cat "$SCRATCH/host-a/m/qemu.pid")" "$pid_a"
[[ ! -e $SCRATCH/host-b/m ]] || fail "the migration cut short left $SCRATCH/host-b/m"
# b undoes at once: it once waited 30 s for its copy server, a zombie
# child, and the source, out of patience, killed it before it removed
# its folder (the check above, then, failed now and then)
((SECONDS - t0 < 25)) || fail "the migration cut short by an 8 s timeout took $((SECONDS - t0)) s"
[[ ! -e $img_b ]] || fail "the migration cut short left b's copy of the disk"

mortar_on a vm migrate m --to "tcp:$HOST_B:4444" --via "$(via_cmd b)" --disk-to "0=$img_b" \
	--bandwidth 200M --max-downtime 500 --wait --timeout 120 --output=json \
	>"$SCRATCH/progress.json" || guest_broke_on b m
cat "$SCRATCH/progress.json"
jq -se 'any(.[]; .phase == "disks" and .disk_total == 67108864)' "$SCRATCH/progress.json" \
	>/dev/null || fail "no progress line while the disk was copied"
jq -se 'any(.[]; .phase == "memory" and .ram_done > 0)' "$SCRATCH/progress.json" >/dev/null ||
	fail "no progress line while memory was copied"
[[ ! -e $SCRATCH/host-a/m ]] || fail "host a still has the VM's directory"

st=$(mortar_on b vm status --output=json m)
expect_eq "vCPUs on b" "$(jq -r .cpus.present <<<"$st")" 2
expect_eq "DIMM on b" "$(jq -r '[.memory.devices[].id] | join(" ")' <<<"$st")" d1
expect_eq "the disk on b" "$(jq -r '.disks[0].location' <<<"$st")" "$img_b"
QGA_SOCKET=$SCRATCH/host-b/m/qga.sock
expect_eq "what the guest sees on b (agent)" "$(in_guest)" "$seen_a"
write_at 314 3 || fail "the guest cannot write on b"
records_went_on b m "$io_a"

mortar_on b vm mem add m 128M --id d2 --wait --timeout 60
mortar_on b vm stop --force m >/dev/null
"$MORTAR" io -r "$img_b" -c "read -P 0xbb 2M 64K" -c "read -P 0xcc 3M 64K" >/dev/null ||
	fail "what the guest wrote on a and on b is not in b's image"
"$MORTAR" io -r "$img_a" -c "read -P 0xbb 2M 64K" >/dev/null ||
	fail "what the guest wrote on a is not in a's image"
"$MORTAR" io -r "$img_a" -c "read -P 0xcc 3M 64K" >/dev/null 2>&1 &&
	fail "a's image has what the guest wrote on b"
echo "ok: disk records $seq_a on a, up to $io_b on b; the disk moved"
echo PASS
