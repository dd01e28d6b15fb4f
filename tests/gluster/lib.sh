# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by the gluster tests after tests/func/lib.sh: a pool of three
# glusterd nodes in network namespaces of their own (scripts/gluster-pool.sh)
# and volumes made for the test, removed at exit (scripts/gluster-fixture.sh).
# Under tests/run.sh the pool is the run's (MORTAR_GLUSTER_POOL), made once
# and taken down at the end of the run; a test run alone makes its own and
# takes it down at exit.  Either way the test starts on a healthy pool:
# links up, every glusterd running, peers connected.
#   gluster_volume NAME [distribute N | replica N | replica DxN] [--stopped] [KEY=VALUE...]
#       create (and start, unless --stopped) NAME, bricks online; NAME
#       starts with mortar-; deleted at exit
#   gluster_brick_pid NAME I    pid of brick I (from 1), for fault tests
#   gluster_brick_node NAME I   the node (1-3) that holds brick I
#   gluster_wait_bricks NAME WHAT   every brick online, or fail with WHAT
#                               and the nodes' last errors
#   gluster_client_back PID N   wait until PID is connected to node N's bricks
#   gluster_fixture ARGS...     the fixture itself (e.g. delete NAME, wait-heal NAME)
#   gluster_pool ARGS...        the pool itself (stop N, start N, cut N, join N...)
#   _gl ARGS...                 the gluster CLI on the pool, script mode, bounded
#   GLUSTER_HOST                node 1, for clients: gluster://$GLUSTER_HOST/NAME/path
#   GLUSTER_HOSTS               the three nodes' addresses
#   GLUSTER_CLIENT_ADDR         this (the clients') namespace's address
#   GLUSTER_BRICKS              the bricks' folder: brick I of NAME is
#                               $GLUSTER_BRICKS/NAME/brickI
#   GLUSTER_FS_DIR              where a test mounts a file system that is to
#                               hold bricks (the nodes see mounts below it)
requires glusterd gluster nsenter unshare ip
requires_root

GLUSTER_FIXTURE=$MORTAR_SRC/scripts/gluster-fixture.sh
GLUSTER_POOL=$MORTAR_SRC/scripts/gluster-pool.sh
[[ -x $GLUSTER_FIXTURE && -x $GLUSTER_POOL ]] || fail "$GLUSTER_FIXTURE or $GLUSTER_POOL is missing"
# Volumes (and a pool made here) belong to this test's shell.
export MORTAR_GLUSTER_OWNER=$$

gluster_fixture() { "$GLUSTER_FIXTURE" "$@"; }
gluster_pool() { "$GLUSTER_POOL" "$@"; }
_gl() { gluster_pool cli "$@"; }

[[ -n ${MORTAR_GLUSTER_POOL:-} ]] || on_exit 'gluster_pool release'
_gluster_env=$(gluster_pool up) || fail "the GlusterFS pool is not ready: $_gluster_env"
eval "$_gluster_env"
export MORTAR_GLUSTER_POOL GLUSTER_HOST GLUSTER_HOSTS GLUSTER_CLIENT_ADDR GLUSTER_BRICKS
GLUSTER_FS_DIR=$GLUSTER_BRICKS/fs-$$
mkdir -p "$GLUSTER_FS_DIR"
on_exit "rmdir '$GLUSTER_FS_DIR/'* '$GLUSTER_FS_DIR' 2>/dev/null"

gluster_volume() {
	local name=$1
	[[ $name == mortar-* ]] || fail "gluster test volumes must be named mortar-*"
	# Registered before the create, so a half-made volume is removed too;
	# a test that failed with a node down leaves the pool to be repaired.
	on_exit "gluster_fixture delete $name || { gluster_pool up >/dev/null && gluster_fixture delete $name; }"
	gluster_fixture create "$@" || fail "cannot create gluster volume $name"
}

# gluster_wait_bricks NAME WHAT: wait until every brick of NAME is online
# (wait-bricks' bound).  Under load a restarted glusterd has been seen
# not to restart a brick within that bound (once in CI): then the bricks
# are started by hand, with the nodes' last errors in the log, and only a
# second miss fails, saying WHAT with the volume's status.
gluster_wait_bricks() {
	local out n
	out=$(gluster_fixture wait-bricks "$1") && return 0
	for n in 1 2 3; do out+=$'\n'$(gluster_pool logs "$n" 2>&1); done
	echo "note: $2 within the fixture's bound; starting them by hand: $out" >&2
	_gl volume start "$1" force >/dev/null 2>&1 || true
	out=$(gluster_fixture wait-bricks "$1") && return 0
	fail "$2: $out"$'\n'"$(_gl volume status "$1" 2>&1)"
}

gluster_brick_pid() { gluster_fixture brick-pid "$1" "$2"; }
gluster_brick_node() { gluster_fixture brick-node "$1" "$2"; }

# gluster_kill_brick NAME I...: SIGKILL bricks I... of NAME and wait until
# glusterd shows them offline (clients then learn at once that they are
# down, instead of reaching a port that is closing).
gluster_kill_brick() {
	local name=$1 i p pids=()
	shift
	for i in "$@"; do
		p=$(gluster_brick_pid "$name" "$i") || fail "brick $i of $name is not online"
		pids+=("$p")
	done
	kill -KILL "${pids[@]}"
	for i in "$@"; do
		for _ in $(seq 100); do
			gluster_brick_pid "$name" "$i" >/dev/null 2>&1 || continue 2
			sleep 0.1
		done
		fail "brick $i of $name still shown online 10 s after SIGKILL"
	done
}

# gluster_client_back PID N: wait (30 s at most) until process PID holds a
# connection to a brick of node N (any port but glusterd's 24007), as a
# client does by itself some time after the node's return; prints how
# long that took, in ms.
gluster_client_back() {
	local addrs t0
	read -r -a addrs <<<"$GLUSTER_HOSTS"
	t0=$(date +%s%N)
	until ss -Htnp state established dst "${addrs[$2 - 1]}" | grep -v ":24007 " | grep -q "pid=$1,"; do
		(($(date +%s%N) - t0 < 30000000000)) || return 1
		sleep 0.1
	done
	echo $((($(date +%s%N) - t0) / 1000000))
}

# gluster_client_log VOL: the path of the GlusterFS client log that mortar
# serve writes for VOL, Mortar's own lines among gfapi's (mortar-serve(1),
# --log); empty when there is none yet.
gluster_client_log() {
	find ${LOGS_DIRECTORY:-} /var/log/mortar /run/mortar /tmp/mortar-* -name "gfapi-$1.log" 2>/dev/null |
		head -n 1 || true
}
