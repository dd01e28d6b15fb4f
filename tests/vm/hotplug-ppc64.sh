#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar vm on a real pseries guest under TCG (Debian's powerpc64le
# kernel, QEMU's minimal firmware, the same busybox init as x86):
#  - boot 1 of 4 vCPUs (cores), 512 MiB of 2 GiB, a data disk that is a
#    Mortar export (vhost-user-blk);
#  - refusals before QEMU sees them: 100 MiB and 128 MiB DIMMs (pseries
#    takes 256 MiB granules), 384 MiB of boot memory, 33 slots,
#    virtio-mem;
#  - cores 1 -> 3 -> 2 and back to 3, the guest onlines and offlines them
#    itself; a 256 MiB DIMM, the guest's MemTotal grows; removed, it
#    shrinks;
#  - after a CPU unplug, a DIMM plug is refused (QEMU 7.2 on pseries dies
#    on it), CPU plugs go on;
#  - one vCPU into a chosen slot (cpu add --slot --id) and out again (cpu
#    remove), taken and missing slots and unknown ids refused;
#  - the guest wrote its disk through the export: read back after stop.
VM_ARCH=ppc64
. "$(dirname "$0")/lib.sh"

# --- refusals at start ---
expect_error_line "multiples of 256 MiB \(pseries" \
	"$MORTAR" vm start bad --arch ppc64 --kernel "$KERNEL" --initrd "$INITRD" --memory 384M
expect_error_line "pseries takes at most 32 DIMM slots" \
	"$MORTAR" vm start bad --arch ppc64 --kernel "$KERNEL" --initrd "$INITRD" \
	--memory 512M --max-memory 16G --slots 33
expect_error_line "pseries has no virtio-mem" \
	"$MORTAR" vm start bad --arch ppc64 --kernel "$KERNEL" --initrd "$INITRD" \
	--memory 512M --max-memory 2G --virtio-mem 512M

data=$SCRATCH/data.img
"$MORTAR" img create "$data" 64M >/dev/null
"$MORTAR" vm start p --arch ppc64 --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 \
	--max-cpus 6 --memory 512M --max-memory 2G --slots 4 --disk "$data" \
	--append mortar.disk=write --wait --timeout 120
on_exit "'$MORTAR' vm stop --force p >/dev/null 2>&1"
st=$("$MORTAR" vm status --output=json p)
expect_eq "arch" "$(jq -r .arch <<<"$st")" ppc64
expect_eq "vCPUs present" "$(jq -r .cpus.present <<<"$st")" 1
expect_eq "guest vCPUs" "$(guest_field p cpus)" 1
mem0=$(guest_field p mem_kib)

expect_error_line "multiples of 256 MiB" "$MORTAR" vm mem add p 100M
expect_error_line "multiples of 256 MiB" "$MORTAR" vm mem add p 128M
expect_eq "DIMMs after refusals" "$("$MORTAR" vm status --output=json p | jq -r '.memory.devices | length')" 0

# --- memory first (a CPU unplug forbids DIMM plugs on QEMU 7.2) ---
"$MORTAR" vm mem add p 256M --id d1 --wait --timeout 60
mem1=$(guest_field p mem_kib)
((mem1 - mem0 >= 250 * 1024)) || fail "MemTotal grew by $((mem1 - mem0)) KiB, want 256 MiB"
"$MORTAR" vm mem remove p d1 --wait --timeout 60
mem2=$(guest_field p mem_kib)
((mem1 - mem2 >= 250 * 1024)) || fail "MemTotal shrank by $((mem1 - mem2)) KiB, want 256 MiB"
echo "ok: guest MemTotal $mem0 -> $mem1 -> $mem2 KiB"

# --- cores ---
"$MORTAR" vm cpus p 3 --wait --timeout 60
expect_eq "guest vCPUs after cpus 3" "$(guest_field p cpus)" 3
"$MORTAR" vm cpus p 2 --wait --timeout 60
expect_eq "guest vCPUs after cpus 2" "$(guest_field p cpus)" 2
expect_eq "QEMU vCPUs" "$("$MORTAR" vm status --output=json p | jq -r .cpus.present)" 2
qv=$(qemu-system-ppc64 --version | sed -n '1s/.*version \([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*/\1 \2 \3/p')
read -r qmaj qmin qmic <<<"$qv"
if ((qmaj * 10000 + qmin * 100 + qmic < 100002)); then
	expect_error_line "dies on the next DIMM plug" "$MORTAR" vm mem add p 256M
fi
"$MORTAR" vm cpus p 3 --wait --timeout 60
expect_eq "guest vCPUs after cpus 3 again" "$(guest_field p cpus)" 3
expect_eq "state" "$("$MORTAR" vm status --output=json p | jq -r .state)" running

# --- one vCPU where asked ---
expect_error_line "slot 0 is taken \(by a boot vCPU\)" "$MORTAR" vm cpu add p --slot 0
expect_error_line "slot 9: this VM has slots 0-5" "$MORTAR" vm cpu add p --slot 9
"$MORTAR" vm cpu add p --slot 5 --id c5 --wait --timeout 60
expect_eq "guest vCPUs after cpu add" "$(guest_field p cpus)" 4
st=$("$MORTAR" vm status --output=json p)
expect_eq "slot 5 plugged" "$(jq -r '.cpus.slots[] | select(.props["core-id"] == 5) | .plugged' <<<"$st")" true
expect_error_line "no hot-plugged vCPU 'nope'.*boot vCPUs cannot be unplugged" \
	"$MORTAR" vm cpu remove p nope
"$MORTAR" vm cpu remove p c5 --wait --timeout 60
expect_eq "guest vCPUs after cpu remove" "$(guest_field p cpus)" 3
expect_eq "slot 5 free again" \
	"$("$MORTAR" vm status --output=json p | jq -r '.cpus.slots[] | select(.props["core-id"] == 5) | .plugged')" false

# --- the disk the guest wrote through the export ---
grep -aq "MORTAR-GUEST-DISK ok" "$MORTAR_VM_DIR/p/serial.log" || fail "the guest did not write its disk"
"$MORTAR" vm stop p >/dev/null
head -c 24 "$data" | grep -q "MORTAR-DISK-TEST-PATTERN" || fail "the guest's write is not in $data"
echo PASS
