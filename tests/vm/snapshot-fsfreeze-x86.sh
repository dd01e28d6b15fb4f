#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# img snapshot of a disk of a running `mortar vm` guest that runs the QEMU
# guest agent freezes the guest's filesystems around the snapshot:
#  - the guest makes an ext4 filesystem on its Mortar disk (the host's
#    mke2fs, put in with guest_put), mounts it and writes files without
#    pause (each with an fsync: the journal is always busy);
#  - 3 snapshots taken meanwhile (the last naming the image by another
#    path, as a file:// URI) each say application-consistent, and
#    each snapshot's filesystem needs no journal recovery (no
#    needs_recovery in dumpe2fs -h; e2fsck -fn clean; it mounts from a
#    read-only loop device, where ext4 cannot replay a journal); the
#    guest is thawed after each and goes on writing;
#  - the same with --no-freeze says crash-consistent, and its filesystem
#    does need recovery: the check above can fail;
#  - an image in no VM: crash-consistent and why; --quiesce refuses it;
#  - a guest whose agent does not answer (QEMU paused): the freeze gives
#    up after --freeze-timeout, crash-consistent; a thaw that fails says
#    loudly that the guest may be frozen and names 'mortar vm thaw',
#    which works once the guest runs again;
#  - a guest without an agent: crash-consistent, and why; --quiesce
#    refuses it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest-agent.bash"
requires mke2fs dumpe2fs e2fsck

img=$SCRATCH/data.img
"$MORTAR" img create "$img" 128M >/dev/null
"$MORTAR" vm start fz --kernel "$KERNEL" --initrd "$INITRD" --memory 256M --disk "$img" \
	--wait --timeout 120 >/dev/null
on_exit "'$MORTAR' vm stop --force fz >/dev/null 2>&1"
guest_of_vm fz

# --- an ext4 filesystem made and written by the guest ------------------------
# (the initramfs has busybox, whose mke2fs makes no journal: the host's,
# with its libraries beside it; the guest has the host's libc already)
guest_exec "mkdir -p /tmp/e2fs /mnt/d"
guest_put "$(command -v mke2fs)" /tmp/e2fs/mke2fs
for lib in $(ldd "$(command -v mke2fs)" | awk '/=> \// { print $3 }'); do
	case $lib in */libc.so.*) continue ;; esac
	guest_put "$lib" "/tmp/e2fs/$(basename "$lib")"
done
guest_exec "LD_LIBRARY_PATH=/tmp/e2fs /tmp/e2fs/mke2fs -q -F -t ext4 /dev/vda &&
	mount -t ext4 /dev/vda /mnt/d" || fail "the guest could not make and mount ext4 on /dev/vda"
# Files written, fsynced, renamed and removed, and a counter the host reads.
guest_exec "sh -c 'i=0; while :; do i=\$((i + 1));
	dd if=/dev/urandom of=/mnt/d/f\$((i % 32)).new bs=4k count=8 conv=fsync 2>/dev/null;
	mv /mnt/d/f\$((i % 32)).new /mnt/d/f\$((i % 32)); rm -f /mnt/d/f\$(((i + 7) % 32));
	echo \$i >/mnt/d/count.new; mv /mnt/d/count.new /mnt/d/count; done' </dev/null >/dev/null 2>&1 &"
count() { guest_exec "cat /mnt/d/count 2>/dev/null || echo 0"; }
writes_go_on() {
	local a b
	a=$(count)
	sleep 1
	b=$(count)
	((b > a)) || fail "$1: the guest's writer is stuck (count $a, then $b): still frozen?"
	expect_eq "$1: the agent's freeze status" \
		"$(_guest_agent '{"execute":"guest-fsfreeze-status"}' | jq -r .return)" thawed
}
writes_go_on "before the snapshots"

snapdir=$SCRATCH/.data.img.snapshots
# needs_recovery SNAPSHOT: whether its ext4 has the journal's
# needs_recovery feature (set while mounted, cleared by a clean unmount
# or a freeze)
needs_recovery() {
	local f
	f=$(dumpe2fs -h "$snapdir/$1.img" 2>/dev/null | grep '^Filesystem features:') ||
		fail "dumpe2fs -h cannot read the superblock of $1"
	[[ $f == *needs_recovery* ]]
}
# mounts_ro SNAPSHOT: whether its ext4 mounts from a read-only loop
# device, where ext4 cannot replay a journal (it refuses a filesystem that
# needs recovery); prints the guest's counter found there.  Where this
# host has no loop devices, dumpe2fs and e2fsck alone decide.
loop=false
[[ $(id -u) == 0 ]] && losetup -f >/dev/null 2>&1 && loop=true
mounts_ro() {
	local dev rc=0
	dev=$(losetup -r -f --show "$snapdir/$1.img") || fail "losetup -r of $1 failed"
	mkdir -p "$SCRATCH/mnt"
	if mount -t ext4 -o ro "$dev" "$SCRATCH/mnt" 2>"$SCRATCH/mount.err"; then
		cat "$SCRATCH/mnt/count" || rc=1
		umount "$SCRATCH/mnt"
	else
		rc=1
	fi
	losetup -d "$dev"
	return $rc
}

# (the VM is found by its disk as an image, not as a string: s3 names it
# as a file:// URI by another path)
spelling=("$img" "$img" "file://$SCRATCH/vms/../data.img")
for n in 1 2 3; do
	out=$("$MORTAR" img snapshot --output=json "${spelling[n - 1]}" "s$n" | tail -n 1)
	expect_eq "snapshot s$n" "$(jq -r .consistency <<<"$out")" application-consistent
	expect_eq "snapshot s$n: its VM" "$(jq -r .vm <<<"$out")" fz
	(($(jq -r '."frozen-filesystems"' <<<"$out") >= 1)) || fail "s$n froze no filesystem: $out"
	! needs_recovery "s$n" || fail "the filesystem of s$n needs journal recovery: $(dumpe2fs -h "$snapdir/s$n.img" 2>/dev/null | grep features)"
	e2fsck -fn "$snapdir/s$n.img" >"$SCRATCH/fsck.out" 2>&1 ||
		fail "e2fsck -fn of s$n: $(tail -n 5 "$SCRATCH/fsck.out")"
	echo "ok: s$n needs no journal recovery, e2fsck -fn is clean ($(tail -n 1 "$SCRATCH/fsck.out"))"
	if $loop; then
		c=$(mounts_ro "s$n") || fail "s$n does not mount from a read-only loop device: $(cat "$SCRATCH/mount.err")"
		echo "ok: s$n mounts read-only without recovery; the guest had written $c times"
	fi
	writes_go_on "after s$n"
done
out=$("$MORTAR" img snapshot "$img" s4)
grep -q "^application-consistent: the guest of VM 'fz' had its filesystems frozen" <<<"$out" ||
	fail "the text output does not say application-consistent: $out"
echo "ok: text output: $(tail -n 1 <<<"$out")"

# --- without the freeze, the same check fails -------------------------------
out=$("$MORTAR" img snapshot --output=json --no-freeze "$img" nf | tail -n 1)
expect_eq "--no-freeze snapshot" "$(jq -r .consistency <<<"$out")" crash-consistent
needs_recovery nf || fail "a snapshot taken without freezing needs no journal recovery: the check cannot fail"
echo "ok: without the freeze the snapshot's ext4 needs journal recovery (needs_recovery)"
if $loop; then
	! mounts_ro nf >/dev/null || fail "a snapshot taken without freezing mounts read-only: the check cannot fail"
	echo "ok: and it does not mount from a read-only loop device: $(head -n 1 "$SCRATCH/mount.err")"
fi
expect_rc 2 "exclude each other" "$MORTAR" img snapshot --quiesce --no-freeze "$img" x

# --- an image in no VM --------------------------------------------------------
other=$SCRATCH/other.img
"$MORTAR" img create "$other" 16M >/dev/null
out=$("$MORTAR" img snapshot --output=json "$other" o1 | tail -n 1)
expect_eq "an image in no VM" "$(jq -r .consistency <<<"$out")" crash-consistent
jq -r '."consistency-reason"' <<<"$out" | grep -q "no running 'mortar vm'" ||
	fail "no reason given: $out"
expect_error_line "--quiesce: the snapshot would be crash-consistent \(no running 'mortar vm'" \
	"$MORTAR" img snapshot --quiesce "$other" o2
[[ ! -e $SCRATCH/.other.img.snapshots/o2.img ]] || fail "--quiesce took a crash-consistent snapshot"
expect_error_line "no VM named 'nosuch'" "$MORTAR" img snapshot --vm nosuch "$other" o3

# --- the agent does not answer: bounded; a failed thaw is loud --------------
qmp() { vm_qmp fz "$1" | jq -e .return >/dev/null || fail "QEMU did not $1"; }
qmp stop
t0=$SECONDS
out=$("$MORTAR" img snapshot --output=json --freeze-timeout 2 "$img" paused | tail -n 1)
((SECONDS - t0 <= 15)) || fail "the freeze of a paused guest took $((SECONDS - t0)) s with --freeze-timeout 2"
expect_eq "a paused guest" "$(jq -r .consistency <<<"$out")" crash-consistent
echo "ok: $(jq -r '."consistency-reason"' <<<"$out")"
expect_error_line "MAY STILL BE FROZEN.*run 'mortar vm thaw fz'" "$MORTAR" vm thaw --timeout 2 fz
qmp cont
out=$("$MORTAR" vm thaw fz) || fail "vm thaw failed: $out"
echo "ok: $out"
writes_go_on "after the paused guest"

# --- a guest without an agent ---------------------------------------------------
agent_open() {
	vm_qmp fz query-chardev | jq -e '.return[] | select(.label == "qga0") | ."frontend-open"' >/dev/null
}
guest_exec "(sleep 1; killall qemu-ga) </dev/null >/dev/null 2>&1 &" || true
for _ in $(seq 60); do agent_open || break; sleep 0.5; done
! agent_open || fail "qemu-ga still has its port open after it was killed"
out=$("$MORTAR" img snapshot --output=json --quiesce "$img" noagent 2>&1) &&
	fail "--quiesce took a snapshot of a guest without an agent: $out"
out=$("$MORTAR" img snapshot --output=json "$img" noagent | tail -n 1)
expect_eq "a guest without an agent" "$(jq -r .consistency <<<"$out")" crash-consistent
jq -r '."consistency-reason"' <<<"$out" | grep -q "runs no guest agent" ||
	fail "no reason given: $out"
echo "ok: $(jq -r '."consistency-reason"' <<<"$out")"
"$MORTAR" vm stop --force fz >/dev/null
echo PASS
