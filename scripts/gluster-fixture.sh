#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Throw-away volumes for Mortar's GlusterFS tests, on a pool of three
# glusterd nodes made by scripts/gluster-pool.sh (MORTAR_GLUSTER_POOL says
# which; `gluster-pool.sh up` makes one).  Every step is bounded in time
# and says what went wrong.
#
#   gluster-fixture.sh create NAME [distribute N | replica N | replica DxN]
#                      [--stopped] [KEY=VALUE...]
#       Create NAME (must start with mortar-) with bricks
#       $MORTAR_GLUSTER_BRICKS/NAME/brickI (default: the pool's bricks
#       folder, GLUSTER_BRICKS of `gluster-pool.sh env`), brick I on node
#       (I-1)%3+1 (so
#       each replica set spans the nodes), set the volume options given
#       (group=virt applies the virt profile), start it and wait until all
#       its bricks are online.  "replica 2x3": two replica-3 sets.  A
#       leftover NAME whose owner is gone is replaced.  --stopped: create
#       it but do not start it.  Prints nothing.
#   gluster-fixture.sh delete NAME
#       Stop (force) and delete NAME, remove its bricks.  Absent: no-op.
#   gluster-fixture.sh brick-pid NAME I
#       The pid of brick I (from 1) of NAME; fails if it is not online.
#   gluster-fixture.sh brick-node NAME I
#       The node (1-3) that holds brick I of NAME.
#   gluster-fixture.sh wait-bricks NAME
#       Wait until every brick of NAME is online (after a node returns).
#   gluster-fixture.sh wait-heal NAME
#       Wait until no file of NAME needs healing (gluster volume heal
#       info); prints how long it took in ms.
#
# The owner of a volume is $MORTAR_GLUSTER_OWNER (a pid; default: the
# calling process).  Environment: as scripts/gluster-pool.sh, and
# MORTAR_GLUSTER_HEAL_TIMEOUT (120 s) for wait-heal.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/gluster-pool.sh"

die() { echo "gluster-fixture: $*" >&2; exit 1; }

gl() { pool_cli "$@"; }

vol_lock() {
	mkdir -p "$PSTATE/vols"
	exec 9>"$PSTATE/vols.lock"
	flock -w $((T * 4)) 9 || die "another gluster-fixture has held $PSTATE/vols.lock for $((T * 4))s"
}

check_name() {
	[[ $1 =~ ^mortar-[A-Za-z0-9_.-]+$ ]] ||
		die "volume name '$1': test volumes are named mortar-[A-Za-z0-9_.-]+"
}

exists() { gl volume info "$1" >/dev/null 2>&1; }

# Owner of NAME is alive and is not the caller.
other_owner_alive() {
	local pid st
	read -r pid st <"$PSTATE/vols/$1" 2>/dev/null || return 1
	[[ $pid != "$OWNER" && $(start_time "$pid") == "$st" ]]
}

# "host path status pid" for each brick of NAME, in brick order.
brick_status() {
	local xml
	xml=$(gl volume status "$1" --xml) || return 1
	awk '
		/<node>/ { h = ""; p = ""; s = ""; d = "" }
		/<hostname>/ { gsub(/.*<hostname>|<\/hostname>.*/, ""); h = $0 }
		/<path>/ { gsub(/.*<path>|<\/path>.*/, ""); p = $0 }
		/<status>/ { gsub(/.*<status>|<\/status>.*/, ""); s = $0 }
		/<pid>/ { gsub(/.*<pid>|<\/pid>.*/, ""); d = $0 }
		/<\/node>/ { if (p ~ /^\//) print h, p, s, d }
	' <<<"$xml"
}

delete_volume() { # NAME
	local out
	if exists "$1"; then
		out=$(gl volume stop "$1" force) ||
			grep -qiE "not in (the )?started state" <<<"$out" ||
			die "cannot stop volume $1: $out"
		out=$(gl volume delete "$1") || die "cannot delete volume $1: $out"
	fi
	rm -rf "${BRICKS:?}/$1" "$PSTATE/vols/$1"
}

wait_bricks() { # NAME: every brick online, bounded (twice the step: a
	# node's glusterd restarts its bricks one by one)
	local deadline=$(($(now_ms) + 2 * T * 1000)) st online count
	while :; do
		st=$(brick_status "$1" 2>/dev/null) || st=
		count=$(grep -c . <<<"$st" || true)
		online=$(awk '$3 == 1 && $4 > 0' <<<"$st" | wc -l)
		((count > 0 && online == count)) && return 0
		if (($(now_ms) >= deadline)); then
			echo "only $online of $count bricks of $1 are online after $((2 * T))s (host path status pid: ${st:-none})"
			return 1
		fi
		sleep 0.2
	done
}

cmd_create() {
	(($#)) || die "usage: create NAME [distribute N | replica N | replica DxN] [--stopped] [KEY=VALUE...]"
	local name=$1 kind=distribute count=1 sets=1 startit=true opts=() bricks=() i out
	shift
	check_name "$name"
	case ${1:-} in
	distribute | replica)
		kind=$1
		if [[ ${2:-} =~ ^([1-9])x([1-9])$ && $kind == replica ]]; then
			sets=${BASH_REMATCH[1]} count=${BASH_REMATCH[2]}
		else
			count=${2:-}
			[[ $count =~ ^[1-9][0-9]?$ ]] || die "create $name: '$kind' needs a brick count"
		fi
		shift 2 ;;
	esac
	for i in "$@"; do
		case $i in
		--stopped) startit=false ;;
		*=*) opts+=("${i%%=*}" "${i#*=}") ;;
		*) die "create $name: unexpected argument '$i'" ;;
		esac
	done
	[[ $kind == replica ]] && ((count < 2)) && die "create $name: replica needs 2 or more bricks"

	vol_lock
	if exists "$name"; then
		other_owner_alive "$name" &&
			die "volume $name exists and belongs to live process $(cut -d' ' -f1 "$PSTATE/vols/$name")"
		delete_volume "$name" # a leftover of a test that is gone
	fi
	rm -rf "${BRICKS:?}/$name"
	for ((i = 1; i <= count * sets; i++)); do
		mkdir -p "$BRICKS/$name/brick$i"
		bricks+=("$(node_addr $(((i - 1) % NODES + 1))):$BRICKS/$name/brick$i")
	done
	local layout=()
	[[ $kind == replica ]] && layout=(replica "$count")
	echo "$OWNER $(start_time "$OWNER")" >"$PSTATE/vols/$name"
	out=$(gl volume create "$name" "${layout[@]}" "${bricks[@]}" force) || {
		rm -rf "${BRICKS:?}/$name" "$PSTATE/vols/$name"
		die "cannot create volume $name on bricks ${bricks[*]}: $out"
	}
	for ((i = 0; i < ${#opts[@]}; i += 2)); do
		out=$(gl volume set "$name" "${opts[i]}" "${opts[i + 1]}") || {
			delete_volume "$name"
			die "cannot set ${opts[i]}=${opts[i + 1]} on volume $name: $out"
		}
	done
	$startit || return 0
	out=$(gl volume start "$name") || {
		delete_volume "$name"
		die "cannot start volume $name: $out; $(log_tail "$PDIR/n1/log/glusterd.log")"
	}
	# Online = the brick signed in with its glusterd and has a port:
	# clients can connect from now on.
	out=$(wait_bricks "$name") || {
		local logs
		logs=$(log_tail "$PDIR/n1/log/bricks/$(sed 's|^/||; s|/|-|g' <<<"$BRICKS/$name/brick1").log")
		delete_volume "$name"
		die "$out; $logs"
	}
}

cmd_delete() {
	(($# == 1)) || die "usage: delete NAME"
	check_name "$1"
	vol_lock
	delete_volume "$1"
}

brick_field() { # NAME I FIELD(1-4): one field of brick I's status line
	local st line
	[[ $2 =~ ^[1-9][0-9]*$ ]] || die "brick '$2': bricks are numbered from 1"
	st=$(brick_status "$1") || die "no status for volume $1: $st"
	line=$(sed -n "${2}p" <<<"$st")
	[[ -n $line ]] || die "volume $1 has no brick $2"
	awk -v f="$3" '{ print $f }' <<<"$line"
}

cmd_brick_pid() {
	(($# == 2)) || die "usage: brick-pid NAME I"
	[[ $(brick_field "$1" "$2" 3) == 1 && $(brick_field "$1" "$2" 4) -gt 0 ]] ||
		die "brick $2 of $1 is not online"
	brick_field "$1" "$2" 4
}

cmd_brick_node() {
	(($# == 2)) || die "usage: brick-node NAME I"
	[[ $2 =~ ^[1-9][0-9]*$ ]] || die "brick '$2': bricks are numbered from 1"
	echo $((($2 - 1) % NODES + 1))
}

# Files waiting for a heal, summed over the bricks that answer.
heal_pending() {
	gl volume heal "$1" info 2>/dev/null |
		awk '/^Number of entries:/ { n += $4 } END { print n + 0 }'
}

cmd_wait_heal() {
	(($# == 1)) || die "usage: wait-heal NAME"
	local t0 deadline left
	t0=$(now_ms)
	deadline=$((t0 + ${MORTAR_GLUSTER_HEAL_TIMEOUT:-120} * 1000))
	while :; do
		left=$(heal_pending "$1")
		((left == 0)) && break
		(($(now_ms) < deadline)) ||
			die "volume $1 still has $left entries to heal after ${MORTAR_GLUSTER_HEAL_TIMEOUT:-120}s"
		gl volume heal "$1" >/dev/null 2>&1 || true # ask the self-heal daemons now
		sleep 1
	done
	echo $(($(now_ms) - t0))
}

cmd=${1:-}
(($#)) && shift
case $cmd in
create) current_pool; cmd_create "$@" ;;
delete) current_pool; cmd_delete "$@" ;;
brick-pid) current_pool; cmd_brick_pid "$@" ;;
brick-node) current_pool; cmd_brick_node "$@" ;;
wait-bricks) current_pool; (($# == 1)) || die "usage: wait-bricks NAME"; wait_bricks "$1" ;;
wait-heal) current_pool; cmd_wait_heal "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
