#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/qmp-migrate.py DIR PORT: the peer of `mortar vm migrate` in
# bench/vm.sh.  Moves the running QEMU of a Mortar VM (its run directory
# DIR) to a new QEMU on this host over tcp:127.0.0.1:PORT with QEMU's own
# QMP commands, as one would by hand:
#  - the target's command line is the source's (/proc/PID/cmdline) with
#    its own pid file, sockets and console, plus `-device`/`-object` for
#    every vCPU and DIMM plugged since the source started (read from the
#    source: query-hotpluggable-cpus, query-memory-devices, the backend's
#    QOM type), under the same ids; `-incoming defer -S`;
#  - the settings Mortar uses with no --max-downtime/--bandwidth: on the
#    target late-block-activate on, then migrate-incoming; on the source
#    pause-before-switchover off, QEMU's default downtime limit (300 ms)
#    and bandwidth, then migrate, query-migrate polled every 50 ms;
#  - the target, once its query-migrate says completed, is sent cont; the
#    source quits; the target's files take the VM's names (what Mortar
#    does after its own migration), so Mortar manages the VM afterwards.
# With --stopped (third argument), the source's guest is stopped before
# the copy, as `mortar vm migrate` does under TCG for a VM of more than one
# RAM block (QEMU 10.0.2's TCG dirty tracking loses writes to the others
# in a live copy: vm/migrate.c copy_stopped); downtime_ms then runs from
# that stop to the copy's end.
# Prints one JSON line: wall_ms (all of the above, from reading the
# command line to the renames), done_ms (until the target's cont
# returned), total_ms and downtime_ms (QEMU's query-migrate on the
# source), setup_ms, ram_bytes (RAM transferred).  Any failure: the
# target QEMU is killed (the source runs on), exit 1 with the reason.
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

d, port = sys.argv[1], int(sys.argv[2])
stopped = sys.argv[3:] == ["--stopped"]
uri = f"tcp:127.0.0.1:{port}"
t0 = time.monotonic()


def ms(t):
    return round((t - t0) * 1000)


def target_kill():
    try:
        os.kill(int(open(d + "/qemu-peer.pid").read()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def die(why):
    target_kill()
    sys.exit(f"qmp-migrate.py: {why}")


class QMP:
    def __init__(self, path, timeout=30):
        end = time.monotonic() + timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                break
            except OSError as e:
                if time.monotonic() > end:
                    die(f"no QMP at {path}: {e}")
                time.sleep(0.01)
        self.f = s.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, c, **a):
        self.f.write(json.dumps({"execute": c, "arguments": a}) + "\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                if c == "quit":
                    return {}
                die(f"QEMU closed its QMP socket during {c}")
            m = json.loads(line)
            if "error" in m:
                die(f"{c}: {m['error']['desc']}")
            if "return" in m:
                return m["return"]


def caps(q, name, on):
    q.cmd("migrate-set-capabilities", capabilities=[{"capability": name, "state": on}])


pid = int(open(d + "/qemu.pid").read())
argv = open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")[:-1]
# The source's own files (boot names, or -target or -peer ones after a
# migration) become the peer's.
files = re.compile(r"/(qemu|qmp|qga|serial)(-target|-peer)?\.(pid|sock|log)(?=$|,)")
cmd, i = [], 0
while i < len(argv):
    if argv[i] == "-incoming":
        i += 2
        continue
    if argv[i] != "-S":
        cmd.append(files.sub(r"/\1-peer.\3", argv[i]))
    i += 1


def on_cmdline(dev_id):
    return any(f",id={dev_id}," in f",{a}," for a in cmd)


src = QMP(d + "/qmp.sock")
for c in src.cmd("query-hotpluggable-cpus"):
    path = c.get("qom-path", "")
    dev_id = path.rsplit("/", 1)[-1]
    if path.startswith("/machine/peripheral/") and not on_cmdline(dev_id):
        props = "".join(f",{k}={v}" for k, v in c["props"].items())
        cmd += ["-device", f"{c['type']},id={dev_id}{props}"]
for m in src.cmd("query-memory-devices"):
    x = m["data"]
    if m["type"] != "dimm" or not x.get("id") or on_cmdline(x["id"]):
        continue
    mem_id = x["memdev"].rsplit("/", 1)[-1]
    kind = src.cmd("qom-get", path=x["memdev"], property="type")
    cmd += ["-object", f"{kind},id={mem_id},size={x['size']}",
            "-device", f"pc-dimm,id={x['id']},memdev={mem_id},node={x['node']}"]
cmd += ["-incoming", "defer", "-S"]

with open(d + "/qemu-peer.log", "w") as log:
    # (-daemonize: returns once QEMU runs, or failed)
    if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
        die("the target QEMU did not start: " + open(d + "/qemu-peer.log").read().strip())
tgt = QMP(d + "/qmp-peer.sock")
caps(tgt, "late-block-activate", True)
tgt.cmd("migrate-incoming", uri=uri)
caps(src, "pause-before-switchover", False)
if stopped:
    src.cmd("stop")
    t_stop = time.monotonic()
src.cmd("migrate", uri=uri)
end = time.monotonic() + 120
while True:
    info = src.cmd("query-migrate")
    if info.get("status") == "completed":
        t_done = time.monotonic()
        break
    if info.get("status") in ("failed", "cancelled"):
        die(f"the migration {info['status']}: {info.get('error-desc', 'no reason given')}")
    if time.monotonic() > end:
        src.cmd("migrate_cancel")
        die("the migration did not complete within 120 s")
    time.sleep(0.05)
while True:
    s = tgt.cmd("query-migrate").get("status")
    if s == "completed":
        break
    if s == "failed":
        die(f"the target failed to load the VM (see {d}/qemu-peer.log)")
    if time.monotonic() > end:
        die("the target had not loaded the VM within 120 s")
    time.sleep(0.02)
tgt.cmd("cont")
done = time.monotonic()
if tgt.cmd("query-status").get("status") != "running":
    die("the target does not run the guest after cont")
# (a source that was a target itself unlinks these names as it quits:
# second names first, as Mortar does)
names = [(f"{d}/{k}-peer.{e}", f"{d}/{k}.{e}") for k, e in
         (("qemu", "pid"), ("qmp", "sock"), ("qga", "sock"), ("serial", "log"))]
for a, b in names:
    if os.path.lexists(b + ".new"):
        os.unlink(b + ".new")
    os.link(a, b + ".new")
src.cmd("quit")


def gone(pid):
    # (a daemonised QEMU may stay a zombie until its new parent reaps it)
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] in "ZX"
    except (OSError, IndexError):
        return True


for _ in range(50):
    if gone(pid):
        break
    time.sleep(0.1)
else:
    die(f"the source QEMU {pid} did not quit")
for a, b in names:
    if os.path.exists(a):
        os.unlink(a)
    os.rename(b + ".new", b)
print(json.dumps({"wall_ms": ms(time.monotonic()), "done_ms": ms(done),
                  "total_ms": info["total-time"],
                  "downtime_ms": round((t_done - t_stop) * 1000) if stopped else info["downtime"],
                  "setup_ms": info.get("setup-time", -1),
                  "ram_bytes": info["ram"]["transferred"]}))
