#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The lists of commands agree: `mortar --help`, the COMMANDS section of
# mortar(1) and the command table of README.md name the same commands;
# each has a manual page, and its --help answers.  For every command whose
# --help lists subcommands (img, img snapshot, and vm once it has a
# table), the list is the one mortar(1) gives on that command's line and
# the one its own manual describes.
. "$(dirname "$0")/lib.sh"

docs=$MORTAR_SRC/docs
readme=$MORTAR_SRC/README.md

# sorted WORDS...: one per line, sorted, as one string.
sorted() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort | tr '\n' ' '; }

# listed CMD...: the names in the "Commands:" list of `mortar CMD... --help`
# (each line reads "  CMD... NAME  summary").
listed() {
	"$MORTAR" "$@" --help | awk -v skip=$# '
		/^Commands:/ { f = 1; next }
		f && /^  [a-z]/ { print $(skip + 1); next }
		f && !/^  / { f = 0 }'
}

# --- the top-level commands ---------------------------------------------
help=$(sorted "$(listed)")
man=$(sorted "$(awk '/^# COMMANDS/ { f = 1; next } /^# / { f = 0 }
	f && /^\*[a-z]+\*/ { match($0, /^\*[a-z]+\*/); print substr($0, 2, RLENGTH - 2) }' \
	"$docs/mortar.1.scd")")
readme_cmds=$(sorted "$(awk '/^## Commands/ { f = 1; next } /^## / { f = 0 }
	f && /^\| `mortar [a-z]+`/ { match($0, /`mortar [a-z]+`/); print substr($0, RSTART + 8, RLENGTH - 9) }' \
	"$readme")")
[[ -n $help ]] || fail "mortar --help lists no commands"
expect_eq "commands of mortar(1)" "$man" "$help"
expect_eq "commands of README.md" "$readme_cmds" "$help"
for c in $help; do
	[[ -f $docs/mortar-$c.1.scd ]] || fail "no manual page docs/mortar-$c.1.scd for '$c'"
	grep -q "mortar-$c(1)" "$readme" || fail "README.md does not name mortar-$c(1)"
	"$MORTAR" "$c" --help >/dev/null || fail "mortar $c --help failed"
done
echo "ok: mortar --help, mortar(1) and README.md list: $help"

# --- subcommands ------------------------------------------------------------
# mortar(1) gives them on the command's line: "*img* create|info|... ...".
man_subs() {
	awk -v c="$1" '/^# COMMANDS/ { f = 1; next } /^# / { f = 0 }
		f && index($0, "*" c "* ") == 1 { split($2, a, "|"); for (i in a) print a[i] }' \
		"$docs/mortar.1.scd"
}
checked=0
for c in $help; do
	subs=$(sorted "$(listed "$c")")
	[[ -n $subs ]] || continue
	expect_eq "subcommands of $c in mortar(1)" "$(sorted "$(man_subs "$c")")" "$subs"
	checked=$((checked + 1))
done
((checked > 0)) || fail "no command lists subcommands (mortar img should)"

# mortar-img(1): one "## NAME" section per subcommand; and the snapshot
# subcommands in its synopsis, "[create|list|delete|revert]".
img_man=$(sorted "$(awk '/^# SUBCOMMANDS/ { f = 1; next } /^# / { f = 0 }
	f && /^## / { print $2 }' "$docs/mortar-img.1.scd")")
expect_eq "sections of mortar-img(1)" "$img_man" "$(sorted "$(listed img)")"
snap_man=$(sed -n 's/^\*mortar img snapshot\* \[\([a-z|]*\)\].*/\1/p' "$docs/mortar-img.1.scd" | tr '|' ' ')
expect_eq "snapshot subcommands in mortar-img(1)" "$(sorted "$snap_man")" \
	"$(sorted "$(listed img snapshot)")"
echo PASS
