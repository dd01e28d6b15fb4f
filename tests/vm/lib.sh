# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the VM tests: the guest kernel and initramfs (built from
# Debian packages by scripts/guest-assets.sh, cached), a private VM
# directory, and helpers that read what the guest itself reports.
. "$(dirname "${BASH_SOURCE[0]}")/../func/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../func/helpers.bash"
# VM_ARCH (set before sourcing): x86_64 (default) or ppc64.
VM_ARCH=${VM_ARCH:-x86_64}
requires "qemu-system-$VM_ARCH" jq

assets=$("$MORTAR_SRC/scripts/guest-assets.sh" "$VM_ARCH" 2>&1) ||
	{ [[ ${CI:-} == true ]] && fail "guest assets: $assets"; skip "no guest assets: $assets"; }
KERNEL=$(sed -n 's/^kernel=//p' <<<"$assets")
INITRD=$(sed -n 's/^initrd=//p' <<<"$assets")
export MORTAR_VM_DIR=$SCRATCH/vms
# Whatever a test leaves running (a start that failed before the test
# registered its own stop, a failed assertion) is stopped at exit.
_stop_all_vms() {
	local d
	for d in "$MORTAR_VM_DIR"/*/; do
		[[ -d $d ]] && "$MORTAR" vm stop --force "$(basename "$d")" >/dev/null 2>&1
	done
	return 0
}
on_exit _stop_all_vms

# guest_line NAME: the guest's last MORTAR-GUEST line, read from its
# console log directly (not through mortar).
# (start --wait may return on the guest agent's first answer, a moment
# before the first console line: wait for one, up to 30 s)
guest_line() {
	local i
	for ((i = 0; i < 150; i++)); do
		grep -aq "MORTAR-GUEST v1" "$MORTAR_VM_DIR/$1/serial.log" 2>/dev/null && break
		sleep 0.2
	done
	grep -a "MORTAR-GUEST v1" "$MORTAR_VM_DIR/$1/serial.log" | tail -n 1 | tr -d "\r"
}
guest_field() { guest_line "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# qmp_exec SOCKET CMD [ARGS-JSON] [CMD [ARGS-JSON]]...: QMP commands to the
# QEMU listening on SOCKET (not one Mortar holds), each one's "return" as a
# line of JSON; fails on the first error.
qmp_exec() {
	python3 - "$@" <<-'PY'
	import json, socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	f = s.makefile("rw")
	def cmd(c, a):
	    f.write(json.dumps({"execute": c, "arguments": a or {}}) + "\n")
	    f.flush()
	    while True:
	        r = json.loads(f.readline())
	        if "return" in r or "error" in r:
	            return r
	f.readline()
	cmd("qmp_capabilities", None)
	a = sys.argv[2:]
	for i, c in enumerate(a):
	    if not c.startswith("{"):
	        r = cmd(c, json.loads(a[i + 1]) if a[i + 1:] and a[i + 1].startswith("{") else None)
	        if "error" in r:
	            sys.exit("%s: %s" % (c, r["error"]["desc"]))
	        print(json.dumps(r["return"]))
	PY
}

# use_qemu10: QEMU10 = QEMU 10's binary for $VM_ARCH, unpacked beside the
# distribution's by scripts/qemu-backports.sh (cached), and QEMU10_VERSION;
# skips (fails in CI) when it cannot be fetched.
use_qemu10() {
	local out
	out=$("$MORTAR_SRC/scripts/qemu-backports.sh" 2>&1) ||
		{ [[ ${CI:-} == true ]] && fail "QEMU 10: $out"; skip "no QEMU 10: $out"; }
	QEMU10=$(sed -n "s/^$VM_ARCH=//p" <<<"$out")
	QEMU10_VERSION=$(sed -n 's/^version=//p' <<<"$out")
	[[ -x $QEMU10 ]] || fail "scripts/qemu-backports.sh gave no $VM_ARCH binary: $out"
}

# huge_pool N: exactly N free 2 MiB huge pages in the machine's pool (its
# size restored at exit) and a hugetlbfs mounted at HUGE_MNT; skips where
# there is none.  huge_avail: the free pages not reserved; huge_set_avail N.
HUGE_POOL=/sys/kernel/mm/hugepages/hugepages-2048kB
huge_count() { cat "$HUGE_POOL/$1"; }
huge_avail() { echo $(($(huge_count free_hugepages) - $(huge_count resv_hugepages))); }
huge_set_avail() {
	echo $(($(huge_count nr_hugepages) - $(huge_avail) + $1)) >"$HUGE_POOL/nr_hugepages"
	(($(huge_avail) == $1)) || fail "the kernel gave $(huge_avail) free huge pages, $1 asked"
}
huge_pool() {
	requires_root
	[[ -w $HUGE_POOL/nr_hugepages ]] || skip "no 2 MiB huge page pool here"
	grep -qw hugetlbfs /proc/filesystems || skip "no hugetlbfs in this kernel"
	on_exit "echo $(huge_count nr_hugepages) > $HUGE_POOL/nr_hugepages"
	huge_set_avail "$1"
	HUGE_MNT=$SCRATCH/huge
	mkdir -p "$HUGE_MNT"
	mount -t hugetlbfs none "$HUGE_MNT" || fail "cannot mount hugetlbfs"
	on_exit "umount '$HUGE_MNT'"
}
