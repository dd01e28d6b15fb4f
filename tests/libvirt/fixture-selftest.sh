#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# scripts/libvirt-fixture.sh itself, beside the instance the tests use:
#  - a second instance, owned by another process, answers on its own
#    socket; its daemons live in a mount namespace of their own (the
#    host's /run/libvirt gets no socket of it) and see no /dev/kvm;
#  - a libvirtd that died is started again by `up` on that instance;
#  - once its owner is gone, the next `up` takes it down: no process of
#    it is left, its state is gone; `release` by a process that does not
#    own an instance leaves it alone.
. "$(dirname "$0")/lib.sh"

fixture() { "$LIBVIRT_FIXTURE" "$@"; }
owner=$(sleep 600 >/dev/null 2>&1 & echo $!)
on_exit "kill $owner 2>/dev/null"
env2=$(env -u MORTAR_LIBVIRT MORTAR_LIBVIRT_OWNER=$owner "$LIBVIRT_FIXTURE" up) ||
	fail "a second instance: $env2"
k=$(sed -n 's/^MORTAR_LIBVIRT=//p' <<<"$env2")
uri=$(sed -n "s/^LIBVIRT_URI='\(.*\)'$/\1/p" <<<"$env2")
on_exit "MORTAR_LIBVIRT=$k fixture down >/dev/null 2>&1"
[[ -n $k && $k != "$MORTAR_LIBVIRT" ]] || fail "the second instance is '$k', the tests' is $MORTAR_LIBVIRT"
virsh -q -c "$uri" uri >/dev/null || fail "instance $k does not answer on $uri"
echo "ok: instance $k answers beside instance $MORTAR_LIBVIRT"

ns_of() { readlink "/proc/$1/ns/mnt"; }
lvd=$(MORTAR_LIBVIRT=$k fixture exec cat /run/libvirt/libvirtd.pid) || fail "no pid file of libvirtd $k"
[[ $(ns_of "$lvd") != "$(ns_of $$)" ]] || fail "libvirtd $k runs in the host's mount namespace"
[[ ! -S /run/libvirt/libvirt-sock || $(stat -c %i /run/libvirt/libvirt-sock) != \
	"$(MORTAR_LIBVIRT=$k fixture exec stat -c %i /run/libvirt/libvirt-sock)" ]] ||
	fail "the host's /run/libvirt holds instance $k's socket"
! MORTAR_LIBVIRT=$k fixture exec test -c /dev/kvm || fail "instance $k sees /dev/kvm"
echo "ok: libvirtd $k (pid $lvd) has its own /run/libvirt and no /dev/kvm"

kill -KILL "$lvd"
for _ in $(seq 50); do kill -0 "$lvd" 2>/dev/null || break; sleep 0.1; done
MORTAR_LIBVIRT=$k MORTAR_LIBVIRT_OWNER=$owner fixture up >/dev/null || fail "up did not repair instance $k"
virsh -q -c "$uri" uri >/dev/null || fail "instance $k does not answer after up"
echo "ok: up started the killed libvirtd of instance $k again"

MORTAR_LIBVIRT=$k MORTAR_LIBVIRT_OWNER=$$ fixture release
virsh -q -c "$uri" uri >/dev/null || fail "a release by a process that does not own instance $k took it down"
echo "ok: release by another process leaves instance $k"

pids=$(MORTAR_LIBVIRT=$k fixture exec sh -c 'cat /run/libvirt/libvirtd.pid /run/libvirt/virtlogd.pid')
kill "$owner"
wait "$owner" 2>/dev/null || true
# Any `up` without an instance takes down those whose owner is gone.
other=$(sleep 600 >/dev/null 2>&1 & echo $!)
on_exit "kill $other 2>/dev/null"
env3=$(env -u MORTAR_LIBVIRT MORTAR_LIBVIRT_OWNER=$other "$LIBVIRT_FIXTURE" up 2>"$SCRATCH/up.err") ||
	fail "up after the owner left: $env3 $(cat "$SCRATCH/up.err")"
grep -q "taking down instance $k, whose owner is gone" "$SCRATCH/up.err" ||
	fail "up did not take down instance $k: $(cat "$SCRATCH/up.err")"
MORTAR_LIBVIRT=$(sed -n 's/^MORTAR_LIBVIRT=//p' <<<"$env3") MORTAR_LIBVIRT_OWNER=$other fixture release
for p in $pids; do
	! kill -0 "$p" 2>/dev/null || fail "process $p of instance $k still runs"
done
[[ ! -e /run/mortar-libvirt/inst$k ]] || fail "the state of instance $k is still there"
echo "ok: the next up took down instance $k, whose owner had gone"
echo PASS
