#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Three GlusterFS nodes on this machine, as root: a trusted pool of three
# glusterd, each in its own network namespace and its own mount namespace
# (its own /var/lib/glusterd, /run and /var/log/glusterfs), joined by veth
# pairs to a bridge in a hub namespace, with one more veth pair from the
# hub to this (the root) namespace, where the clients run: Mortar, fio,
# FUSE and QEMU reach the nodes by their addresses.  The nodes have no
# route out: their traffic never leaves the namespaces made here.  A
# glusterd that runs on the machine already is neither used nor touched.
#
#   gluster-pool.sh up
#       With MORTAR_GLUSTER_POOL set: check that pool and repair it (links
#       up, every glusterd started, peers connected).  Without: make a new
#       pool owned by $MORTAR_GLUSTER_OWNER (a pid; default the caller),
#       first taking down the pools whose owner is gone.  Prints the
#       environment for clients (see env).
#   gluster-pool.sh release
#       Take the pool down if the caller owns it; else nothing.
#   gluster-pool.sh down [--stale]
#       Take the pool down (--stale: every pool whose owner is gone).
#   gluster-pool.sh env
#       MORTAR_GLUSTER_POOL=K, GLUSTER_HOST (node 1), GLUSTER_HOSTS (all,
#       space-separated), GLUSTER_CLIENT_ADDR (this namespace's address),
#       GLUSTER_BRICKS (the pool's shared bricks folder).
#   gluster-pool.sh cli [-n N] ARGS...
#       gluster --mode=script ARGS on node N, default the first that
#       answers; bounded in time.
#   gluster-pool.sh exec N CMD...   CMD inside node N's namespaces
#   gluster-pool.sh stop N          kill (SIGKILL) every process of node N:
#                                   glusterd, bricks, self-heal daemon
#   gluster-pool.sh start N         start node N's glusterd (it starts the
#                                   node's bricks) and wait for its peers
#   gluster-pool.sh kill-glusterd N / start-glusterd N   glusterd alone
#   gluster-pool.sh cut N / join N  unplug / plug node N's link
#   gluster-pool.sh pids N          pids of node N's processes
#   gluster-pool.sh logs N          last warnings and errors of node N's glusterd and bricks
#
# Environment: MORTAR_GLUSTER_POOL (the pool, 0-7), MORTAR_GLUSTER_OWNER,
# MORTAR_GLUSTER_STATE (/run/mortar-gluster), MORTAR_GLUSTER_POOL_DIR
# (/var/tmp/mortar-gluster-pool: pool K's nodes' folders, logs and bricks
# in poolK/), MORTAR_GLUSTER_BRICKS (where volumes get their bricks;
# default poolK/bricks, which is a shared mount: a file system mounted
# below it later, here, is seen by the nodes too), MORTAR_GLUSTER_TIMEOUT
# (30 s, per step).  Pool K uses 198.18.(100+K).0/24
# (RFC 2544's range for test networks), network namespaces mortar-glK-*
# and the interface mortar-glK here.
set -euo pipefail

STATE=${MORTAR_GLUSTER_STATE:-/run/mortar-gluster}
POOL_DIR=${MORTAR_GLUSTER_POOL_DIR:-/var/tmp/mortar-gluster-pool}
T=${MORTAR_GLUSTER_TIMEOUT:-30}
OWNER=${MORTAR_GLUSTER_OWNER:-$PPID}
NODES=3
MAX_POOLS=8

pool_die() { echo "gluster-pool: $*" >&2; exit 1; }
pool_note() { echo "gluster-pool: $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_time() { # of pid $1, to tell a live process from a reused pid
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	echo "${20}"
}

# ---------------------------------------------------------------- names

# pool_names K: the names and addresses of pool K, as globals.
pool_names() {
	K=$1
	[[ $K =~ ^[0-7]$ ]] || pool_die "pool '$K': pools are numbered 0 to $((MAX_POOLS - 1))"
	NET=198.18.$((100 + K))
	HUB=mortar-gl$K-hub
	ROOT_IF=mortar-gl$K
	CLIENT_ADDR=$NET.1
	PSTATE=$STATE/pool$K
	PDIR=$POOL_DIR/pool$K
	SHARED=$PDIR/bricks
	BRICKS=${MORTAR_GLUSTER_BRICKS:-$SHARED}
}
node_addr() { echo "$NET.$((10 + $1))"; }
node_netns() { echo "mortar-gl$K-n$1"; }
node_mntns() { echo "$PSTATE/ns/n$1.mnt"; }

check_node() {
	[[ $1 =~ ^[1-9]$ ]] && (($1 <= NODES)) || pool_die "node '$1': the nodes are 1 to $NODES"
}

# in_node N CMD...: CMD in node N's network and mount namespaces.
in_node() {
	local n=$1
	shift
	nsenter --mount="$(node_mntns "$n")" --net="/run/netns/$(node_netns "$n")" "$@"
}

# ---------------------------------------------------------------- processes

ns_inode() { stat -L -c %i "$1" 2>/dev/null; }

# Pids of the processes in node N's network namespace.
node_pids() {
	local ino p link
	ino=$(ns_inode "/run/netns/$(node_netns "$1")") || return 0
	for p in /proc/[0-9]*; do
		link=$(readlink "$p/ns/net" 2>/dev/null) || continue
		[[ $link == "net:[$ino]" ]] && echo "${p#/proc/}"
	done
	return 0
}

# Wait until none of the pids given runs (zombies count as gone).
wait_gone() {
	local p left deadline=$(($(now_ms) + T * 1000))
	while :; do
		left=()
		for p in "$@"; do
			[[ -e /proc/$p && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]] && left+=("$p")
		done
		((${#left[@]})) || return 0
		(($(now_ms) < deadline)) || pool_die "processes still running ${T}s after SIGKILL: ${left[*]}"
		sleep 0.1
	done
}

kill_node() { # N SIGNAL
	local pids
	mapfile -t pids < <(node_pids "$1")
	((${#pids[@]})) || return 0
	kill "-$2" "${pids[@]}" 2>/dev/null || true
	[[ $2 == KILL ]] && wait_gone "${pids[@]}"
	return 0
}

glusterd_pid() { # of node N, if it runs
	local p
	for p in $(node_pids "$1"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == glusterd ]] && { echo "$p"; return 0; }
	done
	return 1
}

# ---------------------------------------------------------------- glusterd

log_tail() {
	[[ -r $1 ]] || return 0
	echo "--- last lines of $1:"
	tail -n "${2:-8}" "$1"
}

# node_logs N: the last warnings and errors of node N's glusterd and
# bricks, for a test's failure message
node_logs() {
	local f
	for f in "$PDIR/n$1/log/glusterd.log" "$PDIR/n$1/log/bricks/"*.log; do
		[[ -r $f ]] || continue
		echo "--- last warnings and errors of $f:"
		grep -E '^\[[^]]*\] [EWC] ' "$f" | tail -n 6 | cut -c1-300
	done
}

node_answers() { # N: quick; a missing glusterd fails at once
	in_node "$1" timeout -k 2 5 gluster --mode=script volume list >/dev/null 2>&1
}

start_glusterd() { # N
	local n=$1 deadline=$(($(now_ms) + T * 1000)) log=$PDIR/n$1/log/glusterd.log
	node_answers "$n" && return 0
	glusterd_pid "$n" >/dev/null && {
		# Starting, or exiting and still holding port 24007.
		while glusterd_pid "$n" >/dev/null && (($(now_ms) < deadline)); do
			node_answers "$n" && return 0
			sleep 0.2
		done
	}
	# 8>&- 9>&-: the daemon must not inherit (and hold for ever) a lock.
	in_node "$n" glusterd --log-level WARNING -p /run/glusterd.pid 8>&- 9>&- ||
		pool_die "glusterd of node $n failed to start; $(log_tail "$log")"
	until node_answers "$n"; do
		(($(now_ms) < deadline)) ||
			pool_die "glusterd of node $n does not answer after ${T}s; $(log_tail "$log")"
		sleep 0.2
	done
}

# The peers node N sees connected (itself included).
connected_peers() {
	in_node "$1" timeout -k 2 10 gluster --mode=script pool list 2>/dev/null |
		grep -c 'Connected' || true
}

# Every node that answers sees every other connected.
wait_peers() {
	local n deadline=$(($(now_ms) + T * 1000)) ok
	while :; do
		ok=true
		for ((n = 1; n <= NODES; n++)); do
			(($(connected_peers "$n") == NODES)) || { ok=false; break; }
		done
		$ok && return 0
		(($(now_ms) < deadline)) ||
			pool_die "node $n sees $(connected_peers "$n") of $NODES peers connected after ${T}s: $(in_node "$n" gluster --mode=script pool list 2>&1)"
		sleep 0.3
	done
}

# ---------------------------------------------------------------- build

# The bricks' folder as a shared mount: the nodes' copies of it receive
# what is mounted below it later (a test's XFS brick on a loop device).
share_bricks() {
	mkdir -p "$SHARED"
	mountpoint -q "$SHARED" || mount --bind "$SHARED" "$SHARED"
	mount --make-shared "$SHARED"
}

# Unmount what is mounted below DIR, deepest first, then DIR itself.
umount_below() {
	local m
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

make_network() {
	local n
	[[ -z $(ip -4 route show to match "$CLIENT_ADDR" 2>/dev/null | grep -v '^default') ]] ||
		pool_die "$NET.0/24 is routed here already ($(ip -4 route show to match "$CLIENT_ADDR" | grep -v '^default' | head -1)): set MORTAR_GLUSTER_POOL to another pool"
	ip netns add "$HUB"
	ip -n "$HUB" link add name br0 type bridge
	ip -n "$HUB" link set br0 up
	ip link add name "$ROOT_IF" type veth peer name root netns "$HUB"
	ip -n "$HUB" link set root master br0 up
	ip addr add "$CLIENT_ADDR/24" dev "$ROOT_IF"
	ip link set "$ROOT_IF" up
	for ((n = 1; n <= NODES; n++)); do
		ip netns add "$(node_netns "$n")"
		ip link add name "n$n" netns "$HUB" type veth peer name eth0 netns "$(node_netns "$n")"
		ip -n "$HUB" link set "n$n" master br0 up
		ip -n "$(node_netns "$n")" link set lo up
		ip -n "$(node_netns "$n")" addr add "$(node_addr "$n")/24" dev eth0
		ip -n "$(node_netns "$n")" link set eth0 up
	done
}

# Node N's folders, and its mount namespace with them over the system's.
make_node() {
	local n=$1 d=$PDIR/n$1
	rm -rf "$d"
	mkdir -p "$d/glusterd" "$d/run" "$d/log" /var/lib/glusterd /var/log/glusterfs
	[[ -d /var/lib/glusterd/groups ]] && cp -a /var/lib/glusterd/groups "$d/glusterd/"
	touch "$(node_mntns "$n")"
	# slave: what the node mounts stays in the node; what is mounted here
	# below the shared bricks folder reaches the node.
	unshare --mount="$(node_mntns "$n")" --propagation slave sh -c '
		mount --bind "$1/glusterd" /var/lib/glusterd &&
		mount --bind "$1/run" /run &&
		mount --bind "$1/log" /var/log/glusterfs' sh "$d" ||
		pool_die "cannot make the mount namespace of node $n"
}

build() {
	local n
	command -v glusterd >/dev/null || pool_die "glusterd is not installed (apt-get install glusterfs-server)"
	((EUID == 0)) || pool_die "the GlusterFS pool needs root (namespaces, glusterd)"
	mkdir -p "$PSTATE/ns"
	mountpoint -q "$PSTATE/ns" || mount --bind "$PSTATE/ns" "$PSTATE/ns"
	mount --make-private "$PSTATE/ns"
	echo "$OWNER $(start_time "$OWNER")" >"$PSTATE/owner"
	share_bricks
	make_network
	for ((n = 1; n <= NODES; n++)); do
		make_node "$n"
		start_glusterd "$n"
	done
	local out
	for ((n = 2; n <= NODES; n++)); do
		out=$(pool_cli -n 1 peer probe "$(node_addr "$n")") ||
			pool_die "node 1 cannot probe node $n: $out"
	done
	wait_peers
}

# ---------------------------------------------------------------- teardown

# Everything of pool K, whatever state it is in.
teardown() {
	local n m pids=()
	# Clients here of this pool's volumes: FUSE mounts and their processes.
	while read -r _ m _; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v p="$NET." 'index($1, p) == 1 && $3 ~ /^fuse/' /proc/mounts)
	for n in /proc/[0-9]*; do
		[[ $(cat "$n/comm" 2>/dev/null) == glusterfs ]] || continue
		grep -qa -- "--volfile-server=$NET\." "$n/cmdline" 2>/dev/null && pids+=("${n#/proc/}")
	done
	((${#pids[@]})) && kill -KILL "${pids[@]}" 2>/dev/null
	for ((n = 1; n <= NODES; n++)); do
		kill_node "$n" KILL
		umount "$(node_mntns "$n")" 2>/dev/null || true
		ip netns del "$(node_netns "$n")" 2>/dev/null || true
	done
	ip netns del "$HUB" 2>/dev/null || true
	ip link del "$ROOT_IF" 2>/dev/null || true
	umount "$PSTATE/ns" 2>/dev/null || true
	rm -rf "$PSTATE"
	umount_below "$SHARED"
	# Logs stay in $PDIR/nN/log until the pool is made again.
	rm -rf "$PDIR"/n*/run "$PDIR"/n*/glusterd "$SHARED"
}

pool_exists() { [[ -e $PSTATE || -e /run/netns/$HUB ]] || ip link show "$ROOT_IF" >/dev/null 2>&1; }

owner_alive() {
	local pid st
	read -r pid st <"$PSTATE/owner" 2>/dev/null || return 1
	[[ -n $pid && $(start_time "$pid") == "$st" ]]
}

# ---------------------------------------------------------------- commands

pool_lock() {
	mkdir -p "$STATE"
	exec 8>"$STATE/pool.lock"
	flock -w $((T * 4)) 8 || pool_die "another gluster-pool has held $STATE/pool.lock for $((T * 4))s"
}

pool_env() {
	local n hosts=()
	for ((n = 1; n <= NODES; n++)); do hosts+=("$(node_addr "$n")"); done
	echo "MORTAR_GLUSTER_POOL=$K"
	echo "GLUSTER_HOST=$(node_addr 1)"
	echo "GLUSTER_HOSTS='${hosts[*]}'"
	echo "GLUSTER_CLIENT_ADDR=$CLIENT_ADDR"
	echo "GLUSTER_BRICKS=$SHARED"
}

# Bring pool K back to health after a test that cut, stopped or killed
# parts of it.
repair() {
	local n
	[[ -e $PSTATE/owner && -e /run/netns/$HUB ]] ||
		pool_die "pool $K (MORTAR_GLUSTER_POOL) does not exist; unset MORTAR_GLUSTER_POOL to make one"
	for ((n = 1; n <= NODES; n++)); do
		ip -n "$HUB" link set "n$n" up
		start_glusterd "$n"
	done
	wait_peers
}

cmd_up() {
	local k
	if [[ -n ${MORTAR_GLUSTER_POOL:-} ]]; then
		pool_names "$MORTAR_GLUSTER_POOL"
		repair
		pool_env
		return
	fi
	pool_lock
	cmd_down_stale
	for ((k = 0; k < MAX_POOLS; k++)); do
		pool_names "$k"
		pool_exists || break
	done
	((k < MAX_POOLS)) || pool_die "all $MAX_POOLS pools are in use (gluster-pool.sh down --stale frees those of exited owners)"
	trap teardown EXIT # a pool half made is taken down
	build
	trap - EXIT
	pool_env
}

cmd_down_stale() {
	local k
	for ((k = 0; k < MAX_POOLS; k++)); do
		pool_names "$k"
		pool_exists || continue
		owner_alive && continue
		pool_note "taking down pool $k, whose owner is gone"
		teardown
	done
}

cmd_down() {
	pool_lock
	if [[ ${1:-} == --stale ]]; then
		cmd_down_stale
		return
	fi
	current_pool
	teardown
}

cmd_release() {
	local pid
	current_pool
	read -r pid _ <"$PSTATE/owner" 2>/dev/null || return 0
	[[ $pid == "$OWNER" ]] || return 0
	pool_lock
	teardown
}

current_pool() {
	[[ -n ${MORTAR_GLUSTER_POOL:-} ]] || pool_die "MORTAR_GLUSTER_POOL is not set: which pool? ('up' prints it)"
	pool_names "$MORTAR_GLUSTER_POOL"
}

# pool_cli [-n N] ARGS...: the gluster CLI on node N, or on the first node
# that answers.  Retries while glusterd reports a concurrent transaction.
pool_cli() {
	local nodes=() n out rc deadline=$(($(now_ms) + T * 1000))
	if [[ ${1:-} == -n ]]; then
		check_node "$2"
		nodes=("$2")
		shift 2
	else
		for ((n = 1; n <= NODES; n++)); do nodes+=("$n"); done
	fi
	while :; do
		for n in "${nodes[@]}"; do
			((${#nodes[@]} == 1)) || node_answers "$n" || continue
			rc=0
			out=$(in_node "$n" timeout -k 5 "$T" gluster --mode=script "$@" 2>&1) || rc=$?
			if ((rc != 0)) && ((rc != 124)) && (($(now_ms) < deadline)) &&
				grep -qiE 'another transaction|locking failed|try again' <<<"$out"; then
				sleep 0.3
				continue 2
			fi
			((rc == 124)) && out="no answer within ${T}s from 'gluster $*' on node $n"$'\n'"$out"
			printf '%s\n' "$out"
			return "$rc"
		done
		echo "no glusterd of pool $K answers (gluster $*)"
		return 1
	done
}

pool_main() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	up) cmd_up ;;
	down) cmd_down "$@" ;;
	release) cmd_release ;;
	env) current_pool; pool_env ;;
	cli) current_pool; pool_cli "$@" ;;
	exec) current_pool; check_node "${1:-}"; in_node "$@" ;;
	stop) current_pool; check_node "${1:-}"; kill_node "$1" KILL ;;
	start) current_pool; check_node "${1:-}"; start_glusterd "$1"; wait_peers ;;
	kill-glusterd)
		current_pool; check_node "${1:-}"
		local p
		p=$(glusterd_pid "$1") || pool_die "glusterd of node $1 does not run"
		kill -KILL "$p"; wait_gone "$p" ;;
	start-glusterd) current_pool; check_node "${1:-}"; start_glusterd "$1" ;;
	cut) current_pool; check_node "${1:-}"; ip -n "$HUB" link set "n$1" down ;;
	join) current_pool; check_node "${1:-}"; ip -n "$HUB" link set "n$1" up ;;
	pids) current_pool; check_node "${1:-}"; node_pids "$1" ;;
	logs) current_pool; check_node "${1:-}"; node_logs "$1" ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
}

[[ ${BASH_SOURCE[0]} != "$0" ]] || pool_main "$@"
