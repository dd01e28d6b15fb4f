#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# scripts/guest-assets.sh ARCH: a kernel and an initramfs for Mortar's test
# guests, from Debian's own packages (apt-get download; nothing else is
# fetched), cached in ${MORTAR_GUEST_CACHE:-/var/cache/mortar/guest}/ARCH.
# ARCH: x86_64 (Debian's cloud kernel: ~3 s to /init under TCG; with the
# QEMU guest agent, qemu-ga, and its libraries taken from the host) or ppc64
# (Debian's powerpc64le kernel, an ELF vmlinux for pseries, and qemu-ga
# with its libraries; its packages come from the ppc64el architecture,
# added to dpkg for the download and removed again).  Prints kernel=PATH
# and initrd=PATH.  Idempotent: a filled cache costs nothing.
set -euo pipefail
arch=${1:-x86_64}
here=$(cd "$(dirname "$0")" && pwd)
cache=${MORTAR_GUEST_CACHE:-/var/cache/mortar/guest}/$arch
case $arch in
x86_64) kpkg_re='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' dpkg_arch= ;;
ppc64) kpkg_re='^linux-image-6\.1\.0-[0-9]+-powerpc64le$' dpkg_arch=ppc64el ;;
*) echo "guest-assets.sh: unknown ARCH '$arch' (x86_64, ppc64)" >&2; exit 2 ;;
esac
if [[ -s $cache/kernel && -s $cache/initramfs.img && $cache/initramfs.img -nt $here/guest/init &&
      $cache/initramfs.img -nt $here/guest-assets.sh ]]; then
	echo "kernel=$cache/kernel"; echo "initrd=$cache/initramfs.img"; exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
# apt-get download writes as the _apt user where it can: give it the dir.
chown _apt "$work" 2>/dev/null || true
# A foreign architecture's packages: dpkg must know it while apt fetches
# them (and not after: a broken foreign index must not fail later
# installs).  Its package lists are refreshed once.
added_arch=false
if [[ -n $dpkg_arch ]] && ! dpkg --print-foreign-architectures | grep -qx "$dpkg_arch"; then
	(( EUID == 0 )) || { echo "guest-assets.sh: the $arch guest needs Debian's $dpkg_arch packages: run as root once to fetch them" >&2; exit 1; }
	dpkg --add-architecture "$dpkg_arch"
	added_arch=true
	trap 'rm -rf "$work"; dpkg --remove-architecture '"$dpkg_arch"' 2>/dev/null || true' EXIT
	# (bookworm-security's ppc64el index was seen failing: tolerated)
	apt-get update -qq >/dev/null 2>&1 || true
fi
fetch() {
	kpkg=$(apt-cache search --names-only "$kpkg_re" | awk '{print $1}' | sort -V | tail -n 1)
	[[ -n $kpkg ]] || return 1
	# The guest's busybox, and (for a foreign guest) the host's, which
	# builds the archive: the host has no cpio.
	if [[ -n $dpkg_arch ]]; then
		# (and the guest agent with its libraries, the whole closure of
		# the foreign architecture: this host's cannot serve it)
		local ga
		ga=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances "qemu-guest-agent:$dpkg_arch" 2>/dev/null |
			grep -x "[a-z0-9.+-]*:$dpkg_arch" | sort -u) || return 1
		grep -qx "qemu-guest-agent:$dpkg_arch" <<<"$ga" || return 1
		apt-get download -q "$kpkg:$dpkg_arch" "busybox-static:$dpkg_arch" busybox-static \
			$ga >/dev/null 2>dl.err
	else
		# (x86_64: also the QEMU guest agent, which the host's own
		# libraries run: the guest is Debian 12 amd64 like the host)
		apt-get download -q "$kpkg" busybox-static qemu-guest-agent >/dev/null 2>dl.err
	fi
}
# Stale package lists (a kernel version gone from the mirror): refresh once.
if ! fetch; then
	if (( EUID == 0 )) && ! $added_arch; then apt-get update -qq >/dev/null 2>&1 || true; fi
	fetch || { echo "guest-assets.sh: cannot download ${kpkg:-a kernel matching $kpkg_re} and busybox-static: $(tail -1 dl.err 2>/dev/null) (run apt-get update?)" >&2; exit 1; }
fi
mkdir pkg root host
for d in ./*.deb; do
	case $d in
	*busybox-static*_amd64.deb) [[ -n $dpkg_arch ]] && dpkg -x "$d" host || dpkg -x "$d" pkg ;;
	*) dpkg -x "$d" pkg ;;
	esac
done
cpio_bb=$PWD/pkg/bin/busybox
[[ -n $dpkg_arch ]] && cpio_bb=$PWD/host/bin/busybox
case $arch in
x86_64) cp pkg/boot/vmlinuz-* "$cache/kernel.new" ;;
ppc64) cp pkg/boot/vmlinux-* "$cache/kernel.new" ;;
esac
kver=$(basename pkg/lib/modules/*)
mkdir -p root/bin root/proc root/sys root/dev root/lib/modules/"$kver"
cp pkg/bin/busybox root/bin/busybox
install -m 755 "$here/guest/init" root/init
if [[ -x pkg/usr/sbin/qemu-ga && -z $dpkg_arch ]]; then
	cp pkg/usr/sbin/qemu-ga root/bin/qemu-ga
	# its shared libraries, from the host (ldd: the loader's own list)
	if ldd pkg/usr/sbin/qemu-ga | grep -q "not found"; then
		echo "guest-assets.sh: qemu-ga needs libraries this host lacks: $(ldd pkg/usr/sbin/qemu-ga | grep "not found" | tr -d '\t' | tr '\n' ' ')(install them: they come with qemu-system-x86)" >&2
		exit 1
	fi
	ldd pkg/usr/sbin/qemu-ga | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' |
	while read -r lib; do
		mkdir -p "root$(dirname "$lib")"
		cp -L "$lib" "root$lib"
	done
	[[ -e root/lib64/ld-linux-x86-64.so.2 ]] ||
		{ echo "guest-assets.sh: qemu-ga's loader was not copied" >&2; exit 1; }
elif [[ -x pkg/usr/sbin/qemu-ga ]]; then
	# A foreign guest's: the shared objects of its own packages (not
	# their plugin folders: gconv alone is 8 MB) and the loader's name.
	cp pkg/usr/sbin/qemu-ga root/bin/qemu-ga
	triplet=$(basename "$(dirname "$(find pkg/lib pkg/usr/lib -name 'libc.so.6' | head -n 1)")")
	for d in lib usr/lib; do
		[[ -d pkg/$d/$triplet ]] || continue
		mkdir -p "root/$d/$triplet"
		find "pkg/$d/$triplet" -maxdepth 1 -name '*.so*' -exec cp -a {} "root/$d/$triplet/" \;
	done
	[[ -e pkg/lib64 ]] && cp -a pkg/lib64 root/
	ls root/lib64/ld*.so* >/dev/null 2>&1 ||
		{ echo "guest-assets.sh: the $dpkg_arch loader for qemu-ga is missing" >&2; exit 1; }
fi
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mem virtio_blk \
	 virtio_console; do
	f=$(find pkg/lib/modules -name "$m.ko*" | head -n 1)
	[[ -n $f ]] || continue
	case $f in
	*.xz) xz -dc "$f" >root/lib/modules/"$kver"/"$m.ko" ;;
	*) cp "$f" root/lib/modules/"$kver"/ ;;
	esac
done
(cd root && find . | "$cpio_bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$cache/initramfs.new"
mv "$cache/kernel.new" "$cache/kernel"
mv "$cache/initramfs.new" "$cache/initramfs.img"
echo "kernel=$cache/kernel"
echo "initrd=$cache/initramfs.img"
