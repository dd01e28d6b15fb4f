#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What `make run` runs after building: creates a sparse 1 GiB image in a
# temporary directory, drives it through libmortar with examples/demo.c,
# and shows the result with `mortar img info` and `mortar img map`.
# Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail

if (($# != 1)); then
	echo "Usage: $0 BUILD_DIR" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
mortar=$build/cli/mortar
demo=$build/examples/mortar-demo
for f in "$mortar" "$demo"; do
	[[ -x $f ]] || { echo "demo.sh: $f not found; build first (make build)" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/mortar-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"

step() { printf '\n== %s\n' "$*"; }

step "mortar img create disk.img 1G    (sparse: no blocks allocated yet)"
"$mortar" img create disk.img 1G

step "mortar-demo disk.img    (libmortar: queued writes, flush, read-back, trim, zero, extents)"
"$demo" disk.img

step "mortar img info disk.img"
"$mortar" img info disk.img

step "mortar img map disk.img"
"$mortar" img map disk.img

# The NBD export, read and written by clients nobody here wrote.
if command -v qemu-io >/dev/null && command -v nbdinfo >/dev/null; then
	step "mortar serve --run '...' disk.img    (NBD on a private unix socket)"
	"$mortar" serve --run '
		set -e
		echo "\$ nbdinfo \$uri"; nbdinfo "$uri" | head -12
		echo "\$ qemu-io -f raw \$uri -c \"write -P 0x5a 512M 1M\" -c \"read -P 0x5a 512M 1M\""
		qemu-io -f raw "$uri" -c "write -P 0x5a 512M 1M" -c "read -P 0x5a 512M 1M"
		echo "\$ nbdinfo --map \$uri"; nbdinfo --map "$uri"' disk.img
else
	echo "(qemu-io or nbdinfo missing: run scripts/deps.sh to see the NBD export in action)"
fi

man=$build/docs/mortar.1
printf '\nDone (%s is removed at exit).' "$dir"
[[ -f $man ]] && printf '  Next: man -l %s' "$man"
printf '\n'
