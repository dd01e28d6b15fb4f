#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar doctor --write never writes the image, which a guest may be
# using: the image's modification time and bytes stay as they were, also
# while a running mortar serve exports it to a connected client; the write
# is tested on a scratch file beside the image, which is removed (and so
# is one left by a doctor that died).  That scratch file finds what a
# rewrite of the image's own blocks could not: a full filesystem fails the
# step with its cause.  A folder the user may not write into, and a block
# device, skip the step and say why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-io

# Work in a folder of its own: the helpers keep files in $SCRATCH.
mkdir "$SCRATCH/w"
cd "$SCRATCH/w"
"$MORTAR" img create disk.img 1M >/dev/null
qemu-io -f raw -c "write -P 0x42 0 1M" disk.img >/dev/null

# write_step OUT: the write step's status and detail, from the human output.
write_step() { grep '^\[....\] write' <<<"$1" || fail "no write step in: $1"; }

# --- the image is not written ------------------------------------------
touch -d 2020-01-01 disk.img
expect_rc 0 "" "$MORTAR" doctor --write disk.img
write_step "$OUT" | grep -q '^\[ ok \] write .*scratch file beside the image' ||
	fail "write step: $(write_step "$OUT")"
expect_eq "mtime after doctor --write" "$(stat -c %Y disk.img)" "$(date -d 2020-01-01 +%s)"
expect_eq "files after doctor --write" "$(ls -A)" "disk.img"
qemu-io -f raw -c "read -P 0x42 0 1M" disk.img >/dev/null || fail "the image changed"

# --- ...not even while mortar serve exports it ----------------------------
export XDG_RUNTIME_DIR=$SCRATCH/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
start_server_unix d disk.img
nbd="nbd+unix:///?socket=$SOCK"
qemu-io -f raw -c "write -P 0xa1 0 64K" -c flush "$nbd" >/dev/null || fail "qemu-io could not write"
touch -d 2020-01-01 disk.img
expect_rc 0 "" "$MORTAR" doctor --write disk.img
expect_eq "mtime of the exported image after doctor --write" \
	"$(stat -c %Y disk.img)" "$(date -d 2020-01-01 +%s)"
qemu-io -f raw -c "read -P 0xa1 0 64K" "$nbd" >/dev/null || fail "the export changed"
kill "$SPID"
wait "$SPID" || fail "server exit status $?"
qemu-io -f raw -c "read -P 0xa1 0 64K" disk.img >/dev/null || fail "the client's write is gone"
echo "ok: doctor --write beside an exported image left the client's data"

# --- a dead doctor's scratch file is removed, a live one's kept ----------
host=$(uname -n)
: >".disk.img.doctor.tmp-999999999@$host"
: >".disk.img.doctor.tmp-$$@$host"
expect_rc 0 "" "$MORTAR" doctor --write disk.img
[[ ! -e .disk.img.doctor.tmp-999999999@$host ]] || fail "a dead doctor's scratch file stayed"
[[ -e .disk.img.doctor.tmp-$$@$host ]] || fail "a live process's scratch file was removed"
rm ".disk.img.doctor.tmp-$$@$host"

# --- a full filesystem fails the write step --------------------------------
if [[ $(id -u) == 0 ]] && mkdir mnt && mount -t tmpfs -o size=2M mortar-test-doctor mnt; then
	on_exit "umount -l '$SCRATCH/w/mnt'"
	"$MORTAR" img create --preallocation=full mnt/full.img 1M >/dev/null
	dd if=/dev/zero of=mnt/filler bs=64K status=none 2>/dev/null || true
	expect_rc 1 "" "$MORTAR" doctor --write mnt/full.img
	write_step "$OUT" | grep -qi '^\[FAIL\] write .*no space left.*storage is full' ||
		fail "a full filesystem passed the write step: $(write_step "$OUT")"
	expect_eq "files on the full filesystem" "$(ls -A mnt | tr '\n' ' ')" "filler full.img "
	echo "ok: a full filesystem fails the write step with its cause"
fi

# --- a folder the user cannot write into: skipped, not failed ---------------
if [[ $(id -u) == 0 && -x /usr/bin/setpriv ]]; then
	mkdir ro
	"$MORTAR" img create ro/disk.img 1M >/dev/null
	chmod 0666 ro/disk.img
	chmod 0755 ro . "$SCRATCH"
	rc=0
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$MORTAR" doctor --write \
		"$SCRATCH/w/ro/disk.img" 2>&1) || rc=$?
	expect_eq "exit status in a read-only folder" "$rc" 0
	write_step "$out" | grep -q '^\[skip\] write .*may not create a scratch file' ||
		fail "read-only folder: $(write_step "$out")"
fi

# --- a block device: skipped -------------------------------------------
if [[ $(id -u) == 0 && -e /dev/loop-control ]] && command -v losetup >/dev/null &&
   dev=$(losetup -f --show disk.img 2>/dev/null); then
	on_exit "losetup -d '$dev'"
	expect_rc 0 "" "$MORTAR" doctor --write "$dev"
	write_step "$OUT" | grep -q '^\[skip\] write .*block device' ||
		fail "block device: $(write_step "$OUT")"
fi
echo PASS
