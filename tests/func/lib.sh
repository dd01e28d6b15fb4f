# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by every functional test.  Gives: a scratch dir removed at exit,
# `requires TOOL...` (skip with 77 by hand, fail in CI), `fail MSG`,
# `expect_eq WHAT GOT WANT`, `expect_fail_msg PATTERN CMD...`.
set -euo pipefail

: "${MORTAR_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${MORTAR_BUILD:=$MORTAR_SRC/build}"
: "${MORTAR:=$MORTAR_BUILD/cli/mortar}"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/mortar-test.XXXXXX")
_cleanups=()
cleanup() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" || true
	done
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
# Register a command to run at exit, last registered first.
on_exit() { _cleanups+=("$*"); }
# kill_tree PID: SIGKILL PID and every process below it, children first.
kill_tree() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
	kill -KILL "$1" 2>/dev/null || true
}
# bg_owned PID: a background job (PID, from $!) that must not outlive the
# test: a fio left writing to a server that is gone fills the disk with
# its error messages (76 GB once, from a failed run).
bg_owned() { on_exit "kill_tree $1"; }

fail() { echo "FAIL: $*" >&2; exit 1; }

skip() {
	if [[ ${CI:-} == true ]]; then
		fail "would skip in CI: $*"
	fi
	echo "SKIP: $*"
	exit 77
}

requires() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
	done
}

requires_root() {
	[[ $(id -u) == 0 ]] || skip "needs root"
}

expect_eq() {
	local what=$1 got=$2 want=$3
	[[ $got == "$want" ]] || fail "$what: got '$got', want '$want'"
	echo "ok: $what = $want"
}

# Run CMD, which must fail, and whose stderr must match PATTERN (grep -E).
expect_fail_msg() {
	local pattern=$1; shift
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	((rc != 0)) || fail "expected failure from: $*"
	grep -qE -- "$pattern" <<<"$out" || fail "message of '$*' does not match /$pattern/: $out"
	echo "ok: '$*' failed with: $(head -1 <<<"$out")"
}

[[ -x $MORTAR ]] || fail "mortar binary not found at $MORTAR (build first)"
