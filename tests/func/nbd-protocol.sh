#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The NBD protocol as libnbd's Python binding speaks it to mortar serve
# (nbd-protocol.py does the checks): structured replies on and off,
# base:allocation block status (and REQ_ONE) against a known layout, read
# chunks (OFFSET_HOLE for zero runs, DF gives one chunk), trim, zero (FUA,
# NO_HOLE, FAST_ZERO), flush, cache, many requests in flight, errors
# (EINVAL, ENOSPC, EOVERFLOW, EPERM on a read-only export), fast zero on
# tmpfs (no FALLOC_FL_ZERO_RANGE: ENOTSUP fast, data kept; with may-trim:
# punched), and option haggling (opt_list, opt_info, opt_go, descriptions).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"
[[ -d /dev/shm && -w /dev/shm ]] || skip "no writable /dev/shm (tmpfs)"
[[ $(stat -f -c %T /dev/shm) == tmpfs ]] || skip "/dev/shm is not tmpfs"

M=$((1 << 20))
desc="protocol test exports"
# With MORTAR_TEST_GLUSTER=BASE,BRICK (tests/gluster/nbd-protocol.sh), p,
# q and ro are images on a one-brick volume (gluster://BASE/NAME.img)
# and $SCRATCH/NAME.img is their brick file, which the checks read.
loc() { echo "$SCRATCH/$1.img"; }
if [[ -n ${MORTAR_TEST_GLUSTER:-} ]]; then
	gl_base=${MORTAR_TEST_GLUSTER%%,*} gl_brick=${MORTAR_TEST_GLUSTER#*,}
	loc() { echo "$gl_base/$1.img"; }
fi
for i in p ro q; do
	size=64M; [[ $i == q ]] && size=4M
	"$MORTAR" img create "$(loc $i)" $size >/dev/null
	[[ -z ${MORTAR_TEST_GLUSTER:-} ]] || ln -s "$gl_brick/$i.img" "$SCRATCH/$i.img"
	[[ $i == q ]] || "$PY" "$(dirname "$0")/nbd-protocol.py" prepare "$SCRATCH/$i.img"
done
shm=$(mktemp -d /dev/shm/mortar-test.XXXXXX)
on_exit "rm -rf '$shm'"
ln -s "$shm" "$SCRATCH/shm"
"$MORTAR" img create "$shm/z.img" 4M >/dev/null

# start_server NAME ARGS...: mortar serve -f -v -s $SCRATCH/NAME.sock ARGS,
# logging to $SCRATCH/NAME.log; returns once the socket exists.
start_server_unix rw -D "$desc" "$(loc p)" second="$(loc q)"
start_server_unix ro -r "$(loc ro)"
start_server_unix shm "$shm/z.img"

rc=0
"$PY" "$(dirname "$0")/nbd-protocol.py" run "$SCRATCH" "$desc" "$@" || rc=$?
if ((rc != 0)); then
	for f in "$SCRATCH"/*.log; do
		echo "--- $f"; grep -v ": connected$\|: transmission on\|: connection closed$\|client closed the connection$\|client disconnected$" "$f" | tail -n 20 || true
	done >&2
	fail "nbd-protocol.py failed"
fi
# every server is still alive and stops cleanly
for pid in "${pids[@]}"; do
	kill -0 "$pid" 2>/dev/null || fail "a server died during the tests"
	kill -TERM "$pid"
	src=0
	wait "$pid" || src=$?
	expect_eq "server $pid exit status after SIGTERM" "$src" 0
done
for n in rw ro shm; do
	[[ ! -e $SCRATCH/$n.sock ]] || fail "socket $n.sock left behind"
done
echo PASS
