# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by the libvirt tests: Debian's libvirtd (scripts/libvirt-fixture.sh:
# a private instance whose guests run as libvirt-qemu:kvm, as on a Debian
# host), the test guest (scripts/guest-assets.sh) booted by libvirt with
# direct kernel boot under TCG, and Mortar exports on sockets QEMU may open.
# Under tests/run.sh the instance is the run's (MORTAR_LIBVIRT), made once
# and taken down at the end; a test run alone makes its own.
#   lv_virsh ARGS...          virsh on the instance, bounded in time
#   lv_serve NAME ARGS...     mortar serve --socket $(lv_socket NAME)
#                             --socket-group kvm ARGS (a daemon, stopped at
#                             exit); its pid file is $(lv_pidfile NAME)
#   lv_socket NAME, lv_pidfile NAME
#   lv_disk_xml SOCKET TARGET [EXPORT]   a <disk> element, written by hand
#                             (mortar export xml is tested against it)
#   lv_domain NAME DISK-XML...           define and start a domain with
#                             these disks, wait for its guest agent;
#                             destroyed at exit.  LV_APPEND adds kernel
#                             parameters, LV_DOMAIN_XML elements of <domain>
#                             (e.g. <memoryBacking>)
#   lv_console NAME           the domain's serial console log
#   lv_qemu_pid NAME          the pid of its QEMU
#   guest_exec ...            (and the rest of tests/vm/guest-agent.bash)
#                             in the domain that LV_DOMAIN names (lv_domain
#                             sets it)
. "$(dirname "${BASH_SOURCE[0]}")/../func/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm/guest-agent.bash"
requires virsh libvirtd virtlogd qemu-system-x86_64 jq nsenter unshare python3
requires_root
getent passwd libvirt-qemu >/dev/null || skip "no user libvirt-qemu (libvirt-daemon-system)"

LIBVIRT_FIXTURE=$MORTAR_SRC/scripts/libvirt-fixture.sh
export MORTAR_LIBVIRT_OWNER=$$
[[ -n ${MORTAR_LIBVIRT:-} ]] || on_exit '"$LIBVIRT_FIXTURE" release'
_lv_env=$("$LIBVIRT_FIXTURE" up) || fail "the libvirt fixture is not ready: $_lv_env"
eval "$_lv_env"
export MORTAR_LIBVIRT LIBVIRT_URI LIBVIRT_DIR

assets=$("$MORTAR_SRC/scripts/guest-assets.sh" x86_64 2>&1) ||
	{ [[ ${CI:-} == true ]] && fail "guest assets: $assets"; skip "no guest assets: $assets"; }

# QEMU runs as libvirt-qemu: what it opens itself (kernel, initramfs)
# lies in a folder it can reach; libvirt gives it the files.
chmod 0711 "$SCRATCH"
LV_DIR=$SCRATCH/libvirt
mkdir -m 0755 "$LV_DIR"
cp "$(sed -n 's/^kernel=//p' <<<"$assets")" "$LV_DIR/kernel"
cp "$(sed -n 's/^initrd=//p' <<<"$assets")" "$LV_DIR/initrd"
# Export sockets beside the server's runtime files, where QEMU may look.
mkdir -p /run/mortar
LV_SOCKDIR=/run/mortar

lv_virsh() { timeout -k 5 60 virsh -q -c "$LIBVIRT_URI" "$@"; }
lv_agent() { lv_virsh qemu-agent-command --timeout 30 "$LV_DOMAIN" "$1"; }
GUEST_AGENT=lv_agent

lv_socket() { echo "$LV_SOCKDIR/test-$$-$1.sock"; }
lv_pidfile() { echo "$SCRATCH/serve-$1.pid"; }

lv_stop_server() { # NAME: SIGTERM, and wait until it has exited
	local pid
	pid=$(cat "$(lv_pidfile "$1")" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

lv_serve() {
	local name=$1
	shift
	on_exit "lv_stop_server $name; rm -f '$(lv_socket "$name")'"
	"$MORTAR" serve --socket "$(lv_socket "$name")" --socket-group kvm \
		-P "$(lv_pidfile "$name")" "$@" || fail "mortar serve $* did not start"
}

lv_disk_xml() {
	cat <<-EOF
	<disk type='network' device='disk'>
	  <driver name='qemu' type='raw' cache='none' discard='unmap'/>
	  <source protocol='nbd'${3:+ name='$3'}>
	    <host transport='unix' socket='$1'/>
	  </source>
	  <target dev='$2' bus='virtio'/>
	</disk>
	EOF
}

lv_console() { echo "$LV_DIR/$1.console"; }

lv_domain() {
	local name=$1 xml=$LV_DIR/$1.xml
	shift
	cat >"$xml" <<-EOF
	<domain type='qemu'>
	  <name>$name</name>
	  <memory unit='MiB'>256</memory>
	  <vcpu>1</vcpu>
	  <os>
	    <type arch='x86_64' machine='q35'>hvm</type>
	    <kernel>$LV_DIR/kernel</kernel>
	    <initrd>$LV_DIR/initrd</initrd>
	    <cmdline>console=ttyS0 panic=-1 ${LV_APPEND:-}</cmdline>
	  </os>
	  <on_poweroff>destroy</on_poweroff>
	  <on_reboot>destroy</on_reboot>
	  <on_crash>destroy</on_crash>
	  <features><acpi/><apic/></features>
	  ${LV_DOMAIN_XML:-}
	  <devices>
	    <emulator>/usr/bin/qemu-system-x86_64</emulator>
	    $*
	    <serial type='file'>
	      <source path='$(lv_console "$name")'/>
	      <target port='0'/>
	    </serial>
	    <console type='file'>
	      <source path='$(lv_console "$name")'/>
	      <target type='serial' port='0'/>
	    </console>
	    <channel type='unix'>
	      <target type='virtio' name='org.qemu.guest_agent.0'/>
	    </channel>
	    <!-- free ports for disks plugged later -->
	    <controller type='pci' index='0' model='pcie-root'/>
	    <controller type='pci' model='pcie-root-port'/>
	    <controller type='pci' model='pcie-root-port'/>
	    <controller type='pci' model='pcie-root-port'/>
	    <controller type='pci' model='pcie-root-port'/>
	    <controller type='pci' model='pcie-root-port'/>
	    <controller type='pci' model='pcie-root-port'/>
	    <memballoon model='none'/>
	  </devices>
	</domain>
	EOF
	on_exit "lv_virsh destroy $name >/dev/null 2>&1"
	lv_virsh create "$xml" >/dev/null || fail "libvirt did not start domain $name ($xml)"
	LV_DOMAIN=$name
	guest_wait_agent 120 ||
		fail "the guest agent of $name does not answer after 120 s; console: $(tail -n 5 "$(lv_console "$name")" 2>&1)"
}

lv_qemu_pid() { cat "$LIBVIRT_DIR/run/qemu/$1.pid"; }
