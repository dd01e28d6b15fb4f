#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migration with disks that move, pseries on QEMU 10 (256 MiB DIMMs),
# between two hosts that share no storage: network namespaces a and b on
# a bridge made here (tests/vm/hosts.bash).  The guest's two disks are
# images in a's folder, copied while the guest runs to new images in b's
# folder (--disk-to: QEMU's blockdev-mirror to b's mortar serve, finished
# at the switchover).  The guest writes a block to disk 0 as it boots
# (mortar.disk=write) and a record a second to disk 1 all along
# (mortar.io=records); it has no agent (Debian's ppc64el qemu-ga is not
# in its initramfs): its console tells what it sees.
#  - a guest of two boot vCPUs is refused before anything starts (under
#    TCG pseries guests of more than one vCPU did not run again on the
#    target: tests/vm/manual/migrate-ppc64-smp.sh);
#  - on a: a 256 MiB DIMM plugged;
#  - migrate from a to b, both disks moving, with --wait; progress as
#    JSON lines shows the disks copied;
#  - on b: the DIMM under its id, the disks b's images; the guest reports
#    the same vCPUs and memory; its records went on without an error;
#  - hot-plugging on b: a DIMM;
#  - refusals of going back to a, before anything starts (vm/capacity.c,
#    checked by a's mortar vm incoming), the VM running on in the same
#    QEMU: the kernel it booted from is gone (a copy, removed); a DIMM
#    larger than the machine's available memory is plugged (ram backend,
#    not preallocated: the source maps it, the guest's 64 KiB pages keep
#    its memmap small) and the target, this machine, lacks the memory
#    (not checked under strict overcommit, where QEMU cannot map it);
#  - a core plugged on b (last: with it, moving on is refused, see
#    migrate-gluster-ppc64.sh), the guest shows it;
#  - b's images: the block written on a at boot, the last record written
#    on b; a's disk 1 no record written on b.
VM_ARCH=ppc64
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hosts.bash"
use_qemu10
hosts_up

# A DIMM of the machine's memory less 256 MiB (QEMU can still map it:
# the kernel refuses one mapping larger than the memory, not the sum),
# on top of 1 GiB elsewhere: more than is ever available.
mem_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
big=$(((mem_mib / 256 - 1) * 256))

mortar_on a vm start two --arch ppc64 --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" \
	--cpus 2 --memory 512M >/dev/null
expect_error_line "refused: VM 'two' is a pseries guest with 2 boot vCPUs, .*did not run again on the target.*--force" \
	mortar_on a vm migrate two --to "tcp:$HOST_B:4444" --via "$(via_cmd b)"
[[ ! -e $SCRATCH/host-b/two ]] || fail "a refused migration left $SCRATCH/host-b/two"
mortar_on a vm stop --force two >/dev/null

mkdir -p "$SCRATCH/boot"
cp "$KERNEL" "$SCRATCH/boot/vmlinux"
a0=$SCRATCH/host-a/d0.img a1=$SCRATCH/host-a/d1.img
b0=$SCRATCH/host-b/d0.img b1=$SCRATCH/host-b/d1.img
"$MORTAR" img create "$a0" 32M >/dev/null
"$MORTAR" img create "$a1" 32M >/dev/null
mortar_on a vm start p --arch ppc64 --qemu "$QEMU10" --kernel "$SCRATCH/boot/vmlinux" \
	--initrd "$INITRD" --cpus 1 --max-cpus 2 --memory 512M --max-memory "$((big + 1024))M" \
	--slots 3 --disk "$a0" --disk "$a1" --disk-protocol nbd \
	--append "mortar.disk=write mortar.io=records:/dev/vdb" --wait --timeout 180
mortar_on a vm mem add p 256M --id d1 --wait --timeout 90
guest_on() { MORTAR_VM_DIR=$SCRATCH/host-$1 guest_line p | cut -d' ' -f4-; }
line_a=$(guest_on a)
echo "the guest on a: $line_a"
[[ $line_a == *"cpu_list=0 mem_kib="* ]] || fail "the guest on a does not show vCPU 0 alone: $line_a"
grep -aq "MORTAR-GUEST-DISK ok" "$SCRATCH/host-a/p/serial.log" || fail "the guest did not write disk 0"
io_a=$(grep -ao 'MORTAR-GUEST-IO seq=[0-9]* slot=[0-9]* [a-z]*' "$SCRATCH/host-a/p/serial.log" | tail -n 1)
[[ $io_a == *" ok" ]] || fail "the guest's disk records on a: '$io_a'"

mortar_on a vm migrate p --to "tcp:$HOST_B:4444" --via "$(via_cmd b)" --disk-to "0=$b0" \
	--disk-to "1=$b1" --wait --timeout 180 --output=json >"$SCRATCH/progress.json" ||
	guest_broke_on b p
cat "$SCRATCH/progress.json"
jq -se 'any(.[]; .phase == "disks" and .disk_total == 67108864)' "$SCRATCH/progress.json" \
	>/dev/null || fail "no progress line while the two disks were copied"
[[ ! -e $SCRATCH/host-a/p ]] || fail "host a still has the VM's directory"

st=$(mortar_on b vm status --output=json p)
expect_eq "state on b" "$(jq -r .state <<<"$st")" running
expect_eq "DIMM on b" "$(jq -r '[.memory.devices[].id] | join(" ")' <<<"$st")" d1
expect_eq "the disks on b" "$(jq -r '[.disks[].location] | join(" ")' <<<"$st")" "$b0 $b1"
expect_eq "what the guest reports on b (console)" "$(guest_on b)" "$line_a"
records_went_on b p "$io_a"
first_b=$(grep -ao 'MORTAR-GUEST-IO seq=[0-9]*' "$SCRATCH/host-b/p/serial.log" | head -n 1 | cut -d= -f2)

# --- hot-plugging again, on b ---
mortar_on b vm mem add p 256M --id d2 --wait --timeout 90
line_b=$(guest_on b)
mem_a=$(sed -n 's/.*mem_kib=\([0-9]*\).*/\1/p' <<<"$line_a")
mem_b=$(sed -n 's/.*mem_kib=\([0-9]*\).*/\1/p' <<<"$line_b")
((mem_b - mem_a >= 250 * 1024)) || fail "MemTotal grew by $((mem_b - mem_a)) KiB on b, want 256 MiB"

# --- refusals of the way back: nothing starts on a, the VM runs on ---
pid_b=$(cat "$SCRATCH/host-b/p/qemu.pid")
back() { mortar_on b vm migrate p --to "tcp:$HOST_A:4444" --via "$(via_cmd a)" --timeout 60; }
mv "$SCRATCH/boot/vmlinux" "$SCRATCH/boot/vmlinux.away"
expect_error_line "the target cannot read the VM's kernel or initrd \\($SCRATCH/boot/vmlinux, .*No such file.*put them at the same paths there" back
mv "$SCRATCH/boot/vmlinux.away" "$SCRATCH/boot/vmlinux"
if [[ $(cat /proc/sys/vm/overcommit_memory) == 2 ]]; then
	# (strict overcommit: the source QEMU could not map the DIMM either)
	echo "not checked here: the refusal for memory (vm.overcommit_memory=2)"
else
	mortar_on b vm mem add p "${big}M" --id huge --backend ram
	expect_error_line "the target has [0-9]+ MiB of memory available and the VM needs $((big + 1024)) MiB \\(512 MiB at boot, $((big + 512)) MiB in DIMMs, 0 MiB of virtio-mem" back
fi
[[ ! -e $SCRATCH/host-a/p ]] || fail "a refused migration left $SCRATCH/host-a/p"
expect_eq "the QEMU on b after the refusals" "$(cat "$SCRATCH/host-b/p/qemu.pid")" "$pid_b"
expect_eq "state on b after the refusals" "$(mortar_on b vm status --output=json p | jq -r .state)" running

mortar_on b vm cpus p 2 --wait --timeout 120
line_b=$(guest_on b)
echo "the guest on b after the plugs: $line_b"
[[ $line_b == *"cpu_list=0-1 "* ]] || fail "vCPUs after a plug on b: $line_b"

mortar_on b vm stop --force p >/dev/null
head -c 24 "$b0" | grep -q "MORTAR-DISK-TEST-PATTERN" ||
	fail "b's disk 0 lacks the block the guest wrote on a as it booted"
rec_at() { dd if="$1" bs=65536 skip="$2" count=1 status=none | head -n 1 | tr -d "\0"; }
slot=$((io_b % 16))
rec=$(rec_at "$b1" "$slot")
[[ $rec =~ ^MORTAR-REC\ seq=([0-9]+)\ slot=$slot$ ]] && ((BASH_REMATCH[1] >= io_b)) ||
	fail "slot $slot of b's disk 1 holds '$rec', not record $io_b or a later one"
for s in $(seq 0 15); do
	rec=$(rec_at "$a1" "$s")
	[[ -z $rec ]] && continue
	[[ $rec =~ ^MORTAR-REC\ seq=([0-9]+)\ slot=$s$ ]] || fail "slot $s of a's disk 1 holds '$rec'"
	((BASH_REMATCH[1] <= first_b)) || fail "a's disk 1 has record ${BASH_REMATCH[1]}, written on b"
done
echo "ok: disk records $seq_a on a, from $first_b to $io_b on b; both disks moved"
echo PASS
