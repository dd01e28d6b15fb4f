#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/nbd.sh [--quick] [BUILD_DIR]
#
# Compare `mortar serve` with the other NBD servers on this machine, all
# exporting the same 1 GiB raw file over a unix socket, all driven by
# fio's nbd engine (libnbd) with the same jobs:
#
#   randread   4k   iodepth 32
#   randwrite  4k   iodepth 32
#   read       128k iodepth 16
#   write      128k iodepth 16
#
# Peers: qemu-nbd (--aio=io_uring --cache=none), nbdkit's file plugin,
# qemu-storage-daemon (each only when installed; otherwise "not available
# here"), and fio's io_uring engine with O_DIRECT on the file itself as the
# local ceiling.  mortar serve runs twice: with --direct, like qemu-nbd's
# cache=none and qsd's cache.direct=on, and as "mortar-cache" without it,
# through the host page cache like nbdkit's file plugin; each peer's ratio
# is taken against the Mortar mode that caches as it does.  Each round
# runs every server once per job, the
# order rotating between rounds so that drift does not favour one; the
# table shows medians over rounds and mortar's ratio to each peer.
#
# Then TLS: nbdcopy copies the whole file to null: from mortar serve in
# clear text, from mortar serve over TLS (PSK), and from nbdkit over TLS
# when it has it (the same key), the order rotating; it prints the
# medians, TLS against clear text, and mortar's TLS against nbdkit's.
# (Before TLS connections moved onto the workers' one transmission path,
# issue 19 measured 5.6 s over TLS against 0.63 s in clear text and 1.45 s
# from nbdkit over TLS.)  TLS=0 leaves this part out.
#
# A benchmark, not a test: exits 0 whatever the ratios.
#
# Environment: RUNTIME=8 (seconds per run), RUNS=3, BENCH_TMP=/var/tmp,
# FILE_SIZE=1G.  --quick: RUNTIME=2 RUNS=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(dirname "$here")
build=
quick=false
for a in "$@"; do
	case $a in
	--quick) quick=true ;;
	-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) build=$a ;;
	esac
done
if $quick; then RUNTIME=2; RUNS=1; fi
RUNTIME=${RUNTIME:-8}
RUNS=${RUNS:-3}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
FILE_SIZE=${FILE_SIZE:-1G}
build=${build:-build}
[ -d "$build" ] || build=$srcdir/$build
mortar=$(cd "$build" && pwd)/cli/mortar
[ -x "$mortar" ] || { echo "nbd.sh: $mortar not found; build first" >&2; exit 2; }
command -v fio >/dev/null || { echo "nbd.sh: fio is required" >&2; exit 2; }
fio --enghelp=nbd >/dev/null 2>&1 || { echo "nbd.sh: fio lacks the nbd engine" >&2; exit 2; }

tmp=$(mktemp -d "$BENCH_TMP/mortar-nbd-bench.XXXXXX")
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
img=$tmp/test.img
sock=$tmp/nbd.sock

echo "# creating $FILE_SIZE of random data in $img"
fio --name=fill --filename="$img" --size="$FILE_SIZE" --rw=write --bs=1M \
    --ioengine=psync --refill_buffers --output=/dev/null

# Each server: a function that starts it in the background on $sock.
start_mortar() { "$mortar" serve -f --direct --socket "$sock" "$img" 2>>"$tmp/mortar.log" & server_pid=$!; }
# Without --direct, through the host page cache like nbdkit's file plugin:
# the like-for-like comparison with nbdkit.
start_mortar_cache() { "$mortar" serve -f --socket "$sock" "$img" 2>>"$tmp/mortar.log" & server_pid=$!; }
start_qemu_nbd() { qemu-nbd -t -f raw --aio=io_uring --cache=none --socket="$sock" --shared=16 "$img" & server_pid=$!; }
start_nbdkit() { nbdkit -f -U "$sock" file "$img" & server_pid=$!; }
start_qsd() {
	qemu-storage-daemon \
		--blockdev driver=file,filename="$img",node-name=f,aio=io_uring,cache.direct=on \
		--nbd-server addr.type=unix,addr.path="$sock" \
		--export type=nbd,id=e,node-name=f,name=,writable=on & server_pid=$!
}

servers=(mortar mortar_cache)
labels=(mortar mortar-cache)
missing=()
if command -v qemu-nbd >/dev/null; then servers+=(qemu_nbd); labels+=(qemu-nbd); else missing+=(qemu-nbd); fi
if command -v nbdkit >/dev/null; then servers+=(nbdkit); labels+=(nbdkit-file); else missing+=(nbdkit-file); fi
if command -v qemu-storage-daemon >/dev/null; then servers+=(qsd); labels+=(qemu-storage-daemon); else missing+=(qemu-storage-daemon); fi

jobs=("randread 4k 32" "randwrite 4k 32" "read 128k 16" "write 128k 16")
declare -A results cpus

run_one() {	# server job...
	local s=$1 rw=$2 bs=$3 qd=$4 out iops
	rm -f "$sock"
	"start_$s"
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
	[ -S "$sock" ] || { echo "nbd.sh: $s did not start" >&2; return 1; }
	local hz t0 t1
	hz=$(getconf CLK_TCK)
	t0=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
	out=$(fio --name=b --ioengine=nbd --uri="nbd+unix:///?socket=$sock" \
		--rw="$rw" --bs="$bs" --iodepth="$qd" --size="$FILE_SIZE" \
		--time_based --runtime="$RUNTIME" --ramp_time=1 --norandommap \
		--output-format=json 2>/dev/null)
	t1=$(awk '{print $14 + $15}' "/proc/$server_pid/stat" 2>/dev/null || echo "$t0")
	kill "$server_pid" 2>/dev/null || echo "nbd.sh: $s exited early" >&2
	wait "$server_pid" 2>/dev/null || true; server_pid=
	# fio's nbd engine prints a line before the JSON: skip to the brace.
	iops=$(python3 -c 'import json,sys; t=sys.stdin.read(); j=json.loads(t[t.index("{"):])["jobs"][0]; print(int(j["read"]["iops"]+j["write"]["iops"]))' <<<"$out")
	# Server CPU (user+system, all threads) per I/O, in microseconds;
	# the run includes fio's 1 s ramp.
	echo "$iops $(python3 -c "print(f'{($t1-$t0)/$hz*1e6/max(1,$iops*($RUNTIME+1)):.1f}')")"
}

# The ceiling: fio straight on the file, io_uring, O_DIRECT.
ceiling() {	# job...
	local rw=$1 bs=$2 qd=$3
	fio --name=c --filename="$img" --ioengine=io_uring --direct=1 --rw="$rw" \
		--bs="$bs" --iodepth="$qd" --size="$FILE_SIZE" --time_based \
		--runtime="$RUNTIME" --ramp_time=1 --norandommap --output-format=json 2>/dev/null |
	python3 -c 'import json,sys; t=sys.stdin.read(); j=json.loads(t[t.index("{"):])["jobs"][0]; print(int(j["read"]["iops"]+j["write"]["iops"]))'
}
declare -A ceil

n=${#servers[@]}
for ((round = 0; round < RUNS; round++)); do
	for job in "${jobs[@]}"; do
		for ((k = 0; k < n; k++)); do
			i=$(((k + round) % n))
			s=${servers[i]}
			read -r iops cpu < <(run_one "$s" $job)
			results["$s|$job"]+="$iops "
			cpus["$s|$job"]+="$cpu "
			printf '# round %d %-16s %-20s %8s IOPS %6s us CPU/IO\n' $((round + 1)) "${job// /-}" "${labels[i]}" "$iops" "$cpu"
		done
		c=$(ceiling $job)
		ceil["$job"]+="$c "
		printf '# round %d %-16s %-20s %8s IOPS\n' $((round + 1)) "${job// /-}" "local io_uring" "$c"
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# Each peer is compared with the Mortar mode that caches as it does:
# nbdkit's file plugin reads and writes through the host page cache, so
# mortar-cache; qemu-nbd and qemu-storage-daemon run with O_DIRECT, so
# mortar (--direct).
mate() { [ "$1" = nbdkit ] && echo mortar_cache || echo mortar; }
short() { [ "$1" = mortar_cache ] && echo mcache || echo mortar; }
echo
printf '%-18s' job
for l in "${labels[@]}"; do printf '%22s' "$l"; done
for ((i = 2; i < n; i++)); do printf "%18s" "$(short "$(mate "${servers[i]}")")/${labels[i]:0:10}"; done
printf '%16s%16s%16s\n' "local-ceiling" "mortar/ceiling" "mcache/ceiling"
for job in "${jobs[@]}"; do
	printf '%-18s' "${job// /-}"
	for s in "${servers[@]}"; do printf '%22s' "$(median <<<"${results["$s|$job"]}")"; done
	for s in "${servers[@]:2}"; do
		m=$(median <<<"${results["$(mate "$s")|$job"]}")
		p=$(median <<<"${results["$s|$job"]}")
		printf '%18s' "$(python3 -c "print(f'{$m/$p:.2f}' if $p else '-')")"
	done
	c=$(median <<<"${ceil["$job"]}")
	for s in mortar mortar_cache; do
		m=$(median <<<"${results["$s|$job"]}")
		printf '%16s' "$(python3 -c "print(f'{$m/$c:.2f}' if $c else '-')")"
	done | { printf '%16s' "$c"; cat; echo; }
done
echo
echo "server CPU per I/O (us, median; lower is better)"
printf '%-18s' job
for l in "${labels[@]}"; do printf '%22s' "$l"; done
echo
for job in "${jobs[@]}"; do
	printf '%-18s' "${job// /-}"
	for s in "${servers[@]}"; do
		printf '%22s' "$(tr ' ' '\n' <<<"${cpus["$s|$job"]}" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
	done
	echo
done
for m in "${missing[@]}"; do echo "$m: not available here"; done
echo "(IOPS, median of $RUNS rounds of ${RUNTIME}s; fio nbd engine, unix socket, $(nproc) CPUs)"

# --- TLS: a whole copy with nbdcopy ------------------------------------------------------
[ "${TLS:-1}" = 0 ] && exit 0
command -v nbdcopy >/dev/null && command -v psktool >/dev/null ||
	{ echo "TLS: nbdcopy and psktool are needed: not measured"; exit 0; }
psktool -u bench -p "$tmp/keys.psk" >/dev/null
tls_uri="nbds+unix://bench@/?socket=$sock&tls-psk-file=$tmp/keys.psk"
start_tls_clear() { start_mortar_cache; }
start_tls_mortar() {
	"$mortar" serve -f --socket "$sock" --tls=require --tls-psk "$tmp/keys.psk" "$img" \
		2>>"$tmp/mortar.log" & server_pid=$!
}
start_tls_nbdkit() {
	nbdkit -f -U "$sock" --tls=require --tls-psk="$tmp/keys.psk" file "$img" & server_pid=$!
}
copy_once() {	# server: seconds for nbdcopy of the whole file to null
	local s=$1 uri t0 t1
	rm -f "$sock"
	"start_tls_$s"
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
	uri=$tls_uri
	[ "$s" = clear ] && uri="nbd+unix:///?socket=$sock"
	t0=$(date +%s.%N)
	nbdcopy "$uri" null: || echo "nbd.sh: nbdcopy from $s failed" >&2
	t1=$(date +%s.%N)
	kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=
	python3 -c "print(f'{$t1 - $t0:.2f}')"
}
tls_servers=(clear mortar)
nbdkit --tls=require --tls-psk="$tmp/keys.psk" file --dump-plugin >/dev/null 2>&1 &&
	tls_servers+=(nbdkit)
declare -A tls_times
for ((round = 0; round < RUNS; round++)); do
	for ((k = 0; k < ${#tls_servers[@]}; k++)); do
		s=${tls_servers[(k + round) % ${#tls_servers[@]}]}
		t=$(copy_once "$s")
		tls_times[$s]+="$t "
		printf '# round %d nbdcopy %-14s %6s s\n' $((round + 1)) "$s" "$t"
	done
done
fmed() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
clear=$(fmed <<<"${tls_times[clear]}")
mtls=$(fmed <<<"${tls_times[mortar]}")
echo
echo "nbdcopy of $FILE_SIZE to null (s, median of $RUNS; lower is better)"
printf '%-28s %8s\n' "mortar-cache, clear text" "$clear" "mortar-cache, TLS (PSK)" "$mtls"
echo "mortar TLS / clear text (throughput): $(python3 -c "print(f'{$clear/$mtls:.2f}')")  (target >= 0.8)"
if [ -n "${tls_times[nbdkit]:-}" ]; then
	ktls=$(fmed <<<"${tls_times[nbdkit]}")
	printf '%-28s %8s\n' "nbdkit file, TLS (PSK)" "$ktls"
	echo "mortar TLS / nbdkit TLS (throughput): $(python3 -c "print(f'{$ktls/$mtls:.2f}')")  (target >= 1.0)"
fi
