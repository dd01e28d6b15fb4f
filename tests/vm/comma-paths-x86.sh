#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Paths with commas reach QEMU whole.  QEMU's option lists (-chardev,
# -qmp, -blockdev, -object) end a value at a comma unless it is doubled,
# so a runtime directory, a VM name or a disk with one in its path gave
# QEMU cut-off socket, console and disk paths until mortar doubled them.
# A VM named "a,b" in the runtime directory "vms,1" with a disk "d,1.img":
#  - start --wait returns: the guest reported on the console file QEMU
#    opened at the whole path;
#  - status reaches QMP through its socket (running) and the guest's view;
#  - a DIMM plugs and the guest sees it;
#  - the guest wrote its disk through the disk's socket at the whole path;
#  - stop leaves nothing behind.
. "$(dirname "$0")/lib.sh"

export MORTAR_VM_DIR=$SCRATCH/vms,1
data=$SCRATCH/d,1.img
"$MORTAR" img create "$data" 32M >/dev/null
"$MORTAR" vm start a,b --kernel "$KERNEL" --initrd "$INITRD" --memory 512M \
	--max-memory 1G --slots 2 --disk "$data" --append mortar.disk=write --wait --timeout 120
on_exit "'$MORTAR' vm stop --force a,b >/dev/null 2>&1"
dir=$MORTAR_VM_DIR/a,b
for f in serial.log qmp.sock qga.sock disk0.sock qemu.pid; do
	[[ -e $dir/$f ]] || fail "$dir/$f is missing: QEMU was given a cut-off path"
done
st=$("$MORTAR" vm status --output=json a,b)
expect_eq "state" "$(jq -r .state <<<"$st")" running
expect_eq "guest vCPUs" "$(guest_field a,b cpus)" 1
mem0=$(guest_field a,b mem_kib)
"$MORTAR" vm mem add a,b 128M --wait --timeout 60
mem1=$(guest_field a,b mem_kib)
((mem1 - mem0 >= 120 * 1024)) || fail "MemTotal grew by $((mem1 - mem0)) KiB, want 128 MiB"
grep -aq "MORTAR-GUEST-DISK ok" "$dir/serial.log" || fail "the guest did not write its disk"
"$MORTAR" vm stop a,b >/dev/null
expect_eq "what the guest wrote" "$(head -c 24 "$data")" MORTAR-DISK-TEST-PATTERN
[[ ! -e $dir ]] || fail "stop left $dir"
echo PASS
