#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The gluster pool and fixture work:
# - beside a glusterd that runs in this (the root) namespace, as on a host
#   that is itself a GlusterFS server (one is started here, with its own
#   state, when port 24007 is free), the pool's three nodes come up, each
#   with its own network namespace, state and logs, peers of one another;
#   the host's glusterd is neither used nor disturbed;
# - a single-brick, a replica-3 and a 2x3 volume are made, bricks spread
#   over the nodes; data written through a FUSE mount reads back; each
#   replica brick holds a copy; with one brick killed a replica volume
#   still serves old data and takes new data; delete removes a volume and
#   its bricks;
# - a pool whose owner was killed (a run that died) is taken down by the
#   next one: no namespace, process, mount or interface stays behind.
. "$(dirname "$0")/../func/lib.sh"
requires mount umount sha256sum ss
[[ -c /dev/fuse ]] || skip "no /dev/fuse for the glusterfs FUSE client"
command -v mount.glusterfs >/dev/null || requires mount.glusterfs

# --- the host's own glusterd, in this network namespace ---
host_gd=
if [[ -z $(ss -Hltn 'sport = :24007') ]] && command -v glusterd >/dev/null && [[ $(id -u) == 0 ]]; then
	h=$SCRATCH/host-glusterd
	mkdir -p "$h/lib" "$h/run" "$h/log"
	unshare -m --propagation private sh -c '
		mount --bind "$1/lib" /var/lib/glusterd && mount --bind "$1/run" /run &&
		mount --bind "$1/log" /var/log/glusterfs && exec glusterd -p /run/glusterd.pid' sh "$h" ||
		fail "cannot start the host's own glusterd"
	for _ in $(seq 100); do [[ -s $h/run/glusterd.pid ]] && break; sleep 0.1; done
	host_gd=$(cat "$h/run/glusterd.pid") || fail "the host's glusterd wrote no pid file"
	on_exit "kill $host_gd"
	echo "ok: a glusterd of the host runs here (pid $host_gd, port 24007)"
else
	host_gd=$(pgrep -x -n glusterd || true) # one runs already; whose, we do not know
fi
host_gd_start=
[[ -z $host_gd ]] || host_gd_start=$(awk '{print $22}' "/proc/$host_gd/stat")

. "$(dirname "$0")/lib.sh"
t0=$(date +%s%N)
ms() { echo $((($(date +%s%N) - t0) / 1000000)); }

# --- the pool ---
read -r -a hosts <<<"$GLUSTER_HOSTS"
expect_eq "nodes" "${#hosts[@]}" 3
uuids=()
for n in 1 2 3; do
	out=$(gluster_pool cli -n "$n" pool list) || fail "node $n does not answer: $out"
	expect_eq "peers node $n sees connected" "$(grep -c Connected <<<"$out")" 3
	uuids+=("$(awk '$2 == "localhost" { print $1 }' <<<"$out")")
	addr=$(gluster_pool exec "$n" ip -4 -o addr show dev eth0 | awk '{ sub(/\/.*/, "", $4); print $4 }')
	expect_eq "address of node $n" "$addr" "${hosts[n - 1]}"
	gluster_pool exec "$n" test -e /run/glusterd.socket || fail "node $n has no glusterd socket in its own /run"
done
expect_eq "distinct node identities" "$(printf '%s\n' "${uuids[@]}" | sort -u | grep -c .)" 3
! ip -4 -o addr show | grep -qw "${hosts[0]}" || fail "a node's address is on this namespace"

one=mortar-st1-$$
rep=mortar-st3-$$
gluster_volume "$one"
echo "ok: $one made in $(ms) ms (including glusterd start if it was not running)"
t1=$(ms)
gluster_volume "$rep" replica 3
echo "ok: $rep made in $(($(ms) - t1)) ms"

# mount_vol NAME DIR: FUSE-mount NAME on DIR, unmounted at exit.
mount_vol() {
	mkdir -p "$2"
	timeout 30 mount -t glusterfs "$GLUSTER_HOST:/$1" "$2" ||
		fail "cannot mount $GLUSTER_HOST:/$1 (see /var/log/glusterfs/$(sed 's|^/||; s|/|-|g' <<<"$2").log)"
	on_exit "umount $2 2>/dev/null || umount -l $2 2>/dev/null"
}
remount() { umount "$2" || fail "cannot unmount $2"; mount_vol "$1" "$2"; }

head -c 3M /dev/urandom >"$SCRATCH/data"
want=$(sha256sum <"$SCRATCH/data")
for v in "$one" "$rep"; do
	m=$SCRATCH/mnt-$v
	mount_vol "$v" "$m"
	cp "$SCRATCH/data" "$m/file"
	sync "$m/file"
	remount "$v" "$m" # read back through a fresh client, not a cache
	expect_eq "data read back from $v" "$(sha256sum <"$m/file")" "$want"
	umount "$m" || fail "cannot unmount $m"
done

# Each replica brick holds a copy.
for i in 1 2 3; do
	b=$GLUSTER_BRICKS/$rep/brick$i/file
	expect_eq "copy on brick $i of $rep" "$(sha256sum <"$b")" "$want"
done

# Kill one brick of three: old data still readable, new data written.
pid=$(gluster_brick_pid "$rep" 2) || fail "no pid for brick 2 of $rep"
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! gluster_brick_pid "$rep" 2 >/dev/null 2>&1 || fail "brick 2 of $rep still shown online"
m=$SCRATCH/mnt-$rep
mount_vol "$rep" "$m"
expect_eq "data with brick 2 of $rep killed" "$(sha256sum <"$m/file")" "$want"
echo more >"$m/new" || fail "cannot write to $rep with one brick down"
expect_eq "new file with brick 2 down" "$(cat "$m/new")" more
umount "$m"

# A 2x3 volume: six bricks, each replica set over the three nodes.
dr=mortar-st6-$$
gluster_volume "$dr" replica 2x3
out=$(_gl volume info "$dr")
grep -q "Number of Bricks: 2 x 3 = 6" <<<"$out" || fail "$dr is not 2 x 3: $out"
for i in 1 2 3 4 5 6; do
	grep -q "^Brick$i: ${hosts[(i - 1) % 3]}:$GLUSTER_BRICKS/$dr/brick$i\$" <<<"$out" ||
		fail "brick $i of $dr is not on node $(((i - 1) % 3 + 1)): $out"
done
echo "ok: $dr has two replica sets, each over the three nodes"

# delete removes the volume and its bricks.
gluster_fixture delete "$one"
_gl volume info "$one" >/dev/null 2>&1 && fail "$one still exists after delete"
[[ ! -e $GLUSTER_BRICKS/$one ]] || fail "bricks of $one left behind"
echo "ok: delete removed $one and its bricks"

# The host's glusterd is untouched.
if [[ -n $host_gd ]]; then
	[[ $(awk '{print $22}' "/proc/$host_gd/stat" 2>/dev/null) == "$host_gd_start" ]] ||
		fail "the host's glusterd (pid $host_gd) is gone"
	if [[ -n ${h:-} ]]; then
		out=$(nsenter -t "$host_gd" -m gluster --mode=script volume list 2>&1) ||
			fail "the host's glusterd does not answer: $out"
		expect_eq "volumes of the host's glusterd" "$out" "No volumes present in cluster"
	fi
	echo "ok: the host's glusterd (pid $host_gd) ran throughout, untouched"
fi

# --- a pool whose owner died is taken down by the next one ---
sleep 600 &
dead=$!
env=$(MORTAR_GLUSTER_POOL= MORTAR_GLUSTER_OWNER=$dead gluster_pool up) ||
	fail "a second pool: $env"
k=$(sed -n 's/^MORTAR_GLUSTER_POOL=//p' <<<"$env")
[[ -n $k && $k != "$MORTAR_GLUSTER_POOL" ]] || fail "the second pool is pool '$k'"
kpids=$(for n in 1 2 3; do MORTAR_GLUSTER_POOL=$k gluster_pool pids "$n"; done)
[[ -n $kpids ]] || fail "pool $k has no processes"
kill "$dead"
wait "$dead" 2>/dev/null || true
gluster_pool down --stale 2>&1 | grep -q "pool $k" || fail "down --stale did not take pool $k down"
! ip netns list | grep -q "mortar-gl$k-" || fail "namespaces of pool $k left: $(ip netns list)"
! ip link show "mortar-gl$k" >/dev/null 2>&1 || fail "interface mortar-gl$k left"
! grep -q "/pool$k/" /proc/mounts || fail "mounts of pool $k left: $(grep "/pool$k/" /proc/mounts)"
for p in $kpids; do
	[[ ! -e /proc/$p ]] || [[ $(awk '{print $3}' "/proc/$p/stat") == Z ]] ||
		fail "process $p of pool $k left: $(tr '\0' ' ' <"/proc/$p/cmdline")"
done
echo "ok: the pool of a dead owner is taken down with all it had"
echo "fixture selftest body took $(ms) ms"
