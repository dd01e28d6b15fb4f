#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian packages: `dpkg-buildpackage -us -uc -b` in a copy of the
# tree (away from the build folders) makes mortar, libmortar0 and
# libmortar-dev; unpacked with `dpkg -x` into a scratch root (nothing is
# installed on this system), they hold what they should: the program with
# the GlusterFS backend, every manual page, the units (ExecStart in
# /usr/bin), the bash completion, the example export file; the library
# exports exactly lib/libmortar.map, which libmortar0.symbols lists; the
# headers and pkg-config file (with its private requirements) build
# examples/demo.c, which runs on an image.  lintian finds no error, and
# no warning other than those justified below.  Then `dpkg -i` installs
# the three for real and `dpkg --purge` removes them, in a mount namespace
# of the test where /usr, /etc and /var are overlays on scratch layers:
# dpkg's database and the maintainer scripts run as on a host, and this
# system is left as it was.
. "$(dirname "$0")/lib.sh"
requires dpkg-buildpackage dh lintian dpkg-deb pkg-config cc nm unshare

# Warnings accepted, each with why (none today; a tag: the reason).
declare -A justified=(
)

src=$SCRATCH/src
mkdir "$src"
if git -C "$MORTAR_SRC" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$MORTAR_SRC" ls-files -co --exclude-standard -z |
		tar -C "$MORTAR_SRC" --null -T - -cf - | tar -C "$src" -xf -
else
	tar -C "$MORTAR_SRC" --exclude='./build*' -cf - . | tar -C "$src" -xf -
fi
rm -rf "$src"/build*
start=$SECONDS
(cd "$src" && DEB_BUILD_OPTIONS="parallel=2 nocheck" dpkg-buildpackage -us -uc -b) \
	>"$SCRATCH/build.log" 2>&1 || fail "dpkg-buildpackage failed: $(tail -30 "$SCRATCH/build.log")"
echo "ok: dpkg-buildpackage -us -uc -b ($((SECONDS - start)) s)"

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
root=$SCRATCH/root
for p in mortar libmortar0 libmortar-dev; do
	deb=$SCRATCH/${p}_${version}_$arch.deb
	[[ -f $deb ]] || fail "no package $p: $(ls "$SCRATCH")"
	dpkg -x "$deb" "$root"
done
echo "ok: mortar, libmortar0, libmortar-dev $version unpacked into a scratch root"

# --- mortar -----------------------------------------------------------
has() { [[ -e $root/$1 || -L $root/$1 ]] || fail "the packages lack /$1"; }
expect_eq "mortar --version" "$("$root/usr/bin/mortar" --version)" "mortar ${version%%-*}"
for page in "$MORTAR_SRC"/docs/*.scd; do
	name=$(basename "$page" .scd)
	has "usr/share/man/man${name##*.}/$name.gz"
done
echo "ok: every manual page"
for u in mortar-serve@.service mortar-serve@.socket; do has "lib/systemd/system/$u"; done
expect_eq "ExecStart program" "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$root/lib/systemd/system/mortar-serve@.service")" \
	/usr/bin/mortar
cmp "$root/usr/share/bash-completion/completions/mortar" "$MORTAR_SRC/completion/mortar.bash" ||
	fail "the bash completion is not completion/mortar.bash"
has usr/share/doc/mortar/examples/example.conf
has etc/mortar/exports
depends=$(dpkg-deb -f "$SCRATCH/mortar_${version}_$arch.deb" Depends)
for lib in libgfapi0 liburing2 libjson-c5 libnbd0 libgnutls30; do
	grep -q "$lib" <<<"$depends" || fail "mortar does not depend on $lib: $depends"
done
echo "ok: mortar depends on $depends"

# --- libmortar0 ---------------------------------------------------------
libdir=usr/lib/$multiarch
has "$libdir/libmortar.so.0"
map=$(sed -n 's/^\t\(mortar_[a-z0-9_]*\);/\1/p' "$MORTAR_SRC/lib/libmortar.map" | sort)
[[ -n $map ]] || fail "no symbols read from lib/libmortar.map"
exported=$(nm -D --defined-only "$root/$libdir/libmortar.so.0" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
[[ $exported == "$map" ]] ||
	fail "libmortar.so.0 exports other symbols than lib/libmortar.map: $(diff <(echo "$map") <(echo "$exported"))"
listed=$(sed -n 's/^ \(mortar_[a-z0-9_]*\)@MORTAR_[0-9.]* .*/\1/p' "$MORTAR_SRC/debian/libmortar0.symbols" | sort)
[[ $listed == "$map" ]] ||
	fail "debian/libmortar0.symbols is not lib/libmortar.map: $(diff <(echo "$map") <(echo "$listed"))"
echo "ok: libmortar.so.0 exports the $(wc -l <<<"$map") symbols of lib/libmortar.map, as libmortar0.symbols lists"

# --- libmortar-dev: build and run examples/demo.c ------------------------
for h in "$MORTAR_SRC"/include/mortar/*.h; do has "usr/include/mortar/$(basename "$h")"; done
has "$libdir/libmortar.so"
export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/$libdir/pkgconfig
private=$(pkg-config --print-requires-private mortar | awk '{ print $1 }' | sort | tr '\n' ' ')
expect_eq "Requires.private of mortar.pc" "$private" "glusterfs-api json-c liburing "
dev_depends=$(dpkg-deb -f "$SCRATCH/libmortar-dev_${version}_$arch.deb" Depends)
for d in "libmortar0 (= $version)" libglusterfs-dev libjson-c-dev liburing-dev; do
	grep -qF "$d" <<<"$dev_depends" || fail "libmortar-dev does not depend on $d: $dev_depends"
done
# shellcheck disable=SC2046 # pkg-config's words
cc -o "$SCRATCH/demo" "$MORTAR_SRC/examples/demo.c" $(pkg-config --cflags --libs mortar) ||
	fail "examples/demo.c does not build against libmortar-dev"
"$MORTAR" img create "$SCRATCH/demo.img" 16M
LD_LIBRARY_PATH=$root/$libdir "$SCRATCH/demo" "$SCRATCH/demo.img" >"$SCRATCH/demo.log" 2>&1 ||
	fail "demo built on the packages failed: $(cat "$SCRATCH/demo.log")"
[[ $(LD_LIBRARY_PATH=$root/$libdir ldd "$SCRATCH/demo") == *"$root/$libdir/libmortar.so.0"* ]] ||
	fail "demo did not run on the packaged libmortar.so.0"
echo "ok: examples/demo.c built with pkg-config on libmortar-dev runs on libmortar0"

# --- lintian -------------------------------------------------------------
# Exit 1 is lintian's "found errors"; above that it could not check.
rc=0
lintian --tag-display-limit 0 "$SCRATCH/mortar_${version}_$arch.changes" >"$SCRATCH/lintian.log" 2>&1 || rc=$?
((rc <= 1)) || fail "lintian could not check the packages (exit $rc): $(cat "$SCRATCH/lintian.log")"
sed 's/^/  lintian: /' "$SCRATCH/lintian.log"
if ((rc)) || grep -q '^E: ' "$SCRATCH/lintian.log"; then
	fail "lintian errors: $(grep '^E: ' "$SCRATCH/lintian.log")"
fi
while read -r tag; do
	[[ -n ${justified[$tag]:-} ]] || fail "lintian warning $tag is not justified in this test"
	echo "ok: lintian warning $tag: ${justified[$tag]}"
done < <(sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' "$SCRATCH/lintian.log" | sort -u)
echo "ok: lintian: no error, $(grep -c '^W: ' "$SCRATCH/lintian.log" || true) warnings (justified)"

# --- installing ------------------------------------------------------------
host_state() { dpkg-query -W -f='${Status}' mortar libmortar0 2>&1 || true; ls -l /usr/bin/mortar 2>&1 || true; }
host_before=$(host_state)
layers=$(mktemp -d /dev/shm/mortar-deb.XXXXXX)
on_exit "rm -rf '$layers'"
debs=("$SCRATCH/libmortar0_${version}_$arch.deb" "$SCRATCH/mortar_${version}_$arch.deb"
	"$SCRATCH/libmortar-dev_${version}_$arch.deb")
# shellcheck disable=SC2016 # expanded by the inner shell
unshare -m bash -euo pipefail -c '
	layers=$1 multiarch=$2
	shift 2
	mount --make-rprivate /
	for d in usr etc var; do
		mkdir -p "$layers/$d.up" "$layers/$d.work"
		mount -t overlay "mortar-deb-$d" \
			-o "lowerdir=/$d,upperdir=$layers/$d.up,workdir=$layers/$d.work" "/$d"
	done
	dpkg -i "$@" >"$layers/install.log" 2>&1 || { echo "dpkg -i failed:"; cat "$layers/install.log"; exit 1; }
	for p in mortar libmortar0 libmortar-dev; do
		st=$(dpkg-query -W -f="\${Status}" "$p")
		[[ $st == "install ok installed" ]] || { echo "$p: dpkg says \"$st\""; exit 1; }
	done
	/usr/bin/mortar --version >/dev/null || { echo "the installed mortar does not run"; exit 1; }
	[[ -e /usr/lib/$multiarch/libmortar.so.0 ]] || { echo "no libmortar.so.0 in /usr/lib/$multiarch"; exit 1; }
	[[ -f /usr/lib/systemd/system/mortar-serve@.service || -f /lib/systemd/system/mortar-serve@.service ]] ||
		{ echo "no mortar-serve@.service installed"; exit 1; }
	[[ -d /etc/mortar/exports ]] || { echo "no /etc/mortar/exports"; exit 1; }
	[[ $(pkg-config --modversion mortar) == [0-9]* ]] || { echo "pkg-config finds no installed mortar"; exit 1; }
	dpkg --purge libmortar-dev mortar libmortar0 >"$layers/purge.log" 2>&1 ||
		{ echo "dpkg --purge failed:"; cat "$layers/purge.log"; exit 1; }
	[[ ! -e /usr/bin/mortar && ! -e /usr/lib/$multiarch/libmortar.so.0 ]] ||
		{ echo "files left after dpkg --purge"; exit 1; }
' mortar-deb-install "$layers" "$multiarch" "${debs[@]}" >"$SCRATCH/install.out" 2>&1 ||
	fail "installing the packages: $(cat "$SCRATCH/install.out")"
[[ $(host_state) == "$host_before" ]] || fail "installing in the namespace changed this system: $(host_state)"
echo "ok: dpkg -i installs the three packages (mortar runs, libmortar.so.0, units, /etc/mortar/exports, pkg-config), dpkg --purge removes them"
