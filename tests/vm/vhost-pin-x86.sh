#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar serve --direct --pin-guest-memory: the guest's memory is
# registered with the worker's io_uring (fixed buffers, pinned once), and
# a DIMM plugged and unplugged while the guest writes and reads its
# vhost-user-blk disk:
#  - the server's pinned memory (VmPin) covers the guest's 512 MiB while
#    the queues run, grows by the DIMM's 128 MiB once QEMU adds it to the
#    table, and is back to 512 MiB after the unplug: a removed DIMM's pages
#    do not stay pinned; nothing is pinned once the guest has gone;
#  - every read-back during the plugs matches what was written, and the
#    image holds the pattern;
#  - the disk's requests went through the registered memory (the debug
#    lines count them), and the usual data checks pass on it.
# The server asks for a kick per request (--no-coalesce-kicks): this is
# the test that runs that path; the others run the default.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vhost.bash"

img=$SCRATCH/mortar.img
"$MORTAR" img create "$img" 64M >/dev/null
vs_start mortar "$SCRATCH/m.sock" -- --threads 1 --direct --pin-guest-memory \
	--no-coalesce-kicks --vhost-user-blk "$SCRATCH/m.sock" "disk0=$img"
spid=$(cat "$SCRATCH/mortar.pid")
qmp=$SCRATCH/qmp.sock
qmp() { _json_socket qmp "$qmp" "$1"; }
# The server's pinned memory, in MiB (io_uring accounts its registered
# buffers there, root or not).
pinned() { echo $(($(awk '/^VmPin:/ { print $2 }' "/proc/$spid/status") / 1024)); }
# wait_pinned LO HI WHAT: until LO <= pinned MiB <= HI (30 s).
wait_pinned() {
	local i p
	for ((i = 0; i < 300; i++)); do
		p=$(pinned)
		((p >= $1 && p <= $2)) && { echo "ok: $3: $p MiB pinned"; return 0; }
		sleep 0.1
	done
	fail "$3: $p MiB pinned, not within [$1, $2]: $(grep -i "memory\|queue" "$SCRATCH/mortar.log" | tail -5)"
}

# shellcheck disable=SC2046
vg_start g 2 -m 512M,slots=2,maxmem=1G -qmp "unix:$qmp,server=on,wait=off" \
	$(vhost_dev "$SCRATCH/m.sock" m 2)
wait_pinned 512 600 "guest memory registered while the queues run"

vhost_check_prepare g
vhost_check g vda "$img" mortar 2

# The guest writes the pattern to four places in turn and reads each back
# (O_DIRECT), until told to stop; each read-back's md5 goes to /tmp/sums.
vg g 'rm -f /tmp/sums /tmp/stop /tmp/done; setsid sh -c '\''i=0
while [ ! -e /tmp/stop ]; do
	o=$((16 + i % 4 * 8))
	dd if=/tmp/pat of=/dev/vda bs=1M seek=$o oflag=direct conv=fsync 2>/dev/null || echo write-failed >>/tmp/sums
	dd if=/dev/vda bs=1M skip=$o count=8 iflag=direct 2>/dev/null | md5sum >>/tmp/sums
	i=$((i + 1))
done
echo $i >/tmp/done'\'' </dev/null >/dev/null 2>&1 &'
sleep 2

r=$(qmp '{"execute":"object-add","arguments":{"qom-type":"memory-backend-memfd","id":"dm1","size":134217728,"share":true}}')
grep -q '"return"' <<<"$r" || fail "object-add: $r"
r=$(qmp '{"execute":"device_add","arguments":{"driver":"pc-dimm","id":"dimm1","memdev":"dm1"}}')
grep -q '"return"' <<<"$r" || fail "device_add: $r"
wait_pinned 640 728 "a 128 MiB DIMM plugged during I/O"
sleep 3
r=$(qmp '{"execute":"device_del","arguments":{"id":"dimm1"}}')
grep -q '"return"' <<<"$r" || fail "device_del: $r"
for ((i = 0; i < 300; i++)); do
	qmp '{"execute":"query-memory-devices"}' | grep -q dimm1 || break
	sleep 0.1
done
! qmp '{"execute":"query-memory-devices"}' | grep -q dimm1 || fail "the guest kept the DIMM"
wait_pinned 512 600 "the DIMM unplugged during I/O"
qmp '{"execute":"object-del","arguments":{"id":"dm1"}}' >/dev/null
sleep 2

vg g 'touch /tmp/stop; for i in $(seq 300); do [ -e /tmp/done ] && break; sleep 0.2; done'
rounds=$(vg g 'cat /tmp/done')
((${rounds:-0} >= 3)) || fail "the guest's I/O loop ran ${rounds:-0} rounds"
bad=$(vg g "grep -vc '^$VC_PAT' /tmp/sums" || true)
expect_eq "read-backs during the plugs that differ from the pattern ($rounds rounds)" "$bad" 0
for o in 16 24 32 40; do
	expect_eq "pattern at $o MiB in the image" "$(host_md5 "$img" $o 8)" "$VC_PAT"
done

vg_stop g
wait_pinned 0 0 "the guest gone"
grep -q "guest memory region(s) registered with the worker's ring" "$SCRATCH/mortar.log" ||
	fail "no registration logged: $(grep queue "$SCRATCH/mortar.log" | tail -5)"
used=$(sed -n "s/.*guest memory unregistered; \([0-9]*\) I\/O(s).*/\1/p" "$SCRATCH/mortar.log" |
	awk '{ s += $1 } END { print s + 0 }')
((used > 100)) || fail "only $used I/Os went through registered memory: $(grep -i "registered" "$SCRATCH/mortar.log" | tail -5)"
echo "ok: $used I/Os through registered memory"
! grep -q "failed\|malformed\|stops until" "$SCRATCH/mortar.log" ||
	fail "the server logged errors: $(grep "failed\|malformed\|stops until" "$SCRATCH/mortar.log")"
vs_stop mortar
echo PASS
