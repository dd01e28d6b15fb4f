# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by the gluster tests after tests/func/lib.sh: a real glusterd
# and volumes made for the test, removed at exit (scripts/gluster-fixture.sh
# does the work; see its header).
#   gluster_volume NAME [distribute N | replica N] [--stopped] [KEY=VALUE...]
#       create (and start, unless --stopped) NAME, bricks online; NAME
#       starts with mortar-; deleted at exit
#   gluster_brick_pid NAME N    pid of brick N (from 1), for fault tests
#   gluster_fixture ARGS...     the fixture itself (e.g. delete NAME)
#   _gl ARGS...                 the gluster CLI, script mode, bounded
#   GLUSTER_HOST                host for clients: gluster://$GLUSTER_HOST/NAME/path
#   GLUSTER_BRICK_HOST          host part of brick names (for hand-made volumes)
# glusterd is started when it is not running, and stopped at exit if the
# fixture started it and no other test still has a volume on it.
requires glusterd gluster
requires_root

GLUSTER_FIXTURE=$MORTAR_SRC/scripts/gluster-fixture.sh
[[ -x $GLUSTER_FIXTURE ]] || fail "$GLUSTER_FIXTURE is missing"
# Volumes belong to this test's shell: a parallel test's stop keeps them.
export MORTAR_GLUSTER_OWNER=$$

gluster_fixture() { "$GLUSTER_FIXTURE" "$@"; }
_gl() { timeout -k 5 60 gluster --mode=script "$@"; }

eval "$(gluster_fixture env)" || fail "gluster-fixture env failed"
export GLUSTER_HOST GLUSTER_BRICK_HOST

_gluster_stop_registered=false
gluster_volume() {
	local name=$1
	[[ $name == mortar-* ]] || fail "gluster test volumes must be named mortar-*"
	if ! $_gluster_stop_registered; then
		# Registered first, so it runs after every volume's delete.
		on_exit 'gluster_fixture stop'
		_gluster_stop_registered=true
	fi
	# Registered before the create, so a half-made volume is removed too.
	on_exit "gluster_fixture delete $name"
	gluster_fixture create "$@" || fail "cannot create gluster volume $name"
}

gluster_brick_pid() {
	gluster_fixture brick-pid "$1" "$2"
}
