#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img clone into an NBD export served by qemu-nbd (a server nobody
# here wrote): the export holds old data (0xff), so SRC's holes must
# arrive as zeroes; data and holes byte for byte; what lies past SRC's
# size untouched; --force required; a read-only export and one smaller
# than SRC refused with their reason, nothing written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-nbd qemu-img qemu-io cmp

M=$((1 << 20))
src=$SCRATCH/src.img
"$MORTAR" img create "$src" 64M >/dev/null
"$MORTAR" io "$src" -c 'write -P 0x5a 0 1M' -c 'write -P 0xa5 40M 2M' -c 'write -P 0x3c 63M 1M' >/dev/null
dst=$SCRATCH/dst.raw
qemu-img create -q -f raw "$dst" 80M
qemu-io -f raw -c 'write -P 0xff 0 80M' "$dst" >/dev/null

# serve FILE [qemu-nbd options]: an export on $SCRATCH/nbd.sock, in SPID
serve() {
	rm -f "$SCRATCH/nbd.sock"
	qemu-nbd -f raw -t -k "$SCRATCH/nbd.sock" "${@:2}" "$1" &
	SPID=$!
	for ((i = 0; i < 100; i++)); do [[ -S $SCRATCH/nbd.sock ]] && return; sleep 0.1; done
	fail "qemu-nbd did not start"
}
unserve() { kill "$SPID"; wait "$SPID" 2>/dev/null || true; }
uri="nbd+unix:///?socket=$SCRATCH/nbd.sock"

serve "$dst"
on_exit "kill $SPID 2>/dev/null"
expect_error_line "an NBD export always exists.*--force" "$MORTAR" img clone -q "$src" "$uri"
OUT=$("$MORTAR" img clone --force --output=json "$src" "$uri" | tail -n 1)
expect_eq "method" "$(json_get "$OUT" method)" "sparse copy"
expect_eq "bytes copied (the progress total)" "$(json_get "$OUT" size)" $((64 * M))
unserve
cmp <(head -c $((64 * M)) "$dst") "$src" || fail "the export's first 64 MiB differ from SRC"
qemu-io -f raw -c 'read -P 0 1M 39M' -c 'read -P 0xff 64M 16M' "$dst" >/dev/null ||
	fail "holes were not zeroed, or the bytes past SRC were touched"
echo "ok: SRC arrived byte for byte, holes zeroed, the tail left alone"

# refusals
qemu-io -f raw -c 'write -P 0x77 0 80M' "$dst" >/dev/null
serve "$dst" -r
expect_error_line "the export is read-only" "$MORTAR" img clone -q --force "$src" "$uri"
unserve
small=$SCRATCH/small.raw
qemu-img create -q -f raw "$small" 32M
serve "$small"
expect_error_line "the export has 33554432 bytes, fewer than the 67108864" \
	"$MORTAR" img clone -q --force "$src" "$uri"
unserve
qemu-io -f raw -c 'read -P 0x77 0 80M' "$dst" >/dev/null || fail "a refused clone wrote to the export"
expect_error_line "cannot connect" "$MORTAR" img clone -q --force "$src" "$uri"
echo PASS
