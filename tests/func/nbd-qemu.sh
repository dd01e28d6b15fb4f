#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar serve against QEMU's NBD client (qemu-img, qemu-io), over a unix
# socket and over TCP: the virtual size, the data/zero layout (qemu-img map
# through base:allocation vs mortar img map of the file itself), copies in
# both directions (qemu-img convert, compare, cmp on the files), patterns
# written and read back by qemu-io, with many aio_writes in flight.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io cmp

K=1024 M=$((1 << 20))

stop_server() {
	local rc=0
	kill -TERM "$SPID"
	wait "$SPID" || rc=$?
	expect_eq "exit status of server after SIGTERM" "$rc" 0
}
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# runs URI: the normalised (data, zero) runs qemu-img map reports through NBD.
qemu_runs() {
	qemu-img map -f raw --output=json "$1" | jq -c '
		reduce .[] as $e ([]; if length > 0 and .[-1][2] == $e.data and .[-1][3] == $e.zero
			then .[-1][1] += $e.length else . + [[$e.start, $e.length, $e.data, $e.zero]] end)'
}
mortar_runs() {
	"$MORTAR" img map --output=json "$1" | jq -c '
		reduce .[] as $e ([]; if length > 0 and .[-1][2] == $e.data and .[-1][3] == $e.zero
			then .[-1][1] += $e.length else . + [[$e.start, $e.length, $e.data, $e.zero]] end)'
}

# qemu_io URI CMDS...: qemu-io on the NBD URI, every -c must succeed
# (qemu-io reports a pattern mismatch yet may exit 0).
qemu_io() {
	local uri=$1 out args=()
	shift
	for c in "$@"; do args+=(-c "$c"); done
	out=$(qemu-io -f raw "${args[@]}" "$uri" 2>&1) || fail "qemu-io $* on $uri failed: $out"
	if grep -qiE "verification failed|error|failed|cannot" <<<"$out"; then
		fail "qemu-io $* on $uri: $out"
	fi
}

# The image: 64 MiB with data at 1 MiB (0xab) and 5 MiB+64k (0x5c), an
# allocated all-zero extent at 10 MiB (data, not a hole), the rest holes.
make_image() {
	local img=$1
	rm -f "$img"
	"$MORTAR" img create "$img" 64M >/dev/null
	qemu-io -f raw -c "write -P 0xab 1M 1M" -c "write -P 0x5c $((5 * M + 64 * K)) 192k" \
		-c "write -P 0x00 10M 512k" -c "write -P 0x7e $((64 * M - 64 * K)) 64k" "$img" >/dev/null
}

# suite TAG URI_FOR_EXPORT_A URI_FOR_EXPORT_B: A serves $img_a (default
# export), B serves $img_b (an empty 64 MiB image that receives copies).
suite() {
	local tag=$1 ua=$2 ub=$3 got want

	# --- info -----------------------------------------------------------------
	got=$(qemu-img info -f raw --output=json "$ua" | jq -r '."virtual-size"')
	expect_eq "$tag: qemu-img info virtual-size of A" "$got" $((64 * M))
	got=$(qemu-img info -f raw --output=json "$ub" | jq -r '."virtual-size"')
	expect_eq "$tag: qemu-img info virtual-size of B" "$got" $((64 * M))

	# --- map --------------------------------------------------------------------
	want=$(mortar_runs "$img_a")
	got=$(qemu_runs "$ua")
	expect_eq "$tag: qemu-img map through NBD vs mortar img map" "$got" "$want"
	# and the layout is the one made above (not just two equal wrong answers)
	expect_eq "$tag: layout of A" "$got" \
		"[[0,$M,false,true],[$M,$M,true,false],[$((2 * M)),$((3 * M + 64 * K)),false,true],[$((5 * M + 64 * K)),$((192 * K)),true,false],[$((5 * M + 256 * K)),$((5 * M - 256 * K)),false,true],[$((10 * M)),$((512 * K)),true,false],[$((10 * M + 512 * K)),$((54 * M - 576 * K)),false,true],[$((64 * M - 64 * K)),$((64 * K)),true,false]]"

	# --- convert nbd -> raw file, compare -----------------------------------------
	rm -f "$SCRATCH/out.raw"
	qemu-img convert -f raw -O raw "$ua" "$SCRATCH/out.raw" || fail "$tag: qemu-img convert from NBD failed"
	cmp "$img_a" "$SCRATCH/out.raw" || fail "$tag: the copy out of NBD differs from the image"
	echo "ok: $tag: qemu-img convert nbd -> raw, cmp equal"
	qemu-img compare -f raw -F raw "$ua" "$SCRATCH/out.raw" >/dev/null ||
		fail "$tag: qemu-img compare NBD vs copy reports a difference"
	echo "ok: $tag: qemu-img compare NBD vs copy: identical"

	# --- convert raw -> nbd (into B) ------------------------------------------------
	qemu_io "$ub" "write -P 0x99 0 64M"	# B starts full of junk
	qemu-img convert -n -f raw -O raw "$SCRATCH/out.raw" "$ub" ||
		fail "$tag: qemu-img convert into NBD failed"
	cmp "$img_a" "$img_b" || fail "$tag: the copy into NBD differs from the source"
	echo "ok: $tag: qemu-img convert raw -> nbd, cmp equal (junk overwritten)"
	qemu-img compare -f raw -F raw "$ub" "$img_a" >/dev/null ||
		fail "$tag: qemu-img compare B vs A differs"
	echo "ok: $tag: qemu-img compare B (NBD) vs A (file): identical"
	# compare must notice a difference: the checker can fail
	qemu_io "$ub" "write -P 0x01 $((33 * M + 7)) 1"
	local rc=0
	qemu-img compare -f raw -F raw "$ub" "$img_a" >/dev/null 2>&1 || rc=$?
	expect_eq "$tag: qemu-img compare exit status after a one-byte change" "$rc" 1

	# --- qemu-io patterns ---------------------------------------------------------------
	qemu_io "$ub" "write -P 0xab 0 1M" "read -P 0xab 0 1M"
	qemu_read_pattern "$img_b" 0xab 0 1M
	qemu_io "$ub" "write -P 0x3c $((3 * M + 1)) 4095" "read -P 0x3c $((3 * M + 1)) 4095" \
		"read -P 0 $((3 * M)) 1"
	qemu_read_pattern "$img_b" 0x3c $((3 * M + 1)) 4095
	local out
	out=$(qemu-io -f raw -c "read -P 0xac 0 1M" "$ub" 2>&1) || true
	grep -qi "verification failed" <<<"$out" || fail "$tag: qemu-io did not see a pattern mismatch: $out"
	echo "ok: $tag: qemu-io reports a mismatch for the wrong pattern"
	# zero and discard through NBD
	qemu_io "$ub" "write -z $((2 * M)) 256k" "discard $((2 * M + 256 * K)) 256k" \
		"read -P 0 $((2 * M)) 512k"
	qemu_read_pattern "$img_b" 0 $((2 * M)) 512k

	# --- many aio_writes in flight, then aio_flush, then read back ------------------------
	local cmds=() i
	for ((i = 0; i < 48; i++)); do
		cmds+=("aio_write -P $((i + 16)) $((20 * M + i * 64 * K)) 64k")
	done
	cmds+=("aio_flush")
	for ((i = 0; i < 48; i += 7)); do
		cmds+=("read -P $((i + 16)) $((20 * M + i * 64 * K)) 64k")
	done
	qemu_io "$ub" "${cmds[@]}"
	for ((i = 0; i < 48; i++)); do
		qemu_read_pattern "$img_b" $((i + 16)) $((20 * M + i * 64 * K)) 64k >/dev/null
	done
	echo "ok: $tag: 48 qemu-io aio_writes landed, each with its own pattern"
}

img_a=$SCRATCH/a.img img_b=$SCRATCH/b.img
# on failure, show what the servers logged (-v: connections, refused requests)
on_exit '[[ -e $SCRATCH/passed ]] || for f in "$SCRATCH"/*.log; do [[ -e $f ]] && { echo "--- $f"; grep -v ": connected$\\|: transmission on\\|: connection closed$\\|client closed the connection$\\|client disconnected$" "$f" | tail -n 20; }; done >&2'

# --- unix socket ----------------------------------------------------------------------
make_image "$img_a"
"$MORTAR" img create "$img_b" 64M >/dev/null
sock=$SCRATCH/nbd.sock
start_server unix -s "$sock" "$img_a" b="$img_b"
suite unix "nbd+unix:///?socket=$sock" "nbd+unix:///b?socket=$sock"
# the named export a.img is the same as the default one
got=$(qemu-img info -f raw --output=json "nbd+unix:///a.img?socket=$sock" | jq -r '."virtual-size"')
expect_eq "unix: virtual-size of export a.img (by name)" "$got" $((64 * M))
rc=0
out=$(qemu-img info -f raw "nbd+unix:///nosuch?socket=$sock" 2>&1) || rc=$?
((rc != 0)) || fail "qemu-img info of an unknown export succeeded: $out"
echo "ok: unknown export refused: $(head -1 <<<"$out")"
stop_server

# --- TCP --------------------------------------------------------------------------------
make_image "$img_a"
rm -f "$img_b"
"$MORTAR" img create "$img_b" 64M >/dev/null
port=$(free_port)
start_server tcp -p "$port" "$img_a" b="$img_b"
suite tcp "nbd://127.0.0.1:$port" "nbd://127.0.0.1:$port/b"
stop_server

touch "$SCRATCH/passed"
echo PASS
