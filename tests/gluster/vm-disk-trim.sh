#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar vm --disk-protocol nbd --disk gluster://...: the guest's trims
# reach the volume.  A guest on an image of a one-brick volume writes 8 MiB
# and reads them back, the brick's file holds them; the guest trims them:
# the brick's file loses 8 MiB of allocation (a hole, punched by the
# brick) and the range reads zeroes through the volume.
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/../vm/guest-agent.bash"
. "$(dirname "$0")/lib.sh"

MiB=$((1 << 20))
vol=mortar-vt$$
gluster_volume "$vol"
loc=gluster://$GLUSTER_HOST/$vol/trim.img
"$MORTAR" img create "$loc" 64M >/dev/null
brickfile=$GLUSTER_BRICKS/$vol/brick1/trim.img
[[ -f $brickfile ]] || fail "no $brickfile on the brick"

"$MORTAR" vm start gt --kernel "$KERNEL" --initrd "$INITRD" --memory 256M --disk-protocol nbd --disk "$loc" \
	--wait --timeout 120
on_exit "'$MORTAR' vm stop --force gt >/dev/null 2>&1"
guest_of_vm gt

guest_write_verify /dev/vda 16 8 mortar-vm-gluster-trim
cmp <(pattern mortar-vm-gluster-trim $((8 * MiB))) <(dd if="$brickfile" bs=1M skip=16 count=8 2>/dev/null) ||
	fail "the brick's file does not hold what the guest wrote"
echo "ok: the brick's file holds what the guest wrote"
allocated() { echo $(($(stat -c %b "$brickfile") * 512)); }
guest_trim_frees /dev/vda 16 8 allocated
expect_eq "the range through the volume after the trim" \
	"$("$MORTAR" io "$loc" -c "read -P 0 $((16 * MiB)) $((8 * MiB))" >/dev/null 2>&1 && echo zeroes)" zeroes
"$MORTAR" vm stop --force gt >/dev/null
echo PASS
