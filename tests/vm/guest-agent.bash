# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by tests that run commands inside a test guest through the QEMU
# guest agent (qemu-ga, which scripts/guest/init starts when the VM has
# the port org.qemu.guest_agent.0).  The transport is a function that
# takes one agent command as JSON and prints the agent's JSON reply:
#   GUEST_AGENT=qga_socket QGA_SOCKET=PATH   a `mortar vm` guest (qga.sock
#                                            in its runtime directory;
#                                            guest_of_vm NAME sets both)
#   GUEST_AGENT=lv_agent LV_DOMAIN=NAME      a libvirt domain (tests/libvirt)
#   (vm_qmp NAME COMMAND talks to the QEMU of `mortar vm` NAME itself)
#
#   guest_exec [-t SECONDS] COMMAND   sh -c COMMAND in the guest: its
#                                     output on stdout and stderr, its exit
#                                     status (125: the agent failed, 124:
#                                     no end within SECONDS, default 60)
#   guest_wait_agent [SECONDS]        until the agent answers (default 120)
#   guest_put HOSTFILE PATH           copy a host tool into the guest
#   guest_write_verify DEV OFF LEN TEXT
#                                     the guest writes TEXT repeated over LEN
#                                     MiB at OFF MiB of DEV (O_DIRECT, then a
#                                     flush), reads them back and compares
#   guest_trim_frees DEV OFF LEN CMD...
#                                     the guest discards LEN MiB at OFF MiB of
#                                     DEV; CMD prints the image's allocated
#                                     bytes, which must drop by LEN MiB
#   pattern TEXT BYTES                the host's copy of what
#                                     guest_write_verify writes

# qga_socket JSON: one command over QGA_SOCKET.  guest-sync first, with a
# fresh id, so that a reply left over from an earlier client is skipped.
qga_socket() { _json_socket qga "$QGA_SOCKET" "$1"; }
# vm_qmp NAME COMMAND: one QMP command (no arguments) to `mortar vm` NAME's
# QEMU ("stop", "cont"); prints QEMU's reply.
vm_qmp() { _json_socket qmp "$MORTAR_VM_DIR/$1/qmp.sock" "{\"execute\":\"$2\"}"; }

# _json_socket qga|qmp SOCKET JSON: the agent's handshake (guest-sync) or
# QMP's (greeting, capabilities), then JSON; prints the reply (events
# skipped).
_json_socket() {
	"${PY:-python3}" - "$@" <<-'EOF'
	import json, random, socket, sys
	mode, path, cmd = sys.argv[1:4]
	s = socket.socket(socket.AF_UNIX)
	s.settimeout(30)
	s.connect(path)
	f = s.makefile("rwb")
	def send(o):
	    f.write(json.dumps(o).encode() + b"\n")
	    f.flush()
	def reply():
	    while True:
	        line = f.readline()
	        if not line:
	            sys.exit("%s: the peer closed the connection" % mode)
	        try:
	            o = json.loads(line.strip(b"\xff \r\n") or b"null")
	        except ValueError:
	            continue
	        if isinstance(o, dict) and ("return" in o or "error" in o or "QMP" in o):
	            return o
	if mode == "qmp":
	    reply()
	    send({"execute": "qmp_capabilities"})
	    reply()
	else:
	    tag = random.randint(1, 1 << 30)
	    send({"execute": "guest-sync", "arguments": {"id": tag}})
	    while reply().get("return") != tag:
	        pass
	send(json.loads(cmd))
	print(json.dumps(reply()))
	EOF
}

# guest_of_vm NAME: the agent of `mortar vm` NAME, once it answers.
guest_of_vm() {
	GUEST_AGENT=qga_socket
	QGA_SOCKET=$MORTAR_VM_DIR/$1/qga.sock
	guest_wait_agent 120 || fail "the guest agent of VM $1 does not answer after 120 s"
}

_guest_agent() { "${GUEST_AGENT:?set GUEST_AGENT to a transport}" "$@"; }

guest_wait_agent() {
	local deadline=$((SECONDS + ${1:-120}))
	until grep -q '"return"' <<<"$(_guest_agent '{"execute":"guest-ping"}' 2>/dev/null)"; do
		((SECONDS < deadline)) || return 1
		sleep 1
	done
}

guest_exec() {
	local limit=60 req pid st deadline
	if [[ $1 == -t ]]; then
		limit=$2
		shift 2
	fi
	req=$(jq -cn --arg c "$1" \
		'{execute: "guest-exec", arguments: {path: "/bin/sh", arg: ["-c", $c], "capture-output": true}}')
	pid=$(_guest_agent "$req" | jq -r '.return.pid // empty') || true
	[[ -n $pid ]] || { echo "guest_exec: the agent did not start '$1'" >&2; return 125; }
	deadline=$((SECONDS + limit))
	while :; do
		st=$(_guest_agent "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") ||
			{ echo "guest_exec: the agent did not answer about '$1'" >&2; return 125; }
		[[ $(jq -r .return.exited <<<"$st") == true ]] && break
		((SECONDS < deadline)) || { echo "guest_exec: '$1' still runs after ${limit}s" >&2; return 124; }
		sleep 0.3
	done
	jq -r '.return["out-data"] // empty' <<<"$st" | base64 -d
	jq -r '.return["err-data"] // empty' <<<"$st" | base64 -d >&2
	return "$(jq -r '.return.exitcode // 125' <<<"$st")"
}

# guest_put HOSTFILE PATH: copy a file into the guest, executable (a tool
# the initramfs lacks).  The guest's /bin holds busybox's links: write
# elsewhere (/tmp), never through one.
guest_put() {
	local h chunk rc=0
	h=$(_guest_agent "$(jq -cn --arg p "$2" '{execute: "guest-file-open", arguments: {path: $p, mode: "w"}}')" |
		jq -r '.return // empty') || true
	[[ -n $h ]] || { echo "guest_put: the agent cannot open $2" >&2; return 125; }
	while read -r chunk; do
		_guest_agent "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":$h,\"buf-b64\":\"$chunk\"}}" |
			grep -q '"return"' || { rc=125; break; }
	done < <(base64 -w 65536 "$1")
	_guest_agent "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null
	((rc == 0)) || { echo "guest_put: cannot write $2" >&2; return $rc; }
	guest_exec "chmod 0755 '$2'"
}

pattern() { (set +o pipefail; yes "$1" | head -c "$2"); }

guest_write_verify() {
	guest_exec "yes $4 | head -c $(($3 << 20)) >/tmp/w &&
		dd if=/tmp/w of=$1 bs=1M seek=$2 oflag=direct conv=notrunc,fsync 2>/dev/null &&
		dd if=$1 bs=1M skip=$2 count=$3 iflag=direct 2>/dev/null | cmp - /tmp/w && rm /tmp/w" ||
		fail "the guest could not write $3 MiB at $2 MiB of $1 and read them back"
	echo "ok: the guest wrote $3 MiB at $2 MiB of $1 and read them back"
}

guest_trim_frees() {
	local dev=$1 off=$2 len=$3 before after
	shift 3
	before=$("$@") || fail "cannot read the image's allocation ($*)"
	guest_exec "blkdiscard -o $((off << 20)) -l $((len << 20)) $dev" || fail "blkdiscard of $dev failed in the guest"
	after=$("$@") || fail "cannot read the image's allocation ($*)"
	echo "allocation: $before bytes before the guest's trim of $len MiB, $after after"
	((before - after >= len << 20)) || fail "the guest's trim of $len MiB freed $((before - after)) bytes of the image"
	echo "ok: the guest's trim made a hole of $len MiB in the image"
}
