#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img snapshot on XFS (reflink=1) and ext4:
# - create/list/delete/revert, names checked, "full copy" said on ext4;
# - consistency under load: a client writes numbered 64 KiB records one
#   after another through `mortar serve` while snapshots are taken; every
#   snapshot holds a prefix of the sequence and no torn record (the server
#   holds writes while the clone is made: nbd/control.c);
# - revert of an image in use needs --force, and the export then reads the
#   snapshot's data; `mortar serve --snapshot NAME` exports it read-only;
# - a snapshot killed mid-copy is never listed; its leftovers go away at
#   the next snapshot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img nbdinfo
"$PY" -c 'import nbd' 2>/dev/null || skip "python3-libnbd is not installed"
export XDG_RUNTIME_DIR=$SCRATCH/run
mkdir -m 700 "$XDG_RUNTIME_DIR"

xfs=$SCRATCH/xfs ext=$SCRATCH/ext4
mount_loop_fs xfs 1G "$xfs" -m reflink=1
mount_loop_fs ext4 1G "$ext" -F

# --- basics on XFS ---
img=$xfs/disk.img
"$MORTAR" img create "$img" 64M >/dev/null
qemu-io -f raw -c "write -P 0x01 0 4M" "$img" >/dev/null
OUT=$("$MORTAR" img snapshot --output=json "$img" one | tail -1)
expect_eq "snapshot shares blocks on XFS" "$(json_get "$OUT" shared)" true
qemu-io -f raw -c "write -P 0x02 0 4M" "$img" >/dev/null
"$MORTAR" img snapshot create -q "$img" two >/dev/null
list=$("$MORTAR" img snapshot list --output=json "$img")
expect_eq "snapshots listed" "$(json_get "$list" 0.name),$(json_get "$list" 1.name)" "one,two"
expect_error_line "already has a snapshot 'one'" "$MORTAR" img snapshot "$img" one
expect_error_line "bad snapshot name" "$MORTAR" img snapshot "$img" "../x"
expect_error_line "no snapshot 'nope'" "$MORTAR" img snapshot delete "$img" nope
qemu-io -f raw -c "read -P 0x01 0 4M" "$xfs/.disk.img.snapshots/one.img" | grep -q "read 4194304" ||
	fail "snapshot one does not hold the first data"
"$MORTAR" img snapshot revert -q "$img" one >/dev/null
qemu-io -f raw -c "read -P 0x01 0 4M" "$img" | grep -q "read 4194304" || fail "revert did not restore"
echo "ok: revert restored snapshot one"
"$MORTAR" img snapshot delete "$img" two >/dev/null
list=$("$MORTAR" img snapshot list --output=json "$img")
expect_eq "snapshots after delete" "$(jq -r 'map(.name)|join(",")' <<<"$list")" one
info=$("$MORTAR" img info --output=json "$img")
expect_eq "img info lists the snapshot" "$(json_get "$info" snapshots.0)" one

# --- ext4: a full copy, said plainly ---
"$MORTAR" img create "$ext/disk.img" 16M >/dev/null
OUT=$("$MORTAR" img snapshot "$ext/disk.img" s)
grep -q "full copy" <<<"$OUT" || fail "ext4 snapshot does not say it is a full copy: $OUT"
"$MORTAR" img snapshot list "$ext/disk.img" | grep -q "full copy" || fail "list does not say full copy"
echo "ok: ext4 snapshots are full copies and say so"

# --- consistency under writes through mortar serve ---
for fs in "$xfs" "$ext"; do
	live=$fs/live.img
	"$MORTAR" img create "$live" 32M >/dev/null
	start_server_unix "live-$(basename "$fs")" "$live"
	"$PY" - "$SOCK" "$MORTAR" "$live" <<'PYEOF' || fail "consistency check on $fs"
import os, struct, subprocess, sys, threading
import nbd

sock, mortar, live = sys.argv[1:4]
REC = 65536
N = 400
SNAPS = 8
SEG = N // SNAPS
started = [0]
cv = threading.Condition()

def writer():
    h = nbd.NBD()
    h.connect_unix(sock)
    for i in range(N):
        # Before each segment, wait until one more snapshot has begun, so
        # that snapshots always race the writes, however fast either is.
        if i and i % SEG == 0:
            with cv:
                cv.wait_for(lambda: started[0] >= i // SEG, timeout=60)
        rec = struct.pack("<Q", i + 1) * (REC // 8)   # record i holds i+1 everywhere
        h.pwrite(rec, i * REC)
    h.shutdown()

t = threading.Thread(target=writer)
t.start()
names = []
k = 0
while t.is_alive() and k < SNAPS:
    name = f"s{k}"
    with cv:
        started[0] = k + 1
        cv.notify_all()
    subprocess.run([mortar, "img", "snapshot", "-q", live, name], check=True,
                   stdout=subprocess.DEVNULL)
    names.append(name)
    k += 1
t.join()
if len(names) < 2:
    sys.exit(f"FAIL: only {len(names)} snapshots were taken during the writes")
d = os.path.join(os.path.dirname(live), ".live.img.snapshots")
for name in names:
    with open(os.path.join(d, name + ".img"), "rb") as f:
        data = f.read(N * REC)
    seen_zero = False
    for i in range(N):
        rec = data[i * REC:(i + 1) * REC]
        if rec == bytes(REC):
            seen_zero = True
            continue
        want = struct.pack("<Q", i + 1) * (REC // 8)
        if rec != want:
            sys.exit(f"FAIL: snapshot {name}: record {i} is torn")
        if seen_zero:
            sys.exit(f"FAIL: snapshot {name}: record {i} written after a missing one")
    count = sum(1 for i in range(N) if data[i*REC:(i+1)*REC] != bytes(REC))
    print(f"ok: snapshot {name} holds records 0..{count - 1}, none torn")
PYEOF
done

# --- revert in use, and exporting a snapshot ---
live=$xfs/live.img
expect_error_line "in use by 1 running 'mortar serve'.*--force" \
	"$MORTAR" img snapshot revert "$live" s0
"$MORTAR" img snapshot revert -q --force "$live" s0 >/dev/null
cmp "$live" "$xfs/.live.img.snapshots/s0.img" || fail "forced revert differs from s0"
start_server_unix snapexp --snapshot s0 "$live"
expect_eq "snapshot export is read-only" \
	"$(nbdinfo --json "nbd+unix:///?socket=$SOCK" | jq -r '.exports[0]."is_read_only"')" true
nbdcopy "nbd+unix:///?socket=$SOCK" "$SCRATCH/s0.copy"
cmp "$SCRATCH/s0.copy" "$xfs/.live.img.snapshots/s0.img" || fail "snapshot export differs"
echo "ok: serve --snapshot exports s0 read-only"
expect_error_line "no snapshot 'zz'" "$MORTAR" serve -f -s "$SCRATCH/zz.sock" --snapshot zz "$live"

# --- SIGKILL mid-snapshot (a full copy on ext4 takes a while) ---
big=$ext/big.img
"$MORTAR" img create "$big" 512M >/dev/null
dd if=/dev/urandom of="$big" bs=1M count=256 conv=notrunc status=none
"$MORTAR" img snapshot -q "$big" doomed &
pid=$!
for ((i = 0; i < 300; i++)); do
	compgen -G "$ext/.big.img.snapshots/.doomed.img.tmp-*" >/dev/null && break
	sleep 0.01
done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
list=$("$MORTAR" img snapshot list --output=json "$big")
expect_eq "snapshots listed after a killed one" "$(jq length <<<"$list")" 0
"$MORTAR" img snapshot -q "$big" next >/dev/null
left=$(ls -A "$ext/.big.img.snapshots")
expect_eq "snapshot dir after the next snapshot" "$(tr '\n' ' ' <<<"$left")" "next.img next.json "
echo PASS
