#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migration of a guest that Mortar sees only through its QEMU guest agent
# (mortar.console=0: no status lines, nothing onlined by the guest itself,
# as with distribution images), on QEMU 10 (scripts/qemu-backports.sh):
#  - a vCPU and a DIMM plugged and onlined through the agent;
#  - vm migrate --wait returns once the agent, on the target's own port
#    (qga-target.sock until the source is gone), shows the same vCPUs and
#    memory; the source QEMU is gone;
#  - status reads the guest through the agent on the target;
#  - plugging again on the target, onlined through its agent;
#  - a second migration, from that target (its JSON result: QEMU's own
#    time within Mortar's, memory sent); 512 MiB at boot, so that the
#    boot memory's block spans more than the first DIMM's (QEMU 10.0.2
#    aborted in that migration when the target's DIMMs came first).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-agent.bash"
use_qemu10

"$MORTAR" vm start a --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 \
	--max-cpus 3 --memory 512M --max-memory 1G --slots 2 \
	--append "mortar.console=0 memhp_default_state=offline" --wait --timeout 120
on_exit "'$MORTAR' vm stop --force a >/dev/null 2>&1"
"$MORTAR" vm cpus a 2 --wait --timeout 60
"$MORTAR" vm mem add a 256M --id d1 --wait --timeout 60
st=$("$MORTAR" vm status --output=json a)
expect_eq "view source before" "$(jq -r .guest.source <<<"$st")" agent
mem0=$(jq -r .guest.mem_kib <<<"$st")
pid0=$(jq -r .pid <<<"$st")

"$MORTAR" vm migrate a --wait --timeout 120
st=$("$MORTAR" vm status --output=json a)
pid1=$(jq -r .pid <<<"$st")
[[ $pid1 != "$pid0" ]] || fail "the VM still runs in the source QEMU $pid0"
[[ $(awk '{ print $3 }' "/proc/$pid0/stat" 2>/dev/null) =~ ^(Z|X|)$ ]] ||
	fail "the source QEMU $pid0 still runs"
expect_eq "view source on the target" "$(jq -r .guest.source <<<"$st")" agent
expect_eq "guest vCPUs on the target" "$(jq -r .guest.cpus <<<"$st")" 2
expect_eq "guest memory on the target (KiB)" "$(jq -r .guest.mem_kib <<<"$st")" "$mem0"
expect_eq "DIMM replayed under its id" "$(jq -r '.memory.devices[0].id' <<<"$st")" d1
[[ -S $MORTAR_VM_DIR/a/qga.sock && ! -e $MORTAR_VM_DIR/a/qga-target.sock ]] ||
	fail "the target's agent socket did not take the VM's name: $(ls "$MORTAR_VM_DIR/a")"
# the guest answers through that socket directly, too
GUEST_AGENT=qga_socket QGA_SOCKET=$MORTAR_VM_DIR/a/qga.sock
expect_eq "online vCPUs in the guest" "$(guest_exec 'cat /sys/devices/system/cpu/online')" 0-1

"$MORTAR" vm cpus a 3 --wait --timeout 60
"$MORTAR" vm mem add a 256M --id d2 --wait --timeout 60
st=$("$MORTAR" vm status --output=json a)
expect_eq "guest vCPUs after a plug on the target" "$(jq -r .guest.cpus <<<"$st")" 3
expect_eq "guest memory growth on the target (KiB)" $(($(jq -r .guest.mem_kib <<<"$st") - mem0)) \
	$((256 * 1024))

# Again: the source is a former target now, started with the file names
# the new target gets, which it unlinks as it quits (the VM was lost and
# its new QEMU left running, before adopt_here linked them first)
res=$("$MORTAR" vm migrate a --wait --timeout 120 --output=json | tail -n 1)
# (QEMU's own time is within Mortar's, which adds the target's start)
jq -e '.qemu_total_ms > 0 and .qemu_total_ms <= .total_ms and .ram_bytes > 1048576' \
	<<<"$res" >/dev/null || fail "the result of a migration: $res"
st=$("$MORTAR" vm status --output=json a)
[[ $(jq -r .pid <<<"$st") != "$pid1" ]] || fail "a second migration left the VM in QEMU $pid1"
expect_eq "state after a second migration" "$(jq -r .state <<<"$st")" running
expect_eq "guest vCPUs after a second migration" "$(jq -r .guest.cpus <<<"$st")" 3
[[ -S $MORTAR_VM_DIR/a/qmp.sock && -S $MORTAR_VM_DIR/a/qga.sock ]] &&
	! ls "$MORTAR_VM_DIR/a" | grep -Eq '\.new$|-target\.(pid|sock)$' ||
	fail "files left after a second migration: $(ls "$MORTAR_VM_DIR/a")"
"$MORTAR" vm stop --force a >/dev/null
echo PASS
