#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Where the GlusterFS client log goes, and that it stays bounded:
#  - $LOGS_DIRECTORY (systemd's, for LogsDirectory=mortar) when set;
#  - else /var/log/mortar when it exists and only we can write it (here
#    in a mount namespace with a tmpfs on /var/log, so the host's is not
#    touched); not when others can write it;
#  - else the runtime directory, as before;
#  - a log over 16 MiB at a client's start becomes NAME.log.1 (one old
#    file kept) and a new one begins, and the diagnoses that read the
#    log from where it ended still work: a lost replica quorum is named
#    after a rotation.
. "$(dirname "$0")/../func/lib.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../func/helpers.bash"
requires unshare mount

vol=mortar-cl$$
gluster_volume "$vol" replica 3
uri=gluster://$GLUSTER_HOST/$vol/disk.img
logs=$SCRATCH/logs
mkdir -m 0755 "$logs"
export XDG_RUNTIME_DIR=$SCRATCH/xdg
mkdir -m 0700 "$XDG_RUNTIME_DIR"

LOGS_DIRECTORY=$logs "$MORTAR" img create "$uri" 16M >/dev/null
log=$logs/gfapi-$vol.log
[[ -f $log ]] || fail "no client log in \$LOGS_DIRECTORY: $(ls -la "$logs")"
[[ ! -e $XDG_RUNTIME_DIR/mortar/gfapi-$vol.log ]] || fail "a client log in the runtime directory too"
echo "ok: with LOGS_DIRECTORY set, the client log is $log"

# Rotation: an oversized log is kept as .1, and a new one begins.
truncate -s 17M "$log"
LOGS_DIRECTORY=$logs "$MORTAR" img info "$uri" >/dev/null
expect_eq "size of the old log kept as .1" "$(file_size "$log.1")" $((17 << 20))
(($(file_size "$log") < 1 << 20)) || fail "the log was not begun anew: $(file_size "$log") bytes"
echo "ok: a 17 MiB log became $log.1, the new one has $(file_size "$log") bytes"
LOGS_DIRECTORY=$logs "$MORTAR" img info "$uri" >/dev/null
expect_eq "the old log after a start under the bound" "$(file_size "$log.1")" $((17 << 20))

# The diagnoses read the log from where it ended at the client's start:
# after a rotation too (and the new log is the one they name).
gluster_kill_brick "$vol" 2 3
truncate -s 18M "$log"
LOGS_DIRECTORY=$logs expect_error_line \
	"replica quorum lost: only 1 of the 3 bricks of volume '$vol' run.*\(log: $log\)" \
	"$MORTAR" img info "$uri"
expect_eq "size of the old log kept as .1 (the second rotation)" "$(file_size "$log.1")" $((18 << 20))
echo "ok: after a rotation, the lost quorum is still read from the new log"
_gl volume start "$vol" force >/dev/null

# /var/log/mortar, when there is no LOGS_DIRECTORY; the runtime directory
# when it is missing or others can write it.
where() {
	unshare -m bash -c '
		mount -t tmpfs -o mode=0755 none /var/log || exit 2
		[[ $1 == none ]] || mkdir -m "$1" /var/log/mortar
		env -u LOGS_DIRECTORY "$2" img info "$3" >/dev/null 2>&1 || true
		ls /var/log/mortar 2>/dev/null || true' sh "$@"
}
rm -f "$XDG_RUNTIME_DIR/mortar/gfapi-$vol.log"
out=$(where 0755 "$MORTAR" "$uri") || fail "cannot mount a tmpfs on /var/log in a mount namespace"
expect_eq "files in /var/log/mortar" "$out" "gfapi-$vol.log"
[[ ! -e $XDG_RUNTIME_DIR/mortar/gfapi-$vol.log ]] || fail "a client log in the runtime directory too"
out=$(where 0777 "$MORTAR" "$uri")
expect_eq "files in a /var/log/mortar that others can write" "$out" ""
[[ -f $XDG_RUNTIME_DIR/mortar/gfapi-$vol.log ]] || fail "no client log in the runtime directory"
rm -f "$XDG_RUNTIME_DIR/mortar/gfapi-$vol.log"
where none "$MORTAR" "$uri" >/dev/null
[[ -f $XDG_RUNTIME_DIR/mortar/gfapi-$vol.log ]] || fail "no client log in the runtime directory"
echo "ok: /var/log/mortar when it exists and is ours alone, else the runtime directory"
echo PASS
