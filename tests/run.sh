#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the whole suite: unit tests (normal and ASan+UBSan builds), the
# functional shell tests against the real third-party clients, and the
# fuzzers for a bounded time.  Every test is a program: exit 0 = pass,
# 77 = skip, anything else = fail.  The last line is the summary that CI
# reads: "N passed, N failed, N skipped".
#
# The GlusterFS tests (and the VM tests named *-gluster-*) share one pool
# of three glusterd nodes (scripts/gluster-pool.sh), made before the first
# of them and taken down after the last; each test makes and removes its own volumes.  The
# libvirt tests share one libvirtd the same way (scripts/libvirt-fixture.sh).
#
# Environment: BUILD (default build), ASAN_BUILD (build-asan, optional),
# FUZZ_BUILD (build-fuzz, optional), FUZZ_SECONDS (20), TESTS (a grep
# pattern to run a subset), CI=true makes a missing tool a failure.
set -u
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
LOGDIR=${LOGDIR:-$BUILD/test-logs}
mkdir -p "$LOGDIR"

passed=0 failed=0 skipped=0
failures=()

run_one() {
	local name=$1; shift
	if [[ -n ${TESTS:-} ]] && ! grep -qE -- "$TESTS" <<<"$name"; then
		return
	fi
	[[ $name != gluster/* && $name != vm/*-gluster-* ]] ||
		fixture_up MORTAR_GLUSTER_POOL MORTAR_GLUSTER_OWNER scripts/gluster-pool.sh "GlusterFS pool" glusterd
	[[ $name != libvirt/* ]] ||
		fixture_up MORTAR_LIBVIRT MORTAR_LIBVIRT_OWNER scripts/libvirt-fixture.sh "libvirtd instance" libvirtd
	local log=$LOGDIR/${name//\//_}.log
	local start=$SECONDS rc
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	local took=$((SECONDS - start))
	case $rc in
	0) passed=$((passed + 1)); printf 'PASS %-45s %3ds\n' "$name" "$took" ;;
	77) skipped=$((skipped + 1))
	    printf 'SKIP %-45s %s\n' "$name" "$(grep -m1 -i 'skip' "$log" | cut -c1-80)" ;;
	*) failed=$((failed + 1)); failures+=("$name")
	   printf 'FAIL %-45s %3ds (exit %d)\n' "$name" "$took" "$rc"
	   sed 's/^/    | /' "$log" | tail -n 40 ;;
	esac
}

# A fixture that a folder's tests share: made by SCRIPT up (which prints
# VAR=... lines) before the first of them, owned by this run, released
# at its end.  If it cannot be made here, each test tries on its own and
# reports why.
declare -A fixture_tried=()
fixture_up() { # VAR OWNER-VAR SCRIPT LABEL TOOL
	local var=$1 owner=$2 script=$3 label=$4 tool=$5 env start=$SECONDS
	local log=$LOGDIR/$(basename "$script" .sh).log
	[[ -z ${fixture_tried[$var]:-} ]] || return 0
	fixture_tried[$var]=$script
	[[ -z ${!var:-} && $(id -u) == 0 ]] && command -v "$tool" >/dev/null || return 0
	if env=$(env "$owner=$$" "$script" up 2>"$log"); then
		eval "$env"
		export "${var?}"
		trap release_fixtures EXIT
		printf '%-50s %3ds\n' "($label ${!var} up)" $((SECONDS - start))
	else
		echo "$label: not made here ($(tail -1 "$log"))"
	fi
}

release_fixtures() {
	[[ -z ${fixture_tried[MORTAR_GLUSTER_POOL]:-} || -z ${MORTAR_GLUSTER_POOL:-} ]] ||
		MORTAR_GLUSTER_OWNER=$$ scripts/gluster-pool.sh release
	[[ -z ${fixture_tried[MORTAR_LIBVIRT]:-} || -z ${MORTAR_LIBVIRT:-} ]] ||
		MORTAR_LIBVIRT_OWNER=$$ scripts/libvirt-fixture.sh release
}

# Build directories may be given relative to the source tree or absolute.
abs() { [[ $1 == /* ]] && echo "$1" || echo "$SRC/$1"; }
export MORTAR_SRC=$SRC
export MORTAR_BUILD=$(abs "$BUILD")
export MORTAR=$MORTAR_BUILD/cli/mortar
export MORTAR_ASAN=$(abs "$ASAN_BUILD")/cli/mortar

for t in "$BUILD"/tests/test-*; do
	[[ -x $t && -f $t ]] || continue
	run_one "unit/$(basename "$t")" "$t"
done

if [[ -d $ASAN_BUILD/tests ]]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	for t in "$ASAN_BUILD"/tests/test-*; do
		[[ -x $t && -f $t ]] || continue
		run_one "asan/$(basename "$t")" "$t"
	done
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

for t in tests/func/*.sh tests/gluster/*.sh tests/vm/*.sh tests/libvirt/*.sh; do
	[[ -f $t && $(basename "$t") != lib.sh ]] || continue
	run_one "$(basename "$(dirname "$t")")/$(basename "$t" .sh)" bash "$t"
done

release_fixtures
trap - EXIT
unset MORTAR_GLUSTER_POOL MORTAR_LIBVIRT

if [[ -d $FUZZ_BUILD/tests ]]; then
	for f in "$FUZZ_BUILD"/tests/fuzz-*; do
		[[ -x $f && -f $f ]] || continue
		n=$(basename "$f")
		corpus=$LOGDIR/corpus-$n
		mkdir -p "$corpus"
		seeds=tests/fuzz/corpus/${n#fuzz-}
		# (libFuzzer's own exit code for a crash is 77, which
		# run_one would count as a skip)
		run_one "fuzz/$n" "$f" -max_total_time="$FUZZ_SECONDS" \
			-error_exitcode=1 -timeout_exitcode=1 \
			-timeout=10 -rss_limit_mb=2048 "$corpus" \
			$( [[ -d $seeds ]] && echo "$seeds" )
	done
elif [[ ${CI:-} == true ]]; then
	echo "FAIL fuzz: no fuzz build ($FUZZ_BUILD); is clang installed?"
	failed=$((failed + 1))
fi

if ((failed)); then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
