#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The GlusterFS backend on a real glusterd with a volume made here:
# create/info/map/resize, data written by one process and read by another
# (the process exits without glfs_fini: nothing may be lost by that), short
# commands that do not wait ~10 s in glfs_fini, the export over NBD to
# qemu-io and nbdcopy, and errors that name their cause.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires qemu-io nbdcopy
requires_root

vol=mortar-be$$
gluster_volume "$vol"
uri=gluster://$GLUSTER_HOST/$vol/disk.img

# Short commands: glfs_fini would cost ~10 s each.
start=$(date +%s%N)
"$MORTAR" img create "$uri" 1G
"$MORTAR" img info "$uri" >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "create + info took ${ms} ms"
((ms < 4000)) || fail "img create + info took ${ms} ms: waiting in glfs_fini?"

out=$("$MORTAR" img info --output=json "$uri")
expect_eq "virtual-size" "$(jq -r '."virtual-size"' <<<"$out")" $((1 << 30))
expect_eq "backend" "$(jq -r .backend <<<"$out")" gluster
expect_eq "can trim" "$(jq -r .capabilities.trim <<<"$out")" true
alloc=$(jq -r '."actual-size"' <<<"$out")
((alloc <= 65536)) || fail "a fresh 1 GiB image has $alloc bytes allocated: not sparse"

expect_fail_msg "already exists.*--force" "$MORTAR" img create "$uri" 1G

# Data written by one process, read back by others.
"$MORTAR" io "$uri" -c "write -P 0xab 0 1M" -c "write -P 0xcd 64M 64K" -c "write -F -P 0x11 100M 4096" >/dev/null
"$MORTAR" io --read-only "$uri" -c "read -P 0xab 0 1M" -c "read -P 0xcd 64M 64K" \
	-c "read -P 0x11 100M 4096" -c "read -P 0 1M 1M" >/dev/null ||
	fail "data written by an earlier process is not there"
echo "ok: data survives the writer's exit (no glfs_fini)"

# Map: data where written, holes elsewhere.
map=$("$MORTAR" img map --output=json "$uri")
first=$(jq -c '.[0] | [.start, .data]' <<<"$map")
expect_eq "first extent is data from 0" "$first" "[0,true]"
jq -e '[.[] | select(.data == true)] | length >= 2' <<<"$map" >/dev/null ||
	fail "map shows fewer than two data extents: $map"
jq -e '[.[] | select(.data == false and .start < 67108864 and .start + .length > 2097152)] | length >= 1' \
	<<<"$map" >/dev/null || fail "map shows no hole between the writes: $map"

# Trim and zero.
"$MORTAR" io "$uri" -c "trim 0 1M" -c "read -P 0 0 1M" -c "zero 64M 64K" -c "read -P 0 64M 64K" >/dev/null ||
	fail "trim/zero did not leave zeroes"
echo "ok: trim and zero read back as zeroes"

# Resize.
"$MORTAR" img resize "$uri" +1G
expect_eq "grown size" "$("$MORTAR" img info --output=json "$uri" | jq -r '."virtual-size"')" $((2 << 30))
expect_fail_msg "--shrink" "$MORTAR" img resize "$uri" 1G

# Over NBD, to clients nobody here wrote.
"$MORTAR" serve --run '
	set -e
	qemu-io -f raw "$uri" -c "write -P 0x5a 1G 2M" -c "read -P 0x5a 1G 2M" -c "read -P 0x11 100M 4096"
	nbdcopy "$uri" '"$SCRATCH"'/copy.img' "$uri" >"$SCRATCH/serve.out" 2>&1 ||
	{ cat "$SCRATCH/serve.out"; fail "serving $uri to qemu-io and nbdcopy"; }
"$MORTAR" io --read-only "$SCRATCH/copy.img" -c "read -P 0x5a 1G 2M" -c "read -P 0x11 100M 4096" >/dev/null ||
	fail "nbdcopy of the gluster export has the wrong data"
echo "ok: mortar serve exports the gluster image to qemu-io and nbdcopy"

# As a daemon (no -f): it used to open the image before going into the
# background, and the child then hung in libgfapi, whose threads had
# stayed with the parent.
timeout -k 5 30 "$MORTAR" serve -s "$SCRATCH/d.sock" -P "$SCRATCH/d.pid" "$uri" ||
	fail "mortar serve as a daemon did not report ready within 30 s"
on_exit "kill \$(cat '$SCRATCH/d.pid') 2>/dev/null"
timeout 30 qemu-io -r -f raw "nbd+unix:///?socket=$SCRATCH/d.sock" -c "read 0 1M" >/dev/null ||
	fail "the daemon does not serve the gluster image"
kill "$(cat "$SCRATCH/d.pid")"
echo "ok: mortar serve as a daemon serves the gluster image"

# Errors that name their cause, quickly.
expect_fail_msg "no image 'missing.img'" "$MORTAR" img info "gluster://$GLUSTER_HOST/$vol/missing.img"
expect_fail_msg "volume 'nosuchvol'" "$MORTAR" img info "gluster://$GLUSTER_HOST/nosuchvol/disk.img"
expect_fail_msg "cannot resolve host" "$MORTAR" img info "gluster://no-such-host.invalid/$vol/disk.img"
expect_fail_msg "nothing listens.*port 24099" "$MORTAR" img info "gluster://127.0.0.1:24099/$vol/disk.img"
expect_fail_msg "rdma" "$MORTAR" img info "gluster+rdma://$GLUSTER_HOST/$vol/disk.img"
echo "ok: gluster backend"
