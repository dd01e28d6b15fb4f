#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migration after hotplug between two hosts, pseries on QEMU 10 (the
# seeds' case: 256 MiB DIMMs, cores as spapr-cpu-core): network
# namespaces a and b (tests/vm/hosts.bash), each with a veth into the
# GlusterFS pool's bridge; the guest's disk an image on a volume both
# reach, served by a mortar serve on each host (NBD), written by the guest
# all along (a record a second).
#  - on a: a 256 MiB DIMM plugged;
#  - migrate over TCP from a to b (--via), with --wait;
#  - on b: the DIMM under its id; the guest shows the same vCPUs and
#    memory through its agent on b (Debian's ppc64el qemu-ga, in the
#    initramfs since scripts/guest-assets.sh fetches it) and on its
#    console; its disk writes went on without an error, and its last
#    record is in the image;
#  - hot-plugging on b: a core and another DIMM, shown by the guest;
#  - migrating on with the plugged core is refused before anything
#    starts (under TCG a pseries guest with a hot-plugged core never ran
#    again on the target: 5 of 5 trials on QEMU 10.0.2).
VM_ARCH=ppc64
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-agent.bash"
. "$(dirname "$0")/../gluster/lib.sh"
. "$(dirname "$0")/hosts.bash"
use_qemu10
hosts_up
hosts_reach_gluster

vol=mortar-migp$$
gluster_volume "$vol"
disk=gluster://$GLUSTER_HOST/$vol/guest.img
"$MORTAR" img create "$disk" 64M >/dev/null

mortar_on a vm start p --arch ppc64 --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" \
	--cpus 1 --max-cpus 3 --memory 512M --max-memory 1G --slots 2 --disk "$disk" \
	--disk-protocol nbd --append mortar.io=records --wait --timeout 180
mortar_on a vm mem add p 256M --id d1 --wait --timeout 90
guest_on() { MORTAR_VM_DIR=$SCRATCH/host-$1 guest_line p | cut -d' ' -f4-; }
line_a=$(guest_on a)
echo "the guest on a: $line_a"
[[ $line_a == *"cpu_list=0 "* ]] || fail "the guest on a does not show vCPU 0 alone: $line_a"
GUEST_AGENT=qga_socket QGA_SOCKET=$SCRATCH/host-a/p/qga.sock
guest_wait_agent 120 || fail "the guest agent does not answer on host a"
in_guest() {	# what the guest itself sees: online vCPUs, MemTotal
	guest_exec 'cat /sys/devices/system/cpu/online; grep MemTotal /proc/meminfo' | tr -s ' '
}
seen_a=$(in_guest)
echo "the guest on a (agent): $seen_a"
[[ $seen_a == 0* ]] || fail "the agent on a: '$seen_a'"
io_a=$(grep -ao 'MORTAR-GUEST-IO seq=[0-9]* slot=[0-9]* [a-z]*' "$SCRATCH/host-a/p/serial.log" | tail -n 1)
[[ $io_a == *" ok" ]] || fail "the guest's disk records on a: '$io_a'"

mortar_on a vm migrate p --to "tcp:$HOST_B:4444" --via "$(via_cmd b)" --wait --timeout 180 ||
	guest_broke_on b p
[[ ! -e $SCRATCH/host-a/p ]] || fail "host a still has the VM's directory"

st=$(mortar_on b vm status --output=json p)
expect_eq "state on b" "$(jq -r .state <<<"$st")" running
expect_eq "DIMM on b" "$(jq -r '[.memory.devices[].id] | join(" ")' <<<"$st")" d1
expect_eq "what the guest reports on b (console)" "$(guest_on b)" "$line_a"
QGA_SOCKET=$SCRATCH/host-b/p/qga.sock
expect_eq "what the guest sees on b (agent)" "$(in_guest)" "$seen_a"
records_went_on b p "$io_a"

# --- hot-plugging again, on b ---
mortar_on b vm cpus p 2 --wait --timeout 90
mortar_on b vm mem add p 256M --id d2 --wait --timeout 90
for ((i = 0; i < 50; i++)); do
	line_b=$(guest_on b)
	[[ $line_b == *"cpu_list=0-1 "* ]] && break
	sleep 0.2
done
echo "the guest on b after the plugs: $line_b"
[[ $line_b == *"cpu_list=0-1 "* ]] || fail "vCPUs after a plug on b: $line_b"
mem_a=$(sed -n 's/.*mem_kib=\([0-9]*\).*/\1/p' <<<"$line_a")
mem_b=$(sed -n 's/.*mem_kib=\([0-9]*\).*/\1/p' <<<"$line_b")
((mem_b - mem_a >= 250 * 1024)) || fail "MemTotal grew by $((mem_b - mem_a)) KiB on b, want 256 MiB"
seen_b=$(in_guest)
[[ $seen_b == "0-1"*"MemTotal: $mem_b kB" ]] || fail "the agent on b after the plugs: '$seen_b'"

expect_error_line "refused: VM 'p' is a pseries guest with 1 hot-plugged core .*did not run again on the target" \
	mortar_on b vm migrate p --to "tcp:$HOST_A:4444" --via "$(via_cmd a)"
expect_eq "the VM on b after the refusal" "$(mortar_on b vm status --output=json p | jq -r .state)" running

mortar_on b vm stop --force p >/dev/null
# the last record the guest verified on b is in the image (slot S: 64 KiB
# at S * 64 KiB, "MORTAR-REC seq=N slot=S" over and over)
"$MORTAR" img convert --quiet "$disk" "$SCRATCH/final.img"
slot=$((io_b % 16))
rec=$(dd if="$SCRATCH/final.img" bs=65536 skip=$slot count=1 status=none | head -n 1)
[[ $rec =~ ^MORTAR-REC\ seq=([0-9]+)\ slot=$slot$ ]] && ((BASH_REMATCH[1] >= io_b)) ||
	fail "slot $slot of the image holds '$rec', not record $io_b or a later one"
echo "ok: disk records $seq_a on a, up to $io_b on b, without an error"
echo PASS
