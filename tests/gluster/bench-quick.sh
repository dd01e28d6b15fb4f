#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar bench --quick on a GlusterFS volume made here: the paths are the
# in-process libgfapi direct path (fio gfapi_async), the FUSE mount (which
# bench mounts and unmounts itself), mortar serve, and QEMU's gluster
# driver behind qemu-nbd and qemu-storage-daemon; all produce numbers;
# JSON, PNG and SVG are valid; no FUSE mount and no image stay behind.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires fio gnuplot jq qemu-nbd qemu-storage-daemon
requires_root

vol=mortar-bq$$
gluster_volume "$vol"
cd "$SCRATCH"
"$MORTAR" bench --quick --output=json --plot-dir . "gluster://$GLUSTER_HOST/$vol/bench.img" \
	>out.json 2>err.txt || fail "bench failed: $(tail -5 err.txt)"
jq -e . out.json >/dev/null || fail "output is not JSON"
expect_eq "backend" "$(jq -r .backend out.json)" gluster
expect_eq "paths" "$(jq -r '[.paths[].name] | join(",")' out.json)" "direct,fuse,mortar,qemu-nbd,qsd"
jq -r '.paths[] | select(.available | not) | "\(.name): \(.reason)"' out.json
for p in direct fuse mortar qemu-nbd qsd; do
	for j in 0 1; do
		v=$(jq -r ".results[$j].\"$p\".iops" out.json)
		awk -v v="$v" 'BEGIN { exit !(v > 0) }' || fail "$p job $j has no IOPS: $v ($(jq -c ".paths" out.json))"
	done
done
expect_eq "PNG signature" "$(head -c 8 mortar-bench.png | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a
"$PY" -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' mortar-bench.svg || fail "SVG does not parse"
! grep -q "$SCRATCH\|mortar-bench\." /proc/mounts || fail "a mount stayed behind: $(grep mortar /proc/mounts)"
! grep -q "/tmp/mortar-bench" /proc/mounts || fail "the FUSE mount stayed behind"
OUT=$("$MORTAR" img info "gluster://$GLUSTER_HOST/$vol/bench.img" 2>&1) && fail "the benchmark image was left: $OUT"
echo PASS
