#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/file.sh [--quick] [BUILD_DIR]
#
# Compare libmortar's file backend with raw io_uring as fio drives it, on
# the same 1 GiB file with O_DIRECT:
#
#   randread  4k   iodepth 32
#   read      128k iodepth 16
#
# fio runs with --ioengine=io_uring --direct=1 --numjobs=1 --time_based;
# bench/mortar-bench does the same through libmortar.  Each round runs
# both tools on every workload, alternating which goes first so that
# drift (other load, host caches) cancels out; the table shows the medians
# over the rounds, and the ratio is the median of the per-round ratios
# mortar/fio.  Target: ratio >= 0.9 on both workloads.
#
# This is a benchmark, not a test: it exits 0 whatever the ratio (it
# prints "below target 0.9" when missed) and non-zero only when it could
# not measure.
#
# Environment:
#   RUNTIME=10       seconds per measurement (plus fio's/mortar-bench's
#                    own ramp/warm-up of 0.5 s)
#   RUNS=3           rounds
#   BENCH_TMP=/var/tmp   where to create the test file; must be a real
#                    disk filesystem (O_DIRECT does not work on tmpfs)
#   FILE_SIZE=1G     size of the test file
#   FIO_EXTRA=...    extra fio options (default --norandommap, because
#                    mortar-bench draws uniform random offsets without a
#                    random map; set FIO_EXTRA= to use fio's default)
#
# --quick sets RUNTIME=2 RUNS=1 for a smoke run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(dirname "$here")
build=
quick=false

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=true ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "file.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*)
		if [ -n "$build" ]; then
			echo "file.sh: only one BUILD_DIR" >&2
			exit 2
		fi
		build=$1 ;;
	esac
	shift
done

if $quick; then
	RUNTIME=2
	RUNS=1
fi
RUNTIME=${RUNTIME:-10}
RUNS=${RUNS:-3}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
FILE_SIZE=${FILE_SIZE:-1G}
FIO_EXTRA=${FIO_EXTRA---norandommap}
build=${build:-build}

# BUILD_DIR relative to the current directory, else to the source tree.
if [ -d "$build" ]; then
	build=$(cd "$build" && pwd)
elif [ -d "$srcdir/$build" ]; then
	build=$srcdir/$build
else
	echo "file.sh: no build directory '$build'; run 'meson setup $build &&" \
	     "meson compile -C $build mortar-bench' first" >&2
	exit 2
fi
bench=$build/bench/mortar-bench
if [ ! -x "$bench" ]; then
	echo "file.sh: $bench is missing; run 'meson compile -C $build mortar-bench'" >&2
	exit 2
fi
case $RUNS in ''|*[!0-9]*|0) echo "file.sh: RUNS must be a positive integer" >&2; exit 2 ;; esac
case $RUNTIME in ''|*[!0-9.]*) echo "file.sh: RUNTIME must be a number of seconds" >&2; exit 2 ;; esac

if ! command -v fio >/dev/null; then
	echo "file.sh: fio is not installed (apt-get install fio)" >&2
	exit 2
fi
if ! fio --enghelp=io_uring >/dev/null 2>&1; then
	echo "file.sh: this fio has no io_uring engine" >&2
	exit 2
fi
# JSON: python3 if there is one, else jq.
if command -v python3 >/dev/null; then
	json_get() {	# json_get FILE EXPR   (EXPR in Python on j)
		python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
	}
	fio_iops='j["jobs"][0]["read"]["iops"]'
	fio_bw='j["jobs"][0]["read"]["bw_bytes"]/1048576'
	fio_cpu='j["jobs"][0]["usr_cpu"]+j["jobs"][0]["sys_cpu"]'
	mb_iops='j["iops"]'
	mb_bw='j["bw_mib"]'
	mb_cpu='j["usr_cpu"]+j["sys_cpu"]'
elif command -v jq >/dev/null; then
	json_get() { jq -r "$2" "$1"; }
	fio_iops='.jobs[0].read.iops'
	fio_bw='.jobs[0].read.bw_bytes/1048576'
	fio_cpu='.jobs[0].usr_cpu+.jobs[0].sys_cpu'
	mb_iops='.iops'
	mb_bw='.bw_mib'
	mb_cpu='.usr_cpu+.sys_cpu'
else
	echo "file.sh: need python3 or jq to read fio's JSON" >&2
	exit 2
fi

fstype=$(stat -f -c %T "$BENCH_TMP")
case $fstype in
tmpfs|ramfs|overlayfs)
	echo "file.sh: $BENCH_TMP is on $fstype, where O_DIRECT does not work or" \
	     "measures memory; set BENCH_TMP to a directory on a disk" >&2
	exit 2 ;;
esac

tmp=$(mktemp -d "$BENCH_TMP/mortar-bench.XXXXXX")
# shellcheck disable=SC2317  # invoked by the trap
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
file=$tmp/test.img

echo "# mortar-bench vs fio (io_uring), $FILE_SIZE file on $BENCH_TMP ($fstype)," \
     "O_DIRECT, runtime ${RUNTIME}s x $RUNS round(s)"
echo "# writing the test file (random data, not sparse)..."
fio --name=fill --filename="$file" --size="$FILE_SIZE" --rw=write --bs=1M \
    --ioengine=psync --direct=1 --refill_buffers --end_fsync=1 \
    --output-format=terse >/dev/null

# name, fio --rw, mortar --pattern, bs, iodepth
workloads=(
	"randread-4k-qd32 randread randread 4k 32"
	"read-128k-qd16 read read 128k 16"
)

run_fio() {	# run_fio RW BS QD OUT
	# shellcheck disable=SC2086  # FIO_EXTRA is a list of options
	fio --name=bench --filename="$file" --ioengine=io_uring --direct=1 \
	    --rw="$1" --bs="$2" --iodepth="$3" --time_based --runtime="$RUNTIME" \
	    --ramp_time=500ms --numjobs=1 --output-format=json $FIO_EXTRA >"$4"
}

run_mortar() {	# run_mortar PATTERN BS QD OUT
	"$bench" --pattern "$1" --bs "$2" --iodepth "$3" --runtime "$RUNTIME" \
		 --direct --json "$file" >"$4"
}

results=$tmp/results	# lines: workload round tool iops bw_mib cpu%
: >"$results"
for ((round = 1; round <= RUNS; round++)); do
	for w in "${workloads[@]}"; do
		read -r name rw pattern bs qd <<<"$w"
		if ((round % 2)); then order="fio mortar"; else order="mortar fio"; fi
		for tool in $order; do
			out=$tmp/$name.$round.$tool.json
			if [ "$tool" = fio ]; then
				run_fio "$rw" "$bs" "$qd" "$out"
				iops=$(json_get "$out" "$fio_iops")
				bw=$(json_get "$out" "$fio_bw")
				cpu=$(json_get "$out" "$fio_cpu")
			else
				run_mortar "$pattern" "$bs" "$qd" "$out"
				iops=$(json_get "$out" "$mb_iops")
				bw=$(json_get "$out" "$mb_bw")
				cpu=$(json_get "$out" "$mb_cpu")
			fi
			printf '# round %d %-17s %-6s IOPS %10.0f  %8.1f MiB/s  cpu %5.1f%%\n' \
			       "$round" "$name" "$tool" "$iops" "$bw" "$cpu"
			echo "$name $round $tool $iops $bw $cpu" >>"$results"
		done
	done
done

# Medians, and the median of the per-round ratios mortar/fio.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() {	# col WORKLOAD TOOL FIELD
	awk -v w="$1" -v t="$2" -v f="$3" '$1 == w && $3 == t { print $f }' "$results"
}

echo
printf '%-17s %10s %11s %6s %10s %12s %8s %8s %10s\n' workload "fio IOPS" \
       "mortar IOPS" ratio "fio MiB/s" "mortar MiB/s" "bw ratio" "fio cpu" "mortar cpu"
below=""
for w in "${workloads[@]}"; do
	read -r name _ <<<"$w"
	fi=$(col "$name" fio 4 | median)
	mi=$(col "$name" mortar 4 | median)
	fb=$(col "$name" fio 5 | median)
	mbw=$(col "$name" mortar 5 | median)
	fc=$(col "$name" fio 6 | median)
	mc=$(col "$name" mortar 6 | median)
	ratio=$(awk -v w="$name" '
		$1 == w && $3 == "fio" { f[$2] = $4 }
		$1 == w && $3 == "mortar" { m[$2] = $4 }
		END { for (r in f) if (f[r] > 0) print m[r] / f[r] }' "$results" | median)
	bwratio=$(awk -v a="$mbw" -v b="$fb" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
	printf '%-17s %10.0f %11.0f %6.3f %10.1f %12.1f %8s %7.1f%% %9.1f%%' "$name" \
	       "$fi" "$mi" "$ratio" "$fb" "$mbw" "$bwratio" "$fc" "$mc"
	if awk -v r="$ratio" 'BEGIN { exit !(r < 0.9) }'; then
		printf '   <-- below target 0.9'
		below="$below $name"
	fi
	printf '\n'
done
echo
if [ -n "$below" ]; then
	echo "RESULT: below target 0.9 on:$below (ratio = median over $RUNS round(s) of mortar/fio IOPS)"
else
	echo "RESULT: libmortar >= 0.9x raw io_uring (fio) on every workload"
fi
echo "(cpu: usr+sys of one CPU while measuring, medians; on a loaded machine a"
echo " lower ratio with lower cpu means waiting on the device, not library overhead)"
exit 0
