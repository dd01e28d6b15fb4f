#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar io and qemu-io read each other's data on the same raw file:
# buffered and --direct (unaligned offsets: read-modify-write must keep
# the neighbours), FUA writes, zero with and without -u, trim, flush,
# pattern mismatches and requests past the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io

K=1024 M=$((1 << 20))
img=$SCRATCH/io.img
"$MORTAR" img create "$img" 32M

# mortar_read BYTE OFF LEN [--direct]: mortar io must read BYTE everywhere.
mortar_read() {
	expect_rc 0 "" "$MORTAR" io ${4:-} "$img" -c "read -P $1 $2 $3"
}
# mortar_mismatch BYTE OFF LEN: mortar io must report a mismatch (exit 1).
mortar_mismatch() {
	expect_error_line "mismatch" "$MORTAR" io "$img" -c "read -P $1 $2 $3"
}
# map_at OFF: "data zero" of the qemu-img map extent holding OFF.
map_at() {
	qemu-img map -f raw --output=json "$img" | "$PY" -c '
import json, sys
off = int(sys.argv[1])
for e in json.load(sys.stdin):
    if e["start"] <= off < e["start"] + e["length"]:
        print(e["data"], e["zero"])
' "$1"
}

# --- mortar writes, qemu-io reads ---------------------------------------------
expect_rc 0 "" "$MORTAR" io "$img" -c "write -P 0xab 0 1M" -c "write -P 0x5c 1M 64k"
expect_eq "write output" "$OUT" "wrote $M/$M bytes at offset 0
wrote $((64 * K))/$((64 * K)) bytes at offset $M"
qemu_read_pattern "$img" 0xab 0 1M
qemu_read_pattern "$img" 0x5c 1M 64k
qemu_read_pattern "$img" 0 $((M + 64 * K)) 64k
qemu_read_mismatch "$img" 0xab 1M 4k
# the default pattern is 0xcd
expect_rc 0 "" "$MORTAR" io "$img" -c "write $((2 * M)) 4k"
qemu_read_pattern "$img" 0xcd $((2 * M)) 4k
# more than one internal chunk, at an odd offset
expect_rc 0 "" "$MORTAR" io "$img" -c "write -P 0x33 $((3 * M + 7)) $((17 * M + 5))"
qemu_read_pattern "$img" 0x33 $((3 * M + 7)) $((17 * M + 5))
qemu_read_pattern "$img" 0 $((3 * M)) 7
qemu_read_pattern "$img" 0 $((20 * M + 12)) 4084

# --- qemu-io writes, mortar reads ---------------------------------------------
qemu-io -f raw -c "write -P 0x21 $((21 * M)) 1M" -c "write -P 0x22 $((22 * M + 100)) 900" \
	"$img" >/dev/null
mortar_read 0x21 $((21 * M)) 1M
mortar_read 0x22 $((22 * M + 100)) 900
mortar_read 0 $((22 * M)) 100
mortar_read 0 $((22 * M + 1000)) 3096
expect_eq "read output" "$OUT" "read 3096/3096 bytes at offset $((22 * M + 1000))"
# a mismatch is an error and names the first wrong offset
mortar_mismatch 0 $((22 * M + 50)) 100
grep -q "offset $((22 * M + 100))" <<<"$ERR" || fail "mismatch message lacks the offset: $ERR"
mortar_mismatch 0x00 $((21 * M)) 4k

# --- --direct at unaligned offsets: neighbours survive read-modify-write ------
qemu-io -f raw -c "write -P 0x22 $((24 * M)) 64k" "$img" >/dev/null
expect_rc 0 "" "$MORTAR" io --direct "$img" -c "write -P 0x11 $((24 * M + 1000)) 5000"
expect_eq "direct write output" "$OUT" "wrote 5000/5000 bytes at offset $((24 * M + 1000))"
qemu_read_pattern "$img" 0x22 $((24 * M)) 1000
qemu_read_pattern "$img" 0x11 $((24 * M + 1000)) 5000
qemu_read_pattern "$img" 0x22 $((24 * M + 6000)) $((64 * K - 6000))
mortar_read 0x11 $((24 * M + 1000)) 5000 --direct
mortar_read 0x22 $((24 * M + 6000)) 100 --direct
# several unaligned direct writes in one run, overlapping the same blocks
expect_rc 0 "" "$MORTAR" io --direct "$img" -c "write -P 0x12 $((24 * M + 4000)) 200" \
	-c "write -P 0x13 $((24 * M + 4200)) 10" -c "write -P 0x14 $((24 * M + 8191)) 2"
qemu_read_pattern "$img" 0x11 $((24 * M + 1000)) 3000
qemu_read_pattern "$img" 0x12 $((24 * M + 4000)) 200
qemu_read_pattern "$img" 0x13 $((24 * M + 4200)) 10
qemu_read_pattern "$img" 0x11 $((24 * M + 4210)) 790
qemu_read_pattern "$img" 0x22 $((24 * M + 6000)) 2191
qemu_read_pattern "$img" 0x14 $((24 * M + 8191)) 2
qemu_read_pattern "$img" 0x22 $((24 * M + 8193)) 100
# an unaligned direct write into a hole
expect_rc 0 "" "$MORTAR" io --direct "$img" -c "write -P 0x15 $((25 * M + 333)) 77"
qemu_read_pattern "$img" 0 $((25 * M)) 333
qemu_read_pattern "$img" 0x15 $((25 * M + 333)) 77
qemu_read_pattern "$img" 0 $((25 * M + 410)) 3686
# qemu-io's direct writes, mortar's direct reads
qemu-io -f raw -t none -c "write -P 0x16 $((26 * M)) 64k" "$img" >/dev/null
mortar_read 0x16 $((26 * M + 1)) $((64 * K - 2)) --direct

# --- FUA -----------------------------------------------------------------------
expect_rc 0 "" "$MORTAR" io "$img" -c "write -F -P 0x44 $((27 * M)) 128k"
qemu_read_pattern "$img" 0x44 $((27 * M)) 128k
expect_rc 0 "" "$MORTAR" io --direct "$img" -c "write -F -P 0x45 $((27 * M + 10)) 10"
qemu_read_pattern "$img" 0x45 $((27 * M + 10)) 10
qemu_read_pattern "$img" 0x44 $((27 * M + 20)) 1000

# --- zero ------------------------------------------------------------------------
qemu-io -f raw -c "write -P 0x55 $((28 * M)) 1M" "$img" >/dev/null
expect_eq "map before zero -u" "$(map_at $((28 * M + 256 * K)))" "True False"
expect_rc 0 "" "$MORTAR" io "$img" -c "zero -u $((28 * M + 256 * K)) 256k"
expect_eq "map after zero -u" "$(map_at $((28 * M + 256 * K)))" "False True"
expect_eq "map after zero -u (end)" "$(map_at $((28 * M + 512 * K - 1)))" "False True"
qemu_read_pattern "$img" 0 $((28 * M + 256 * K)) 256k
qemu_read_pattern "$img" 0x55 $((28 * M)) 256k
qemu_read_pattern "$img" 0x55 $((28 * M + 512 * K)) 512k
# without -u: reads as zeroes, the neighbours untouched
expect_rc 0 "" "$MORTAR" io "$img" -c "zero $((28 * M + 600 * K)) 100k"
qemu_read_pattern "$img" 0 $((28 * M + 600 * K)) 100k
qemu_read_pattern "$img" 0x55 $((28 * M + 512 * K)) 88k
qemu_read_pattern "$img" 0x55 $((28 * M + 700 * K)) 324k
mortar_read 0 $((28 * M + 600 * K)) 100k
# unaligned zero, with and without -u, buffered and direct
expect_rc 0 "" "$MORTAR" io "$img" -c "zero $((28 * M + 10)) 20" -c "zero -u $((28 * M + 50)) 50"
qemu_read_pattern "$img" 0x55 $((28 * M)) 10
qemu_read_pattern "$img" 0 $((28 * M + 10)) 20
qemu_read_pattern "$img" 0x55 $((28 * M + 30)) 20
qemu_read_pattern "$img" 0 $((28 * M + 50)) 50
qemu_read_pattern "$img" 0x55 $((28 * M + 100)) 1000
expect_rc 0 "" "$MORTAR" io --direct "$img" -c "zero $((28 * M + 2000)) 100"
qemu_read_pattern "$img" 0x55 $((28 * M + 1100)) 900
qemu_read_pattern "$img" 0 $((28 * M + 2000)) 100
qemu_read_pattern "$img" 0x55 $((28 * M + 2100)) 1000
# fast zero (ext4 and tmpfs can punch/zero ranges)
if [[ -n ${MORTAR_TEST_FUSE:-} ]]; then
	# On GlusterFS (tests/gluster/img-suites.sh) a zero that must stay
	# allocated is a zerofill, which may write every zero: refused as
	# fast; one that may deallocate is a discard (the bricks punch).
	expect_error_line "fast zero" "$MORTAR" io "$img" -c "zero -f $((28 * M + 768 * K)) 64k"
	qemu_read_pattern "$img" 0x55 $((28 * M + 768 * K)) 128k
	expect_rc 0 "" "$MORTAR" io "$img" -c "zero -f -u $((28 * M + 768 * K)) 64k"
else
	expect_rc 0 "" "$MORTAR" io "$img" -c "zero -f $((28 * M + 768 * K)) 64k"
fi
qemu_read_pattern "$img" 0 $((28 * M + 768 * K)) 64k
qemu_read_pattern "$img" 0x55 $((28 * M + 832 * K)) 64k

# --- trim and flush ----------------------------------------------------------------
qemu-io -f raw -c "write -P 0x66 $((30 * M)) 1M" "$img" >/dev/null
expect_rc 0 "" "$MORTAR" io "$img" -c "trim $((30 * M)) 512k" -c flush
expect_eq "map after trim" "$(map_at $((30 * M)))" "False True"
qemu_read_pattern "$img" 0 $((30 * M)) 512k
qemu_read_pattern "$img" 0x66 $((30 * M + 512 * K)) 512k
expect_rc 0 "" "$MORTAR" io "$img" -c flush

# --- requests past the end, zero-length, bad commands -----------------------------
size=$((32 * M))
expect_error_line "end" "$MORTAR" io "$img" -c "write -P 0x77 $((size - 4 * K)) 8k"
qemu_read_pattern "$img" 0 $((size - 4 * K)) 4k
expect_eq "size after a refused write past the end" "$(qemu_info "$img" virtual-size)" $size
expect_error_line "end" "$MORTAR" io "$img" -c "read $size 1"
expect_error_line "end" "$MORTAR" io "$img" -c "zero $((size + 4 * K)) 4k"
expect_rc 0 "" "$MORTAR" io "$img" -c "write -P 0x77 $((size - 1)) 1" -c "read -P 0x77 $((size - 1)) 1"
qemu_read_pattern "$img" 0x77 $((size - 1)) 1
expect_rc 0 "" "$MORTAR" io "$img" -c "write -P 0x78 0 0"
qemu_read_pattern "$img" 0xab 0 4k
for bad in "frobnicate 0 1" "write -P 0x100 0 1" "write -P 0xab 0" "read 0 1 2" \
	"write -X 0 1" "flush now" "read 12Q 1"; do
	rc=0
	"$MORTAR" io "$img" -c "$bad" >/dev/null 2>"$SCRATCH/err" || rc=$?
	((rc == 1 || rc == 2)) || fail "mortar io -c '$bad' exited $rc"
	[[ -s $SCRATCH/err ]] || fail "mortar io -c '$bad' failed silently"
	echo "ok: -c '$bad' refused ($rc): $(head -1 "$SCRATCH/err")"
done
qemu_read_pattern "$img" 0xab 0 1M
expect_rc 2 "" "$MORTAR" io "$img"
expect_rc 2 "" "$MORTAR" io -c flush
expect_rc 2 "" "$MORTAR" io --bogus "$img" -c flush
expect_error_line "does not exist|no image" "$MORTAR" io "$SCRATCH/missing.img" -c "read 0 1"
[[ ! -e $SCRATCH/missing.img ]] || fail "mortar io created a missing image"
echo PASS
