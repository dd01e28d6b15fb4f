#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The library's boundary holds: libmortar.so exports exactly the functions
# declared in include/mortar/ (libmortar.map lists the same ones, so test
# hooks, backends and internal calls stay local), public headers include
# no internal one, no module of lib/ imports another in a cycle
# (scripts/lib-imports.py), and generic code never names a backend: only
# lib/registry.c and a backend's own files mention one.
. "$(dirname "$0")/lib.sh"
requires nm python3

so=$MORTAR_BUILD/lib/libmortar.so
archive=$MORTAR_BUILD/lib/libmortar-internal.a
[[ -f $so && -f $archive ]] || fail "no $so or $archive: build first"
cd "$MORTAR_SRC"

# Functions declared in the public headers (static inline ones excepted).
declared=$(grep -ohE '\bmortar_[a-z0-9_]+ *\(' include/mortar/*.h | tr -d ' (' | sort -u |
	comm -23 - <(grep -hA1 'static inline' include/mortar/*.h |
		     grep -oE 'mortar_[a-z0-9_]+\(' | tr -d '(' | sort -u))
exported=$(nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' |
	grep -v '^_' | grep -vx 'MORTAR_[0-9_.]*' | sort -u)
mapped=$(sed -n '/^global:/,/^local:/p' lib/libmortar.map | grep -oE 'mortar_[a-z0-9_]+' | sort -u)
[[ -n $declared && -n $exported ]] || fail "found no declarations or no exports"
if [[ $exported != "$declared" ]]; then
	diff <(echo "$declared") <(echo "$exported") | sed 's/^/    /' >&2
	fail "libmortar.so exports other functions than include/mortar/ declares (< declared only, > exported only)"
fi
[[ $mapped == "$declared" ]] ||
	fail "libmortar.map's global list is not the public functions: $(diff <(echo "$declared") <(echo "$mapped") | tr '\n' ' ')"
echo "ok: $(wc -l <<<"$exported") functions exported, all of them public"

# Test hooks and backends are in the archive, not in the .so.
in_archive=$(nm --defined-only "$archive" 2>/dev/null)
in_so=$(nm -D --defined-only "$so")
for sym in mortar_set_error mortar_file_zero_stats_handle mortar_backend_file mortar_req_complete; do
	grep -qE " [TDR] $sym\$" <<<"$in_archive" || fail "$sym is not in $archive"
	! grep -qw "$sym" <<<"$in_so" || fail "$sym is exported by libmortar.so"
done
echo "ok: internal functions and test hooks stay local"

! grep -n '#include "' include/mortar/*.h || fail "a public header includes a private one"
echo "ok: public headers include public headers only"

python3 scripts/lib-imports.py "$archive" || fail "import cycle inside lib/"
echo "ok: no import cycle inside lib/"

generic=$(ls lib/*.c lib/*.h lib/internal/*.h | grep -vE '^lib/(backend-[a-z]+(-[a-z]+)?\.[ch]|registry\.c)$')
if grep -nE 'MORTAR_HAVE_|mortar_gluster_|mortar_file_|glfs_|gl_conn' $generic; then
	fail "generic code names a backend (above)"
fi
echo "ok: generic code never names a backend"
