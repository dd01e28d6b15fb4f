#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Faults that gfapi reports with one errno, each turned into its own line
# by Mortar, produced for real:
#  - replica quorum lost: replica 3 with two bricks killed (gfapi: EIO at
#    init, "All subvolumes are down");
#  - permission denied hidden by open-behind: a root-owned 0600 image
#    opened by an unprivileged user (the open would pass, the first I/O or
#    the close fail);
#  - volume full: a volume whose brick sits on a 64 MiB filesystem (also
#    with write-behind's trickling-writes off, which hangs GlusterFS's
#    own clients);
#  - bricks that refuse the client: server.allow-insecure off (gfapi
#    connects from an unprivileged port) and auth.reject of this address.
#    gfapi retries those for ever inside glfs_init(): Mortar gives up
#    after MORTAR_GLUSTER_TIMEOUT and reads the cause from gfapi's log.
# Each message is one line naming the cause and the fix, from `mortar img
# info`/`mortar io`, and `mortar doctor` shows the same at its open step.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires_root
requires setpriv

# --- quorum lost ---
vol=mortar-dq$$
gluster_volume "$vol" replica 3
uri=gluster://$GLUSTER_HOST/$vol/q.img
"$MORTAR" img create "$uri" 16M >/dev/null
gluster_kill_brick "$vol" 2 3
expect_error_line "replica quorum lost: only 1 of the 3 bricks of volume '$vol' run.*gluster volume start $vol force" \
	"$MORTAR" img info "$uri"
OUT=$("$MORTAR" doctor "$uri" 2>&1) && fail "doctor passed with quorum lost: $OUT"
grep -q "^\[FAIL\] open .*replica quorum lost" <<<"$OUT" || fail "doctor did not name the quorum: $OUT"
echo "ok: doctor names the lost quorum at its open step"

# --- permission denied behind open-behind ---
vol2=mortar-dp$$
gluster_volume "$vol2"
uri2=gluster://$GLUSTER_HOST/$vol2/p.img
"$MORTAR" img create "$uri2" 16M >/dev/null
"$MORTAR" io "$uri2" -c 'write -P 0x42 0 64k' >/dev/null
brick=$GLUSTER_BRICKS/$vol2/brick1
chmod 600 "$brick/p.img"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env -u XDG_RUNTIME_DIR "$@"; }
expect_error_line "permission denied reading 'p.img' \(the volume's open-behind" \
	nobody "$MORTAR" img info "$uri2"
expect_error_line "permission denied writing 'p.img'.*--read-only" \
	nobody "$MORTAR" io "$uri2" -c 'write 0 4k'
chmod 644 "$brick/p.img"
nobody "$MORTAR" io --read-only "$uri2" -c 'read -P 0x42 0 64k' >/dev/null ||
	fail "a readable image is not readable by nobody"
echo "ok: a readable image reads once the mode allows it"

# --- volume full ---
small=$GLUSTER_FS_DIR/small
mount_loop_fs ext4 64M "$small" -F
vol3=mortar-df$$
MORTAR_GLUSTER_BRICKS=$small gluster_volume "$vol3"
uri3=gluster://$GLUSTER_HOST/$vol3/big.img
"$MORTAR" img create "$uri3" 256M >/dev/null
expect_error_line "the volume is full; free space on its bricks or add bricks" \
	"$MORTAR" io "$uri3" -c 'write -P 0x11 0 128M' -c flush
echo "ok: a full volume is named"
# With write-behind's trickling-writes off on the volume, GlusterFS 10.3
# never completes a write that fails for want of space: Mortar's own
# client graph keeps it on.
_gl volume set "$vol3" performance.write-behind-trickling-writes off >/dev/null
"$MORTAR" img create --force "$uri3" 256M >/dev/null
expect_error_line "the volume is full; free space on its bricks or add bricks" \
	timeout -s KILL 60 "$MORTAR" io "$uri3" -c 'write -P 0x11 0 128M' -c flush
echo "ok: a full volume is named when the volume turns trickling-writes off"

# --- bricks that refuse the client ---
export MORTAR_GLUSTER_TIMEOUT=5
vol4=mortar-di$$
gluster_volume "$vol4" server.allow-insecure=off
uri4=gluster://$GLUSTER_HOST/$vol4/i.img
start=$SECONDS
expect_error_line "bricks of volume '$vol4' refuse this client: it connects from an unprivileged port.*client.bind-insecure off.*server.allow-insecure on" \
	timeout 60 "$MORTAR" img create "$uri4" 16M
((SECONDS - start < 30)) || fail "the refused create took $((SECONDS - start)) s"
# The fix the message gives for root clients works...
_gl volume set "$vol4" client.bind-insecure off >/dev/null
"$MORTAR" img create "$uri4" 16M >/dev/null || fail "create failed after client.bind-insecure off"
# ...and an unprivileged client is told the other one.
expect_error_line "it does not run as root.*server.allow-insecure on" \
	nobody timeout 60 "$MORTAR" img info "$uri4"
# auth.reject on a volume of its own: bricks started with allow-insecure
# off keep refusing unprivileged ports at login until restarted.
vol5=mortar-dr$$
gluster_volume "$vol5"
uri5=gluster://$GLUSTER_HOST/$vol5/r.img
"$MORTAR" img create "$uri5" 16M >/dev/null
_gl volume set "$vol5" auth.reject "$GLUSTER_CLIENT_ADDR" >/dev/null
expect_error_line "bricks of volume '$vol5' refuse this client at login: the volume's auth.allow or auth.reject" \
	timeout 60 "$MORTAR" img info "$uri5"
OUT=$(timeout 60 "$MORTAR" doctor "$uri5" 2>&1) && fail "doctor passed a refused client: $OUT"
grep -q "^\[FAIL\] open .*auth.reject" <<<"$OUT" || fail "doctor did not name auth.reject: $OUT"
_gl volume reset "$vol5" auth.reject >/dev/null
# (the bricks take the option change a moment later)
for ((i = 0; i < 20; i++)); do
	OUT=$("$MORTAR" img info "$uri5" 2>&1) && break
	sleep 1
done
((i < 20)) || fail "info failed once the volume accepts the client: $OUT"
echo "ok: refused clients are named with the option to change, in bounded time"
echo PASS
