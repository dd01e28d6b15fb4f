#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar serve against misbehaving clients (nbd-robust.py, raw sockets):
# non-fixed newstyle and unknown client flags are dropped; the handshake
# timeout (-t 1) drops silent and never-finishing clients but not idle
# transmission; garbage option magic is dropped; unknown options get
# NBD_REP_ERR_UNSUP and oversized ones NBD_REP_ERR_TOO_BIG; a bad request
# magic or a WRITE over the maximum drops only that connection; truncated
# requests and vanished clients leave the server serving; structured error
# chunks carry a message; --max-connections 2 closes a third connection at
# once; meta contexts follow the last SET_META_CONTEXT (an NBD_OPT_INFO of
# another export in between does not void them).  The servers must survive
# all of it and stop cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"

img=$SCRATCH/r.img other=$SCRATCH/o.img
# With MORTAR_TEST_GLUSTER=BASE,BRICK (tests/gluster/nbd-suites.sh) the
# images are on a one-brick volume and $SCRATCH/r.img is the brick file.
if [[ -n ${MORTAR_TEST_GLUSTER:-} ]]; then
	img=${MORTAR_TEST_GLUSTER%%,*}/r.img other=${MORTAR_TEST_GLUSTER%%,*}/o.img
fi
"$MORTAR" img create "$img" 16M >/dev/null
"$MORTAR" io "$img" -c "write -P 0x5a 0 1M" -c flush >/dev/null
[[ -z ${MORTAR_TEST_GLUSTER:-} ]] || ln -s "${MORTAR_TEST_GLUSTER#*,}/r.img" "$SCRATCH/r.img"

"$MORTAR" img create "$other" 1M >/dev/null
start_server_unix main -t 1 "$img" other="$other"
start_server_unix max2 -e 2 "$img"

rc=0
"$PY" "$(dirname "$0")/nbd-robust.py" "$SCRATCH" "$@" || rc=$?
if ((rc != 0)); then
	for f in "$SCRATCH"/*.log; do
		echo "--- $f"; tail -n 25 "$f" || true
	done >&2
	fail "nbd-robust.py failed"
fi
# what the server logged for the worst of it
grep -q "bad request magic" "$SCRATCH/main.log" || fail "no log line for the bad request magic"
grep -q "exceeds the maximum" "$SCRATCH/main.log" || fail "no log line for the oversized write"
grep -q "max-connections" "$SCRATCH/max2.log" || fail "no log line for the refused connection"
echo "ok: the server logged the bad magic, the oversized write and the refused connection"
for pid in "${pids[@]}"; do
	kill -0 "$pid" 2>/dev/null || fail "a server died during the tests"
	kill -TERM "$pid"
	src=0
	wait "$pid" || src=$?
	expect_eq "server $pid exit status after SIGTERM" "$src" 0
done
echo PASS
