#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar doctor against a real glusterd: each fault is caught at its own
# step with its own cause, in about a second, where QEMU 7.2 prints one
# identical "failed to connect" line for all of them.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
requires jq

vol=mortar-dr$$
gluster_volume "$vol"
"$MORTAR" img create "gluster://$GLUSTER_HOST/$vol/disk.img" 16M

# doctor LOCATION STEP PATTERN: STEP is the first failure; its detail
# matches PATTERN; it ran in under 5 s.
diagnose() {
	local loc=$1 step=$2 pattern=$3 out rc=0 start=$SECONDS
	out=$("$MORTAR" doctor --output=json "$loc") || rc=$?
	((rc == 1)) || fail "doctor $loc: exit $rc, want 1: $out"
	local got detail
	got=$(jq -r '[.checks[] | select(.status == "failed")][0].step' <<<"$out")
	detail=$(jq -r '[.checks[] | select(.status == "failed")][0].detail' <<<"$out")
	expect_eq "first failing step for $loc" "$got" "$step"
	grep -qiE -- "$pattern" <<<"$detail" || fail "doctor $loc: '$detail' does not match /$pattern/"
	((SECONDS - start < 5)) || fail "doctor $loc took $((SECONDS - start)) s"
}

diagnose "gluster://no-such-host.invalid/$vol/disk.img" resolve "does not resolve"
diagnose "gluster://127.0.0.1:24099/$vol/disk.img" glusterd "nothing listens"
diagnose "gluster://$GLUSTER_HOST/nosuchvol/disk.img" open "volume 'nosuchvol'"
diagnose "gluster://$GLUSTER_HOST/$vol/missing.img" open "no image 'missing.img'"
diagnose "gluster://$GLUSTER_HOST/$vol/disk.img?socket=/x" location "query|socket"

out=$("$MORTAR" doctor --write "gluster://$GLUSTER_HOST/$vol/disk.img") ||
	fail "doctor --write on a healthy volume: $out"
expect_eq "steps passed on a healthy volume" "$(grep -c '^\[ ok \]' <<<"$out")" 6

_gl volume stop "$vol" force >/dev/null || fail "cannot stop $vol"
diagnose "gluster://$GLUSTER_HOST/$vol/disk.img" open "stopped|bricks"
echo "ok: doctor names each fault"
