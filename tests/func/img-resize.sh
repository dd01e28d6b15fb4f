#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img resize: grow by a delta and to an absolute size, shrink only
# with --shrink, negative deltas with and without "--", data before the new
# end kept -- every size checked with qemu-img info, data with qemu-io.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io

G=$((1 << 30)) M=$((1 << 20))
img=$SCRATCH/resize.img
vsize() { qemu_info "$img" virtual-size; }

"$MORTAR" img create "$img" 1G
qemu-io -f raw -c "write -P 0xab 0 1M" -c "write -P 0xcd $((G - M)) 1M" "$img" >/dev/null

# --- grow -------------------------------------------------------------------
expect_rc 0 "" "$MORTAR" img resize "$img" +1G
expect_eq "size after +1G" "$(vsize)" $((2 * G))
expect_eq "mortar agrees" "$(mortar_info "$img" virtual-size)" $((2 * G))
qemu_read_pattern "$img" 0xab 0 1M
qemu_read_pattern "$img" 0xcd $((G - M)) 1M
qemu_read_pattern "$img" 0 $G 1M          # the new part reads as zeroes
expect_rc 0 "" "$MORTAR" img resize "$img" 3G
expect_eq "size after an absolute 3G" "$(vsize)" $((3 * G))
expect_rc 0 "" "$MORTAR" img resize "$img" +512K
expect_eq "size after +512K" "$(vsize)" $((3 * G + 512 * 1024))
# resizing to the current size is a no-op, not a shrink
expect_rc 0 "" "$MORTAR" img resize "$img" $((3 * G + 512 * 1024))
expect_eq "size after a resize to the same size" "$(vsize)" $((3 * G + 512 * 1024))

# --- shrink needs --shrink --------------------------------------------------
before=$(vsize)
expect_error_line "--shrink" "$MORTAR" img resize "$img" 1G
expect_eq "size after a refused absolute shrink" "$(vsize)" "$before"
expect_error_line "--shrink" "$MORTAR" img resize "$img" -1G
expect_eq "size after a refused -1G" "$(vsize)" "$before"
expect_error_line "--shrink" "$MORTAR" img resize "$img" -- -1G
expect_eq "size after a refused -- -1G" "$(vsize)" "$before"
qemu_read_pattern "$img" 0xcd $((G - M)) 1M

# --- shrink with --shrink -----------------------------------------------------
expect_rc 0 "" "$MORTAR" img resize --shrink "$img" -512K
expect_eq "size after --shrink -512K" "$(vsize)" $((3 * G))
expect_rc 0 "" "$MORTAR" img resize --shrink "$img" -- -1G
expect_eq "size after --shrink -- -1G" "$(vsize)" $((2 * G))
expect_rc 0 "" "$MORTAR" img resize --shrink "$img" $((G + 4 * M))
expect_eq "size after --shrink to 1G+4M" "$(vsize)" $((G + 4 * M))
qemu_read_pattern "$img" 0xab 0 1M
qemu_read_pattern "$img" 0xcd $((G - M)) 1M
# the option after the location works too
expect_rc 0 "" "$MORTAR" img resize "$img" --shrink -4M
expect_eq "size after LOCATION --shrink -4M" "$(vsize)" $G
qemu_read_pattern "$img" 0xcd $((G - M)) 1M
# cut into the data: what is before the new end stays
expect_rc 0 "" "$MORTAR" img resize --shrink "$img" $((G - M / 2))
expect_eq "size after cutting into data" "$(vsize)" $((G - M / 2))
qemu_read_pattern "$img" 0xcd $((G - M)) 512K
qemu_read_pattern "$img" 0xab 0 1M
# growing back gives zeroes where the cut data was, not the old bytes
expect_rc 0 "" "$MORTAR" img resize "$img" +512K
qemu_read_pattern "$img" 0 $((G - M / 2)) 512K
qemu_read_pattern "$img" 0xcd $((G - M)) 512K

# --- impossible sizes ---------------------------------------------------------
before=$(vsize)
expect_error_line "shrink" "$MORTAR" img resize --shrink "$img" -2G
expect_eq "size after shrinking by more than the size" "$(vsize)" "$before"
expect_error_line "" "$MORTAR" img resize "$img" +16383P
expect_eq "size after a grow past the limits" "$(vsize)" "$before"
expect_rc 2 "size" "$MORTAR" img resize "$img" 12Q
expect_rc 2 "size" "$MORTAR" img resize "$img" +
expect_rc 2 "" "$MORTAR" img resize "$img"
expect_rc 2 "" "$MORTAR" img resize --output=json "$img" 1G
expect_rc 2 "" "$MORTAR" img resize --preallocation=full "$img" 2G
expect_eq "size after usage errors" "$(vsize)" "$before"
expect_error_line "does not exist|no image" "$MORTAR" img resize "$SCRATCH/missing.img" 1G
[[ ! -e $SCRATCH/missing.img ]] || fail "resize created a missing image"

# --- shrink to zero and grow again --------------------------------------------
expect_rc 0 "" "$MORTAR" img resize --shrink "$img" 0
expect_eq "size after --shrink to 0" "$(vsize)" 0
expect_rc 0 "" "$MORTAR" img resize "$img" +1M
expect_eq "size after growing from 0" "$(vsize)" $M
qemu_read_pattern "$img" 0 0 1M
echo PASS
