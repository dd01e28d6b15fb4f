#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/gluster.sh gluster://HOST/VOLUME/IMAGE [mortar bench options...]
#
# The GlusterFS comparison of issue 5, on a volume you name:
#  1. how long a short command takes to open an image: `mortar img info`
#     against `qemu-img info` with QEMU's gluster driver (which waits
#     ~10 s in glfs_fini on GlusterFS 10);
#  2. `mortar bench` on IMAGE (created and removed): fio gfapi_async
#     in-process, the FUSE mount, mortar serve, and QEMU's gluster driver
#     behind qemu-nbd and qemu-storage-daemon, 4k random and 128k
#     sequential jobs.  Default here: --runs 3 --runtime 4.
# A benchmark: exits 0 whatever the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mortar=${MORTAR:-$here/../build/cli/mortar}
[[ $# -ge 1 ]] || { sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 2; }
loc=$1; shift
probe=${loc%/*}/mortar-open-probe.img

"$mortar" img create --force "$probe" 64M >/dev/null
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}'; }
m=$(t "$mortar" img info "$probe")
q=$(command -v qemu-img >/dev/null && t qemu-img info "$probe" || echo "n/a")
printf '%-28s %8s s\n' "mortar img info" "$m" "qemu-img info (gluster)" "$q"
"$mortar" bench --runs 3 --runtime 4 "$@" "$loc"
echo "(the 64 MiB open probe $probe is left on the volume)"
