#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/vm.sh [BUILD_DIR]
#
# How long a hotplug takes until the guest shows it (its MORTAR-GUEST
# line), under TCG, through `mortar vm ... --wait` and through the same
# steps sent as raw QMP by a small Python client polling the console log
# (the floor: no checks, no state).  Alternates mortar and raw, 3 times
# each, for a vCPU plug and for a 128 MiB DIMM plug; prints medians and
# the ratio mortar/raw (target: <= 1.2, and <= 1 s).  A benchmark: exits 0
# whatever the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
mortar=$(cd "$build" && pwd)/cli/mortar
eval "$("$here/../scripts/guest-assets.sh" x86_64 | sed 's/^/export /')"
export MORTAR_VM_DIR=$(mktemp -d /tmp/mortar-vm-bench.XXXXXX)
trap '"$mortar" vm stop --force b >/dev/null 2>&1; rm -rf "$MORTAR_VM_DIR"' EXIT
"$mortar" vm start b --kernel "$kernel" --initrd "$initrd" --cpus 1 --max-cpus 8 \
	--memory 512M --max-memory 4G --slots 8 --wait --timeout 120 >/dev/null
dir=$MORTAR_VM_DIR/b
PY=python3; [[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

raw() {	# raw KIND N: plug one vCPU (socket N) or one 128 MiB DIMM, wait for the guest
	"$PY" - "$dir" "$1" "$2" <<'PYEOF'
import json, socket, sys, time
d, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def last():
    # (whole lines only: the guest may be writing the last one now)
    line = [l for l in open(d + "/serial.log", errors="replace")
            if l.startswith("MORTAR-GUEST v1") and l.endswith("\n") and "nodes=" in l][-1]
    return dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
before = last()
s = socket.socket(socket.AF_UNIX); s.connect(d + "/qmp.sock"); f = s.makefile("rw")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m:
            return m
f.readline(); cmd("qmp_capabilities")
if kind == "cpu":
    free = [c for c in cmd("query-hotpluggable-cpus")["return"] if "qom-path" not in c]
    slot = min(free, key=lambda c: c["props"]["socket-id"])
    cmd("device_add", driver=slot["type"], id=f"raw{n}", **slot["props"])
    while int(last()["cpus"]) <= int(before["cpus"]): time.sleep(0.02)
else:
    cmd("object-add", **{"qom-type": "memory-backend-ram", "id": f"rawm{n}", "size": 128 << 20})
    cmd("device_add", driver="pc-dimm", id=f"rawd{n}", memdev=f"rawm{n}")
    while int(last()["mem_kib"]) <= int(before["mem_kib"]): time.sleep(0.02)
PYEOF
}

declare -a mc rc mm rm_
cpus=1
for i in 1 2 3; do
	t=$(now); cpus=$((cpus + 1)); "$mortar" vm cpus b $cpus --wait >/dev/null; mc+=("$(elapsed "$t")")
	# both take the lowest free socket
	t=$(now); raw cpu "$i"; rc+=("$(elapsed "$t")"); cpus=$((cpus + 1))
	t=$(now); "$mortar" vm mem add b 128M --wait >/dev/null; mm+=("$(elapsed "$t")")
	t=$(now); raw mem "$i"; rm_+=("$(elapsed "$t")")
done
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
printf '%-14s %10s %10s %8s\n' step "mortar s" "raw QMP s" ratio
for k in cpu mem; do
	if [[ $k == cpu ]]; then a=$(med "${mc[@]}"); b=$(med "${rc[@]}"); else a=$(med "${mm[@]}"); b=$(med "${rm_[@]}"); fi
	printf '%-14s %10s %10s %8.2f\n' "$k plug" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')"
done
