#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A sparse image on a full filesystem: a write that runs out of space fails
# with exit 1 and "no space left", and what was written before stays.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires_root
requires qemu-img qemu-io

M=$((1 << 20))
mnt=$SCRATCH/mnt
mkdir "$mnt"
mount -t tmpfs -o size=4M mortar-test-enospc "$mnt" || skip "cannot mount a tmpfs"
on_exit "umount -l '$mnt'"
img=$mnt/disk.img

expect_rc 0 "" "$MORTAR" img create "$img" 64M
expect_eq "virtual-size of a sparse 64M image on a 4M tmpfs" \
	"$(qemu_info "$img" virtual-size)" $((64 * M))
expect_rc 0 "" "$MORTAR" io "$img" -c "write -P 0xaa 0 1M"
qemu_read_pattern "$img" 0xaa 0 1M

# 8M at 1M cannot fit in the 3M left.
expect_error_line "no space left" "$MORTAR" io "$img" -c "write -P 0xbb 1M 8M"
# the same with FUA
expect_error_line "no space left" "$MORTAR" io "$img" -c "write -F -P 0xbb 16M 8M"
# several commands: the failure stops the run and is reported
expect_rc 1 "no space left" "$MORTAR" io "$img" -c "write -P 0xcc 32M 8M" -c "read -P 0xaa 0 1M"

# what was there before is intact, per mortar and per qemu-io
expect_rc 0 "" "$MORTAR" io "$img" -c "read -P 0xaa 0 1M"
qemu_read_pattern "$img" 0xaa 0 1M
expect_rc 0 "" "$MORTAR" io --read-only "$img" -c "read -P 0xaa 0 1M"
expect_eq "virtual-size after ENOSPC" "$(qemu_info "$img" virtual-size)" $((64 * M))
expect_eq "mortar virtual-size after ENOSPC" "$(mortar_info "$img" virtual-size)" $((64 * M))

# preallocation that cannot fit: an error, and no half-made image left
expect_error_line "space" "$MORTAR" img create --preallocation=falloc "$mnt/big.img" 16M
[[ ! -e $mnt/big.img ]] || fail "a failed falloc create left $mnt/big.img"
expect_error_line "space" "$MORTAR" img create --preallocation=full "$mnt/big.img" 16M
[[ ! -e $mnt/big.img ]] || fail "a failed full create left $mnt/big.img"

# once space is freed, writing works again
expect_rc 0 "" "$MORTAR" io "$img" -c "trim 1M 63M"
expect_rc 0 "" "$MORTAR" io "$img" -c "write -P 0xdd 1M 2M" -c "read -P 0xdd 1M 2M"
qemu_read_pattern "$img" 0xdd 1M 2M
qemu_read_pattern "$img" 0xaa 0 1M
finish
