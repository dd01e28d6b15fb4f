#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs every build and test dependency of Mortar on Debian 12.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
	# build
	build-essential meson ninja-build pkg-config scdoc
	liburing-dev libjson-c-dev libgnutls28-dev libglusterfs-dev
	# mortar serve under systemd: sd_notify, the fd store, the journal
	libsystemd-dev
	# mortar img convert reads non-raw images from a qemu-nbd child
	libnbd-dev
	# fuzzing: clang with libFuzzer and the sanitizer runtimes
	clang libclang-rt-14-dev
	# tests and benchmarks: clients nobody here wrote
	qemu-utils qemu-block-extra libnbd-bin nbdkit python3 python3-libnbd fio util-linux e2fsprogs
	jq iproute2 diffutils gnutls-bin
	# benchmark peer: qemu-storage-daemon
	qemu-system-common
	# the systemd units are checked with systemd-analyze verify
	systemd
	# the Debian packages are built and checked (tests/func/deb-package.sh)
	dpkg-dev debhelper lintian bash-completion
	# a real GlusterFS for the gluster tests
	glusterfs-server
	# mortar vm: QEMU for x86 (q35) and pseries guests under TCG
	qemu-system-x86 qemu-system-ppc
	# clones: a reflink-capable XFS for the tests
	xfsprogs
	# mortar bench plots; progress-bar test in a terminal
	gnuplot-nox tmux
	# libvirt tests: Debian's libvirtd, started by the tests themselves
	# (scripts/libvirt-fixture.sh); -sysv rather than -systemd, which would
	# bring systemd-sysv, an init for a machine booting with systemd
	libvirt-daemon-system libvirt-daemon-system-sysv libvirt-clients
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
((${#missing[@]} == 0)) && exit 0

SUDO=
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null || { echo "deps.sh: run as root or install sudo; missing: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Installs start no service here (libvirtd, glusterd...): the tests start
# their own, in namespaces of their own.  policy-rc.d says so to the
# packages' scripts, unless the machine has its own policy already.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# mortar deps.sh: no service starts during its install\nexit 101\n' |
		$SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
