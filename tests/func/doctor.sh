#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar doctor on local files: every step reported, the first failing
# step named with its cause, exit 1 on failure, --write really writes
# (and changes nothing), JSON that parses.
. "$(dirname "$0")/lib.sh"
requires jq qemu-io

cd "$SCRATCH"
"$MORTAR" img create disk.img 1M
"$MORTAR" io disk.img -c "write -P 0x42 0 64K" >/dev/null

out=$("$MORTAR" doctor disk.img)
echo "$out"
expect_eq "steps passed (read-only doctor)" "$(grep -c '^\[ ok \]' <<<"$out")" 4
grep -q '^\[skip\] write' <<<"$out" || fail "write step not reported as skipped"

before=$(stat -c %Y disk.img)
out=$("$MORTAR" doctor --write --output=json disk.img)
expect_eq "json ok" "$(jq -r .ok <<<"$out")" true
expect_eq "json write step" "$(jq -r '.checks[] | select(.step == "write") | .status' <<<"$out")" ok
qemu-io -f raw -c "read -P 0x42 0 64K" disk.img >/dev/null || fail "doctor --write changed the data"
echo "ok: doctor --write left the data as it was"

rc=0; out=$("$MORTAR" doctor missing.img) || rc=$?
expect_eq "exit status for a missing image" "$rc" 1
grep -q '^\[FAIL\] exists .*missing.img.*No such file' <<<"$out" || fail "missing file not named: $out"
expect_eq "steps after the failure skipped" "$(grep -c '^\[skip\]' <<<"$out")" 3

chmod 0444 disk.img
chmod 0755 "$SCRATCH"	# nobody must reach the file to be refused writing it
rc=0; out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$MORTAR" doctor --write "$SCRATCH/disk.img" 2>&1) || rc=$?
if [[ -x /usr/bin/setpriv ]] && [[ $(id -u) == 0 ]]; then
	expect_eq "exit status without write permission" "$rc" 1
	grep -q '^\[FAIL\] open .*permission denied' <<<"$out" || fail "permission not named: $out"
fi

rc=0; out=$("$MORTAR" doctor 'gluster://h:99999/v/i') || rc=$?
expect_eq "exit status for a malformed location" "$rc" 1
grep -q '^\[FAIL\] location .*port' <<<"$out" || fail "bad port not named: $out"
echo "ok: doctor"
