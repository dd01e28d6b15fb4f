#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The QEMU guest agent: an x86 guest that neither onlines what is plugged
# nor prints status lines (mortar.console=0, memhp_default_state=offline)
# but runs qemu-ga.  Mortar must see it through the agent and online the
# vCPUs and memory through it:
#  - start --wait returns (the agent answered; the console is silent);
#  - status says the view comes from the agent;
#  - vCPUs plugged without --wait stay offline in the guest (nobody onlines
#    them); --wait onlines them through the agent and the guest shows them;
#  - a DIMM: its memory blocks come online through the agent.
. "$(dirname "$0")/lib.sh"

"$MORTAR" vm start a --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 --max-cpus 3 \
	--memory 512M --max-memory 1G --slots 2 \
	--append "mortar.console=0 memhp_default_state=offline" --wait --timeout 120
on_exit "'$MORTAR' vm stop --force a >/dev/null 2>&1"
log=$MORTAR_VM_DIR/a/serial.log
grep -aq "MORTAR-GUEST-AGENT started" "$log" || fail "qemu-ga did not start in the guest"
! grep -aq "MORTAR-GUEST v1" "$log" || fail "the guest printed status lines with mortar.console=0"
st=$("$MORTAR" vm status --output=json a)
expect_eq "view source" "$(jq -r .guest.source <<<"$st")" agent
expect_eq "guest vCPUs at boot" "$(jq -r .guest.cpus <<<"$st")" 1
m0=$(jq -r .guest.mem_kib <<<"$st")

# plugged, not onlined: QEMU has 3, the guest still 1
"$MORTAR" vm cpus a 3
sleep 2
st=$("$MORTAR" vm status --output=json a)
expect_eq "QEMU vCPUs" "$(jq -r .cpus.present <<<"$st")" 3
expect_eq "guest vCPUs before anyone onlines them" "$(jq -r .guest.cpus <<<"$st")" 1
# --wait onlines them through the agent
"$MORTAR" vm cpus a 3 --wait --timeout 60
st=$("$MORTAR" vm status --output=json a)
expect_eq "guest vCPUs after --wait" "$(jq -r .guest.cpus <<<"$st")" 3
expect_eq "guest vCPU list" "$(jq -r .guest.cpu_list <<<"$st")" 0-2

"$MORTAR" vm mem add a 256M --wait --timeout 60
m1=$("$MORTAR" vm status --output=json a | jq -r .guest.mem_kib)
expect_eq "online memory growth (KiB)" $((m1 - m0)) $((256 * 1024))
"$MORTAR" vm stop --force a >/dev/null
echo PASS
