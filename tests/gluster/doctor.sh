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
expect_eq "steps passed on a healthy volume" "$(grep -c '^\[ ok \]' <<<"$out")" 7
grep -q "^\[ ok \] replica *one copy" <<<"$out" || fail "doctor's replica step on one brick: $out"
# A volume with default options is not what VM hosts run: doctor names
# each setting that matters, with its fix, and still passes.
for want in "network.ping-timeout: 42 s.*network.ping-timeout 20" \
	    "performance.quick-read: .*performance.quick-read off"; do
	grep -q "^\[warn\] options *$want" <<<"$out" || fail "doctor does not say /$want/: $out"
done
echo "ok: doctor reviews a default volume: $(grep -c '^\[warn\] options' <<<"$out") settings to change"

# The virt profile, its owner set to QEMU's user: nothing to say.
virt=mortar-dv$$
owner=()
qemu_user=$({ getent passwd libvirt-qemu || getent passwd qemu || true; } | head -n 1 | cut -d: -f3,4)
[[ -z $qemu_user ]] || owner=(storage.owner-uid="${qemu_user%:*}" storage.owner-gid="${qemu_user#*:}")
gluster_volume "$virt" replica 3 group=virt "${owner[@]}"
"$MORTAR" img create "gluster://$GLUSTER_HOST/$virt/v.img" 16M >/dev/null
[[ -z $qemu_user ]] || chown "${qemu_user%:*}:${qemu_user#*:}" "$GLUSTER_BRICKS/$virt"/brick*/v.img
out=$("$MORTAR" doctor "gluster://$GLUSTER_HOST/$virt/v.img") || fail "doctor on a virt volume: $out"
grep -q "^\[ ok \] replica *3 copies in sync" <<<"$out" || fail "doctor's replica step on replica 3: $out"
grep -q "^\[ ok \] options" <<<"$out" || fail "doctor has advice for a virt volume: $out"
echo "ok: doctor finds nothing to change on a volume with the virt profile"

_gl volume stop "$vol" force >/dev/null || fail "cannot stop $vol"
diagnose "gluster://$GLUSTER_HOST/$vol/disk.img" open "stopped|bricks"
echo "ok: doctor names each fault"
