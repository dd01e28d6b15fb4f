#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# --direct on storage whose O_DIRECT needs 4 KiB (a loop device with 4 KiB
# logical sectors, and ext4 on such a device): the export advertises a
# 1-byte minimum block size and multi-conn, so 512-byte writes are
# read-modify-writes of 4 KiB blocks.  Four connections, spread over two
# workers (--threads 2: connections go round-robin, each worker with its
# own image handle), write interleaved 512-byte sectors of the same blocks
# at once; every sector must then hold its last write.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires_root
requires losetup blockdev mkfs.ext4 dd
"$PY" -c "import nbd; nbd.NBD" 2>/dev/null || skip "python3-libnbd is not installed"
[[ -e /dev/loop-control ]] || skip "no /dev/loop-control"

writer=$(dirname "$0")/direct-sectors.py

# loop4k FILE SIZE: a loop device with 4 KiB logical sectors over FILE.
loop4k() {
	truncate -s "$2" "$1"
	LOOPDEV=$(losetup --sector-size 4096 -f --show "$1" 2>/dev/null) ||
		skip "cannot set up a loop device with 4 KiB sectors"
	on_exit "losetup -d '$LOOPDEV'"
	expect_eq "logical sector size of $LOOPDEV" "$(blockdev --getss "$LOOPDEV")" 4096
}

# run_sectors NAME LOCATION: serve LOCATION with --direct on two workers,
# and run the writers.
run_sectors() {
	local name=$1 loc=$2 out rc=0
	start_server_unix "$name" --direct --threads 2 "$loc"
	out=$("$PY" "$writer" "nbd+unix:///?socket=$SOCK" 4 256 4 2>&1) || rc=$?
	echo "$out"
	((rc == 0)) || fail "$name: sectors lost by concurrent read-modify-writes: $out"
	kill "$SPID"
	wait "$SPID" || fail "$name: server exit status $?"
}

# --- the block device itself -----------------------------------------------------------
loop4k "$SCRATCH/dev.img" 8M
run_sectors block "$LOOPDEV"

# --- a file on ext4 over such a device --------------------------------------------------
loop4k "$SCRATCH/fs.img" 64M
mkfs.ext4 -q -b 4096 "$LOOPDEV" </dev/null >/dev/null || fail "mkfs.ext4 failed"
mkdir "$SCRATCH/mnt"
mount "$LOOPDEV" "$SCRATCH/mnt" || skip "cannot mount ext4 on a loop device"
on_exit "umount -l '$SCRATCH/mnt'"
img=$SCRATCH/mnt/disk.img
truncate -s 8M "$img"
# the precondition: 512-byte direct I/O is refused there
if dd if=/dev/zero of="$img" bs=512 count=1 seek=1 oflag=direct conv=notrunc 2>/dev/null; then
	fail "ext4 on $LOOPDEV took a 512-byte direct write: the test would prove nothing"
fi
echo "ok: ext4 on a 4 KiB-sector device refuses 512-byte direct writes"
run_sectors ext4 "$img"
echo "PASS"
