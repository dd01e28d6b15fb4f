#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img create / img info against qemu-img on the same files: sizes,
# allocation, preallocation, overwrite protection, bad sizes, --help and
# --version, unknown subcommands.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io python3

# --- sparse images of several sizes -------------------------------------
# SIZE-TEXT and the byte count computed here, not taken from any tool.
sizes=(
	"0 0"
	"1 1"
	"4096 4096"
	"1G $((1 << 30))"
	"1.5G $((3 << 29))"
	"1T $((1 << 40))"
	"512M $((512 << 20))"
	"3k $((3 << 10))"
)
n=0
for s in "${sizes[@]}"; do
	read -r text bytes <<<"$s"
	img=$SCRATCH/sparse-$((n++)).img
	expect_rc 0 "" "$MORTAR" img create "$img" "$text"
	expect_eq "file size of '$text' image (stat)" "$(file_size "$img")" "$bytes"
	read -r qv qa <<<"$(qemu_sizes "$img")"
	read -r mv ma <<<"$(mortar_sizes "$img")"
	# qemu-img reports raw sizes rounded up to whole 512-byte sectors.
	expect_eq "qemu-img virtual-size of '$text'" "$qv" $(((bytes + 511) / 512 * 512))
	expect_eq "mortar virtual-size of '$text'" "$mv" "$bytes"
	expect_eq "mortar actual-size of sparse '$text' = qemu-img's" "$ma" "$qa"
	a=$(file_alloc "$img")
	((a <= EMPTY_ALLOC)) || fail "sparse '$text' allocates $a bytes"
	echo "ok: sparse '$text' allocates nothing ($a bytes)"

	# With some data in it, the allocation must follow (both tools).
	if ((bytes > 0)); then
		len=$((bytes < 65536 ? bytes : 65536))
		qemu-io -f raw -c "write -P 0x5a 0 $len" "$img" >/dev/null
		want=$(file_alloc "$img")
		((want > 0)) || fail "qemu-io write did not allocate anything in $img"
		read -r qv qa <<<"$(qemu_sizes "$img")"
		read -r mv ma <<<"$(mortar_sizes "$img")"
		expect_eq "qemu-img actual-size after a write ('$text')" "$qa" "$want"
		expect_eq "mortar actual-size after a write ('$text')" "$ma" "$want"
	fi
done

# --- the info document -------------------------------------------------
img=$SCRATCH/sparse-3.img
info=$("$MORTAR" img info --output=json "$img")
"$PY" - "$info" "$(mortar_loc "$img")" "$TEST_BACKEND" <<'EOF' || fail "mortar img info --output=json is not as documented: $info"
import json, sys
j = json.loads(sys.argv[1])
want = {"filename", "location", "backend", "format", "virtual-size",
        "actual-size", "block-size", "capabilities"}
assert want <= set(j), f"missing keys {want - set(j)}"
assert j["filename"] == sys.argv[2], j["filename"]
assert j["backend"] == sys.argv[3], j["backend"]
assert j["format"] == "raw", j["format"]
b = j["block-size"]
assert set(b) == {"minimum", "preferred", "maximum"}, b
assert 1 <= b["minimum"] <= b["preferred"] <= b["maximum"], b
caps = {"read-only", "flush", "fua", "trim", "zero", "fast-zero", "extents",
        "resize", "multi-conn", "cache", "rotational"}
c = j["capabilities"]
assert caps == set(c), f"capabilities: {set(c) ^ caps}"
assert all(isinstance(v, bool) for v in c.values()), c
# A writable regular file (on a local filesystem or a GlusterFS volume).
assert c["read-only"] is False and c["resize"] is True, c
assert c["flush"] and c["zero"] and c["extents"], c
EOF
echo "ok: info JSON has every documented key"
human=$("$MORTAR" img info "$img")
grep -q "^virtual size: .*($((1 << 30)) bytes)" <<<"$human" ||
	fail "human info lacks the virtual size in bytes: $human"
grep -q "^backend: $TEST_BACKEND" <<<"$human" || fail "human info lacks the backend: $human"
echo "ok: human info"

# --- preallocation ------------------------------------------------------
for p in off falloc full; do
	for bytes in $((16 << 20)) $((3 << 20 | 512)); do
		img=$SCRATCH/pre-$p-$bytes.img
		expect_rc 0 "" "$MORTAR" img create --preallocation=$p "$img" "$bytes"
		read -r qv q <<<"$(qemu_sizes "$img")"
		read -r mv m <<<"$(mortar_sizes "$img")"
		expect_eq "virtual-size ($p, $bytes)" "$qv" "$bytes"
		expect_eq "mortar virtual-size ($p, $bytes)" "$mv" "$bytes"
		expect_eq "mortar actual-size = qemu-img's ($p, $bytes)" "$m" "$q"
		if [[ $p == off ]]; then
			((q <= EMPTY_ALLOC)) || fail "no preallocation: $q bytes allocated"
			echo "ok: no preallocation allocates nothing ($q bytes)"
		else
			((q >= bytes)) || fail "--preallocation=$p: qemu-img actual-size $q < $bytes"
			((m >= bytes)) || fail "--preallocation=$p: mortar actual-size $m < $bytes"
			echo "ok: --preallocation=$p allocates $q >= $bytes bytes"
		fi
		qemu_read_pattern "$img" 0 0 "$bytes"
	done
done
expect_rc 2 "preallocation" "$MORTAR" img create --preallocation=bogus "$SCRATCH/bogus.img" 1M
[[ ! -e $SCRATCH/bogus.img ]] || fail "a bad --preallocation still created the image"

# --- overwrite protection -----------------------------------------------
img=$SCRATCH/keep.img
"$MORTAR" img create "$img" 4M
qemu-io -f raw -c "write -P 0xab 0 1M" "$img" >/dev/null
expect_error_line "--force" "$MORTAR" img create "$img" 8M
expect_eq "size after a refused create" "$(qemu_info "$img" virtual-size)" $((4 << 20))
qemu_read_pattern "$img" 0xab 0 1M
expect_rc 0 "" "$MORTAR" img create --force "$img" 8M
expect_eq "size after create --force" "$(qemu_info "$img" virtual-size)" $((8 << 20))
qemu_read_pattern "$img" 0 0 8M
# --force on a file that does not exist is just a create.
expect_rc 0 "" "$MORTAR" img create --force "$SCRATCH/new.img" 1M
expect_eq "create --force of a new file" "$(file_size "$SCRATCH/new.img")" $((1 << 20))
# A folder that does not exist: an error, not a usage error.
expect_error_line "does not exist" "$MORTAR" img create "$SCRATCH/no/such/dir.img" 1M

# --- bad sizes ----------------------------------------------------------
# "-1" may be taken for an option; either way a usage error with a message.
expect_rc 2 "." "$MORTAR" img create "$SCRATCH/bad.img" -1
for bad in 12Q 1.5 "" 99999999999E 1G5 0x10 " 1G" 1.5.5G 18446744073709551616; do
	expect_rc 2 "size" "$MORTAR" img create "$SCRATCH/bad.img" "$bad"
	[[ ! -e $SCRATCH/bad.img ]] || fail "size '$bad' was refused but the file exists"
done
expect_rc 2 "size" "$MORTAR" img create "$SCRATCH/bad.img" -- -1
[[ ! -e $SCRATCH/bad.img ]] || fail "size '-1' was refused but the file exists"
expect_rc 2 "" "$MORTAR" img create "$SCRATCH/bad.img"
expect_rc 2 "" "$MORTAR" img create "$SCRATCH/bad.img" 1M extra
expect_rc 2 "" "$MORTAR" img create --output=json "$SCRATCH/bad.img" 1M
[[ ! -e $SCRATCH/bad.img ]] || fail "a usage error created the file"

# --- help, version, unknown commands -----------------------------------
expect_rc 0 "" "$MORTAR" --version
grep -qE '^mortar [0-9]+\.[0-9]+' <<<"$OUT" || fail "--version printed: $OUT"
expect_rc 0 "" "$MORTAR" --help
grep -q "Usage" <<<"$OUT" || fail "--help printed no usage: $OUT"
expect_rc 0 "" "$MORTAR" img --help
grep -q "img create" <<<"$OUT" || fail "img --help printed: $OUT"
expect_rc 0 "" "$MORTAR" img create --help
grep -q "img create" <<<"$OUT" || fail "img create --help printed: $OUT"
expect_rc 2 "frobnicate" "$MORTAR" img frobnicate x
expect_rc 2 "frobnicate" "$MORTAR" frobnicate
expect_rc 2 "" "$MORTAR"
expect_rc 2 "" "$MORTAR" img
expect_rc 2 "" "$MORTAR" img info --bogus-option "$SCRATCH/new.img"
expect_rc 2 "output" "$MORTAR" img info --output=xml "$SCRATCH/new.img"
echo "PASS"
