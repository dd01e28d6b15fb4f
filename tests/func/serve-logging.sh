#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar serve --log=journal: lines reach the journal's socket (played here
# by a listener on /run/systemd/journal/socket in a mount namespace of the
# test's own) with PRIORITY, SYSLOG_IDENTIFIER and, for a connection's
# lines, MORTAR_CLIENT and MORTAR_EXPORT, and for a failed request
# MORTAR_REQUEST; without a journal the lines go to stderr instead of
# being lost.  A client's export name is escaped in log lines.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires unshare
requires_root
"$PY" -c 'import nbd' 2>/dev/null || skip "python3 with the nbd module (python3-libnbd)"

"$MORTAR" img create "$SCRATCH/j.img" 1M >/dev/null
cat >"$SCRATCH/journal.py" <<'PYEOF'
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(path), exist_ok=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(out + ".ready", "w").close()
with open(out, "ab") as f:
    while True:
        msg = s.recv(65536)
        # One entry a datagram: KEY=VALUE lines (sd_journal_send's form
        # for values without a newline); entries separated by a blank line.
        f.write(msg.rstrip(b"\n") + b"\n\n")
        f.flush()
PYEOF
cat >"$SCRATCH/inside.sh" <<EOF
set -e
mount -t tmpfs tmpfs /run/systemd
"$PY" "$SCRATCH/journal.py" /run/systemd/journal/socket "$SCRATCH/journal.out" &
jp=\$!
for i in \$(seq 100); do [ -e "$SCRATCH/journal.out.ready" ] && break; sleep 0.05; done
"$MORTAR" serve -f -v --log=journal -s "$SCRATCH/j.sock" disk="$SCRATCH/j.img" 2>"$SCRATCH/j.err" &
sp=\$!
for i in \$(seq 200); do [ -S "$SCRATCH/j.sock" ] && break; sleep 0.05; done
"$PY" - "$SCRATCH/j.sock" <<'PY'
import nbd, sys
h = nbd.NBD()
h.set_export_name("disk")
h.connect_unix(sys.argv[1])
h.set_strict_mode(0)
try:
    h.pread(4096, 1 << 20)      # past the end: refused
except nbd.Error:
    pass
h.shutdown()
h = nbd.NBD()
h.set_export_name("no\\x1b[31msuch")
try:
    h.connect_unix(sys.argv[1])
except nbd.Error:
    pass
PY
kill \$sp; wait \$sp || true
kill \$jp
EOF
unshare -m bash "$SCRATCH/inside.sh" || fail "the run in a mount namespace failed"
j=$SCRATCH/journal.out
[[ -s $j ]] || fail "nothing reached the journal socket; stderr: $(cat "$SCRATCH/j.err")"
grep -q "^SYSLOG_IDENTIFIER=mortar-serve$" "$j" || fail "no SYSLOG_IDENTIFIER: $(head -20 "$j")"
grep -q "^PRIORITY=[0-7]$" "$j" || fail "no PRIORITY"
"$PY" - "$j" <<'PYEOF' || fail "journal entries lack their fields (see above)"
import sys
entries = [dict(l.split("=", 1) for l in e.splitlines() if "=" in l)
           for e in open(sys.argv[1], errors="replace").read().split("\n\n") if e.strip()]
def find(pred, what):
    for e in entries:
        if pred(e):
            print("ok:", what, "->", {k: v for k, v in e.items() if k.startswith(("MESSAGE", "MORTAR"))})
            return e
    sys.exit(f"no entry {what}; entries: {entries}")
find(lambda e: "transmission on export" in e.get("MESSAGE", "") and
     e.get("MORTAR_EXPORT") == "disk" and e.get("MORTAR_CLIENT", "").startswith("unix socket"),
     "for the connection, with MORTAR_EXPORT and MORTAR_CLIENT")
find(lambda e: "failed" in e.get("MESSAGE", "") and
     e.get("MORTAR_REQUEST", "").startswith("type 0 at 1048576+4096"),
     "for the refused read, with MORTAR_REQUEST")
e = find(lambda e: "no export named" in e.get("MESSAGE", ""), "for the unknown export")
if "\x1b" in e["MESSAGE"] or "\\x1b" not in e["MESSAGE"]:
    sys.exit("the client's export name was not escaped: %r" % e["MESSAGE"])
PYEOF
if grep -q "transmission on export" "$SCRATCH/j.err"; then
	fail "with a journal, lines also went to stderr"
fi

# Without a journal: stderr.
start_server_unix nojournal --log=journal "$SCRATCH/j.img"
nbdinfo "nbd+unix:///?socket=$SOCK" >/dev/null 2>&1 || true
kill "$SPID"
wait "$SPID" || true
grep -q "transmission on export" "$SCRATCH/nojournal.log" ||
	fail "without a journal the lines were lost: $(cat "$SCRATCH/nojournal.log")"
echo "ok: without a journal, the lines go to stderr"
echo PASS
