#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The systemd units as `meson install` lays them out: the service and
# socket templates land in a folder systemd reads, the service starts the
# installed mortar, both pass `systemd-analyze verify` for an instance
# (with no complaint at all: verify returns 0 on unknown keys), the
# hardening keeps the exposure score at or below 3.0 ("OK"), and the
# socket unit and the service agree on where export sockets live.  The
# example export file, pointed at a scratch image, serves through the
# service's own command line, and so do its commented settings.
. "$(dirname "$0")/lib.sh"
requires systemd-analyze meson

root=$SCRATCH/root
meson install -C "$MORTAR_BUILD" --no-rebuild --quiet --destdir "$root" >"$SCRATCH/install.log" 2>&1 ||
	fail "meson install failed: $(tail -5 "$SCRATCH/install.log")"
service=$(find "$root" -path '*/systemd/system/mortar-serve@.service')
socket=$(find "$root" -path '*/systemd/system/mortar-serve@.socket')
[[ -f $service && -f $socket ]] || fail "meson install laid no units under lib/systemd/system"
unitdir=${service%/*}
case ${unitdir#"$root"} in
/lib/systemd/system | /usr/lib/systemd/system | /usr/local/lib/systemd/system) ;;
*) fail "units in ${unitdir#"$root"}, where systemd does not look" ;;
esac
echo "ok: units installed in ${unitdir#"$root"}"
example=$(find "$root" -path '*/doc/mortar/examples/example.conf')
[[ -f $example ]] || fail "the example export file is not installed as documentation"
echo "ok: example export file in ${example#"$root"}"

# ExecStart names the installed program, absolute.
exec_start=$(sed -n 's/^ExecStart=//p' "$service")
bin=${exec_start%% *}
[[ $bin == /* && -x $root$bin ]] || fail "ExecStart runs '$bin', which meson did not install"
grep -q -- '--config /etc/mortar/exports/%i.conf' <<<"$exec_start" ||
	fail "ExecStart does not serve /etc/mortar/exports/%i.conf: $exec_start"
echo "ok: ExecStart=$exec_start"

# verify wants the program on this system: the build's stands in for it.
units=$SCRATCH/units
mkdir "$units"
sed "s|^ExecStart=$bin |ExecStart=$MORTAR |" "$service" >"$units/mortar-serve@.service"
cp "$socket" "$units/"
verify() { (cd "$1" && systemd-analyze verify --man=no "./mortar-serve@disk.service" "./mortar-serve@disk.socket" 2>&1); }
out=$(verify "$units") || fail "systemd-analyze verify failed: $out"
[[ -z $out ]] || fail "systemd-analyze verify complains: $out"
echo "ok: systemd-analyze verify mortar-serve@disk.service mortar-serve@disk.socket: clean"
# ... and verify does catch a broken unit.
mkdir "$SCRATCH/broken"
sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$units/mortar-serve@.service" >"$SCRATCH/broken/mortar-serve@.service"
cp "$socket" "$SCRATCH/broken/"
out=$(verify "$SCRATCH/broken") || true
grep -q "NoNewPrivilege" <<<"$out" || fail "verify did not notice a misspelt key: $out"
echo "ok: verify notices a misspelt key"

# What the templates promise each other and the man page.
key() { sed -n "s/^$2=//p" "$1"; }
expect_eq "socket of an instance" "$(key "$socket" ListenStream)" "/run/mortar/%i.sock"
expect_eq "runtime directory" "$(key "$service" RuntimeDirectory)" "mortar"
expect_eq "service type" "$(key "$service" Type)" "notify"
expect_eq "socket group" "$(key "$socket" SocketGroup)/$(key "$socket" SocketMode)" "kvm/0660"
[[ $(key "$service" FileDescriptorStoreMax) -ge 64 ]] ||
	fail "FileDescriptorStoreMax cannot hold a server's connections"
for k in ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes \
	 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK"; do
	grep -qx -- "$k" "$service" || fail "the service lacks $k"
done
echo "ok: hardening directives present"

score=$(systemd-analyze security --offline=true "$units/mortar-serve@.service" 2>&1 |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[[ -n $score ]] || fail "systemd-analyze security gave no score"
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score is above 3.0"
echo "ok: exposure level $score (systemd-analyze security --offline)"

# The service's own command line on the example file.
requires nbdinfo jq
img=$SCRATCH/disk.img
"$MORTAR" img create "$img" 1M
args=${exec_start#"$bin" }
args=${args/--log=journal/--log=stderr}

# serve_example CONF: run the unit's command line on CONF (the example
# file with the scratch image and socket) until the export answers.
serve_example() {
	local conf=$1 i
	rm -f "$SCRATCH/disk.sock"
	# shellcheck disable=SC2086 # the unit's words, as systemd splits them
	"$MORTAR" ${args//\/etc\/mortar\/exports\/%i.conf/$conf} 2>"$SCRATCH/serve.log" &
	pid=$!
	on_exit "kill $pid 2>/dev/null"
	for i in $(seq 100); do [[ -S $SCRATCH/disk.sock ]] && break; sleep 0.1; done
	nbdinfo --can connect "$uri" || fail "$conf is not served: $(cat "$SCRATCH/serve.log")"
}
stop_example() {
	kill -TERM "$pid"
	wait "$pid" || fail "mortar serve exited $? on SIGTERM: $(cat "$SCRATCH/serve.log")"
}
uri="nbd+unix:///disk?socket=$SCRATCH/disk.sock"
sed -e "s|^export = disk=.*|export = disk=$img|" -e "s|^socket = .*|socket = $SCRATCH/disk.sock|" \
	-e '/^socket-group/d' "$example" >"$SCRATCH/disk.conf"
serve_example "$SCRATCH/disk.conf"
expect_eq "size of the example export" "$(nbdinfo --size "$uri")" 1048576
! nbdinfo --is read-only "$uri" || fail "the example export is read-only as shipped"
stop_example
echo "ok: the unit's command line serves the example file"

# Its commented settings parse too (those that need no TCP port, TLS
# files or GlusterFS volume), and take effect.
sed -E 's/^#(socket-mode|read-only|direct|max-connections|idle-timeout|description)/\1/' \
	"$SCRATCH/disk.conf" >"$SCRATCH/all.conf"
serve_example "$SCRATCH/all.conf"
nbdinfo --is read-only "$uri" || fail "read-only in the example file did not apply"
expect_eq "description" "$(nbdinfo --json "$uri" | jq -r '.exports[0].description')" "VM disks of host1"
expect_eq "socket mode" "$(stat -c %a "$SCRATCH/disk.sock")" 660
stop_example
echo "ok: the example file's commented settings apply once uncommented"
