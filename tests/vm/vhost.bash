# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the vhost-user-blk guest tests after lib.sh: servers in the
# foreground with their logs, guests started here (not by `mortar vm`, so
# that each test chooses its devices), and commands run inside them
# through the guest agent (guest-agent.bash).  Not named *.sh:
# tests/run.sh does not run it.
requires qemu-system-x86_64 python3 jq
. "$MORTAR_SRC/tests/vm/guest-agent.bash"
GUEST_AGENT=qga_socket

# vs_start NAME SOCKET... -- ARGS...: `mortar serve -f -v ARGS` in the
# background (pid in $SCRATCH/NAME.pid, log in $SCRATCH/NAME.log, appended
# to), once every SOCKET listens.
vs_start() {
	local name=$1 socks=() i
	shift
	while [[ $1 != -- ]]; do socks+=("$1"); shift; done
	shift
	"$MORTAR" serve -f -v "$@" >>"$SCRATCH/$name.log" 2>&1 &
	echo $! >"$SCRATCH/$name.pid"
	on_exit "kill $! 2>/dev/null; wait $! 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		local all=true s
		for s in "${socks[@]}"; do [[ -S $s ]] || all=false; done
		$all && return 0
		kill -0 "$!" 2>/dev/null || fail "mortar serve $name exited: $(tail -3 "$SCRATCH/$name.log")"
		sleep 0.1
	done
	fail "mortar serve $name did not listen on ${socks[*]}"
}

# vs_stop NAME: SIGTERM, and the server must exit 0 with nothing a
# sanitizer would say in its log.
vs_stop() {
	local pid rc=0
	pid=$(cat "$SCRATCH/$1.pid")
	kill "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	((rc == 0)) || fail "mortar serve $1 exited $rc: $(tail -5 "$SCRATCH/$1.log")"
	! grep -q "Sanitizer\|runtime error" "$SCRATCH/$1.log" ||
		fail "mortar serve $1: $(grep -A5 "Sanitizer\|runtime error" "$SCRATCH/$1.log")"
}

# vg_start NAME CPUS QEMU-ARGS...: a guest with 512 MiB of shared memory
# (vhost-user needs it), the agent's port and a console log; returns once
# the agent answers.  Quiet init (mortar.console=0) saves TCG time.
vg_start() {
	local name=$1 cpus=$2 d=$SCRATCH/vm-$1
	shift 2
	mkdir -p "$d"
	qemu-system-x86_64 -machine q35,accel=tcg -smp "$cpus" -m 512M \
		-object memory-backend-memfd,id=mem0,size=512M,share=on -numa node,memdev=mem0 \
		-nodefaults -no-user-config -display none -no-reboot \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=ttyS0 quiet panic=-1 mortar.console=0" \
		-device virtio-serial-pci,id=vser0 \
		-chardev "socket,id=qga0,path=$d/qga.sock,server=on,wait=off" \
		-device virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0 \
		-chardev "file,id=con0,path=$d/serial.log" -serial chardev:con0 \
		-pidfile "$d/qemu.pid" -daemonize "$@" ||
		fail "QEMU did not start guest $name"
	on_exit "vg_stop $name"
	QGA_SOCKET=$d/qga.sock guest_wait_agent 300 ||
		fail "guest $name: no agent; console: $(tail -5 "$d/serial.log" 2>/dev/null)"
}

vg_stop() {
	local f=$SCRATCH/vm-$1/qemu.pid pid i
	[[ -f $f ]] || return 0
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$f"
}

# vg NAME COMMAND: run COMMAND in the guest (busybox sh); its output here.
vg() { QGA_SOCKET=$SCRATCH/vm-$1/qga.sock guest_exec -t 600 "$2"; }
# vg_put NAME HOSTFILE GUESTPATH
vg_put() { QGA_SOCKET=$SCRATCH/vm-$1/qga.sock guest_put "$2" "$3" >/dev/null; }

# vhost_dev SOCKET ID [NUM-QUEUES]: the QEMU arguments of a vhost-user-blk
# disk on SOCKET that reconnects when its server comes back.
vhost_dev() {
	echo "-chardev socket,id=$2,path=$1,reconnect=1"
	echo "-device vhost-user-blk-pci,chardev=$2,num-queues=${3:-1},id=dev-$2"
}

# host_md5 FILE OFFSET LENGTH (MiB): the md5 of a range of an image.
host_md5() { dd if="$1" bs=1M skip="$2" count="$3" status=none | md5sum | cut -d' ' -f1; }

# ---- the data path, the same on any vhost-user-blk disk ----

M=$((1 << 20))

# is_hole FILE OFFSET LENGTH: qemu-img's map of FILE has a hole covering it.
is_hole() {
	qemu-img map --output=json -f raw "$1" |
		jq -e --argjson o "$2" --argjson l "$3" \
		'any(.[]; .start <= $o and .start + .length >= $o + $l and .data == false)' >/dev/null
}

# vhost_check_prepare GUEST: util-linux fallocate in the guest (busybox
# has none that zeroes), and 8 MiB of random data in its /tmp/pat.
vhost_check_prepare() {
	requires qemu-img
	[[ -x /usr/bin/fallocate ]] || skip "no util-linux fallocate to carry into the guest"
	vg_put "$1" /usr/bin/fallocate /tmp/fallocate
	vg "$1" 'dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null'
	VC_PAT=$(vg "$1" 'md5sum </tmp/pat' | cut -d' ' -f1)
	VC_ZERO1M=$(head -c $M /dev/zero | md5sum | cut -d' ' -f1)
}

# vhost_check GUEST DEV FILE WHO QUEUES: a 64 MiB disk DEV of GUEST whose
# data the host reads in FILE (the image, or a brick's copy of it): its
# size, limits and queues; the pattern written with O_DIRECT and fsync (a
# FLUSH) and read back, and in FILE; a discard leaves a hole in FILE that
# reads as zeroes; write zeroes without unmap reads as zeroes, with unmap
# (a punch) leaves a hole; the data between them untouched.  WHO mortar
# also wants a write-back cache (qemu-storage-daemon offers a write-through
# one the guest may toggle).
vhost_check() {
	local g=$1 d=$2 f=$3 who=$4 queues=$5
	expect_eq "$who: capacity in sectors" "$(vg "$g" "cat /sys/block/$d/size")" $((64 * 2048))
	[[ $who != mortar ]] ||
		expect_eq "$who: cache" "$(vg "$g" "cat /sys/block/$d/queue/write_cache")" "write back"
	(($(vg "$g" "cat /sys/block/$d/queue/discard_max_bytes") > 0)) || fail "$who: no discard"
	(($(vg "$g" "cat /sys/block/$d/queue/write_zeroes_max_bytes") > 0)) ||
		fail "$who: no write zeroes"
	expect_eq "$who: hardware queues" "$(vg "$g" "ls /sys/block/$d/mq | wc -l")" "$queues"

	vg "$g" "dd if=/tmp/pat of=/dev/$d bs=1M seek=1 oflag=direct conv=fsync 2>&1" >/dev/null ||
		fail "$who: pattern write failed"
	expect_eq "$who: pattern read back" "$(vg "$g" "dd if=/dev/$d bs=1M skip=1 count=8 \
		iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" "$VC_PAT"
	expect_eq "$who: pattern in the image" "$(host_md5 "$f" 1 8)" "$VC_PAT"

	# discard [2M, 3M): a hole, zeroes
	vg "$g" "blkdiscard -o $((2 * M)) -l $M /dev/$d" || fail "$who: blkdiscard failed"
	is_hole "$f" $((2 * M)) $M ||
		fail "$who: no hole after a discard: $(qemu-img map --output=json -f raw "$f")"
	echo "ok: $who: discard left a hole"
	expect_eq "$who: discarded range reads" "$(vg "$g" "dd if=/dev/$d bs=1M skip=2 count=1 \
		iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" "$VC_ZERO1M"

	# write zeroes [4M, 5M) keeping the blocks, [5M, 6M) unmapping them
	vg "$g" "/tmp/fallocate -z -o $((4 * M)) -l $M /dev/$d" || fail "$who: fallocate -z failed"
	expect_eq "$who: zeroed range in the image" "$(host_md5 "$f" 4 1)" "$VC_ZERO1M"
	expect_eq "$who: zeroed range reads" "$(vg "$g" "dd if=/dev/$d bs=1M skip=4 count=1 \
		iflag=direct 2>/dev/null | md5sum" | cut -d' ' -f1)" "$VC_ZERO1M"
	vg "$g" "/tmp/fallocate -p -o $((5 * M)) -l $M /dev/$d" || fail "$who: fallocate -p failed"
	is_hole "$f" $((5 * M)) $M || fail "$who: write zeroes with unmap left no hole"
	echo "ok: $who: write zeroes with unmap left a hole"
	expect_eq "$who: data around the holes" "$(host_md5 "$f" 3 1)" \
		"$(vg "$g" "dd if=/tmp/pat bs=1M skip=2 count=1 2>/dev/null | md5sum" | cut -d' ' -f1)"
}
