#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar bench --in-guest --quick on a local folder, three paths (Mortar's
# vhost-user-blk, the same pinned on one worker thread, and
# qemu-storage-daemon's): fio runs in the guest on each disk, and the
# table has a number in every column of every row, the ratio of the
# one-thread path (a dash when a server's CPU time rounds to nothing in
# so short a run), the seeds' figures beside, and the images are gone
# afterwards.
. "$(dirname "$0")/lib.sh"
requires fio qemu-storage-daemon
out=$("$MORTAR" bench --in-guest --quick --paths mortar-vhost,mortar-vhost-pin-1t,qsd-vhost "$SCRATCH/b" 2>"$SCRATCH/err") ||
	fail "bench --in-guest failed: $(tail -5 "$SCRATCH/err")"
echo "$out"
head -1 <<<"$out" | grep -q "^in-guest fio: accel=\(tcg\|kvm\)" || fail "no first line with the accelerator"
for rw in READ WRITE; do
	block=$(sed -n "/^FIO $rw/,/seeds/p" <<<"$out")
	for who in "Mortar vhost-user-blk" "Mortar vhost-user-blk pinned, 1 thread" \
		   "qemu-storage-daemon vhost-user-blk"; do
		row=$(grep -E "^$who +[0-9]" <<<"$block") || fail "$rw: no row for $who"
		read -r -a f <<<"${row#"$who"}"
		((${#f[@]} == 5)) || fail "$rw: $who: ${#f[@]} columns: $row"
		for v in "${f[@]}"; do [[ $v =~ ^[0-9]+$ ]] || fail "$rw: $who: '$v' in $row"; done
		((f[0] > 0)) || fail "$rw: $who moved no data"
	done
	grep -Eq "server CPU pinned-1t/qsd ([0-9.]+|-)," <<<"$block" || fail "$rw: no ratio for the one-thread path"
	grep -q "seeds (Fedora 17" <<<"$block" || fail "$rw: no seeds' figures"
done
echo "ok: the three paths measured in the guest, read and write"
[[ -z $(ls "$SCRATCH/b") ]] || fail "images left behind: $(ls "$SCRATCH/b")"
echo PASS
