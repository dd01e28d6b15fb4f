#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migration after hotplug between two hosts, x86 q35 on QEMU 10: network
# namespaces a and b on a bridge made here (tests/vm/hosts.bash), each
# with a veth into the GlusterFS pool's bridge; the guest's disk is an
# image on a volume that both reach, served by a mortar serve on each
# host (NBD), written by the guest all along (a record a second).
#  - on a: two NUMA nodes (MORTAR_MIGRATE_NUMA=1: one); boot 1 vCPU;
#    plug 2 vCPUs and a DIMM of each backend: ram (on node 1), memfd,
#    hugetlbfs.  When its memory was copied live, this guest oopsed or
#    hung on the target right after the move in 7 of 29 runs (QEMU 10.0.2
#    under TCG sends again only the first RAM block's pages written after
#    a pass: node 1's boot memory arrived stale; vm/migrate.c,
#    copy_stopped): its guest stays stopped through the copy, said by the
#    result (live: false), its downtime covering QEMU's whole copy;
#  - refusals before anything starts: a target QEMU too old for the
#    machine type (Debian's 7.2 for pc-q35-10.0), a target hugetlbfs pool
#    too small; the VM runs on, untouched;
#  - migrate over TCP from a to b (mortar vm incoming in b, through
#    --via), with --wait; progress as JSON lines;
#  - on b: every vCPU and DIMM under the same id and backend; the guest
#    seen through its agent (online vCPUs, MemTotal, per-node memory, as
#    before) and its console; its disk writes went on without an error,
#    and what it wrote before and after the move is in the image;
#  - a's runtime directory and disk server are gone;
#  - hot-plugging on b: a vCPU and a DIMM, shown by the guest.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-agent.bash"
. "$(dirname "$0")/../gluster/lib.sh"
. "$(dirname "$0")/hosts.bash"
use_qemu10
# (before the hosts: cleanups run last registered first, and the pool
# can only shrink back once the VMs that hold its pages have stopped)
huge_pool 64
hosts_up
hosts_reach_gluster

vol=mortar-mig$$
gluster_volume "$vol"
disk=gluster://$GLUSTER_HOST/$vol/guest.img
"$MORTAR" img create "$disk" 64M >/dev/null

NUMA=${MORTAR_MIGRATE_NUMA:-2}
[[ $NUMA == [12] ]] || fail "MORTAR_MIGRATE_NUMA: 1 or 2"
RAM_NODE=$((NUMA - 1))
mortar_on a vm start g --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 \
	--max-cpus 4 --memory 256M --max-memory 1280M --slots 4 --numa "$NUMA" --disk "$disk" \
	--disk-protocol nbd --append mortar.io=records --wait --timeout 120
mortar_on a vm cpus g 3 --wait --timeout 60
mortar_on a vm mem add g 128M --id r1 --node "$RAM_NODE" --backend ram --wait --timeout 60
mortar_on a vm mem add g 128M --id f1 --backend memfd --wait --timeout 60
mortar_on a vm mem add g 128M --id h1 --backend "hugetlbfs:$HUGE_MNT" --wait --timeout 60
expect_eq "huge pages the source took" "$(huge_avail)" 0

GUEST_AGENT=qga_socket QGA_SOCKET=$SCRATCH/host-a/g/qga.sock
guest_wait_agent 120 || fail "the guest agent does not answer on host a"
in_guest() {	# what the guest itself sees: online vCPUs, MemTotal, per node
	guest_exec 'cat /sys/devices/system/cpu/online; grep MemTotal /proc/meminfo;
		cat /sys/devices/system/node/node*/meminfo | grep MemTotal' | tr -s ' '
}
seen_a=$(in_guest)
echo "the guest on a: $seen_a"
grep -q "^0-2$" <<<"$seen_a" || fail "the guest on a does not have vCPUs 0-2 online: $seen_a"
guest_exec "dd if=/dev/zero bs=65536 count=1 2>/dev/null | tr '\\0' '\\273' |
	dd of=/dev/vda bs=65536 seek=32 conv=fsync 2>/dev/null" || fail "the guest cannot write on a"
line_a=$(MORTAR_VM_DIR=$SCRATCH/host-a guest_line g | cut -d' ' -f4-)
io_a=$(grep -ao 'MORTAR-GUEST-IO seq=[0-9]* slot=[0-9]* [a-z]*' "$SCRATCH/host-a/g/serial.log" | tail -n 1)
[[ $io_a == *" ok" ]] || fail "the guest's disk records on a: '$io_a'"
pid_a=$(cat "$SCRATCH/host-a/g/qemu.pid")

# --- refusals: nothing starts, the VM runs on ---
expect_error_line "the target's QEMU 7\.2.* does not emulate this VM's machine type pc-q35-10\.0.*too old" \
	mortar_on a vm migrate g --to "tcp:$HOST_B:4444" --via "$(via_cmd b)" \
	--target-qemu qemu-system-x86_64
expect_error_line "the target cannot give the VM its huge pages: 128 MiB needs 64 huge pages .* has 0 free" \
	mortar_on a vm migrate g --to "tcp:$HOST_B:4444" --via "$(via_cmd b)"
[[ ! -e $SCRATCH/host-b/g ]] || fail "a refused migration left $SCRATCH/host-b/g"
expect_eq "the source after the refusals" "$(cat "$SCRATCH/host-a/g/qemu.pid")" "$pid_a"

# --- the migration ---
huge_set_avail 64
mortar_on a vm migrate g --to "tcp:$HOST_B:4444" --via "$(via_cmd b)" --wait --timeout 120 \
	--output=json >"$SCRATCH/progress.json" || guest_broke_on b g
cat "$SCRATCH/progress.json"
jq -se 'any(.[]; .phase == "memory" and .ram_done > 0 and .rate > 0)' "$SCRATCH/progress.json" >/dev/null ||
	fail "no progress line while memory was copied"
result=$(tail -n 1 "$SCRATCH/progress.json")
expect_eq "pid reported" "$(jq -r .pid <<<"$result")" "$(cat "$SCRATCH/host-b/g/qemu.pid")"
expect_eq "the memory copied live (TCG, DIMMs)" "$(jq -r .live <<<"$result")" false
(($(jq -r .downtime_ms <<<"$result") >= $(jq -r .qemu_total_ms <<<"$result"))) ||
	fail "the guest's pause does not cover QEMU's copy: $result"
[[ ! -e $SCRATCH/host-a/g ]] || fail "host a still has the VM's directory: $(ls "$SCRATCH/host-a/g")"
for p in $(pgrep -f "serve -s $SCRATCH/host-a/g/" || true); do fail "host a's disk server $p still runs"; done

st=$(mortar_on b vm status --output=json g)
expect_eq "state on b" "$(jq -r .state <<<"$st")" running
expect_eq "vCPUs on b" "$(jq -r .cpus.present <<<"$st")" 3
expect_eq "DIMMs on b" "$(jq -r '[.memory.devices[] | "\(.id):\(.backend):\(.node)"] | join(" ")' <<<"$st")" \
	"r1:ram:$RAM_NODE f1:memfd:0 h1:hugetlbfs:$HUGE_MNT:0"
expect_eq "the disk on b" "$(jq -r '.disks[0].location' <<<"$st")" "$disk"
QGA_SOCKET=$SCRATCH/host-b/g/qga.sock
expect_eq "what the guest sees on b (agent)" "$(in_guest)" "$seen_a"
expect_eq "what the guest reports on b (console)" \
	"$(MORTAR_VM_DIR=$SCRATCH/host-b guest_line g | cut -d' ' -f4-)" "$line_a"
guest_exec "dd if=/dev/zero bs=65536 count=1 2>/dev/null | tr '\\0' '\\314' |
	dd of=/dev/vda bs=65536 seek=48 conv=fsync 2>/dev/null" || fail "the guest cannot write on b"

# the records went on: later ones on b, none failed
records_went_on b g "$io_a"
echo "ok: disk records $seq_a on a, up to $io_b on b, without an error"

# --- hot-plugging again, on b ---
mortar_on b vm cpus g 4 --wait --timeout 60
mortar_on b vm mem add g 128M --id r2 --node "$RAM_NODE" --wait --timeout 60
seen_b=$(in_guest)
grep -q "^0-3$" <<<"$seen_b" || fail "vCPUs after a plug on b: $seen_b"
mem_a=$(sed -n 's/^MemTotal: \([0-9]*\).*/\1/p' <<<"$seen_a" | head -n 1)
mem_b=$(sed -n 's/^MemTotal: \([0-9]*\).*/\1/p' <<<"$seen_b" | head -n 1)
((mem_b - mem_a >= 120 * 1024)) || fail "MemTotal grew by $((mem_b - mem_a)) KiB on b, want 128 MiB"

mortar_on b vm stop --force g >/dev/null
"$MORTAR" io -r "$disk" -c "read -P 0xbb 2M 64K" -c "read -P 0xcc 3M 64K" >/dev/null ||
	fail "what the guest wrote on a and on b is not in the image"
echo PASS
