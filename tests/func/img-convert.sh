#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img convert: qcow2 and vmdk images written by qemu-io are read
# through a qemu-nbd child and land as raw images equal to the source
# (qemu-img compare) with their holes kept; raw sources are cloned; the
# format is reported; bad sources and existing destinations are refused
# with one line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io qemu-nbd

cd "$SCRATCH"
for fmt in qcow2 vmdk; do
	qemu-img create -q -f $fmt src.$fmt 256M
	qemu-io -f $fmt -c "write -P 0xab 1M 3M" -c "write -P 0xcd 200M 64K" \
		-c "write -z 100M 1M" src.$fmt >/dev/null
	OUT=$("$MORTAR" img convert --output=json src.$fmt dst-$fmt.raw | tail -1)
	expect_eq "$fmt: detected format" "$(json_get "$OUT" source-format)" $fmt
	expect_eq "$fmt: size" "$(json_get "$OUT" size)" $((256 << 20))
	qemu-img compare -q -f $fmt -F raw src.$fmt dst-$fmt.raw || fail "$fmt: converted image differs"
	alloc=$(du -k dst-$fmt.raw | cut -f1)
	(( alloc <= 4 * 1024 )) || fail "$fmt: raw copy allocates $alloc KiB, want about 3 MiB"
	echo "ok: $fmt converted, equal, $alloc KiB allocated"
done

# raw: a clone
"$MORTAR" img create raw.img 16M >/dev/null
qemu-io -f raw -c "write -P 0x77 0 1M" raw.img >/dev/null
OUT=$("$MORTAR" img convert --output=json raw.img raw-copy.img | tail -1)
expect_eq "raw: detected format" "$(json_get "$OUT" source-format)" raw
cmp raw.img raw-copy.img || fail "raw convert differs"

# refusals
expect_error_line "already exists.*--force" "$MORTAR" img convert -q src.qcow2 dst-qcow2.raw
"$MORTAR" img convert -q --force src.qcow2 dst-qcow2.raw >/dev/null
echo "not an image, just text" >text.txt
OUT=$("$MORTAR" img convert -q -f qcow2 text.txt x.raw 2>&1) && fail "converting text as qcow2 succeeded"
grep -q "qemu-nbd could not open text.txt as qcow2" <<<"$OUT" || fail "unclear message: $OUT"
[[ ! -e x.raw ]] || fail "a failed convert left x.raw"
expect_rc 2 "expected SRC and DST" "$MORTAR" img convert src.qcow2
echo PASS
