#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Play systemd's part for `mortar serve --fdstore` where no systemd runs
(tests/func/serve-handover.sh, tests/vm/serve-restart.sh).

  fake-systemd.py [--restarts N] [--interval S] [--ready-file F] -- CMD...

Starts CMD with NOTIFY_SOCKET set to a datagram socket of ours, as a
Type=notify service with FileDescriptorStoreMax= would, and waits for
READY=1.  Then N times, every S seconds: SIGTERM (as `systemctl restart`
does), keep every fd the service puts in the store (FDSTORE=1 with
FDNAME=, SCM_RIGHTS), wait for it to exit, and start CMD again with the
stored fds from fd 3 on: LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID.  After the
last restart it waits for a line on stdin (or its end), then stops the
service with SIGTERM and drops the store (as `systemctl stop` would).

Prints one line per restart, "restart K: stored N fds, pid A -> B, ready
after T ms", and "status: ..." for each STATUS= the service sends.  Exits 0
when every restart came back READY and the service exited 0 each time;
writes the current pid to --ready-file after each READY.
"""
import argparse
import array
import os
import signal
import socket
import sys
import tempfile
import time


def recv_notify(sock, timeout):
    """One notification: (dict of KEY=VALUE lines, [fds]) or None."""
    sock.settimeout(timeout)
    fds = array.array("i")
    try:
        msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(64 * fds.itemsize))
    except socket.timeout:
        return None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    kv = {}
    for line in msg.decode(errors="replace").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            kv[k] = v
    return kv, list(fds)


def start(cmd, notify_path, stored):
    """CMD with NOTIFY_SOCKET, and the stored fds at 3.. if any."""
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    pid = os.fork()
    if pid:
        return pid
    try:
        # Move the stored fds to 3, 4, ... in order (dup first, so that
        # none overwrites another), then say so as systemd does.
        tmp = [os.dup(fd) for _, fd in stored]
        for i, fd in enumerate(tmp):
            os.dup2(fd, 3 + i, inheritable=True)
        os.closerange(3 + len(stored), 4096)
        if stored:
            env["LISTEN_FDS"] = str(len(stored))
            env["LISTEN_FDNAMES"] = ":".join(name for name, _ in stored)
            env["LISTEN_PID"] = str(os.getpid())
        os.execvpe(cmd[0], cmd, env)
    finally:
        os._exit(127)


def wait_ready(sock, pid, timeout, store=None):
    """Until READY=1 (True) or the process exits (False); STATUS lines and
    FDSTORE messages are handled on the way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = recv_notify(sock, 0.2)
        if got is None:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print(f"service exited with status {status} before READY=1", flush=True)
                return False
            continue
        kv, fds = got
        if "STATUS" in kv:
            print("status:", kv["STATUS"], flush=True)
        if kv.get("FDSTORE") == "1" and store is not None:
            for fd in fds:
                store.append((kv.get("FDNAME", "stored"), fd))
        if "FDSTOREREMOVE" in kv and store is not None:
            name = kv.get("FDNAME")
            for entry in [e for e in store if e[0] == name]:
                store.remove(entry)
                os.close(entry[1])
        if kv.get("READY") == "1":
            return True
    print("no READY=1 within %d s" % timeout, flush=True)
    return False


def stop_and_store(sock, pid, timeout):
    """SIGTERM; gather what the service stores until it exits.  Returns
    (exit status, [(name, fd)])."""
    store = []
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        got = recv_notify(sock, 0.05)
        if got:
            kv, fds = got
            if kv.get("FDSTORE") == "1":
                for fd in fds:
                    store.append((kv.get("FDNAME", "stored"), fd))
            continue
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
    # Messages sent just before the exit.
    while True:
        got = recv_notify(sock, 0.05)
        if not got:
            break
        kv, fds = got
        if kv.get("FDSTORE") == "1":
            for fd in fds:
                store.append((kv.get("FDNAME", "stored"), fd))
    return status, store


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--ready-file")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    tmp = tempfile.mkdtemp(prefix="fake-systemd.")
    path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    ok = True

    def note_ready(pid):
        if a.ready_file:
            with open(a.ready_file + ".tmp", "w") as f:
                f.write(f"{pid}\n")
            os.rename(a.ready_file + ".tmp", a.ready_file)

    pid = start(cmd, path, [])
    if not wait_ready(sock, pid, 30):
        return 1
    note_ready(pid)
    def listen_for(seconds):
        """Show what the service says while it runs (STATUS=...)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            got = recv_notify(sock, max(0.01, end - time.monotonic()))
            if got and "STATUS" in got[0]:
                print("status:", got[0]["STATUS"], flush=True)

    for k in range(1, a.restarts + 1):
        listen_for(a.interval)
        t0 = time.monotonic()
        status, store = stop_and_store(sock, pid, 60)
        if status is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            print(f"restart {k}: the service ended with status {status}", flush=True)
            ok = False
        old = pid
        nstored = len(store)
        pid = start(cmd, path, store)
        for _, fd in store:
            os.close(fd)  # the new process has its copies
        store = []
        if not wait_ready(sock, pid, 60, store):
            return 1
        note_ready(pid)
        print(f"restart {k}: stored {nstored} fds, pid {old} -> {pid}, "
              f"ready after {(time.monotonic() - t0) * 1000:.0f} ms", flush=True)
    sys.stdin.readline()
    status, store = stop_and_store(sock, pid, 60)
    for _, fd in store:
        os.close(fd)
    if status is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        print(f"stop: the service ended with status {status}", flush=True)
        ok = False
    os.unlink(path)
    os.rmdir(tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
