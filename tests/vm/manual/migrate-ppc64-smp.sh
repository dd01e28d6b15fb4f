#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run by hand (not by tests/run.sh): why `mortar vm migrate` refuses
# under TCG a pseries guest of more than one vCPU.  On QEMU 10 a guest of
# two vCPUs, both booted (MODE=boot, the default) or the second a
# hot-plugged core (MODE=plug), is migrated on this host with --force;
# 20 s later the target's console shows whether the guest runs on
# (MORTAR-GUEST lines) or the watchdog's hard lockup, and QEMU's own
# registers of each vCPU, twice a second apart (HMP through QMP): an
# expired decrementer (DECR near 2^64, counting down) with MSR[EE] set is
# an interrupt QEMU never delivered.  APPEND adds kernel parameters
# (powersave=off cpuidle.off=1: idle polls instead of ceding).  Measured
# on QEMU 10.0.2: none of 13 trials ran again (6 boot, 7 plug).  Where
# QEMU loses the interrupt is not found: its Book3S decrementer is level
# triggered, and restoring a negative DEC on the target (cpu_post_load,
# hw/ppc/ppc.c) raises it; something clears it again before the vCPU
# takes it, or the saved DEC was positive and its timer's expiry is lost
# with the virtual clock's move to the source's.
VM_ARCH=ppc64
. "$(dirname "$0")/../lib.sh"
use_qemu10
cpus=2
[[ ${MODE:-boot} == plug ]] && cpus=1
"$MORTAR" vm start p --arch ppc64 --qemu "$QEMU10" --kernel "$KERNEL" --initrd "$INITRD" \
	--cpus $cpus --max-cpus 2 --memory 512M --max-memory 1G --slots 2 \
	--append "${APPEND:-}" --wait --timeout 180
[[ $cpus == 1 ]] && "$MORTAR" vm cpus p 2 --wait --timeout 90
sleep 2
echo "before: $(guest_line p)"
log=$MORTAR_VM_DIR/p/serial.log
"$MORTAR" vm migrate p --force --timeout 120
sleep 20
tail -n 4 "$log" | cut -c1-120
hmp() {
	qmp_exec "$MORTAR_VM_DIR/p/qmp.sock" human-monitor-command "{\"command-line\":\"$1\"}" |
		jq -r .
}
for i in 1 2; do
	hmp "info registers -a" | grep -E "^CPU#|^NIP|^MSR|DECR" | cut -c1-60
	sleep 1
done
grep -aq "Hard LOCKUP" "$log" && fail "the guest did not run again on the target"
echo PASS
