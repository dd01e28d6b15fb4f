#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# nbdcopy (libnbd) through mortar serve: a 256 MiB sparse image with random
# data regions (aligned and not) copied out to a file and back into another
# export whose holes were full of junk; cmp after every copy; the copy out
# stays sparse; --flush; NBD to NBD; multi-conn (--connections=4 opens four
# connections to the server, counted in its -v log; nbdcopy caps
# connections at its threads, which default to the number of cores).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires nbdcopy cmp qemu-io

M=$((1 << 20))
src=$SCRATCH/src.img dst=$SCRATCH/dst.img out=$SCRATCH/out.raw
"$MORTAR" img create "$src" 256M >/dev/null
"$MORTAR" img create "$dst" 256M >/dev/null
# Random regions; their total is the data the copy out may allocate.
data_bytes=$("$PY" - "$src" <<'EOF'
import os, random, sys
rnd = random.Random(20240611)
size = 256 << 20
total = 0
with open(sys.argv[1], "r+b") as f:
    for i in range(40):
        ln = rnd.choice([4096, 65536, 1 << 20, 3 << 20]) + (rnd.randrange(1, 4096) if i % 5 == 0 else 0)
        off = rnd.randrange(0, size - ln)
        if i % 3:
            off &= ~4095
        f.seek(off)
        f.write(rnd.randbytes(ln))
        total += ln
    # an allocated run of zeroes and the very last byte
    f.seek(200 << 20); f.write(bytes(1 << 20)); total += 1 << 20
    f.seek(size - 1); f.write(b"\x7f"); total += 1
print(total)
EOF
)
echo "ok: source image made, about $((data_bytes / M)) MiB of data"
# junk in the destination, also where the source has holes
qemu-io -f raw -c "write -P 0xee 0 256M" "$dst" >/dev/null

stop_server() {
	local rc=0
	kill -TERM "$SPID"
	wait "$SPID" || rc=$?
	expect_eq "server exit status after SIGTERM" "$rc" 0
}
conns() { grep -c ": transmission on export '$2'" "$SCRATCH/$1.log" || true; }

sock=$SCRATCH/nbd.sock
start_server one -s "$sock" "$src" "$dst"
usrc="nbd+unix:///src.img?socket=$sock" udst="nbd+unix:///dst.img?socket=$sock"

# --- out to a file ---------------------------------------------------------------------
nbdcopy "$usrc" "$out" || fail "nbdcopy out of NBD failed"
cmp "$src" "$out" || fail "the copy out differs from the source"
echo "ok: nbdcopy NBD -> file, cmp equal"
alloc=$(file_alloc "$out") src_alloc=$(file_alloc "$src")
# sparse: at most what the source allocates, minus its allocated zeroes
# (nbdcopy writes no all-zero blocks), but everything that holds data
((alloc <= src_alloc - M + 64 * 1024)) || fail "the copy out is not sparse: $alloc bytes allocated, the source $src_alloc"
((alloc >= src_alloc - M - 64 * 1024)) || fail "the copy out allocates $alloc bytes, less than the source's data ($src_alloc - 1 MiB)"
echo "ok: the copy out allocates $alloc bytes (source: $src_alloc, with 1 MiB of allocated zeroes)"

# --- back in, over junk, with --flush ---------------------------------------------------
n0=$(conns one dst.img)
nbdcopy --flush "$out" "$udst" || fail "nbdcopy --flush file -> NBD failed"
cmp "$src" "$dst" || fail "the copy into NBD differs (junk left in holes?)"
echo "ok: nbdcopy --flush file -> NBD over junk, cmp equal"
((n0 < $(conns one dst.img))) || fail "nbdcopy did not connect to dst.img?"

# --- NBD to NBD, 4 connections each ---------------------------------------------------
qemu-io -f raw -c "write -P 0xdd 0 256M" "$dst" >/dev/null
n0=$(conns one dst.img) s0=$(conns one src.img)
nbdcopy --connections=4 --threads=4 --requests=16 "$usrc" "$udst" || fail "nbdcopy --connections=4 failed"
cmp "$src" "$dst" || fail "NBD -> NBD copy with 4 connections differs"
echo "ok: nbdcopy --connections=4 --threads=4 NBD -> NBD, cmp equal"
nd=$(($(conns one dst.img) - n0)) ns=$(($(conns one src.img) - s0))
((nd >= 4)) || fail "nbdcopy --connections=4 --threads=4 opened $nd connections to the destination"
((ns >= 4)) || fail "nbdcopy --connections=4 --threads=4 opened $ns connections to the source"
echo "ok: nbdcopy used $ns connections to the source and $nd to the destination"
stop_server

# --- multi-conn writes from a file, then the copy back out, over TCP -------------------
qemu-io -f raw -c "write -P 0xcc 0 256M" "$dst" >/dev/null
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server tcp -p "$port" "$dst"
nbdcopy --connections=4 --threads=4 --flush "$src" "nbd://127.0.0.1:$port/" || fail "nbdcopy -C 4 file -> TCP failed"
cmp "$src" "$dst" || fail "file -> NBD (TCP, 4 connections) differs"
echo "ok: nbdcopy --connections=4 --threads=4 --flush file -> NBD over TCP, cmp equal"
nd=$(conns tcp dst.img)
((nd >= 4)) || fail "only $nd connections for --connections=4"
rm -f "$out"
nbdcopy --connections=4 --threads=4 "nbd://127.0.0.1:$port/" "$out" || fail "nbdcopy -C 4 TCP -> file failed"
cmp "$src" "$out" || fail "NBD (TCP) -> file differs"
echo "ok: nbdcopy --connections=4 --threads=4 NBD over TCP -> file, cmp equal"
# the destination is as large as the source: a copy into a smaller export fails
"$MORTAR" img create "$SCRATCH/small.img" 1M >/dev/null
stop_server
start_server small -s "$SCRATCH/small.sock" "$SCRATCH/small.img"
rc=0
nbdcopy "$src" "nbd+unix:///?socket=$SCRATCH/small.sock" 2>"$SCRATCH/err" || rc=$?
((rc != 0)) || fail "nbdcopy of 256 MiB into a 1 MiB export succeeded"
echo "ok: nbdcopy into a too small export fails: $(head -1 "$SCRATCH/err")"
stop_server
echo PASS
