#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar vm on a real x86 q35 guest under TCG (Debian's cloud kernel, a
# busybox init that reports what it sees on the console):
#  - boot with 2 NUMA nodes, 1 of 4 vCPUs, 512 MiB of 2 GiB, a data disk
#    that is a Mortar export (vhost-user-blk, mortar vm's default);
#  - every pre-validation refusal before QEMU sees it (128 MiB blocks,
#    node ids, maxmem, maxcpus, boot CPU), QEMU still running and
#    unchanged after them;
#  - 1 -> 4 vCPUs, the guest onlines them; a 256 MiB DIMM on node 1, the
#    guest's MemTotal and node 1 grow; the DIMM removed, they shrink;
#    4 -> 2 vCPUs LAST, then further plugs refused (QEMU 7.2 bug guard);
#  - the guest wrote its disk through the export: read back after stop
#    (the DIMM changed the memory the disk server maps, under it);
#  - QEMU killed: status says dead, the same name starts again.
. "$(dirname "$0")/lib.sh"

data=$SCRATCH/data.img
"$MORTAR" img create "$data" 64M >/dev/null
"$MORTAR" vm start t --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 --max-cpus 4 \
	--memory 512M --max-memory 2G --slots 4 --numa 2 --disk "$data" \
	--append mortar.disk=write --wait --timeout 120
on_exit "'$MORTAR' vm stop --force t >/dev/null 2>&1"
st=$("$MORTAR" vm status --output=json t)
expect_eq "state" "$(jq -r .state <<<"$st")" running
expect_eq "vCPUs present" "$(jq -r .cpus.present <<<"$st")" 1
expect_eq "the disk's protocol" "$(jq -r '.disks[0].protocol' <<<"$st")" vhost-user
expect_eq "QEMU version (the distribution's)" "$(jq -r .qemu.version <<<"$st")" \
	"$(qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([0-9.]*\).*/\1/p')"
expect_eq "guest vCPUs" "$(guest_field t cpus)" 1
expect_eq "NUMA nodes the guest sees" "$(guest_field t nodes | tr ',' '\n' | wc -l)" 2
mem0=$(guest_field t mem_kib)
node1_0=$(guest_field t nodes | cut -d, -f2)

# --- refusals, each naming its rule; QEMU unchanged ---
expect_error_line "128 MiB blocks" "$MORTAR" vm mem add t 100M
expect_error_line "node 5: this VM has 2 NUMA nodes" "$MORTAR" vm mem add t 256M --node 5
expect_error_line "above --max-memory 2048 MiB" "$MORTAR" vm mem add t 2G
expect_error_line "started with --max-cpus 4" "$MORTAR" vm cpus t 9
expect_error_line "boot vCPU cannot be unplugged" "$MORTAR" vm cpus t 0
expect_error_line "no VM named 'nope'" "$MORTAR" vm cpus nope 2
st=$("$MORTAR" vm status --output=json t)
expect_eq "vCPUs after refusals" "$(jq -r .cpus.present <<<"$st")" 1
expect_eq "DIMMs after refusals" "$(jq -r '.memory.devices | length' <<<"$st")" 0

# --- CPUs up ---
"$MORTAR" vm cpus t 4 --wait --timeout 60
expect_eq "guest vCPUs after cpus 4" "$(guest_field t cpus)" 4
expect_eq "guest online list" "$(guest_field t cpu_list)" 0-3
expect_eq "QEMU vCPUs" "$("$MORTAR" vm status --output=json t | jq -r .cpus.present)" 4

# --- a DIMM on node 1 ---
"$MORTAR" vm mem add t 256M --node 1 --id d1 --wait --timeout 60
mem1=$(guest_field t mem_kib)
node1_1=$(guest_field t nodes | cut -d, -f2)
(( mem1 - mem0 >= 250 * 1024 )) || fail "guest MemTotal grew by $((mem1 - mem0)) KiB, want 256 MiB"
(( node1_1 - node1_0 >= 250 * 1024 )) || fail "node 1 grew by $((node1_1 - node1_0)) KiB"
echo "ok: guest MemTotal $mem0 -> $mem1 KiB, node 1 $node1_0 -> $node1_1 KiB"
st=$("$MORTAR" vm status --output=json t)
expect_eq "DIMM in status" "$(jq -r '.memory.devices[0] | "\(.id) \(.size) \(.node)"' <<<"$st")" "d1 268435456 1"
expect_eq "guest_total in status" "$(jq -r .memory.guest_total <<<"$st")" $((mem1 * 1024))

"$MORTAR" vm mem remove t d1 --wait --timeout 60
mem2=$(guest_field t mem_kib)
(( mem2 <= mem0 + 1024 )) || fail "guest MemTotal after removal: $mem2 KiB (was $mem0)"
echo "ok: DIMM removed, guest MemTotal back to $mem2 KiB"

# --- CPUs down, last: QEMU 7.2 cannot plug after an unplug ---
"$MORTAR" vm cpus t 2 --wait --timeout 60
expect_eq "guest vCPUs after cpus 2" "$(guest_field t cpus)" 2
ver=$(jq -r .qemu_version "$MORTAR_VM_DIR/t/state.json")
if (( ver < 100002 )); then
	expect_error_line "fixed in QEMU 10.0.2" "$MORTAR" vm cpus t 3
	expect_error_line "fixed in QEMU 10.0.2" "$MORTAR" vm mem add t 128M
fi
expect_eq "QEMU alive after all" "$("$MORTAR" vm status --output=json t | jq -r .state)" running

# --- the disk the guest wrote through Mortar's export ---
grep -aq "MORTAR-GUEST-DISK ok" "$MORTAR_VM_DIR/t/serial.log" || fail "the guest did not write its disk"
"$MORTAR" vm stop --force t >/dev/null
expect_eq "what the guest wrote" "$(head -c 24 "$data")" MORTAR-DISK-TEST-PATTERN
[[ ! -e $MORTAR_VM_DIR/t ]] || fail "stop left $MORTAR_VM_DIR/t"

# --- QEMU killed under mortar ---
"$MORTAR" vm start t --kernel "$KERNEL" --initrd "$INITRD" --memory 256M >/dev/null
kill -9 "$(cat "$MORTAR_VM_DIR/t/qemu.pid")"
for ((i = 0; i < 50; i++)); do
	[[ $("$MORTAR" vm status --output=json t | jq -r .state) == dead ]] && break
	sleep 0.1
done
expect_eq "state after kill -9" "$("$MORTAR" vm status --output=json t | jq -r .state)" dead
expect_error_line "is not running" "$MORTAR" vm cpus t 1
"$MORTAR" vm start t --kernel "$KERNEL" --initrd "$INITRD" --memory 256M --wait --timeout 120 >/dev/null
expect_eq "restarted" "$("$MORTAR" vm status --output=json t | jq -r .state)" running
"$MORTAR" vm stop --force t >/dev/null
echo PASS
