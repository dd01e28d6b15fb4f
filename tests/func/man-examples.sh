#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every example in the man pages must be true.  Takes each line of the
# form `$ mortar ...` from the EXAMPLES section of docs/*.scd and runs it,
# with `mortar` replaced by $MORTAR, in order, in a fresh directory per
# page (so examples may build on the ones before them).  A line must exit
# 0, or, if it ends with `# fails`, exit non-zero (but not crash).  Lines
# that do not start with `$ mortar` (output shown in the page, prose) are
# not checked.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

shopt -s nullglob
pages=("$MORTAR_SRC"/docs/*.scd)
((${#pages[@]})) || fail "no man pages found in $MORTAR_SRC/docs"

found=0 ran=0 failures=0

for page in "${pages[@]}"; do
	name=$(basename "$page" .scd)
	# "LINENO<TAB>COMMAND" for every example of the EXAMPLES section.
	# Section headings ("# NAME") count only outside ``` literal blocks.
	mapfile -t examples < <(awk '
		/^[[:space:]]*```/ { in_lit = !in_lit; next }
		!in_lit && /^# / { in_ex = ($0 ~ /^# EXAMPLES[[:space:]]*$/); next }
		in_ex && /^[[:space:]]*\$ mortar([[:space:]]|$)/ {
			sub(/^[[:space:]]*\$ /, "")
			print NR "\t" $0
		}' "$page")
	((${#examples[@]})) || continue
	found=$((found + ${#examples[@]}))

	dir=$SCRATCH/$name
	mkdir -p "$dir"
	for ex in "${examples[@]}"; do
		lineno=${ex%%$'\t'*}
		cmd=${ex#*$'\t'}
		want_fail=false
		if [[ $cmd =~ ^(.*[^[:space:]])[[:space:]]+#[[:space:]]*fails[[:space:]]*$ ]]; then
			cmd=${BASH_REMATCH[1]}
			want_fail=true
		fi
		rest=${cmd#mortar}
		log=$dir/.example-$lineno.log
		rc=0
		(cd "$dir" && eval "\"\$MORTAR\"$rest") >"$log" 2>&1 </dev/null || rc=$?
		ran=$((ran + 1))

		problem=
		if grep -qE 'Sanitizer|runtime error:' "$log"; then
			problem="sanitizer report"
		elif $want_fail && ((rc == 0)); then
			problem="exited 0, but the page says it fails"
		elif $want_fail && ((rc > 125)); then
			problem="crashed (exit $rc)"
		elif ! $want_fail && ((rc != 0)); then
			problem="exited $rc"
		fi
		if [[ -n $problem ]]; then
			echo "FAIL: docs/$name.scd:$lineno: \$ $cmd: $problem" >&2
			sed 's/^/    | /' "$log" | head -n 20 >&2
			failures=$((failures + 1))
		else
			note=
			$want_fail && note="  (exit $rc, fails as documented)"
			echo "ok: docs/$name.scd:$lineno: \$ $cmd$note"
		fi
	done
done

((found > 0)) || fail "no '\$ mortar' lines in the EXAMPLES sections of docs/*.scd"
((ran == found)) || fail "ran $ran examples of $found found"
((failures == 0)) || fail "$failures of $ran man page examples are wrong"
echo "ok: all $ran man page examples behave as documented"
