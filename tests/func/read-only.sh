#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Read-only access: `mortar io --read-only` refuses every modifying command
# with EROFS and leaves the data alone; a file the user cannot write and a
# filesystem remounted read-only give clear errors to writers, while
# img info and img map still work (they fall back to read-only).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io

M=$((1 << 20))

# --- the --read-only flag ---------------------------------------------------------
img=$SCRATCH/ro.img
"$MORTAR" img create "$img" 4M
qemu-io -f raw -c "write -P 0xab 0 2M" "$img" >/dev/null
mtime=$(stat -c %Y.%y "$img")
for c in "write -P 0x11 0 4k" "write -F -P 0x11 1M 4k" "zero 0 64k" "zero -u 0 64k" \
	"zero -f 0 64k" "trim 0 1M" "discard 0 1M" "write_zeroes 0 4k"; do
	expect_error_line "read-only" "$MORTAR" io --read-only "$img" -c "$c"
	expect_rc 1 "read-only" "$MORTAR" io -r "$img" -c "$c"
done
# a write after a successful read in the same run is refused as well
expect_rc 1 "read-only" "$MORTAR" io --read-only "$img" -c "read -P 0xab 0 4k" -c "write 0 4k"
qemu_read_pattern "$img" 0xab 0 2M
qemu_read_pattern "$img" 0 2M 2M
expect_eq "map after refused writes" "$(compare_maps "$img")" \
	"0 $((2 * M)) True False
$((2 * M)) $((2 * M)) False True"
expect_eq "modification time after refused writes" "$(stat -c %Y.%y "$img")" "$mtime"
# reading and flushing are fine
expect_rc 0 "" "$MORTAR" io --read-only "$img" -c "read -P 0xab 0 2M" -c "read -P 0 2M 2M"
expect_rc 0 "" "$MORTAR" io --read-only --direct "$img" -c "read -P 0xab 1000 5000"
expect_rc 1 "mismatch" "$MORTAR" io --read-only "$img" -c "read -P 0x11 0 4k"
info=$("$MORTAR" img info --output=json "$img")
expect_eq "read-only capability of a writable file" "$(json_get "$info" capabilities.read-only)" false

requires_root

# --- a file the user may not write ---------------------------------------------------
# Root may write anything: run as nobody on a 0444 file in a folder
# nobody can reach.
if command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
	dir=$SCRATCH/perm
	mkdir "$dir"
	chmod 755 "$SCRATCH" "$dir"
	cp "$img" "$dir/ro.img"
	chmod 0444 "$dir/ro.img"
	asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
	expect_error_line "permission denied" asnobody "$MORTAR" io "$dir/ro.img" -c "write 0 4k"
	grep -qiE "read-only|--read-only" <<<"$ERR" || fail "no hint to open read-only: $ERR"
	expect_rc 0 "" asnobody "$MORTAR" io --read-only "$dir/ro.img" -c "read -P 0xab 0 2M"
	expect_rc 0 "" asnobody "$MORTAR" img info --output=json "$dir/ro.img"
	expect_eq "read-only capability (0444, not the owner)" \
		"$(json_get "$OUT" capabilities.read-only)" true
	expect_eq "virtual-size (0444)" "$(json_get "$OUT" virtual-size)" $((4 * M))
	expect_rc 0 "" asnobody "$MORTAR" img map --output=json "$dir/ro.img"
	expect_error_line "permission denied" asnobody "$MORTAR" img resize "$dir/ro.img" 8M
	! grep -qi -- "read-only" <<<"$ERR" ||
		soft_fail "img resize suggests opening read-only, which cannot help it: $ERR"
	expect_eq "size after a refused resize (0444)" "$(qemu_info "$dir/ro.img" virtual-size)" \
		$((4 * M))
	qemu_read_pattern "$dir/ro.img" 0xab 0 2M
else
	echo "note: no setpriv or no user nobody; skipping the permission part"
fi

# --- an immutable file (chattr +i): root gets EPERM -----------------------------------
imm=$SCRATCH/immutable.img
cp "$img" "$imm"
if chattr +i "$imm" 2>/dev/null; then
	on_exit "chattr -i '$imm'"
	expect_error_line "" "$MORTAR" io "$imm" -c "write 0 4k"
	expect_rc 0 "" "$MORTAR" img info --output=json "$imm"
	expect_eq "read-only capability (immutable)" "$(json_get "$OUT" capabilities.read-only)" true
	expect_rc 0 "" "$MORTAR" io --read-only "$imm" -c "read -P 0xab 0 2M"
	chattr -i "$imm"
else
	echo "note: chattr +i does not work here; skipping the immutable part"
fi

# --- a filesystem remounted read-only ----------------------------------------------------
mnt=$SCRATCH/mnt
mkdir "$mnt"
mount -t tmpfs -o size=16M mortar-test-ro "$mnt" || skip "cannot mount a tmpfs"
on_exit "umount -l '$mnt'"
rimg=$mnt/disk.img
"$MORTAR" img create "$rimg" 8M
"$MORTAR" io "$rimg" -c "write -P 0xcd 0 1M" >/dev/null
mount -o remount,ro "$mnt" || fail "cannot remount $mnt read-only"
expect_error_line "read-only" "$MORTAR" io "$rimg" -c "read -P 0xcd 0 1M"
grep -q -- "--read-only" <<<"$ERR" || fail "no hint to use --read-only: $ERR"
expect_error_line "read-only" "$MORTAR" io "$rimg" -c "write 0 4k"
expect_rc 0 "" "$MORTAR" io --read-only "$rimg" -c "read -P 0xcd 0 1M" -c "read -P 0 1M 7M"
expect_error_line "read-only" "$MORTAR" io --read-only "$rimg" -c "zero 0 4k"
expect_rc 0 "" "$MORTAR" img info --output=json "$rimg"
expect_eq "virtual-size on a read-only fs" "$(json_get "$OUT" virtual-size)" $((8 * M))
expect_eq "read-only capability on a read-only fs" "$(json_get "$OUT" capabilities.read-only)" true
expect_eq "actual-size on a read-only fs" "$(json_get "$OUT" actual-size)" \
	"$(qemu_info "$rimg" actual-size)"
expect_rc 0 "" "$MORTAR" img info "$rimg"
expect_eq "runs on a read-only fs" "$(compare_maps "$rimg")" \
	"0 $M True False
$M $((7 * M)) False True"
# img resize and img create have no --read-only: their messages must not
# suggest it (the fix is to remount the filesystem read-write).
for cmd in "img resize $rimg 16M" "img create $mnt/new.img 1M" "img create --force $rimg 1M"; do
	expect_error_line "read-only" "$MORTAR" $cmd
	! grep -q -- "--read-only" <<<"$ERR" ||
		soft_fail "'mortar $cmd' suggests --read-only, which cannot help it: $ERR"
done
[[ ! -e $mnt/new.img ]] || fail "img create on a read-only filesystem left a file"
expect_eq "size after refused resize/create" "$(qemu_info "$rimg" virtual-size)" $((8 * M))
qemu_read_pattern "$rimg" 0xcd 0 1M
finish
