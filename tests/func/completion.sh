#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bash completion, driven as bash drives it (COMP_WORDS split at '='
# and ':' like readline, the function `complete -p mortar` names): every
# command list of --help is offered whole at its place; every leaf command
# offers --help and only options it accepts (none refused as unknown or
# not applying), and every option its --help names; option values
# (--output, --tls, --preallocation) and local paths, plain, after NAME=
# and in file:// locations, complete; --socket-group offers groups, and a
# VM's name is not taken for a file.
. "$(dirname "$0")/lib.sh"
requires bash

# shellcheck source=/dev/null
. "$MORTAR_SRC/completion/mortar.bash"
fn=$(complete -p mortar | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[[ -n $fn ]] || fail "the completion file registers no function for mortar"
echo "ok: complete -p mortar: $(complete -p mortar)"

# comp LINE: what completing at the end of LINE offers, sorted, one line.
comp() {
	local line=$1 word rest
	local -a w=()
	for word in $line; do
		while [[ $word =~ ^([^=:]*)([=:])(.*)$ ]]; do
			[[ -z ${BASH_REMATCH[1]} ]] || w+=("${BASH_REMATCH[1]}")
			w+=("${BASH_REMATCH[2]}")
			word=${BASH_REMATCH[3]}
		done
		[[ -z $word ]] || w+=("$word")
	done
	[[ $line != *" " ]] || w+=("")
	(
		set +eu
		COMP_WORDS=("${w[@]}")
		COMP_WORDS[0]=$MORTAR
		COMP_CWORD=$((${#w[@]} - 1))
		COMP_LINE=$line
		COMP_POINT=${#line}
		COMPREPLY=()
		"$fn" mortar "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' '
	)
}
sorted() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort | tr '\n' ' '; }

# Files do not show up where commands are due: complete in an empty folder.
mkdir "$SCRATCH/empty"
cd "$SCRATCH/empty"

# listed CMD...: the names in the "Commands:" list of `mortar CMD... --help`.
listed() {
	"$MORTAR" "$@" --help | awk -v skip=$# '
		/^Commands:/ { f = 1; next }
		f && /^  [a-z]/ { print $(skip + 1); next }
		f && !/^  / { f = 0 }'
}

# help_options PATH...: the options the --help of the leaf PATH names.
# A help text shared by several commands (one usage line each) names a
# command's options on its own line ("[create]" counts as "create"), or
# in a "<command> options:" block when that line says "[options]".
help_options() {
	local path=$* text
	text=$("$MORTAR" "$@" --help | sed 's/\[create\]/create/')
	if (($(grep -cE '^(Usage:)? +mortar ' <<<"$text") > 1)); then
		text=$(awk -v p="mortar $path" -v sub_="${*: -1} options:" '
			index($0, p " ") && substr($0, index($0, p " ") + length(p) + 1, 1) ~ /[A-Z[]/ { print }
			$0 == sub_ { f = 1; next }
			f && /^  / { print; next }
			{ f = 0 }' <<<"$text")
		grep -q '\[options\]' <<<"$text" || text=$(grep -v '^  ' <<<"$text" || true)
	fi
	grep -oE -- '--[a-z][a-z-]*' <<<"$text" | sort -u | tr '\n' ' '
}

refusal='unknown or incomplete option|is not an option of this command|does not apply here'
leaves=0

# walk PATH...: check the table at PATH and every command below it.
walk() {
	local names got c
	names=$(listed "$@")
	[[ -n $names ]] || fail "mortar $* --help lists no commands"
	got=$(comp "mortar $* ")
	expect_eq "commands offered after 'mortar $*'" "$got" "$(sorted "$names")"
	for c in $names; do
		if [[ -n $(listed "$@" "$c" 2>/dev/null) && $("$MORTAR" "$@" "$c" --help) == *Commands:* ]]; then
			walk "$@" "$c"
		else
			leaf "$@" "$c"
		fi
	done
}

# leaf PATH...: its options are offered, accepted, and cover its --help.
leaf() {
	local offered o out want
	offered=$(comp "mortar $* -")
	[[ " $offered " == *" --help "* ]] || fail "'mortar $*' offers no --help: '$offered'"
	for o in $offered; do
		out=$("$MORTAR" "$@" "$o" 2>&1 </dev/null) || true
		if grep -qE "unknown or incomplete option '$o'" <<<"$out"; then
			out=$("$MORTAR" "$@" "$o" 1 2>&1 </dev/null) || true
		fi
		! grep -qE -- "$refusal" <<<"$out" || fail "'mortar $* $o' is offered but refused: $out"
	done
	for want in $(help_options "$@"); do
		[[ " $offered " == *" $want "* ]] || fail "'mortar $*' --help names $want, completion does not offer it: $offered"
	done
	leaves=$((leaves + 1))
	echo "ok: mortar $*: $offered"
}

expect_eq "commands offered after 'mortar'" "$(comp "mortar ")" "$(sorted "$(listed)")"
for c in $(listed); do
	if [[ $("$MORTAR" "$c" --help) == *Commands:* ]]; then walk "$c"; else leaf "$c"; fi
done
((leaves >= 20)) || fail "only $leaves commands were checked"
echo "ok: $leaves commands: options offered and accepted"
expect_eq "prefix of a command" "$(comp "mortar img c")" "clone convert create "
expect_eq "prefix of an option" "$(comp "mortar serve --tls-")" "--tls-certificates --tls-psk --tls-verify-peer "

# Values.
expect_eq "--output VALUE" "$(comp "mortar img info --output ")" "human json "
expect_eq "--output=j" "$(comp "mortar img info --output=j")" "json "
expect_eq "--tls=" "$(comp "mortar serve --tls=")" "off on require "
expect_eq "--preallocation=f" "$(comp "mortar img create --preallocation=f")" "falloc full "
for p in off falloc full; do
	"$MORTAR" img create --preallocation="$p" "$SCRATCH/p-$p.img" 1M >/dev/null ||
		fail "offered --preallocation=$p is refused"
done
for f in human json; do
	"$MORTAR" img info --output="$f" "$SCRATCH/p-off.img" >/dev/null ||
		fail "offered --output=$f is refused"
done
[[ " $(comp "mortar serve --socket-group r") " == *" root "* ]] ||
	fail "--socket-group does not offer the group root"
echo "ok: --socket-group offers groups"

# Local paths, as locations and as option values.
cd "$SCRATCH"
mkdir -p sub
"$MORTAR" img create disk.img 1M
expect_eq "a location" "$(comp "mortar img info di")" "disk.img "
expect_eq "a location after NAME=" "$(comp "mortar serve vm1=$SCRATCH/di")" "$SCRATCH/disk.img "
expect_eq "a file:// location" "$(comp "mortar img map file://$SCRATCH/di")" "//$SCRATCH/disk.img "
expect_eq "img snapshot LOCATION (the default command)" "$(comp "mortar img snapshot di")" "disk.img "
expect_eq "--socket FILE" "$(comp "mortar serve -s $SCRATCH/di")" "$SCRATCH/disk.img "
expect_eq "--tls-certificates DIR" "$(comp "mortar serve --tls-certificates $SCRATCH/s")" "$SCRATCH/sub "
expect_eq "a VM name is not a file" "$(comp "mortar vm stop di")" ""
expect_eq "after --, operands only" "$(comp "mortar img info -- -")" ""
