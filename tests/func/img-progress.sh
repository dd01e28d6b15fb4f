#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The progress bar of `mortar img clone`, as a terminal shows it: run in a
# tmux pane, everything written to the pane is logged (pipe-pane); the log
# must hold bar redraws below 100% and end at 100%, and the screen must
# show the finished bar.  Without a terminal (here: a pipe) no bar is
# drawn; --output=json gives progress lines instead.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires tmux

cd "$SCRATCH"
"$MORTAR" img create src.img 1G >/dev/null
dd if=/dev/urandom of=src.img bs=1M count=384 conv=notrunc status=none
sock=$SCRATCH/tmux.sock
tmux -S "$sock" new-session -d -x 120 -y 10 -s prog "sleep 60"
on_exit "tmux -S '$sock' kill-server 2>/dev/null"
tmux -S "$sock" pipe-pane -t prog "cat >>'$SCRATCH/pane.log'"
tmux -S "$sock" respawn-pane -k -t prog \
	"'$MORTAR' img clone --no-reflink src.img copy.img; echo EXIT=\$?; sleep 60"
for ((i = 0; i < 600; i++)); do
	grep -q "EXIT=" pane.log 2>/dev/null && break
	sleep 0.1
done
grep -q "EXIT=0" pane.log || fail "clone in tmux did not finish well: $(tail -c 400 pane.log)"
screen=$(tmux -S "$sock" capture-pane -p -t prog)
grep -qE '^clone \[#{30}\] 100%' <<<"$screen" || fail "no finished bar on the screen: $screen"
partial=$(tr '\r' '\n' <pane.log | grep -cE '^clone \[[#.]{30}\] +[0-9]{1,2}%' || true)
((partial > 0)) || fail "no bar below 100% was drawn: $(tr '\r' '\n' <pane.log | head -5)"
echo "ok: $partial redraws below 100%, then 100% on the screen"
cmp src.img copy.img || fail "copy differs"

# not a terminal: no bar
"$MORTAR" img clone --force src.img copy.img 2>err.txt >/dev/null
[[ ! -s err.txt ]] || fail "a bar was drawn on a pipe: $(cat err.txt)"
# JSON progress lines, then the result
"$MORTAR" img clone --force --output=json src.img copy.img >out.json
jq -s -e 'map(select(.progress != null)) | length > 0' out.json >/dev/null || fail "no JSON progress line"
expect_eq "last JSON progress" "$(jq -s '[.[] | select(.progress != null)] | last | .progress' out.json)" 100
expect_eq "result line" "$(tail -1 out.json | jq -r .destination)" copy.img
echo PASS
