#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/in-guest.sh [--quick] [--runs N] [--size SIZE] [--brick DIR] [--paths LIST] LOCATION
#
# The seeds' in-guest fio table (issue 18), measured here: fio inside a
# guest (Debian's fio and its libraries carried into the test guest's
# initramfs, as its agent is), the seeds' job: four streams of 128 KiB
# sequential reads, then writes, libaio, O_DIRECT, iodepths 4, 32, 8 and
# 16, each stream over SIZE (the seeds: 512m) of its own quarter of the
# disk (the test guest has no file system: a quarter of the raw disk
# stands for each of the seeds' files).  One guest per run holds every
# path's disk, each on an image of its own; the paths run one after the
# other, in an order that rotates from run to run; medians are printed
# in the seeds' columns (aggrb, minb, maxb in KB/s) with the seeds'
# figures beside, and, for the paths with a server process, its CPU time
# per request (and QEMU's, which under TCG is mostly the guest's).
#
# LOCATION: a directory (a local file system) or gluster://HOST/VOLUME.
# Paths, local: base (QEMU's file driver, cache=none), mortar-nbd (mortar
# serve --direct, QEMU's NBD client), mortar-vhost (mortar serve --direct
# --vhost-user-blk), mortar-vhost-pin (the same with --pin-guest-memory:
# the guest's memory registered with io_uring), mortar-vhost-pin-1t (the
# same on one worker thread, --threads 1: both queues on one thread, as
# qemu-storage-daemon serves them) and mortar-vhost-kick (mortar-vhost
# with --no-coalesce-kicks: a kick per request), neither run unless
# --paths names it, and qsd-vhost (qemu-storage-daemon, cache.direct=on).
# On GlusterFS: base (the image on the brick, with --brick DIR: the
# brick's folder), fuse (QEMU's file driver on a FUSE mount), qemu-gluster
# (QEMU's gluster driver), mortar-nbd, mortar-vhost, mortar-vhost-kick and
# qsd-vhost (its gluster driver); the bricks' CPU time is counted too.  KVM when /dev/kvm is hardware virtualization, else
# TCG: the first line says which.  --quick: 16m streams, one run.
# A benchmark: exits 0 whatever the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/..
build=${MORTAR_BUILD:-$src/build}
mortar=$build/cli/mortar
usage() { sed -n '3,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 2; }

runs=3 size=512m brick= only= loc=
while (($#)); do
	case $1 in
	--quick) runs=1 size=16m ;;
	--runs) runs=$2; shift ;;
	--size) size=$2; shift ;;
	--brick) brick=$2; shift ;;
	--paths) only=$2; shift ;;
	-h|--help) usage ;;
	-*) echo "in-guest.sh: unknown option $1" >&2; usage ;;
	*) loc=$1 ;;
	esac
	shift
done
[[ -n $loc ]] || usage
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "in-guest.sh: --runs 1 to 99" >&2; exit 2; }
stream=$(numfmt --from=iec "${size^^}")
disk=$((4 * stream + (64 << 20)))

tmp=$(mktemp -d /tmp/mortar-in-guest.XXXXXX)
pids=() images=() gluster=false
cleanup() {
	local p f
	set +e
	[[ -n ${qpid:-} ]] && kill "$qpid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# the images: local files, or through the FUSE mount (made for the
	# purpose when the fuse path did not run)
	if $gluster && ! mountpoint -q "$tmp/fuse" 2>/dev/null; then
		mkdir -p "$tmp/fuse"
		mount -t glusterfs "$ghost:/$gvol" "$tmp/fuse" 2>/dev/null ||
			echo "in-guest.sh: the images bench-*.img stay on $gvol (no FUSE mount to remove them)" >&2
	fi
	for f in "${images[@]}"; do
		if $gluster; then rm -f "$tmp/fuse/${f##*/}"; else rm -f "$f"; fi
	done
	mountpoint -q "$tmp/fuse" 2>/dev/null && umount "$tmp/fuse"
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the guest: the test kernel, its initramfs and fio's ----
eval "$("$src/scripts/guest-assets.sh" x86_64)"
cache=${MORTAR_GUEST_CACHE:-/var/cache/mortar/guest}/x86_64
fiocpio=$cache/fio.cpio.gz
if [[ ! -s $fiocpio || /usr/bin/fio -nt $fiocpio ]]; then
	# fio and every library it links, as the host has them (the guest
	# is Debian 12 amd64 like the host); the kernel unpacks a second
	# archive over the first.
	python3 - "$fiocpio.new" /usr/bin/fio $(ldd /usr/bin/fio | awk '/=> \// { print $3 }') <<'EOF'
import gzip, os, sys
out = gzip.open(sys.argv[1], "wb", compresslevel=1)
ino = [300000]
def entry(name, mode, data=b""):
    ino[0] += 1
    name = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0))
    out.write(hdr.encode() + name + b"\0" * ((4 - (110 + len(name)) % 4) % 4))
    out.write(data + b"\0" * ((4 - len(data) % 4) % 4))
dirs = set()
for path in sys.argv[2:]:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        d = "/".join(parts[:i])
        if d not in dirs:
            dirs.add(d); entry(d, 0o40755)
    entry(path.strip("/"), 0o100755, open(path, "rb").read())
entry("TRAILER!!!", 0)
out.close()
EOF
	mv "$fiocpio.new" "$fiocpio"
fi
cat "$initrd" "$fiocpio" >"$tmp/initrd"
if [[ -w /dev/kvm ]] && [[ -e /sys/module/kvm_intel || -e /sys/module/kvm_amd ]]; then
	accel=kvm cpus=4
else
	accel=tcg cpus=2
fi

# ---- the paths and their images ----
if [[ $loc == gluster://* ]]; then
	gluster=true
	g=${loc%/}; ghost=${g#gluster://}; gvol=${ghost#*/}; ghost=${ghost%%/*}
	all="base fuse qemu-gluster mortar-nbd mortar-vhost mortar-vhost-kick qsd-vhost"
	[[ -n $brick ]] || all=${all#base }
else
	mkdir -p "$loc"
	all="base mortar-nbd mortar-vhost mortar-vhost-kick mortar-vhost-pin mortar-vhost-pin-1t qsd-vhost"
fi
[[ $only == *mortar-vhost-pin-1t* ]] || all=${all/ mortar-vhost-pin-1t/}
[[ $only == *mortar-vhost-kick* ]] || all=${all/ mortar-vhost-kick/}
paths=()
for p in $all; do [[ -z $only || ,$only, == *,$p,* ]] && paths+=("$p"); done
declare -A img size_of label
label=([base]="Base (QEMU file driver)" [fuse]="FUSE mount" [qemu-gluster]="QEMU's gluster driver"
       [mortar-nbd]="Mortar NBD" [mortar-vhost]="Mortar vhost-user-blk"
       [mortar-vhost-pin]="Mortar vhost-user-blk, pinned memory"
       [mortar-vhost-pin-1t]="Mortar vhost-user-blk pinned, 1 thread"
       [mortar-vhost-kick]="Mortar vhost-user-blk, all kicks"
       [qsd-vhost]="qemu-storage-daemon vhost-user-blk")

k=0
for p in "${paths[@]}"; do
	# sizes differ by a MiB so that the guest can tell the disks apart
	size_of[$p]=$((disk + k * (1 << 20))); k=$((k + 1))
	if $gluster; then img[$p]=$g/bench-$p.img; else img[$p]=$(realpath "$loc")/bench-$p.img; fi
	"$mortar" img create --force "${img[$p]}" "${size_of[$p]}" >/dev/null
	images+=("${img[$p]}")
done
file_of() {	# what QEMU's file driver opens for path P
	case $1 in
	base) $gluster && echo "$brick/bench-base.img" || echo "${img[base]}" ;;
	fuse) echo "$tmp/fuse/bench-fuse.img" ;;
	esac
}

# ---- the servers (started once) ----
declare -A server
wait_sock() { for _ in $(seq 300); do [[ -S $1 ]] && return 0; sleep 0.1; done; echo "no $1" >&2; exit 1; }
for p in "${paths[@]}"; do
	case $p in
	mortar-nbd)
		"$mortar" serve -f --direct --socket "$tmp/nbd.sock" "${img[$p]}" 2>>"$tmp/servers.log" &
		server[$p]=$!; pids+=($!); wait_sock "$tmp/nbd.sock" ;;
	mortar-vhost|mortar-vhost-kick|mortar-vhost-pin|mortar-vhost-pin-1t)
		t=()
		[[ $p == mortar-vhost-pin* ]] && t=(--pin-guest-memory)
		[[ $p == mortar-vhost-pin-1t ]] && t+=(--threads 1)
		[[ $p == mortar-vhost-kick ]] && t+=(--no-coalesce-kicks)
		"$mortar" serve -f --direct "${t[@]}" --vhost-user-blk "$tmp/$p.sock" "${img[$p]}" \
			2>>"$tmp/servers.log" &
		server[$p]=$!; pids+=($!); wait_sock "$tmp/$p.sock" ;;
	qsd-vhost)
		if $gluster; then
			bd="driver=gluster,volume=$gvol,path=bench-qsd-vhost.img,server.0.type=inet,server.0.host=$ghost,server.0.port=24007"
		else
			bd="driver=file,filename=${img[$p]},cache.direct=on,aio=native"
		fi
		qemu-storage-daemon --blockdev "$bd,node-name=q0,discard=unmap" \
			--export "type=vhost-user-blk,id=e0,node-name=q0,addr.type=unix,addr.path=$tmp/$p.sock,writable=on,num-queues=$cpus" \
			2>>"$tmp/servers.log" &
		server[$p]=$!; pids+=($!); wait_sock "$tmp/$p.sock" ;;
	fuse)
		mkdir -p "$tmp/fuse"
		mount -t glusterfs "$ghost:/$gvol" "$tmp/fuse" ;;
	esac
done

qemu_disks() {
	local p n=0
	for p in "${paths[@]}"; do
		n=$((n + 1))
		case $p in
		base|fuse)
			echo "-drive file=$(file_of "$p"),format=raw,if=none,id=d$n,cache=none,aio=native"
			echo "-device virtio-blk-pci,drive=d$n" ;;
		qemu-gluster)
			echo "-drive file=$g/bench-qemu-gluster.img,format=raw,if=none,id=d$n,cache=none"
			echo "-device virtio-blk-pci,drive=d$n" ;;
		mortar-nbd)
			echo "-blockdev driver=nbd,node-name=d$n,server.type=unix,server.path=$tmp/nbd.sock,cache.direct=on"
			echo "-device virtio-blk-pci,drive=d$n" ;;
		mortar-vhost|mortar-vhost-kick|mortar-vhost-pin|mortar-vhost-pin-1t|qsd-vhost)
			echo "-chardev socket,id=c$n,path=$tmp/$p.sock"
			echo "-device vhost-user-blk-pci,chardev=c$n,num-queues=$cpus" ;;
		esac
	done
}

. "$src/tests/vm/guest-agent.bash"
GUEST_AGENT=qga_socket QGA_SOCKET=$tmp/qga.sock
PY=python3; [[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
boot() {
	rm -f "$tmp/qga.sock"
	# shellcheck disable=SC2046
	qemu-system-x86_64 -machine q35,accel=$accel -smp $cpus -m 1G \
		-object memory-backend-memfd,id=m0,size=1G,share=on -numa node,memdev=m0 \
		-nodefaults -no-user-config -display none -no-reboot \
		-kernel "$kernel" -initrd "$tmp/initrd" -append "console=ttyS0 quiet panic=-1 mortar.console=0" \
		-device virtio-serial-pci,id=vser0 \
		-chardev "socket,id=qga0,path=$tmp/qga.sock,server=on,wait=off" \
		-device virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0 \
		-serial "file:$tmp/serial.log" -pidfile "$tmp/qemu.pid" -daemonize $(qemu_disks)
	qpid=$(cat "$tmp/qemu.pid")
	guest_wait_agent 600 || { echo "the guest did not start: $(tail -5 "$tmp/serial.log")" >&2; exit 1; }
}
halt() { kill "$qpid"; while kill -0 "$qpid" 2>/dev/null; do sleep 0.2; done; qpid=; }

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# The volume's brick processes on this machine (the peers' CPU includes
# theirs: every GlusterFS path but Base goes through them).
brick_ticks() {
	local p t=0
	$gluster || { echo 0; return; }
	for p in $(pgrep -f "glusterfsd .*--volfile-id $gvol\\." || true); do
		t=$((t + $(ticks "$p" 2>/dev/null || echo 0)))
	done
	echo $t
}
hz=$(getconf CLK_TCK)
# run P RW: the seeds' job on P's disk; prints "aggrb minb maxb srv_us qemu_us"
run() {
	local p=$1 rw=$2 dev s0=0 s1=0 q0 q1 out
	dev=$(guest_exec "for d in /sys/block/vd*; do [ \$((\$(cat \$d/size) * 512)) = ${size_of[$p]} ] && echo \${d##*/}; done")
	[[ -n $dev ]] || { echo "no disk of ${size_of[$p]} bytes for $p in the guest" >&2; exit 1; }
	guest_exec "printf '[global]\nioengine=libaio\ndirect=1\nrw=$rw\nbs=128k\nsize=$stream\nfilename=/dev/$dev\n' >/tmp/job
		for j in 0 1 2 3; do printf '[file%d]\niodepth=%d\noffset=%d\n' \$((j + 1)) \$(echo 4 32 8 16 | cut -d' ' -f\$((j + 1))) \$((j * $stream)) >>/tmp/job; done"
	[[ -n ${server[$p]:-} ]] && s0=$(ticks "${server[$p]}")
	q0=$(ticks "$qpid") b0=$(brick_ticks)
	out=$(guest_exec -t 7200 "/usr/bin/fio --output-format=json /tmp/job") ||
		{ echo "fio failed on $p ($rw): $out" >&2; exit 1; }
	[[ -n ${server[$p]:-} ]] && s1=$(ticks "${server[$p]}")
	q1=$(ticks "$qpid") b1=$(brick_ticks)
	jq -r --arg rw "$rw" --argjson s $((s1 - s0)) --argjson q $((q1 - q0)) --argjson hz "$hz" \
		--argjson b $((b1 - b0)) \
		--arg srv "${server[$p]:+y}" '
		[.jobs[] | .[if $rw == "read" then "read" else "write" end]] as $j |
		($j | map(.io_kbytes) | add) as $kb | ($j | map(.runtime) | max) as $ms |
		($j | map(.total_ios) | add) as $ios |
		[($kb * 1000 / $ms | floor), ($j | map(.bw) | min), ($j | map(.bw) | max),
		 (if $srv == "y" then ($s / $hz * 1e6 / $ios | floor) else "-" end),
		 ($q / $hz * 1e6 / $ios | floor), ($b / $hz * 1e6 / $ios | floor)] | @tsv' <<<"$out"
}

declare -A res
echo "in-guest fio: accel=$accel, $cpus vCPUs, 4 streams x $size, $runs run(s), $(date -u +%F)"
for ((r = 0; r < runs; r++)); do
	boot
	n=${#paths[@]}
	for ((i = 0; i < n; i++)); do
		p=${paths[$(((i + r) % n))]}
		for rw in write read; do
			res[$p,$rw,$r]=$(run "$p" "$rw") || exit 1
			printf 'run %d %-14s %-5s %s\n' $((r + 1)) "$p" "$rw" "${res[$p,$rw,$r]}" >&2
		done
	done
	halt
done

# ---- the table ----
median() { sort -n | awk '{ a[NR] = $1 } END { if (!NR) print "-"; else if (a[1] == "-") print "-"; else print a[int((NR + 1) / 2)] }'; }
col() { local p=$1 rw=$2 c=$3 r; for ((r = 0; r < runs; r++)); do cut -f"$c" <<<"${res[$p,$rw,$r]}"; done | median; }
declare -A med
for rw in read write; do
	echo
	echo "FIO ${rw^^} ($($gluster && echo "GlusterFS volume $gvol" || echo "local file system"))"
	printf '%-38s %12s %11s %11s %14s %13s\n' "" "aggrb (KB/s)" "minb (KB/s)" "maxb (KB/s)" "server us/req" "QEMU us/req"
	for p in "${paths[@]}"; do
		for c in 1 2 3 4 5 6; do med[$p,$rw,$c]=$(col "$p" "$rw" $c); done
		printf '%-38s %12s %11s %11s %14s %13s\n' "${label[$p]}" "${med[$p,$rw,1]}" \
			"${med[$p,$rw,2]}" "${med[$p,$rw,3]}" "${med[$p,$rw,4]}" "${med[$p,$rw,5]}"
	done
	ratio() { [[ -n ${med[$1,$rw,1]:-} && -n ${med[$2,$rw,1]:-} && ${med[$2,$rw,1]} != 0 ]] &&
		awk -v a="${med[$1,$rw,$3]}" -v b="${med[$2,$rw,$3]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }' || echo "-"; }
	echo "  ratios: vhost/qsd $(ratio mortar-vhost qsd-vhost 1), vhost/nbd $(ratio mortar-vhost mortar-nbd 1)$($gluster &&
		echo ", vhost/qemu-gluster $(ratio mortar-vhost qemu-gluster 1), vhost/base $(ratio mortar-vhost base 1)"), server CPU vhost/qsd $(ratio mortar-vhost qsd-vhost 4)$($gluster ||
		echo ", pinned/qsd $(ratio mortar-vhost-pin qsd-vhost 1), server CPU pinned/qsd $(ratio mortar-vhost-pin qsd-vhost 4), server CPU pinned/unpinned $(ratio mortar-vhost-pin mortar-vhost 4)")$([[ -n ${med[mortar-vhost-pin-1t,$rw,1]:-} ]] &&
		echo ", server CPU pinned-1t/qsd $(ratio mortar-vhost-pin-1t qsd-vhost 4), pinned-1t/pinned $(ratio mortar-vhost-pin-1t mortar-vhost-pin 4)")$([[ -n ${med[mortar-vhost-kick,$rw,1]:-} ]] &&
		echo ", vhost/kick $(ratio mortar-vhost mortar-vhost-kick 1), kick/qsd $(ratio mortar-vhost-kick qsd-vhost 1), kick/nbd $(ratio mortar-vhost-kick mortar-nbd 1), server CPU vhost/kick $(ratio mortar-vhost mortar-vhost-kick 4), server CPU kick/qsd $(ratio mortar-vhost-kick qsd-vhost 4)")"
	# A driver inside QEMU (base, qemu-gluster) spends its CPU in QEMU's
	# column; a server's is apart; GlusterFS's bricks run here too: the
	# sums compare what the host pays per request.
	printf '  host CPU per request (server + QEMU%s, us):' "$($gluster && echo " + bricks")"
	for p in "${paths[@]}"; do
		srv=${med[$p,$rw,4]:-} brk=${med[$p,$rw,6]:-}
		[[ ${med[$p,$rw,5]:-} =~ ^[0-9]+$ ]] || continue
		[[ $srv =~ ^[0-9]+$ ]] || srv=0
		[[ $brk =~ ^[0-9]+$ ]] || brk=0
		printf ' %s %s' "$p" $(( med[$p,$rw,5] + srv + brk ))
		$gluster && printf ' (bricks %s)' "$brk"
	done
	echo
	if [[ $rw == read ]]; then
		echo "  seeds (Fedora 17, KVM, 2 cores, 2012): Base 43802 10950 12918; FUSE 15219 3804 5792; QEMU's gluster driver 39357 9839 12946"
	else
		echo "  seeds (Fedora 17, KVM, 2 cores, 2012): Base 42393 10598 15646; FUSE 24579 6144 8423; QEMU's gluster driver 42707 10676 17262"
	fi
done
exit 0
