#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Memory backends on a real x86 guest: boot memory and DIMMs from huge
# pages (a hugetlbfs mounted here, a pool sized here and restored after),
# counted before QEMU maps them; DIMMs from memfd and anonymous RAM beside
# them.  Asserts: the VM's mapping takes its pages from the pool; a DIMM
# the pool cannot hold is refused with the count and the command that
# makes room, and QEMU goes on; once there is room it plugs and the guest
# sees it; a memfd DIMM is a memfd in QEMU; every page returns at stop.
. "$(dirname "$0")/lib.sh"
# exactly 300 pages for this test: the boot memory (256) and 44 spare
huge_pool 300
mnt=$HUGE_MNT
pool=$HUGE_POOL

expect_error_line "$SCRATCH is not a hugetlbfs mount" \
	"$MORTAR" vm start b --kernel "$KERNEL" --initrd "$INITRD" --mem-backend "hugetlbfs:$SCRATCH"
expect_error_line "1024 MiB needs 512 huge pages of 2048 KiB, and $mnt has 300 free" \
	"$MORTAR" vm start b --kernel "$KERNEL" --initrd "$INITRD" --memory 1G \
	--mem-backend "hugetlbfs:$mnt"
expect_rc 2 "memory backend 'swap': ram, memfd, hugetlbfs" \
	"$MORTAR" vm start b --kernel "$KERNEL" --initrd "$INITRD" --mem-backend swap

"$MORTAR" vm start h --kernel "$KERNEL" --initrd "$INITRD" --memory 512M --max-memory 2G \
	--slots 4 --mem-backend "hugetlbfs:$mnt" --wait --timeout 120
on_exit "'$MORTAR' vm stop --force h >/dev/null 2>&1"
expect_eq "huge pages left after boot" "$(huge_avail)" 44
st=$("$MORTAR" vm status --output=json h)
expect_eq "backend in status" "$(jq -r .memory.backend <<<"$st")" "hugetlbfs:$mnt"
m0=$(guest_field h mem_kib)

# 256 MiB more does not fit in 44 pages: refused, with the fix
expect_error_line "256 MiB needs 128 huge pages of 2048 KiB, and $mnt has 44 free.*echo $(($(huge_count nr_hugepages) + 84)) > $pool/nr_hugepages" \
	"$MORTAR" vm mem add h 256M
expect_eq "DIMMs after the refusal" "$("$MORTAR" vm status --output=json h | jq -r '.memory.devices | length')" 0
# the fix works
echo $(($(huge_count nr_hugepages) + 84)) >"$pool/nr_hugepages"
"$MORTAR" vm mem add h 256M --id huge1 --wait --timeout 60
expect_eq "huge pages left after the DIMM" "$(huge_avail)" 0
m1=$(guest_field h mem_kib)
((m1 - m0 >= 250 * 1024)) || fail "MemTotal grew by $((m1 - m0)) KiB, want 256 MiB"

# other backends beside it
"$MORTAR" vm mem add h 128M --backend memfd --id fd1 --wait --timeout 60
pid=$(jq -r .pid <<<"$("$MORTAR" vm status --output=json h)")
ls -l "/proc/$pid/fd" | grep -q "memfd:" || fail "QEMU holds no memfd after a memfd DIMM"
"$MORTAR" vm mem add h 128M --backend ram --id ram1 --wait --timeout 60
expect_eq "backends in status" \
	"$("$MORTAR" vm status --output=json h | jq -r '[.memory.devices[].backend] | join(" ")')" \
	"hugetlbfs:$mnt memfd ram"
m2=$(guest_field h mem_kib)
((m2 - m1 >= 250 * 1024)) || fail "MemTotal grew by $((m2 - m1)) KiB, want 256 MiB"
echo "ok: guest MemTotal $m0 -> $m1 -> $m2 KiB"

"$MORTAR" vm mem remove h huge1 --wait --timeout 60
"$MORTAR" vm stop h >/dev/null
expect_eq "huge pages back after stop" "$(huge_avail)" $((300 + 84))
echo PASS
