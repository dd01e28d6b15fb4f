#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# virtio-mem on an x86 guest under TCG: `mortar vm mem NAME SIZE` grows
# the guest from 512 MiB to 1 GiB and shrinks it to 640 MiB through one
# virtio-mem device (QMP qom-set requested-size); the guest's own MemTotal
# follows both ways; sizes that are not whole 128 MiB blocks or leave the
# device's range are refused before QEMU sees them; a VM without the
# device says to use DIMMs.
. "$(dirname "$0")/lib.sh"

"$MORTAR" vm start v --kernel "$KERNEL" --initrd "$INITRD" --memory 512M \
	--max-memory 2G --slots 2 --virtio-mem 1G --wait --timeout 120
on_exit "'$MORTAR' vm stop --force v >/dev/null 2>&1"
m0=$(guest_field v mem_kib)
"$MORTAR" vm mem v 1G --wait --timeout 60
m1=$(guest_field v mem_kib)
(( m1 - m0 >= 500 * 1024 )) || fail "MemTotal grew by $((m1 - m0)) KiB, want ~512 MiB"
st=$("$MORTAR" vm status --output=json v)
expect_eq "virtio-mem in status" "$(jq -r '.memory.devices[] | select(.type == "virtio-mem") | .requested_size' <<<"$st")" $((512 << 20))
"$MORTAR" vm mem v 640M --wait --timeout 60
m2=$(guest_field v mem_kib)
(( m1 - m2 >= 370 * 1024 )) || fail "MemTotal shrank by $((m1 - m2)) KiB, want ~384 MiB"
echo "ok: guest MemTotal $m0 -> $m1 -> $m2 KiB"
expect_error_line "multiple of 128 MiB" "$MORTAR" vm mem v 600M
expect_error_line "between 512 and 1536 MiB" "$MORTAR" vm mem v 4G
"$MORTAR" vm stop --force v >/dev/null
"$MORTAR" vm start w --kernel "$KERNEL" --initrd "$INITRD" --memory 256M >/dev/null
on_exit "'$MORTAR' vm stop --force w >/dev/null 2>&1"
expect_error_line "has no virtio-mem device.*--virtio-mem" "$MORTAR" vm mem w 512M
"$MORTAR" vm stop --force w >/dev/null
echo PASS
