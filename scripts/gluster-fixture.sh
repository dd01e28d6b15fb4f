#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real glusterd and throw-away volumes for Mortar's GlusterFS tests, on
# this machine, as root.  Every step is bounded in time and says what went
# wrong.
#
#   gluster-fixture.sh start
#       Start glusterd unless it runs already; wait until it answers.
#   gluster-fixture.sh create NAME [distribute N | replica N] [--stopped] [KEY=VALUE...]
#       Create NAME (must start with mortar-) with bricks under
#       $MORTAR_GLUSTER_BRICKS/NAME/brickN, set the volume options given,
#       start it and wait until all its bricks are online.  Starts glusterd
#       if needed.  A leftover NAME whose owner is gone is replaced.
#       --stopped: create it but do not start it.  Prints nothing.
#   gluster-fixture.sh delete NAME
#       Stop (force) and delete NAME, remove its bricks.  Absent: no-op.
#   gluster-fixture.sh stop [--all]
#       Delete the mortar-* volumes of the caller and the leftovers of
#       owners that are gone (--all: every mortar-* volume), then stop
#       glusterd if this fixture started it and no volume is left: no
#       gluster process stays behind.  Volumes of other live owners (tests
#       running in parallel) are kept, and glusterd with them.
#   gluster-fixture.sh brick-pid NAME N
#       The pid of brick N (from 1) of NAME; fails if it is not online.
#   gluster-fixture.sh env
#       GLUSTER_HOST=... (for clients: gluster://$GLUSTER_HOST/VOL/path)
#       GLUSTER_BRICK_HOST=... (the host part of brick names)
#
# The owner of a volume is $MORTAR_GLUSTER_OWNER (a pid; default: the
# calling process).  Environment: MORTAR_GLUSTER_STATE (/run/mortar-gluster),
# MORTAR_GLUSTER_BRICKS (/var/tmp/mortar-gluster), MORTAR_GLUSTER_TIMEOUT
# (30 s, per step), MORTAR_GLUSTER_BRICK_HOST (overrides the choice below).
#
# Brick host: gluster refuses "localhost" and "127.0.0.1" for bricks, and
# the name must resolve, for glusterd and for every client, to an address
# of this machine.  $(hostname) is used when it resolves (IPv4) to such an
# address, else the first global IPv4 address, else 127.0.0.2 (loopback,
# but not a name gluster refuses).  /etc/hosts is never changed.
set -euo pipefail

STATE=${MORTAR_GLUSTER_STATE:-/run/mortar-gluster}
BRICKS=${MORTAR_GLUSTER_BRICKS:-/var/tmp/mortar-gluster}
T=${MORTAR_GLUSTER_TIMEOUT:-30}
OWNER=${MORTAR_GLUSTER_OWNER:-$PPID}
GLUSTERD_LOG=/var/log/glusterfs/glusterd.log
PROG=gluster-fixture

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The gluster CLI in script mode, bounded.  Retries while glusterd reports
# a concurrent transaction (another client of the same glusterd).
gl() {
	local out rc deadline=$(($(now_ms) + T * 1000))
	while :; do
		rc=0
		out=$(timeout -k 5 "$T" gluster --mode=script "$@" 2>&1) || rc=$?
		if ((rc != 0)) && ((rc != 124)) && (($(now_ms) < deadline)) &&
			grep -qiE 'another transaction|locking failed|try again' <<<"$out"; then
			sleep 0.3
			continue
		fi
		((rc == 124)) && out="no answer within ${T}s from 'gluster $*'"$'\n'"$out"
		printf '%s\n' "$out"
		return "$rc"
	done
}

# Does glusterd answer?  Quick: a missing glusterd fails at once.
answers() { timeout -k 2 5 gluster --mode=script volume list >/dev/null 2>&1; }

log_tail() {
	[[ -r $1 ]] || return 0
	echo "--- last lines of $1:"
	tail -n "${2:-8}" "$1"
}

start_time() { # of pid $1, to tell a live owner from a reused pid
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	echo "${20}"
}

is_glusterd() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == glusterd ]]; }

lock() {
	mkdir -p "$STATE/vols"
	exec 9>"$STATE/lock"
	flock -w $((T * 4)) 9 ||
		die "another gluster-fixture has held $STATE/lock for $((T * 4))s"
}

# ---------------------------------------------------------------- hosts

is_local_addr() {
	[[ $1 == 127.* ]] && return 0
	ip -4 -o addr show 2>/dev/null | grep -q " inet $1/"
}

brick_host() {
	if [[ -n ${MORTAR_GLUSTER_BRICK_HOST:-} ]]; then
		echo "$MORTAR_GLUSTER_BRICK_HOST"
		return
	fi
	local h a
	h=$(hostname)
	if [[ -n $h && $h != localhost ]]; then
		for a in $(getent ahostsv4 "$h" 2>/dev/null | awk '{print $1}' | sort -u); do
			is_local_addr "$a" && { echo "$h"; return; }
		done
	fi
	a=$(ip -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}')
	echo "${a:-127.0.0.2}"
}

# ---------------------------------------------------------------- glusterd

start_glusterd() {
	answers && return 0
	command -v glusterd >/dev/null || die "glusterd is not installed (apt-get install glusterfs-server)"
	((EUID == 0)) || die "glusterd needs root"
	local deadline=$(($(now_ms) + T * 1000)) pid=
	# A glusterd that is starting (or still exiting, holding port 24007,
	# which makes a new one exit at once) gets its time first.
	while pgrep -x glusterd >/dev/null && (($(now_ms) < deadline)); do
		answers && return 0
		sleep 0.2
	done
	pgrep -x glusterd >/dev/null &&
		die "a glusterd runs but does not answer after ${T}s; $(log_tail "$GLUSTERD_LOG")"
	rm -f "$STATE/glusterd.pid"
	# 9>&-: the daemon must not inherit (and hold forever) the lock.
	glusterd --log-level WARNING --pid-file="$STATE/glusterd.pid" 9>&- ||
		die "glusterd failed to start (exit $?); $(log_tail "$GLUSTERD_LOG")"
	for _ in $(seq 50); do [[ -s $STATE/glusterd.pid ]] && break; sleep 0.1; done
	pid=$(cat "$STATE/glusterd.pid" 2>/dev/null) ||
		die "glusterd wrote no pid file; $(log_tail "$GLUSTERD_LOG")"
	echo "$pid $(start_time "$pid")" >"$STATE/started"
	until answers; do
		kill -0 "$pid" 2>/dev/null ||
			die "glusterd (pid $pid) exited while starting; $(log_tail "$GLUSTERD_LOG")"
		(($(now_ms) < deadline)) ||
			die "glusterd (pid $pid) does not answer 'gluster volume list' after ${T}s; $(log_tail "$GLUSTERD_LOG")"
		sleep 0.2
	done
}

# The glusterd this fixture started, if it still runs.
our_glusterd() {
	local pid st
	[[ -r $STATE/started ]] || return 1
	read -r pid st <"$STATE/started" || return 1
	if is_glusterd "$pid" && [[ $(start_time "$pid") == "$st" ]]; then
		echo "$pid"
	else
		rm -f "$STATE/started" "$STATE/glusterd.pid"
		return 1
	fi
}

# Pids of gluster processes serving mortar-* volumes (bricks, self-heal,
# FUSE clients) plus, when glusterd is gone, any self-heal daemon.
mortar_gluster_pids() {
	local p cmd
	for p in /proc/[0-9]*; do
		[[ $(cat "$p/comm" 2>/dev/null) == glusterfs* ]] || continue
		cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
		case $cmd in
		*"--volfile-id mortar-"* | *"--volfile-id shd/mortar-"* | *"--volfile-id=mortar-"* | \
			*"--volfile-id=/mortar-"* | *"--volfile-id /mortar-"*)
			echo "${p#/proc/}" ;;
		*"--volfile-id shd/"*)
			[[ ${1:-} == all-shd ]] && echo "${p#/proc/}" ;;
		esac
	done
}

kill_and_wait() { # SIGTERM, then SIGKILL after 10 s; pids in $@
	local p left
	(($#)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	for _ in $(seq 100); do
		left=()
		for p in "$@"; do
			kill -0 "$p" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]] &&
				left+=("$p")
		done
		((${#left[@]})) || return 0
		sleep 0.1
	done
	note "killing with SIGKILL what did not exit in 10 s: ${left[*]}"
	kill -KILL "${left[@]}" 2>/dev/null || true
}

# ---------------------------------------------------------------- volumes

check_name() {
	[[ $1 =~ ^mortar-[A-Za-z0-9_.-]+$ ]] ||
		die "volume name '$1': test volumes are named mortar-[A-Za-z0-9_.-]+"
}

exists() { gl volume info "$1" >/dev/null 2>&1; }

# Owner of NAME is alive (and is not the caller when $2 == not-me).
owner_alive() {
	local pid st
	[[ -r $STATE/vols/$1 ]] || return 1
	read -r pid st <"$STATE/vols/$1" || return 1
	[[ $(start_time "$pid") == "$st" ]] || return 1
	[[ ${2:-} == not-me && $pid == "$OWNER" ]] && return 1
	return 0
}

# "path status pid" for each brick of NAME, in brick order.
brick_status() {
	local xml
	xml=$(gl volume status "$1" --xml) || return 1
	awk '
		/<node>/ { p = ""; s = ""; d = "" }
		/<path>/ { gsub(/.*<path>|<\/path>.*/, ""); p = $0 }
		/<status>/ { gsub(/.*<status>|<\/status>.*/, ""); s = $0 }
		/<pid>/ { gsub(/.*<pid>|<\/pid>.*/, ""); d = $0 }
		/<\/node>/ { if (p ~ /^\//) print p, s, d }
	' <<<"$xml"
}

delete_volume() { # NAME; glusterd answers
	local out
	if exists "$1"; then
		out=$(gl volume stop "$1" force) ||
			grep -qiE "not in (the )?started state" <<<"$out" ||
			die "cannot stop volume $1: $out"
		out=$(gl volume delete "$1") || die "cannot delete volume $1: $out"
	fi
	rm -rf "${BRICKS:?}/$1" "$STATE/vols/$1"
}

cmd_create() {
	(($#)) || die "usage: create NAME [distribute N | replica N] [--stopped] [KEY=VALUE...]"
	local name=$1 kind=distribute count=1 startit=true opts=() bricks=() host i out
	shift
	check_name "$name"
	case ${1:-} in
	distribute | replica)
		kind=$1 count=${2:-}
		[[ $count =~ ^[1-9][0-9]?$ ]] || die "create $name: '$kind' needs a brick count"
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

	lock
	start_glusterd
	if exists "$name"; then
		owner_alive "$name" not-me &&
			die "volume $name exists and belongs to live process $(cut -d' ' -f1 "$STATE/vols/$name")"
		delete_volume "$name" # a leftover of a test that is gone
	fi
	host=$(brick_host)
	rm -rf "${BRICKS:?}/$name"
	for ((i = 1; i <= count; i++)); do
		mkdir -p "$BRICKS/$name/brick$i"
		bricks+=("$host:$BRICKS/$name/brick$i")
	done
	local layout=()
	[[ $kind == replica ]] && layout=(replica "$count")
	echo "$OWNER $(start_time "$OWNER")" >"$STATE/vols/$name"
	out=$(gl volume create "$name" "${layout[@]}" "${bricks[@]}" force) || {
		rm -rf "${BRICKS:?}/$name" "$STATE/vols/$name"
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
		die "cannot start volume $name: $out; $(log_tail "$GLUSTERD_LOG")"
	}
	# Online = the brick signed in with glusterd and has a port: libgfapi
	# clients can connect from now on.
	local deadline=$(($(now_ms) + T * 1000)) st online
	while :; do
		st=$(brick_status "$name" 2>/dev/null) || st=
		online=$(awk '$2 == 1 && $3 > 0' <<<"$st" | wc -l)
		((online == count)) && return 0
		if (($(now_ms) >= deadline)); then
			local logs
			logs=$(log_tail "/var/log/glusterfs/bricks/$(sed 's|^/||; s|/|-|g' <<<"$BRICKS/$name/brick1").log")
			delete_volume "$name"
			die "only $online of $count bricks of $name came online in ${T}s (path status pid: ${st:-none}); $logs"
		fi
		sleep 0.2
	done
}

cmd_delete() {
	(($# == 1)) || die "usage: delete NAME"
	check_name "$1"
	lock
	if answers; then
		delete_volume "$1"
	else
		rm -rf "${BRICKS:?}/$1" "$STATE/vols/$1"
		note "glusterd does not answer: removed the bricks of $1 only"
	fi
}

cmd_stop() {
	local all=false v kept=() pid
	[[ ${1:-} == --all ]] && all=true
	lock
	if answers; then
		local vols live_other=false
		vols=$(gl volume list) || die "cannot list volumes: $vols"
		[[ $vols == "No volumes present"* ]] && vols=
		for v in $vols; do
			[[ $v == mortar-* ]] && owner_alive "$v" not-me && live_other=true
		done
		for v in $vols; do
			[[ $v == mortar-* ]] || { kept+=("$v"); continue; }
			if ! $all && owner_alive "$v" not-me; then
				kept+=("$v") # a test running in parallel
			elif ! $all && $live_other && [[ ! -e $STATE/vols/$v ]]; then
				kept+=("$v") # made by hand by a test that runs: not ours to judge
			else
				delete_volume "$v"
			fi
		done
	fi
	local d
	for d in "$BRICKS"/mortar-*/; do # bricks of volumes gone
		[[ -d $d ]] || continue
		d=${d%/}
		[[ " ${kept[*]} " == *" ${d##*/} "* ]] || rm -rf "$d"
	done
	if ! pid=$(our_glusterd); then
		# Not ours: leave it.  None at all: bricks left by a glusterd
		# that died serve nobody.
		if ! pgrep -x glusterd >/dev/null; then
			mapfile -t pids < <(mortar_gluster_pids)
			kill_and_wait "${pids[@]}"
		fi
		return 0
	fi
	if ((${#kept[@]})); then
		note "glusterd (pid $pid) left running for volumes in use: ${kept[*]}"
		return 0
	fi
	kill_and_wait "$pid"
	# glusterd does not stop bricks nor self-heal daemons when it exits.
	mapfile -t pids < <(mortar_gluster_pids all-shd)
	kill_and_wait "${pids[@]}"
	rm -f "$STATE/started" "$STATE/glusterd.pid"
}

cmd_brick_pid() {
	(($# == 2)) && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "usage: brick-pid NAME N"
	local st line
	st=$(brick_status "$1") || die "no status for volume $1: $st"
	line=$(sed -n "${2}p" <<<"$st")
	[[ -n $line ]] || die "volume $1 has no brick $2"
	set -- "$1" "$2" $line
	[[ $4 == 1 && $5 -gt 0 ]] || die "brick $2 of $1 ($3) is not online"
	echo "$5"
}

case ${1:-} in
start) lock; start_glusterd ;;
create) shift; cmd_create "$@" ;;
delete) shift; cmd_delete "$@" ;;
stop) shift; cmd_stop "$@" ;;
brick-pid) shift; cmd_brick_pid "$@" ;;
env) echo "GLUSTER_HOST=127.0.0.1"; echo "GLUSTER_BRICK_HOST=$(brick_host)" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
