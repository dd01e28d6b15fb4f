#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The NBD checks of tests/func/nbd-protocol.sh (libnbd's Python binding
# against mortar serve) and tests/func/nbd-robust.sh (misbehaving clients
# on raw sockets) again, with the exports on a GlusterFS volume: the same
# layouts, block status, structured reads, trims, zeroes, errors, option
# haggling, bad magic, oversized and truncated requests, vanished clients,
# served through libgfapi.  The checks read
# the bytes from the brick file, so the volume's client-side caches are
# off (write-behind would acknowledge writes the brick has not seen yet;
# an NBD client may only count on them after a flush, and the checks look
# sooner).
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"

vol=mortar-np$$
gluster_volume "$vol" performance.write-behind=off performance.quick-read=off \
	performance.io-cache=off performance.read-ahead=off performance.open-behind=off
brick=$GLUSTER_BRICKS/$vol/brick1
export MORTAR_TEST_GLUSTER="gluster://$GLUSTER_HOST/$vol,$brick"
bash "$MORTAR_SRC/tests/func/nbd-protocol.sh" || fail "the NBD protocol checks failed on GlusterFS"
bash "$MORTAR_SRC/tests/func/nbd-robust.sh" || fail "the misbehaving-client checks failed on GlusterFS"
echo PASS
