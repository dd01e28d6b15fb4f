# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by the VM tests that migrate between two "hosts": network
# namespaces made here, each with its own runtime directory for mortar
# vm.  Their eth0 sit on a bridge in a hub namespace made here too (the
# migration network, 198.19.N.0/24, N free here); with
# hosts_reach_gluster, each also gets a veth into the GlusterFS pool's
# bridge (tests/gluster/lib.sh: the pool's nodes live in namespaces of
# their own, joined by the bridge of mortar-glK-hub), with an address of
# the pool's network, so that its mortar serve reaches the bricks.  No
# route leads out: the traffic stays in the namespaces of the test.
#
#   hosts_up                  make hosts a and b; HOST_A, HOST_B: their
#                             addresses on the migration network
#   hosts_reach_gluster       plug both into the pool's bridge
#   on_host H CMD...          CMD in host H (a or b) with its MORTAR_VM_DIR
#   mortar_on H ARGS...       mortar ARGS in host H
#   via_cmd H                 the --via command that runs mortar in host H
#   records_went_on H NAME IO the guest's disk records (mortar.io=records)
#                             go on on H after IO, the last line seen on
#                             the source, without an error: seq_a, io_b
#   guest_broke_on H NAME     fail, with what VM NAME's console on H says
#                             of a kernel fault (a guest broken by the move)
requires ip
requires_root

_hosts_tag=mh$$
_hosts_ns() { echo "mortar-$_hosts_tag-$1"; }

hosts_up() {
	local n h i=1
	for n in $(seq 20 250); do
		[[ -z $(ip -4 route show to match "198.19.$n.1" | grep -v '^default') ]] && break
	done
	HOST_NET=198.19.$n
	on_exit "ip netns del $(_hosts_ns hub) 2>/dev/null; ip netns del $(_hosts_ns a) 2>/dev/null; ip netns del $(_hosts_ns b) 2>/dev/null"
	ip netns add "$(_hosts_ns hub)"
	ip -n "$(_hosts_ns hub)" link add br0 type bridge
	ip -n "$(_hosts_ns hub)" link set br0 up
	for h in a b; do
		ip netns add "$(_hosts_ns "$h")"
		ip -n "$(_hosts_ns "$h")" link set lo up
		ip link add "$_hosts_tag$h" netns "$(_hosts_ns hub)" type veth peer name eth0 \
			netns "$(_hosts_ns "$h")"
		ip -n "$(_hosts_ns hub)" link set "$_hosts_tag$h" master br0 up
		ip -n "$(_hosts_ns "$h")" addr add "$HOST_NET.$i/24" dev eth0
		ip -n "$(_hosts_ns "$h")" link set eth0 up
		mkdir -p "$SCRATCH/host-$h"
		i=$((i + 1))
	done
	HOST_A=$HOST_NET.1
	HOST_B=$HOST_NET.2
	# (VMs stop before their hosts go: cleanups run last registered first)
	on_exit _hosts_stop_vms
}

# The pool's network is GLUSTER_CLIENT_ADDR's /24; its hub is the
# namespace that holds the bridge of the pool MORTAR_GLUSTER_POOL.
hosts_reach_gluster() {
	local hub=mortar-gl$MORTAR_GLUSTER_POOL-hub net=${GLUSTER_CLIENT_ADDR%.*} h i
	[[ -e /run/netns/$hub ]] || fail "the GlusterFS pool's hub namespace $hub is missing"
	i=$((100 + $$ % 50 * 2))
	for h in a b; do
		ip link add "${_hosts_tag}g$h" netns "$hub" type veth peer name gl0 netns "$(_hosts_ns "$h")"
		on_exit "ip -n $hub link del ${_hosts_tag}g$h 2>/dev/null"
		ip -n "$hub" link set "${_hosts_tag}g$h" master br0 up
		ip -n "$(_hosts_ns "$h")" addr add "$net.$i/24" dev gl0
		ip -n "$(_hosts_ns "$h")" link set gl0 up
		on_host "$h" timeout 10 bash -c "echo >/dev/tcp/$GLUSTER_HOST/24007" ||
			fail "host $h does not reach glusterd on $GLUSTER_HOST"
		i=$((i + 1))
	done
}

on_host() {
	local h=$1
	shift
	ip netns exec "$(_hosts_ns "$h")" env MORTAR_VM_DIR="$SCRATCH/host-$h" "$@"
}
mortar_on() { local h=$1; shift; on_host "$h" "$MORTAR" "$@"; }
via_cmd() { echo "ip netns exec $(_hosts_ns "$1") env MORTAR_VM_DIR=$SCRATCH/host-$1 $MORTAR"; }

records_went_on() {
	local log=$SCRATCH/host-$1/$2/serial.log i
	seq_a=$(sed 's/.*seq=\([0-9]*\).*/\1/' <<<"$3")
	for ((i = 0; i < 100; i++)); do
		io_b=$(grep -ao 'MORTAR-GUEST-IO seq=[0-9]*' "$log" | tail -n 1 | cut -d= -f2)
		((${io_b:-0} > seq_a + 2)) && break
		sleep 0.2
	done
	((${io_b:-0} > seq_a)) || fail "no disk record after seq $seq_a on host $1"
	! grep -a "MORTAR-GUEST-IO.*error" "$log" || fail "the guest's disk writes failed on host $1"
}

guest_broke_on() {
	local log=$SCRATCH/host-$1/$2/serial.log
	[[ -f $log ]] && grep -a -m 8 -E "BUG:|Oops|Kernel panic|rcu: .*(stall|starved)" "$log" >&2
	fail "migrate failed; the console of $2 on host $1 is above (a fault there means the guest broke in the move)"
}

# Whatever a host still runs is stopped at exit (before its namespace goes).
_hosts_stop_vms() {
	local h d
	for h in a b; do
		for d in "$SCRATCH/host-$h"/*/; do
			[[ -d $d ]] && mortar_on "$h" vm stop --force "$(basename "$d")" >/dev/null 2>&1
		done
	done
	return 0
}
