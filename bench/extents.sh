#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/extents.sh [BUILD_DIR]
#
# Copies and maps that should cost what the data costs, not what the
# image's size or its number of extents would:
#  1. local: a 1 TiB sparse image with 20,000 scattered 4 KiB extents
#     (79 MiB of data), copied by `mortar img clone`, `cp --sparse=always`
#     and `qemu-img convert -O raw`, each followed by a sync; and mapped
#     by `mortar img map --output=json` and `qemu-img map --output=json`
#     (the peak RSS of each, and of a map of a 1 MiB image for scale);
#     with MORTAR_BEFORE (a mortar built before the changes measured,
#     e.g. from 7c14717~1), its clone and its map too;
#  2. GlusterFS (when glusterd is installed): a 10 GiB image with 300 MiB
#     of data in 30 runs on a replica-3 volume with the virt profile
#     (sharding, 64 MiB shards) of a pool of three nodes made here
#     (scripts/gluster-pool.sh), copied within the volume by `mortar img
#     clone` (from the shards that exist), by the same with MORTAR_BEFORE
#     (a mortar built before shard-aware block status, when given: every
#     shard is data), and through a FUSE mount of the volume by
#     `cp --sparse=always` and `qemu-img convert`; with the allocation of
#     each copy (on brick 1: the base file and its shards).
# Rounds rotate the methods; prints the median and the best of RUNS
# (default 3) and the ratios to cp.  Needs root for the GlusterFS part.
# A benchmark: exits 0 whatever the figures.  Environment: RUNS,
# GLUSTER=0 to skip part 2, MORTAR_BEFORE, TMPDIR (where part 1's files
# go; default /var/tmp).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
mortar=$(cd "$build" && pwd)/cli/mortar
RUNS=${RUNS:-3}
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/mortar-extents.XXXXXX")
pool=$here/../scripts/gluster-pool.sh
fixture=$here/../scripts/gluster-fixture.sh
export MORTAR_GLUSTER_OWNER=$$
cleanup() {
	umount -l "$tmp/fuse" 2>/dev/null || true
	[[ -z ${MORTAR_GLUSTER_POOL:-} ]] || "$pool" release >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
best() { sort -n | head -n 1; }
# rss CMD...: the peak resident set of CMD, in KiB (its output dropped).
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }

# rounds LABEL::FUNCTION... : run each FUNCTION in turn, RUNS times,
# rotating; each prints seconds and leaves the copy's allocation in the
# file ALLOC; then one row per method.
rounds() {
	local -A t=() a=() fn=()
	local r k m methods=()
	for m in "$@"; do methods+=("${m%%::*}"); fn[${m%%::*}]=${m#*::}; done
	for ((r = 0; r < RUNS; r++)); do
		for ((k = 0; k < ${#methods[@]}; k++)); do
			m=${methods[(k + r) % ${#methods[@]}]}
			t[$m]+="$("${fn[$m]}") "
			a[$m]=$(cat "$tmp/alloc")
		done
	done
	# (the times are numbers: split on purpose)
	# shellcheck disable=SC2086
	for m in "${methods[@]}"; do
		MED[$m]=$(printf '%s\n' ${t[$m]} | median)
		printf '%-34s %10s %10s %14s\n' "$m" "${MED[$m]}" \
			"$(printf '%s\n' ${t[$m]} | best)" "${a[$m]}"
	done
}
declare -A MED=()
ratio() { awk -v a="${MED[$2]}" -v b="${MED[$1]}" 'BEGIN { printf "%.2fx", a / b }'; }

# ---- 1. local ----
img=$tmp/tb.img
python3 - "$img" <<'EOF'
import os, random, sys
r = random.Random(42)
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, 1 << 40)
for o in sorted(r.sample(range((1 << 40) // 8192), 20000)):
    os.pwrite(fd, os.urandom(4096), o * 8192)
os.fsync(fd)
os.close(fd)
EOF
copy_local() { rm -f "$tmp/c.img"; sync; local s e; s=$(now); "$@" >/dev/null; sync; e=$(now)
	echo $(($(stat -c %b "$tmp/c.img") * 512)) >"$tmp/alloc"; secs "$s" "$e"; }
l_mortar() { copy_local "$mortar" img clone -q "$img" "$tmp/c.img"; }
l_cp() { copy_local cp --sparse=always "$img" "$tmp/c.img"; }
l_qemu() { copy_local qemu-img convert -f raw -O raw "$img" "$tmp/c.img"; }
l_before() { copy_local "$MORTAR_BEFORE" img clone -q "$img" "$tmp/c.img"; }
echo "$(date -u '+%F %R'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "1 TiB image, 20,000 extents of 4 KiB (79 MiB of data), on $(df --output=fstype "$tmp" | tail -1)"
printf '%-34s %10s %10s %14s\n' method median best "bytes alloc"
methods=("mortar clone::l_mortar" "cp --sparse=always::l_cp" "qemu-img convert::l_qemu")
[[ -x ${MORTAR_BEFORE:-} ]] && methods+=("mortar clone (before)::l_before")
rounds "${methods[@]}"
printf '%-34s %10s\n' "ratio cp/mortar clone" "$(ratio "mortar clone" "cp --sparse=always")"
truncate -s 1M "$tmp/small.img"
printf '%-34s %10s KiB (a 1 MiB image: %s KiB)\n' "mortar img map --output=json" \
	"$(rss "$mortar" img map --output=json "$img")" "$(rss "$mortar" img map --output=json "$tmp/small.img")"
printf '%-34s %10s KiB (a 1 MiB image: %s KiB)\n' "qemu-img map --output=json" \
	"$(rss qemu-img map -f raw --output=json "$img")" "$(rss qemu-img map -f raw --output=json "$tmp/small.img")"
[[ ! -x ${MORTAR_BEFORE:-} ]] ||
	printf '%-34s %10s KiB (a 1 MiB image: %s KiB)\n' "mortar img map (before)" \
		"$(rss "$MORTAR_BEFORE" img map --output=json "$img")" \
		"$(rss "$MORTAR_BEFORE" img map --output=json "$tmp/small.img")"
rm -f "$img" "$tmp/c.img"

# ---- 2. GlusterFS ----
if [[ ${GLUSTER:-1} == 0 ]] || ! command -v glusterd >/dev/null || [[ $(id -u) != 0 ]]; then
	echo "(GlusterFS part skipped)"
	exit 0
fi
eval "$(MORTAR_GLUSTER_POOL='' "$pool" up)"
export MORTAR_GLUSTER_POOL
v=mortar-bx$$
"$fixture" create "$v" replica 3 group=virt
g=gluster://$GLUSTER_HOST/$v
"$mortar" img create "$tmp/src.img" 10G >/dev/null
for i in $(seq 0 29); do
	dd if=/dev/urandom of="$tmp/src.img" bs=1M count=10 seek=$((i * 341 + 7)) conv=notrunc status=none
done
"$mortar" img clone -q "$tmp/src.img" "$g/src.img" >/dev/null
rm -f "$tmp/src.img"
mkdir -p "$tmp/fuse"
mount -t glusterfs "$GLUSTER_HOST:/$v" "$tmp/fuse"
# The allocation of a copy, read on brick 1 (its base file and its shards
# in .shard/GFID.N): a stat through FUSE right after cp said 0.
brick_alloc() {
	local b=$GLUSTER_BRICKS/$v/brick1 x
	x=$(getfattr --absolute-names -n trusted.gfid -e hex "$b/$1" | sed -n 's/^trusted.gfid=0x//p')
	x=${x:0:8}-${x:8:4}-${x:12:4}-${x:16:4}-${x:20}
	du -cB1 "$b/$1" "$b/.shard/$x".* 2>/dev/null | tail -n 1 | cut -f1
}
copy_vol() { rm -f "$tmp/fuse/dst.img"; local s e; s=$(now); "$@" >/dev/null; e=$(now)
	brick_alloc dst.img >"$tmp/alloc"; secs "$s" "$e"; }
g_mortar() { copy_vol "$mortar" img clone -q "$g/src.img" "$g/dst.img"; }
g_before() { copy_vol "$MORTAR_BEFORE" img clone -q "$g/src.img" "$g/dst.img"; }
g_cp() { copy_vol cp --sparse=always "$tmp/fuse/src.img" "$tmp/fuse/dst.img"; }
g_qemu() { copy_vol qemu-img convert -f raw -O raw "$tmp/fuse/src.img" "$tmp/fuse/dst.img"; }
methods=("mortar clone (shards)::g_mortar" "cp --sparse=always (FUSE)::g_cp"
	 "qemu-img convert (FUSE)::g_qemu")
[[ -x ${MORTAR_BEFORE:-} ]] && methods+=("mortar clone (before)::g_before")
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "10 GiB image, 300 MiB of data in 30 runs, replica 3 with the virt profile (64 MiB shards)"
printf '%-34s %10s %10s %14s\n' method median best "bytes alloc"
rounds "${methods[@]}"
printf '%-34s %10s\n' "ratio cp/mortar clone (shards)" "$(ratio "mortar clone (shards)" "cp --sparse=always (FUSE)")"
[[ -z ${MED[mortar clone (before)]:-} ]] ||
	printf '%-34s %10s\n' "ratio before/after" "$(ratio "mortar clone (shards)" "mortar clone (before)")"
umount "$tmp/fuse"
"$fixture" delete "$v"
