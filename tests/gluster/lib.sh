# Sourced by the gluster tests after tests/func/lib.sh: a real glusterd
# and volumes made for the test, removed at exit.
#   gluster_volume NAME [replica N]   create and start NAME (bricks under
#                                     $SCRATCH); sets GLUSTER_HOST
# glusterd is started when it is not running, and stopped at exit if this
# test started it.  Volume names start with mortar- so that a leftover is
# recognisable.
requires glusterd gluster
requires_root

GLUSTER_HOST=127.0.0.1
_gl() { timeout 60 gluster --mode=script "$@"; }

gluster_start() {
	local i started=false
	for i in $(seq 100); do
		# (Re)start it while it is absent: a glusterd still shutting
		# down holds port 24007 and makes a new one exit at once.
		if ! pgrep -x glusterd >/dev/null && ((i % 10 == 1)); then
			glusterd --log-level WARNING || fail "cannot start glusterd"
			if ! $started; then
				started=true
				on_exit 'pkill -x glusterd; for _ in $(seq 50); do pgrep -x glusterd >/dev/null || break; sleep 0.1; done'
			fi
		fi
		_gl volume list >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "glusterd does not answer (see /var/log/glusterfs/glusterd.log)"
}

gluster_volume() {
	local name=$1; shift
	local count=1 bricks=() i
	[[ ${1:-} == replica ]] && count=$2
	[[ $name == mortar-* ]] || fail "gluster test volumes must be named mortar-*"
	gluster_start
	for ((i = 1; i <= count; i++)); do
		mkdir -p "$SCRATCH/bricks/$name/b$i"
		bricks+=("$(hostname):$SCRATCH/bricks/$name/b$i")
	done
	if ((count > 1)); then
		_gl volume create "$name" replica "$count" "${bricks[@]}" force >/dev/null
	else
		_gl volume create "$name" "${bricks[@]}" force >/dev/null
	fi || fail "cannot create volume $name"
	# Registered before start, so a failed start still cleans up.
	on_exit "_gl volume stop $name force >/dev/null 2>&1; _gl volume delete $name >/dev/null 2>&1"
	_gl volume start "$name" >/dev/null || fail "cannot start volume $name"
	for _ in $(seq 100); do
		# --xml: the text output wraps long brick paths.
		[[ $(_gl volume status "$name" --xml 2>/dev/null |
		     grep -c '<status>1</status>') -ge $count ]] && return 0
		sleep 0.2
	done
	fail "the bricks of $name do not come online"
}

# The pid of brick N of volume NAME (for fault tests).
gluster_brick_pid() {
	_gl volume status "$1" --xml 2>/dev/null | grep -o '<pid>[0-9]*</pid>' |
		sed -n "${2}p" | tr -dc 0-9
}
