#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img map against qemu-img map on the same raw files, for layouts
# made with mortar io (writes, trims, zeroes at 4k- and 64k-aligned and
# unaligned offsets) and with qemu-io, after a trim and after a resize.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io python3

K=1024 M=$((1 << 20))
img=$SCRATCH/map.img
size=$((16 * M))

mio() { "$MORTAR" io "$img" "$@" >/dev/null || fail "mortar io $* failed"; }

# has_run RUNS START LENGTH DATA ZERO: the normalised runs printed by
# compare_maps contain a run covering [START, START+LENGTH) with these
# data/zero flags.  The expected values come from the layout written here.
has_run() {
	local runs=$1 start=$2 len=$3 data=$4 zero=$5
	awk -v s="$start" -v l="$len" -v d="$data" -v z="$zero" '
		$1 <= s && $1 + $2 >= s + l && $3 == d && $4 == z { found = 1 }
		END { exit !found }' <<<"$runs" ||
		fail "no run [$start, +$len) data=$data zero=$zero in:
$runs"
	echo "ok: [$start, +$len) is data=$data zero=$zero"
}

# --- a fresh sparse image: one hole ----------------------------------------
"$MORTAR" img create "$img" $size
runs=$(compare_maps "$img")
expect_eq "runs of a sparse image" "$runs" "0 $size False True"

# --- writes at 4k- and 64k-aligned offsets ---------------------------------
mio -c "write -P 0xab 0 4k"
mio -c "write -P 0xcd 64k 64k" -c "write -P 0x01 $((M + 4 * K)) 4k"
mio -c "write -P 0x02 $((2 * M)) 1M"
mio -c "write -P 0x03 $((size - 4 * K)) 4k"
runs=$(compare_maps "$img")
has_run "$runs" 0 $((4 * K)) True False
has_run "$runs" $((4 * K)) $((60 * K)) False True
has_run "$runs" $((64 * K)) $((64 * K)) True False
has_run "$runs" $((M + 4 * K)) $((4 * K)) True False
has_run "$runs" $((2 * M)) $M True False
has_run "$runs" $((3 * M)) $((size - 3 * M - 4 * K)) False True
has_run "$runs" $((size - 4 * K)) $((4 * K)) True False

# --- trim in the middle of data: a hole appears ----------------------------
mio -c "trim $((2 * M + 256 * K)) 128k"
runs=$(compare_maps "$img")
has_run "$runs" $((2 * M)) $((256 * K)) True False
has_run "$runs" $((2 * M + 256 * K)) $((128 * K)) False True
has_run "$runs" $((2 * M + 384 * K)) $((640 * K)) True False
qemu_read_pattern "$img" 0 $((2 * M + 256 * K)) 128k
qemu_read_pattern "$img" 0x02 $((2 * M + 384 * K)) 640k

# --- zero -u deallocates; zero keeps reading as zeroes ---------------------
mio -c "write -P 0x04 $((4 * M)) 256k" -c "zero -u $((4 * M + 64 * K)) 64k"
mio -c "write -P 0x05 $((5 * M)) 256k" -c "zero $((5 * M + 64 * K)) 64k"
runs=$(compare_maps "$img")
has_run "$runs" $((4 * M + 64 * K)) $((64 * K)) False True
qemu_read_pattern "$img" 0 $((4 * M + 64 * K)) 64k
qemu_read_pattern "$img" 0 $((5 * M + 64 * K)) 64k
qemu_read_pattern "$img" 0x05 $((5 * M + 128 * K)) 128k

# --- layout by qemu-io on the same file, and unaligned writes --------------
qemu-io -f raw -c "write -P 0x77 $((6 * M)) 192k" -c "write -P 0x78 $((7 * M + 100)) 1000" \
	-c "write -P 0x79 $((8 * M)) 64k" "$img" >/dev/null
mio -c "write -P 0x7a $((8 * M + 64 * K)) 64k" -c "write -P 0x7b $((9 * M + 5000)) 3000"
runs=$(compare_maps "$img")
has_run "$runs" $((6 * M)) $((192 * K)) True False
has_run "$runs" $((7 * M + 100)) 1000 True False
has_run "$runs" $((8 * M)) $((128 * K)) True False
has_run "$runs" $((9 * M + 5000)) 3000 True False
# and trims by mortar of what qemu-io wrote
mio -c "trim $((6 * M + 64 * K)) 64k"
runs=$(compare_maps "$img")
has_run "$runs" $((6 * M + 64 * K)) $((64 * K)) False True
qemu_read_pattern "$img" 0x77 $((6 * M)) 64k
qemu_read_pattern "$img" 0x77 $((6 * M + 128 * K)) 64k

# --- resize: the new tail is a hole ----------------------------------------
"$MORTAR" img resize "$img" +3M || fail "resize +3M failed"
runs=$(compare_maps "$img")
has_run "$runs" $((size - 4 * K)) $((4 * K)) True False
has_run "$runs" $size $((3 * M)) False True
expect_eq "last run after resize" "$(tail -1 <<<"$runs")" "$size $((3 * M)) False True"
# a grow by a size that is not a multiple of 4k: still a hole to the end
"$MORTAR" img resize "$img" $((size + 3 * M + 64 * K)) || fail "resize failed"
runs=$(compare_maps "$img")
expect_eq "last run after an absolute grow" "$(tail -1 <<<"$runs")" \
	"$size $((3 * M + 64 * K)) False True"

# --- human output: a header, then one line per extent ----------------------
json=$("$MORTAR" img map --output=json "$img")
human=$("$MORTAR" img map "$img")
"$PY" - "$json" "$human" <<'EOF' || fail "human map does not match the JSON map:
$human"
import json, sys
ext = json.loads(sys.argv[1])
lines = sys.argv[2].splitlines()
assert len(lines) == len(ext) + 1, f"{len(lines)} lines for {len(ext)} extents"
hdr = lines[0].split()
assert hdr[:2] == ["Offset", "Length"], lines[0]
for e, line in zip(ext, lines[1:]):
    f = line.split(None, 2)
    assert int(f[0], 16) == e["start"], (line, e)
    assert int(f[1], 16) == e["length"], (line, e)
    kind = f[2].strip()
    assert (kind == "hole") == (not e["data"]), (line, e)
EOF
echo "ok: human map has a header and one line per extent"

# --- 64k-aligned layout on a fresh image, fully allocated at the end -------
img=$SCRATCH/map64.img
"$MORTAR" img create "$img" 4M
for ((i = 0; i < 64; i += 3)); do
	mio -c "write -P $i $((i * 64 * K)) 64k"
done
runs=$(compare_maps "$img")
has_run "$runs" $((3 * 64 * K)) $((64 * K)) True False
has_run "$runs" $((4 * 64 * K)) $((128 * K)) False True
mio -c "write -P 0x99 0 4M"
runs=$(compare_maps "$img")
expect_eq "runs of a fully written image" "$runs" "0 $((4 * M)) True False"
mio -c "trim 0 4M"
runs=$(compare_maps "$img")
expect_eq "runs after trimming everything" "$runs" "0 $((4 * M)) False True"

# --- an empty image maps to no extent --------------------------------------
"$MORTAR" img create "$SCRATCH/empty.img" 0
expect_rc 0 "" "$MORTAR" img map --output=json "$SCRATCH/empty.img"
expect_eq "extents of an empty image" "$(tr -d ' \n' <<<"$OUT")" "[]"

# --- usage -------------------------------------------------------------------
expect_rc 2 "" "$MORTAR" img map
expect_rc 2 "" "$MORTAR" img map --force "$img"
expect_rc 2 "output" "$MORTAR" img map --output=yaml "$img"
expect_error_line "does not exist|no image" "$MORTAR" img map "$SCRATCH/missing.img"
echo PASS
