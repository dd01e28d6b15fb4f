#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pseries on QEMU 10, migrated twice on one host with a DIMM plugged on
# the way: the second migration starts from a target whose DIMM is on its
# command line.  On x86 that order (the DIMM's memory block made before
# the boot memory's) made QEMU 10.0.2 abort in the next outgoing
# migration (8d822bf, migrate-agent-x86), and pseries too: its second
# migration aborted the same way (the VM lost) until the target declared
# its boot memory first as ppc_spapr.ram.  The guest must report the same
# vCPUs and memory after each move, and take a DIMM on the last target.
VM_ARCH=ppc64
. "$(dirname "$0")/lib.sh"
use_qemu10

"$MORTAR" vm start t --arch ppc64 --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" \
	--cpus 1 --max-cpus 2 --memory 512M --max-memory 1G --slots 2 --wait --timeout 180
on_exit "'$MORTAR' vm stop --force t >/dev/null 2>&1"
"$MORTAR" vm mem add t 256M --id d1 --wait --timeout 90
before=$(guest_line t | cut -d' ' -f4-)
echo "the guest before: $before"
for round in 1 2; do
	pid0=$(cat "$MORTAR_VM_DIR/t/qemu.pid")
	"$MORTAR" vm migrate t --wait --timeout 180 ||
		fail "migration $round: $(tail -n 3 "$MORTAR_VM_DIR"/t/qemu*.log 2>/dev/null)"
	pid1=$(cat "$MORTAR_VM_DIR/t/qemu.pid")
	[[ $pid1 != "$pid0" ]] || fail "migration $round: the VM still runs in QEMU $pid0"
	! kill -0 "$pid0" 2>/dev/null || fail "migration $round: the source QEMU $pid0 still runs"
	expect_eq "what the guest reports after migration $round" \
		"$(guest_line t | cut -d' ' -f4-)" "$before"
	st=$("$MORTAR" vm status --output=json t)
	expect_eq "the DIMM after migration $round" \
		"$(jq -r '[.memory.devices[].id] | join(" ")' <<<"$st")" d1
done
"$MORTAR" vm mem add t 256M --id d2 --wait --timeout 90
expect_eq "DIMMs after the plug on the target" "$("$MORTAR" vm status --output=json t | jq -r '[.memory.devices[].id] | join(" ")')" "d1 d2"
[[ $(guest_line t) != *"$before"* ]] || fail "the guest does not show the DIMM plugged on the target"
"$MORTAR" vm stop t >/dev/null
echo PASS
