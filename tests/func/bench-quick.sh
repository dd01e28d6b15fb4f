#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar bench --quick on a local file, so that the command cannot rot:
# the JSON has every path this machine has (direct, mortar, qemu-nbd,
# nbdkit, qsd) with numbers for both quick jobs, the ratios to direct are
# there, the PNG is a real PNG and the SVG parses as XML, the benchmark
# image is removed.  Then, with nbdkit hidden from PATH, the human table
# has the expected rows and columns and lists nbdkit as "not available
# here" with the reason.  Correctness only: no figure is judged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires fio gnuplot jq qemu-nbd qemu-storage-daemon nbdkit

cd "$SCRATCH"
mkdir plots
"$MORTAR" bench --quick --output=json --plot-dir plots "$SCRATCH/b.img" >out.json 2>err.txt ||
	fail "bench failed: $(tail -5 err.txt)"
jq -e . out.json >/dev/null || fail "output is not JSON: $(head -c 300 out.json)"
expect_eq "paths" "$(jq -r '[.paths[].name] | join(",")' out.json)" "direct,mortar,qemu-nbd,nbdkit,qsd"
expect_eq "available" "$(jq -r '[.paths[] | select(.available)] | length' out.json)" 5
expect_eq "jobs" "$(jq -r '[.results[].job] | join(",")' out.json)" "randread-4k-qd32,write-128k-qd16"
for p in direct mortar qemu-nbd nbdkit qsd; do
	for j in 0 1; do
		v=$(jq -r ".results[$j].\"$p\".iops" out.json)
		awk -v v="$v" 'BEGIN { exit !(v > 0) }' || fail "$p job $j has no IOPS: $v"
	done
done
expect_eq "direct ratio" "$(jq -r '.results[0].direct.ratio_to_direct' out.json)" 1
grep -q "bench: run 1/1, mortar" err.txt || fail "no progress line: $(cat err.txt)"
png=$(jq -r .plot_png out.json) svg=$(jq -r .plot_svg out.json)
[[ $png == plots/mortar-bench.png && $svg == plots/mortar-bench.svg ]] || fail "plot paths: $png $svg"
expect_eq "PNG signature" "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a
(( $(stat -c %s "$png") > 5000 )) || fail "PNG is only $(stat -c %s "$png") bytes"
"$PY" -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg"), r.tag' "$svg" ||
	fail "SVG does not parse as XML"
[[ ! -e b.img ]] || fail "the benchmark image was left behind"
echo "ok: JSON, PNG and SVG from a quick run on a file"

# A tool that is missing is listed, not dropped.
mkdir bin
for t in fio gnuplot qemu-img qemu-nbd; do ln -s "$(command -v $t)" bin/$t; done
PATH=$SCRATCH/bin "$MORTAR" bench --quick --runtime 1 --paths direct,mortar,nbdkit \
	--plot-dir plots "$SCRATCH/c.img" >table.txt 2>err.txt || fail "bench failed: $(tail -5 err.txt)"
cat table.txt
grep -qE '^job +direct +mortar$' table.txt || fail "table header lacks the columns"
grep -qE '^randread-4k-qd32 +[0-9]+ \([0-9]+%\) +[0-9]+ \([0-9]+%\)$' table.txt || fail "no randread row"
grep -qE '^write-128k-qd16 ' table.txt || fail "no write row"
grep -q '^nbdkit     not available here: nbdkit is not installed$' table.txt ||
	fail "nbdkit not listed as not available"
grep -q '^plot: plots/mortar-bench.png$' table.txt || fail "plot path not printed"
expect_error_line "exists.*--force" "$MORTAR" bench --quick "$SCRATCH/table.txt"
echo PASS
