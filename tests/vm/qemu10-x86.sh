#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# QEMU 10 beside the distribution's 7.2 (scripts/qemu-backports.sh):
#  - --qemu with a binary that does not run is refused before anything
#    starts;
#  - a VM started with --qemu runs that QEMU: status names the binary,
#    its version and the versioned machine type (pc-q35-10.0), and QEMU
#    got its own data folder (-L);
#  - what 7.2 cannot do (tests/vm/hotplug-x86.sh checks the refusal
#    there): after a vCPU unplug, a vCPU plug and a DIMM plug, each
#    shown by the guest, QEMU alive.
. "$(dirname "$0")/lib.sh"
use_qemu10

expect_error_line "cannot run QEMU '$SCRATCH/none'" \
	"$MORTAR" vm start bad --kernel "$KERNEL" --initrd "$INITRD" --qemu "$SCRATCH/none"
[[ ! -e $MORTAR_VM_DIR/bad ]] || fail "a refused start left $MORTAR_VM_DIR/bad"

"$MORTAR" vm start t --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 \
	--max-cpus 4 --memory 256M --max-memory 1G --slots 2 --wait --timeout 120
on_exit "'$MORTAR' vm stop --force t >/dev/null 2>&1"
st=$("$MORTAR" vm status --output=json t)
expect_eq "QEMU binary" "$(jq -r .qemu.binary <<<"$st")" "$QEMU10"
expect_eq "QEMU version" "$(jq -r .qemu.version <<<"$st")" "$QEMU10_VERSION"
expect_eq "machine type" "$(jq -r .qemu.machine <<<"$st")" "pc-q35-${QEMU10_VERSION%.*}"
pid=$(jq -r .pid <<<"$st")
tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qx -- "-L" || fail "QEMU 10 runs without its own data folder"
"$MORTAR" vm status t | grep -q "QEMU $QEMU10_VERSION ($QEMU10), machine pc-q35" ||
	fail "vm status does not say which QEMU runs: $("$MORTAR" vm status t)"

"$MORTAR" vm cpus t 3 --wait --timeout 60
"$MORTAR" vm cpus t 2 --wait --timeout 60
expect_eq "guest vCPUs after the unplug" "$(guest_field t cpus)" 2
mem0=$(guest_field t mem_kib)
"$MORTAR" vm cpus t 3 --wait --timeout 60
expect_eq "guest vCPUs after a plug that follows an unplug" "$(guest_field t cpus)" 3
"$MORTAR" vm mem add t 256M --wait --timeout 60
mem1=$(guest_field t mem_kib)
((mem1 - mem0 >= 250 * 1024)) || fail "MemTotal grew by $((mem1 - mem0)) KiB, want 256 MiB"
expect_eq "QEMU alive after all" "$("$MORTAR" vm status --output=json t | jq -r .state)" running
"$MORTAR" vm stop --force t >/dev/null
echo PASS
