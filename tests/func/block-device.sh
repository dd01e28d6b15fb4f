#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A block device (a loop device over a file): img info says "block" and
# cannot resize; mortar io writes, zeroes and trims land in the backing
# file (checked with qemu-io on that file); img resize and img create
# refuse the device.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires_root
requires losetup blockdev qemu-img qemu-io

M=$((1 << 20)) K=1024
backing=$SCRATCH/backing.img
truncate -s 64M "$backing"
[[ -e /dev/loop-control ]] || skip "no /dev/loop-control"
dev=$(losetup -f --show "$backing" 2>/dev/null) || skip "cannot set up a loop device"
on_exit "losetup -d '$dev'"
echo "loop device: $dev"

# reads of the backing file must not come from a stale cache of the device
sync_dev() { blockdev --flushbufs "$dev"; }

# --- info ---------------------------------------------------------------------------
expect_rc 0 "" "$MORTAR" img info --output=json "$dev"
info=$OUT
expect_eq "backend" "$(json_get "$info" backend)" block
expect_eq "virtual-size" "$(json_get "$info" virtual-size)" "$(blockdev --getsize64 "$dev")"
expect_eq "virtual-size is 64M" "$(json_get "$info" virtual-size)" $((64 * M))
expect_eq "resize capability" "$(json_get "$info" capabilities.resize)" false
expect_eq "read-only capability" "$(json_get "$info" capabilities.read-only)" false
expect_eq "format" "$(json_get "$info" format)" raw
expect_rc 0 "" "$MORTAR" img info "$dev"
grep -q "^backend: block" <<<"$OUT" || fail "human info: $OUT"
expect_rc 0 "" "$MORTAR" img map --output=json "$dev"
expect_eq "map of a block device: one extent" \
	"$(json_get "$OUT" 0.start) $(json_get "$OUT" 0.length) $(json_get "$OUT" 0.data) $(json_get "$OUT" 1 2>/dev/null || echo none)" \
	"0 $((64 * M)) true null"

# --- mortar io on the device, qemu-io on the backing file ------------------------------
expect_rc 0 "" "$MORTAR" io "$dev" -c "write -P 0x5a 0 1M" -c "write -F -P 0x5b 1M 64k" \
	-c "read -P 0x5a 0 1M" -c flush
sync_dev
qemu_read_pattern "$backing" 0x5a 0 1M
qemu_read_pattern "$backing" 0x5b 1M 64k
qemu_read_pattern "$backing" 0 $((M + 64 * K)) 64k
# unaligned, direct: read-modify-write of the device's sectors
expect_rc 0 "" "$MORTAR" io --direct "$dev" -c "write -P 0x11 1000 5000" -c "read -P 0x11 1000 5000"
sync_dev
qemu_read_pattern "$backing" 0x5a 0 1000
qemu_read_pattern "$backing" 0x11 1000 5000
qemu_read_pattern "$backing" 0x5a 6000 $((M - 6000))
# qemu-io writes the backing file, mortar reads the device (direct: no stale cache)
qemu-io -f raw -c "write -P 0x77 $((8 * M)) 512k" "$backing" >/dev/null
sync_dev
expect_rc 0 "" "$MORTAR" io --direct --read-only "$dev" -c "read -P 0x77 $((8 * M)) 512k" \
	-c "read -P 0 $((8 * M + 512 * K)) 512k"
expect_rc 1 "mismatch" "$MORTAR" io --direct --read-only "$dev" -c "read -P 0x78 $((8 * M)) 4k"

# --- zero and trim on the device ---------------------------------------------------------
qemu-io -f raw -c "write -P 0x33 $((16 * M)) 4M" "$backing" >/dev/null
sync_dev
expect_rc 0 "" "$MORTAR" io "$dev" -c "zero $((16 * M)) 1M"
expect_rc 0 "" "$MORTAR" io "$dev" -c "zero -u $((17 * M)) 1M"
expect_rc 0 "" "$MORTAR" io "$dev" -c "trim $((18 * M)) 1M"
expect_rc 0 "" "$MORTAR" io --direct "$dev" -c "zero $((19 * M + 100)) 200"
sync_dev
qemu_read_pattern "$backing" 0 $((16 * M)) 2M
qemu_read_pattern "$backing" 0x33 $((19 * M)) 100
qemu_read_pattern "$backing" 0 $((19 * M + 100)) 200
qemu_read_pattern "$backing" 0x33 $((19 * M + 300)) $((M - 300))
expect_rc 0 "" "$MORTAR" io --direct --read-only "$dev" -c "read -P 0 $((16 * M)) 2M" \
	-c "read -P 0x33 $((19 * M + 300)) 1000"
# a loop device that can discard punches the trimmed range out of its file
if [[ $(cat "/sys/block/$(basename "$dev")/queue/discard_max_bytes" 2>/dev/null || echo 0) != 0 ]]; then
	map=$(qemu-img map -f raw --output=json "$backing")
	"$PY" - "$map" $((18 * M)) $M <<'EOF' || fail "trim did not reach the backing file: $map"
import json, sys
off, ln = int(sys.argv[2]), int(sys.argv[3])
for e in json.loads(sys.argv[1]):
    if e["start"] < off + ln and off < e["start"] + e["length"] and e["data"]:
        sys.exit(f"data in trimmed range: {e}")
EOF
	echo "ok: the trimmed range is a hole in the backing file"
	qemu_read_pattern "$backing" 0 $((18 * M)) 1M
fi

# --- requests past the end -----------------------------------------------------------------
expect_error_line "end" "$MORTAR" io "$dev" -c "write $((64 * M - 4 * K)) 8k"
expect_error_line "end" "$MORTAR" io "$dev" -c "read $((64 * M)) 512"

# --- resize and create refuse the device -----------------------------------------------
for args in "$dev 128M" "$dev +1M" "--shrink $dev 32M" "--shrink $dev -1M"; do
	# shellcheck disable=SC2086
	expect_error_line "resize" "$MORTAR" img resize $args
	# the message must say what the location is: a block device
	grep -qi "block device" <<<"$ERR" ||
		soft_fail "img resize of $dev does not say it is a block device: $ERR"
done
expect_eq "device size after refused resizes" "$(blockdev --getsize64 "$dev")" $((64 * M))
expect_eq "backing file size after refused resizes" "$(file_size "$backing")" $((64 * M))
expect_error_line "block device" "$MORTAR" img create "$dev" 1M
expect_error_line "block device" "$MORTAR" img create --force "$dev" 1M
expect_error_line "block device" "$MORTAR" img create --preallocation=full --force "$dev" 64M
[[ -b $dev ]] || fail "$dev is no longer a block device"
expect_eq "device size after refused creates" "$(blockdev --getsize64 "$dev")" $((64 * M))
sync_dev
qemu_read_pattern "$backing" 0x5a 0 1000
qemu_read_pattern "$backing" 0x11 1000 5000
finish
