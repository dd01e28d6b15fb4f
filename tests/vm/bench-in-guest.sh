#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar bench --in-guest --quick on a local folder, two paths (Mortar's
# vhost-user-blk and qemu-storage-daemon's): fio runs in the guest on
# each disk, and the table has a number in every column of both rows,
# the seeds' figures beside, and the images are gone afterwards.
. "$(dirname "$0")/lib.sh"
requires fio qemu-storage-daemon
out=$("$MORTAR" bench --in-guest --quick --paths mortar-vhost,qsd-vhost "$SCRATCH/b" 2>"$SCRATCH/err") ||
	fail "bench --in-guest failed: $(tail -5 "$SCRATCH/err")"
echo "$out"
head -1 <<<"$out" | grep -q "^in-guest fio: accel=\(tcg\|kvm\)" || fail "no first line with the accelerator"
for rw in READ WRITE; do
	block=$(sed -n "/^FIO $rw/,/seeds/p" <<<"$out")
	for who in "Mortar vhost-user-blk" "qemu-storage-daemon vhost-user-blk"; do
		row=$(grep "^$who " <<<"$block") || fail "$rw: no row for $who"
		read -r -a f <<<"${row#"$who"}"
		((${#f[@]} == 5)) || fail "$rw: $who: ${#f[@]} columns: $row"
		for v in "${f[@]}"; do [[ $v =~ ^[0-9]+$ ]] || fail "$rw: $who: '$v' in $row"; done
		((f[0] > 0)) || fail "$rw: $who moved no data"
	done
	grep -q "seeds (Fedora 17" <<<"$block" || fail "$rw: no seeds' figures"
done
echo "ok: both paths measured in the guest, read and write"
[[ -z $(ls "$SCRATCH/b") ]] || fail "images left behind: $(ls "$SCRATCH/b")"
echo PASS
