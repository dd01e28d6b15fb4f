#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# scripts/qemu-backports.sh: QEMU 10 from Debian's bookworm-backports beside
# the distribution's QEMU 7.2, for `mortar vm start --qemu PATH` and the VM
# tests.  Nothing is installed: apt-get downloads qemu-system-x86,
# qemu-system-ppc, qemu-system-common and qemu-system-data with a private
# sources list (this machine's Debian mirror, suite bookworm-backports),
# private package lists and a private archive cache, and dpkg -x unpacks
# them into ${MORTAR_QEMU_CACHE:-/var/cache/mortar/qemu}/root.  Their
# shared libraries are Debian 12's own (checked with ldd).  Prints
#   x86_64=PATH   ppc64=PATH   version=X.Y.Z
# Idempotent: a filled cache costs one `--version` run.  Several callers at
# once wait for each other (flock).
set -euo pipefail
cache=${MORTAR_QEMU_CACHE:-/var/cache/mortar/qemu}
root=$cache/root
packages=(qemu-system-x86 qemu-system-ppc qemu-system-common qemu-system-data)
die() { echo "qemu-backports.sh: $*" >&2; exit 1; }

# The version of the cached QEMU, when every binary of it runs.
cached() {
	local v
	[[ -x $root/usr/bin/qemu-system-x86_64 && -x $root/usr/bin/qemu-system-ppc64 ]] || return 1
	v=$("$root/usr/bin/qemu-system-x86_64" --version 2>/dev/null |
		sed -n '1s/^QEMU emulator version \([0-9][0-9.]*\).*/\1/p')
	[[ $v == 1[0-9].* ]] || return 1
	"$root/usr/bin/qemu-system-ppc64" --version >/dev/null 2>&1 || return 1
	echo "$v"
}

report() {
	echo "x86_64=$root/usr/bin/qemu-system-x86_64"
	echo "ppc64=$root/usr/bin/qemu-system-ppc64"
	echo "version=$1"
}

mkdir -p "$cache" 2>/dev/null || die "cannot create $cache (run as root once, or set MORTAR_QEMU_CACHE)"
exec 9>"$cache/.lock"
flock -w 600 9 || die "another qemu-backports.sh has held $cache/.lock for 10 minutes"
if v=$(cached); then
	report "$v"
	exit 0
fi

# This machine's Debian mirror, from its deb822 sources or sources.list.
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	tr ' ' '\n' | grep -v -- '-security' | head -n 1 || true)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
	/etc/apt/sources.list 2>/dev/null || true)
[[ -n $mirror ]] || die "no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || die "$keyring is missing (apt-get install debian-archive-keyring)"

work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs" "$work/root"
echo "deb [signed-by=$keyring] $mirror bookworm-backports main" >"$work/sources.list"
# (apt-get download writes as the _apt user where it can: give it the dir)
chown _apt "$work/debs" 2>/dev/null || true
apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work" -o "Dir::Cache::Archives=$work/archives"
	-o Debug::NoLocking=1)
apt-get "${apt_opts[@]}" update >"$work/update.log" 2>&1 ||
	die "cannot read bookworm-backports from $mirror: $(tail -n 1 "$work/update.log")"
(cd "$work/debs" && apt-get "${apt_opts[@]}" download "${packages[@]}") >"$work/download.log" 2>&1 ||
	die "cannot download ${packages[*]} from bookworm-backports: $(tail -n 1 "$work/download.log")"
for d in "$work"/debs/*.deb; do
	dpkg -x "$d" "$work/root"
done
missing=$(ldd "$work/root/usr/bin/qemu-system-x86_64" "$work/root/usr/bin/qemu-system-ppc64" |
	grep "not found" | sort -u | tr -d '\t' | tr '\n' ' ' || true)
[[ -z $missing ]] || die "QEMU from backports needs libraries this host lacks: $missing"
rm -rf "$root"
mv "$work/root" "$root"
v=$(cached) || die "the unpacked QEMU does not run: $("$root/usr/bin/qemu-system-x86_64" --version 2>&1 | head -n 1)"
report "$v"
