#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar vm migrate: on KVM or QEMU >= 10 a 2-node guest with a Mortar
# disk (over NBD here; vhost-migrate-x86 moves a vhost-user one) and
# a hot-plugged DIMM moves to a target QEMU started from
# state.json (the DIMM cold-plugged with the same id), and the guest,
# printing on the target's console, reports the same vCPUs and per-node
# memory; `vm status` follows the target.  On QEMU < 10 under TCG (this
# machine) migration is refused with the measured reason: such guests
# broke on the target in about 1 of 3 trials (tests/vm/manual/ runs the
# migration anyway, with --force); the VM keeps running untouched.
. "$(dirname "$0")/lib.sh"

data=$SCRATCH/data.img
"$MORTAR" img create "$data" 32M >/dev/null
"$MORTAR" vm start m --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --max-cpus 4 \
	--memory 512M --max-memory 2G --slots 4 --numa 2 --disk "$data" --disk-protocol nbd \
	--wait --timeout 120
on_exit "'$MORTAR' vm stop --force m >/dev/null 2>&1"
"$MORTAR" vm mem add m 256M --node 1 --id big --wait --timeout 60
before=$(guest_line m | cut -d' ' -f4-)
pid0=$(cat "$MORTAR_VM_DIR/m/qemu.pid")
st=$(cat "$MORTAR_VM_DIR/m/state.json")
if [[ $(jq -r .accel <<<"$st") == tcg ]] && (( $(jq -r .qemu_version <<<"$st") < 100000 )); then
	expect_error_line "under TCG, guests migrated here broke on the target.*--force" \
		"$MORTAR" vm migrate m
	expect_eq "still the same QEMU" "$(cat "$MORTAR_VM_DIR/m/qemu.pid")" "$pid0"
	expect_eq "still running" "$("$MORTAR" vm status --output=json m | jq -r .state)" running
	[[ ! -e $MORTAR_VM_DIR/m/qmp-target.sock ]] || fail "a refused migration left a target"
else
	"$MORTAR" vm migrate m --wait --timeout 120
	pid1=$(cat "$MORTAR_VM_DIR/m/qemu.pid")
	[[ $pid1 != "$pid0" ]] || fail "the VM still runs in the source QEMU $pid0"
	expect_eq "what the guest reports on the target" "$(guest_line m | cut -d' ' -f4-)" "$before"
	expect_eq "pid in status" "$("$MORTAR" vm status --output=json m | jq -r .pid)" "$pid1"
fi
"$MORTAR" vm stop --force m >/dev/null
echo PASS
