#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A libvirtd for the tests: Debian's libvirtd and virtlogd, as root, in a
# mount namespace of their own whose /etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt are folders of
# this instance.  Its QEMU guests run as libvirt-qemu:kvm, as on any
# Debian host; the rest of the file system (/run/mortar and its sockets,
# the tests' files) is the host's.  A libvirtd the machine runs itself is
# neither used nor touched, and several test runs each have their own.
# Clients reach it through its socket: virsh -c "$LIBVIRT_URI".
#
#   libvirt-fixture.sh up
#       With MORTAR_LIBVIRT set: check that instance, restarting a daemon
#       that died.  Without: make a new instance owned by
#       $MORTAR_LIBVIRT_OWNER (a pid; default the caller), first taking
#       down the instances whose owner is gone.  Prints the environment
#       for clients (see env).
#   libvirt-fixture.sh release     take the instance down if the caller owns it
#   libvirt-fixture.sh down [--stale]
#       take the instance down (--stale: every one whose owner is gone)
#   libvirt-fixture.sh env
#       MORTAR_LIBVIRT=K, LIBVIRT_URI (qemu:///system through this
#       instance's socket), LIBVIRT_DIR (its folders: etc, run, lib, log)
#   libvirt-fixture.sh exec CMD...  CMD inside the instance's mount namespace
#
# Environment: MORTAR_LIBVIRT (the instance, 0-7), MORTAR_LIBVIRT_OWNER,
# MORTAR_LIBVIRT_STATE (/run/mortar-libvirt), MORTAR_LIBVIRT_DIR
# (/var/tmp/mortar-libvirt: instance K's folders in instK/; its logs stay
# there until the instance is made again), MORTAR_LIBVIRT_TIMEOUT (30 s).
set -euo pipefail

STATE=${MORTAR_LIBVIRT_STATE:-/run/mortar-libvirt}
BASE=${MORTAR_LIBVIRT_DIR:-/var/tmp/mortar-libvirt}
T=${MORTAR_LIBVIRT_TIMEOUT:-30}
OWNER=${MORTAR_LIBVIRT_OWNER:-$PPID}
MAX=8
# The system's folders that each instance has its own copy of.
SYS_DIRS=(/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt)
OWN_DIRS=(etc run lib log cache)

lv_die() { echo "libvirt-fixture: $*" >&2; exit 1; }
lv_note() { echo "libvirt-fixture: $*" >&2; }

# instance K: its names, as globals.
instance() {
	K=$1
	[[ $K =~ ^[0-7]$ ]] || lv_die "instance '$K': instances are numbered 0 to $((MAX - 1))"
	ISTATE=$STATE/inst$K
	IDIR=$BASE/inst$K
	MNTNS=$ISTATE/ns/mnt
	SOCK=$IDIR/run/libvirt-sock
	URI="qemu:///system?socket=$SOCK"
}

# birth PID: its start time, to tell a live process from a reused pid;
# fails for a zombie (an owner that exited, not yet reaped).
birth() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	[[ $1 != Z ]] && echo "${20}"
}

in_ns() { nsenter --mount="$MNTNS" "$@"; }

# The pids of the processes in the instance's mount namespace: the two
# daemons and the guests' QEMU.
ns_pids() {
	local ino p link
	ino=$(stat -L -c %i "$MNTNS" 2>/dev/null) || return 0
	[[ $ino != "$(stat -L -c %i /proc/self/ns/mnt)" ]] || return 0
	for p in /proc/[0-9]*; do
		link=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
		[[ $link == "mnt:[$ino]" ]] && echo "${p#/proc/}"
	done
	return 0
}

daemon_pid() { # NAME: libvirtd or virtlogd of this instance, if it runs
	local p
	for p in $(ns_pids); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "$1" ]] && { echo "$p"; return 0; }
	done
	return 1
}

answers() { timeout -k 2 10 virsh -q -c "$URI" uri >/dev/null 2>&1; }

# ---------------------------------------------------------------- build

# qemu.conf of the instance: Debian's, with what a test host needs.
configure() {
	local conf=$IDIR/etc/qemu.conf
	cat >>"$conf" <<-'EOF'

	# --- libvirt-fixture.sh (Mortar's tests) ---
	# QEMU as on a Debian host: libvirt-qemu, group kvm.
	user = "libvirt-qemu"
	group = "kvm"
	# No cgroups: several instances share this machine's hierarchy, and
	# a test host's may be read-only.
	cgroup_controllers = [ ]
	# No private /dev per guest: libvirt cannot carry the instance's
	# /dev/kvm mount (below) into one.
	namespaces = [ ]
	EOF
	# No network starts with the daemon (no bridge, no firewall rules).
	rm -rf "$IDIR/etc/qemu/networks/autostart"
}

make_instance() {
	local i
	command -v libvirtd >/dev/null && command -v virtlogd >/dev/null && command -v virsh >/dev/null ||
		lv_die "libvirt is not installed (apt-get install libvirt-daemon-system libvirt-clients)"
	((EUID == 0)) || lv_die "the libvirt fixture needs root (a mount namespace, QEMU as libvirt-qemu)"
	getent passwd libvirt-qemu >/dev/null || lv_die "no user libvirt-qemu (reinstall libvirt-daemon-system)"
	rm -rf "$IDIR" "$ISTATE"
	mkdir -p "$ISTATE/ns" "$IDIR"
	# Only root looks into the instance: its sockets give control of it.
	chmod 0700 "$IDIR"
	echo "$OWNER $(birth "$OWNER")" >"$ISTATE/owner"
	for i in "${!OWN_DIRS[@]}"; do
		mkdir -p "$IDIR/${OWN_DIRS[i]}" "${SYS_DIRS[i]}"
	done
	cp -a /etc/libvirt/. "$IDIR/etc/"
	configure
	mountpoint -q "$ISTATE/ns" || mount --bind "$ISTATE/ns" "$ISTATE/ns"
	mount --make-private "$ISTATE/ns"
	touch "$MNTNS"
	# Guests here run under TCG (type='qemu').  Where /dev/kvm works for
	# root only, libvirt 9.0 probes QEMU as root (KVM found), then finds
	# that libvirt-qemu cannot open it and probes again, on every call
	# (seconds each): the instance sees no /dev/kvm at all.
	: >"$IDIR/no-kvm"
	chmod 0 "$IDIR/no-kvm"
	# slave: what is mounted on the host later (a test's file system)
	# reaches the guests; the instance's own mounts stay inside.
	unshare --mount="$MNTNS" --propagation slave sh -c '
		dir=$1; shift
		for d in etc run lib log cache; do
			mount --bind "$dir/$d" "$1" || exit 1
			shift
		done
		[ ! -e /dev/kvm ] || mount --bind "$dir/no-kvm" /dev/kvm' sh "$IDIR" "${SYS_DIRS[@]}" ||
		lv_die "cannot make the mount namespace of instance $K"
}

log_tail() { [[ -r $1 ]] && { echo "--- last lines of $1:"; tail -n 8 "$1"; }; return 0; }

start_daemons() {
	local deadline=$((SECONDS + T))
	# The pid files live in the instance's /run/libvirt, not the host's
	# /run, where another libvirtd may hold its own.  8>&- 9>&-: the
	# daemons must not inherit a lock.
	daemon_pid virtlogd >/dev/null ||
		in_ns virtlogd -d -p /run/libvirt/virtlogd.pid 8>&- 9>&- ||
		lv_die "virtlogd of instance $K failed to start"
	answers && return 0
	daemon_pid libvirtd >/dev/null ||
		in_ns env LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" \
			libvirtd -d -p /run/libvirt/libvirtd.pid 8>&- 9>&- ||
		lv_die "libvirtd of instance $K failed to start; $(log_tail "$IDIR/log/libvirtd.log")"
	until answers; do
		((SECONDS < deadline)) ||
			lv_die "libvirtd of instance $K does not answer after ${T}s; $(log_tail "$IDIR/log/libvirtd.log")"
		sleep 0.2
	done
}

# ---------------------------------------------------------------- teardown

# Until none of the pids runs (a zombie counts as gone).
wait_gone() {
	local p deadline=$((SECONDS + T))
	for p in "$@"; do
		while [[ -e /proc/$p && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; do
			((SECONDS < deadline)) || lv_die "process $p still runs ${T}s after SIGKILL"
			sleep 0.1
		done
	done
}

# Everything of instance K, whatever state it is in.  Guests are
# destroyed by libvirtd if it answers (it restores what it relabelled),
# then every process of the namespace is killed.
teardown() {
	local dom pids
	if [[ -S $SOCK ]] && answers; then
		for dom in $(timeout -k 2 10 virsh -q -c "$URI" list --name 2>/dev/null); do
			timeout -k 2 20 virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1 || true
		done
	fi
	mapfile -t pids < <(ns_pids)
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		sleep 0.5
		mapfile -t pids < <(ns_pids)
		((${#pids[@]} == 0)) || { kill -KILL "${pids[@]}" 2>/dev/null || true; wait_gone "${pids[@]}"; }
	fi
	umount "$MNTNS" 2>/dev/null || true
	umount "$ISTATE/ns" 2>/dev/null || true
	rm -rf "$ISTATE"
	# Logs stay in $IDIR/log until the instance is made again.
	rm -rf "$IDIR/run" "$IDIR/lib" "$IDIR/cache"
}

exists() { [[ -e $ISTATE ]]; }

# The owner file says "PID START-TIME": is that process still there?
owner_alive() {
	local rec
	rec=$(cat "$ISTATE/owner" 2>/dev/null) || return 1
	[[ -n $rec && $rec == "${rec%% *} $(birth "${rec%% *}")" ]]
}

# ---------------------------------------------------------------- commands

# One command at a time changes the instances (fd 8 holds the lock).
take_lock() {
	mkdir -p "$STATE" && exec 8>"$STATE/lock" && flock -w $((T * 2)) 8 ||
		lv_die "another libvirt-fixture has held $STATE/lock for $((T * 2))s"
}

print_env() {
	echo "MORTAR_LIBVIRT=$K"
	echo "LIBVIRT_URI='$URI'"
	echo "LIBVIRT_DIR=$IDIR"
}

down_stale() {
	local k
	for ((k = 0; k < MAX; k++)); do
		instance "$k"
		exists || continue
		owner_alive && continue
		lv_note "taking down instance $k, whose owner is gone"
		teardown
	done
}

current() {
	[[ -n ${MORTAR_LIBVIRT:-} ]] || lv_die "MORTAR_LIBVIRT is not set: which instance? ('up' prints it)"
	instance "$MORTAR_LIBVIRT"
}

cmd_up() {
	local k
	if [[ -n ${MORTAR_LIBVIRT:-} ]]; then
		current
		exists || lv_die "instance $K (MORTAR_LIBVIRT) does not exist; unset MORTAR_LIBVIRT to make one"
		start_daemons
		print_env
		return
	fi
	take_lock
	down_stale
	k=0
	until instance "$k" && ! exists; do
		((++k < MAX)) || lv_die "all $MAX instances are in use (libvirt-fixture.sh down --stale frees those of exited owners)"
	done
	trap teardown EXIT # an instance half made is taken down
	make_instance
	start_daemons
	trap - EXIT
	print_env
}

# Only the owner's release takes the instance down: a test run alone
# releases at its end what it made, not the instance of the run around it.
cmd_release() {
	current
	[[ $(cut -d' ' -f1 "$ISTATE/owner" 2>/dev/null) == "$OWNER" ]] || return 0
	take_lock
	teardown
}

main() {
	case ${1:-help} in
	up) cmd_up ;;
	release) cmd_release ;;
	env) current; print_env ;;
	exec) shift; current; in_ns "$@" ;;
	down)
		shift
		take_lock
		if [[ ${1:-} == --stale ]]; then down_stale; else current; teardown; fi ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
}

[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
