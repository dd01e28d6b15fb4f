#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Block status on GlusterFS does not stall the worker: an image with
# thousands of extents, so that one NBD block status request costs
# hundreds of SEEK_DATA/SEEK_HOLE round trips; mortar serve with one
# worker (every connection on the same loop); one connection maps the
# image while another reads 4 KiB blocks one after the other.  The reads
# must be served while the block status runs (their longest wait well
# under the longest block status request), and the map must be right.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
"$PY" -c "import nbd; nbd.NBD" 2>/dev/null || skip "python3-libnbd is not installed"

vol=mortar-ea$$
gluster_volume "$vol"
uri=gluster://$GLUSTER_HOST/$vol/disk.img
"$MORTAR" img create "$uri" 1G >/dev/null
# 4 KiB of data every 256 KiB: 4,096 data extents and as many holes.
cmds=()
for ((i = 0; i < 4096; i++)); do
	cmds+=(-c "write -P 0x5a $((i * 256))K 4K")
done
"$MORTAR" io "$uri" "${cmds[@]}" -c flush >/dev/null || fail "writing the extents"

py=$(dirname "$0")/extents-async.py
start_server_unix srv --threads 1 "$uri"
nbd="nbd+unix:///?socket=$SOCK"
stop=$SCRATCH/stop
"$PY" "$py" read "$nbd" "$stop" >"$SCRATCH/read.out" 2>&1 &
rpid=$!
on_exit "touch '$stop'; kill $rpid 2>/dev/null"
sleep 0.5
map=$("$PY" "$py" map "$nbd" 2>&1) || fail "map: $map"
touch "$stop"
wait "$rpid" || fail "reader: $(cat "$SCRATCH/read.out")"
read=$(cat "$SCRATCH/read.out")
echo "$map"
echo "$read"

extents=$(sed -n 's/^map: [0-9]* requests, \([0-9]*\) extents.*/\1/p' <<<"$map")
expect_eq "extents in the map" "$extents" 8192
map_ms=$(sed -n 's/.*longest \([0-9]*\) ms/\1/p' <<<"$map")
read_ms=$(sed -n 's/.*longest \([0-9]*\) ms/\1/p' <<<"$read")
((map_ms >= 100)) || fail "the longest block status request took $map_ms ms: too short to show a stall"
((read_ms * 4 < map_ms)) || fail "a read waited $read_ms ms while block status requests took up \
to $map_ms ms: the worker's loop was stalled"
echo "ok: reads waited at most $read_ms ms while block status requests took up to $map_ms ms"
echo PASS
