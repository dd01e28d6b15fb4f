#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Error messages and exit codes: a missing file, a directory, a character
# device, unsupported and malformed locations (with a caret under the
# offending character), and usage errors (exit 2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"

img=$SCRATCH/ok.img
"$MORTAR" img create "$img" 1M

# every command that opens a location, with the arguments it needs after it
opens=("img info" "img info --output=json" "img map" "img map --output=json" "io -c flush"
       "io --read-only -c read@0@1" "img resize +1M")
# run_open CMD LOCATION: run one of the above on LOCATION
run_open() {
	local -a words
	read -ra words <<<"$1"
	case $1 in
	"img resize +1M") "$MORTAR" img resize "$2" +1M ;;
	io*) "$MORTAR" "${words[@]:0:${#words[@]}-2}" "$2" -c "${words[-1]//@/ }" ;;
	*) "$MORTAR" "${words[@]}" "$2" ;;
	esac
}

# --- a file that does not exist ---------------------------------------------------
missing=$SCRATCH/no-such.img
for c in "${opens[@]}"; do
	expect_error_line "does not exist" run_open "$c" "$missing"
	grep -qF "$missing" <<<"$ERR" || fail "'$c' does not name the file: $ERR"
	grep -q "^mortar " <<<"$ERR" || fail "'$c': message does not start with 'mortar ': $ERR"
done
[[ ! -e $missing ]] || fail "a command on a missing file created it"
# in a folder that does not exist, and through file://
expect_error_line "does not exist" "$MORTAR" img info "$SCRATCH/no/dir/x.img"
expect_error_line "does not exist" "$MORTAR" img info "file://$missing"
grep -qF "$missing" <<<"$ERR" || fail "file:// message does not name the file: $ERR"
# a dangling symlink
ln -s "$missing" "$SCRATCH/dangling.img"
expect_error_line "does not exist" "$MORTAR" img info "$SCRATCH/dangling.img"

# --- a directory ---------------------------------------------------------------------
dir=$SCRATCH/adir
mkdir "$dir"
for c in "${opens[@]}"; do
	expect_error_line "directory" run_open "$c" "$dir"
	grep -qF "$dir" <<<"$ERR" || fail "'$c' does not name the directory: $ERR"
done
expect_error_line "directory" "$MORTAR" img info "file://$dir"
expect_error_line "directory|not a regular file" "$MORTAR" img create "$dir" 1M
expect_error_line "directory|not a regular file" "$MORTAR" img create --force "$dir" 1M
[[ -d $dir ]] || fail "img create --force replaced a directory"

# --- neither a file nor a block device -------------------------------------------------
expect_error_line "regular file|block device" "$MORTAR" img info /dev/null
expect_error_line "regular file|block device" "$MORTAR" io /dev/zero -c "read 0 1"
expect_error_line "not a regular file|character|block device" "$MORTAR" img create --force /dev/null 1M
[[ -c /dev/null ]] || fail "/dev/null is no longer a character device"

# --- unsupported locations ------------------------------------------------------------------
for c in "img info" "img map" "io -c flush" "img resize +1M"; do
	expect_error_line "rdma" run_open "$c" "gluster+rdma://h/v/i"
	expect_error_line "nbd" run_open "$c" "nbd://localhost/x"
done
expect_error_line "rdma" "$MORTAR" img create "gluster+rdma://h/v/i" 1M
expect_error_line "nbd" "$MORTAR" img create "nbd://localhost/x" 1M
expect_error_line "nbd" "$MORTAR" img info "nbd+unix:///x?socket=$SCRATCH/sock"
# the refusal says what to do instead
expect_rc 1 "" "$MORTAR" img info "nbd://localhost/x"
grep -qiE "image's own location|serve" <<<"$ERR" || fail "nbd refusal gives no way out: $ERR"
expect_rc 1 "" "$MORTAR" img info "gluster+rdma://h/v/i"
grep -qE "gluster://|gluster\+tcp://" <<<"$ERR" || fail "rdma refusal gives no way out: $ERR"
# gluster:// itself is well-formed: refused (no backend) without a caret line
expect_error_line "gluster|glusterfs" "$MORTAR" img info "gluster://h/v/i"

# --- malformed locations: the message, the location, a caret under the fault ----------
# check_caret LOCATION AT: exit 1, the first line says why, then the location
# and a caret under character AT (0-based, computed here from the text).
check_caret() {
	local loc=$1 at=$2 rc=0 line2 line3 indent col
	"$MORTAR" img info "$loc" >/dev/null 2>"$SCRATCH/err" || rc=$?
	((rc == 1)) || fail "img info '$loc' exited $rc, want 1: $(cat "$SCRATCH/err")"
	(($(wc -l <"$SCRATCH/err") == 3)) ||
		fail "img info '$loc': want 3 lines (message, location, caret): $(cat "$SCRATCH/err")"
	grep -q "^mortar img info: .*invalid location" "$SCRATCH/err" ||
		fail "img info '$loc': first line: $(head -1 "$SCRATCH/err")"
	line2=$(sed -n 2p "$SCRATCH/err")
	line3=$(sed -n 3p "$SCRATCH/err")
	[[ $line2 == *"$loc" ]] || fail "'$loc': second line is not the location: '$line2'"
	indent=$((${#line2} - ${#loc}))
	[[ $line3 =~ ^\ *\^$ ]] || fail "'$loc': third line is not a caret: '$line3'"
	col=$((${#line3} - 1 - indent))
	((col == at)) || fail "'$loc': caret at $col, want $at:
$line2
$line3"
	echo "ok: '$loc' refused, caret at $at: $(head -1 "$SCRATCH/err")"
}
loc="gluster://h:99999/v/i"; pre=${loc%%99999*}
check_caret "$loc" ${#pre}
grep -qi "port" "$SCRATCH/err" || fail "the message for '$loc' does not mention the port"
grep -q "99999" "$SCRATCH/err" || fail "the message for '$loc' does not quote the port"
loc="gluster://h:12x4/v/i"; pre=${loc%%x*}
check_caret "$loc" ${#pre}
loc="gluster://[::1/v/i"; pre=${loc%%\[*}
check_caret "$loc" ${#pre}
loc="http://x/y"
check_caret "$loc" 0
loc="file:x.img"; pre=file:
check_caret "$loc" ${#pre}
# the same fault for every command, and img create
expect_rc 1 "port" "$MORTAR" io "gluster://h:99999/v/i" -c flush
expect_rc 1 "port" "$MORTAR" img create "gluster://h:99999/v/i" 1M
expect_rc 1 "port" "$MORTAR" img resize "gluster://h:99999/v/i" 1G
# an empty location is refused with a message (not taken for the cwd)
rc=0
"$MORTAR" img info "" >/dev/null 2>"$SCRATCH/err" || rc=$?
((rc == 1 || rc == 2)) || fail "img info '' exited $rc"
grep -qi "empty" "$SCRATCH/err" || fail "img info '': $(cat "$SCRATCH/err")"
echo "ok: an empty location is refused ($rc)"
# a colon in a plain path is a file name, not a scheme
truncate -s 2M "$SCRATCH/x:y.img"
expect_rc 0 "" "$MORTAR" img info --output=json "$SCRATCH/x:y.img"
expect_eq "size of x:y.img" "$(json_get "$OUT" virtual-size)" $((2 << 20))

# --- usage errors: exit 2, and a pointer to --help ------------------------------------------
usage=(
	"img info"
	"img info $img $img"
	"img info --output $img"
	"img info --output=text $img"
	"img info --frobnicate $img"
	"img info -x $img"
	"img info --shrink $img"
	"img map"
	"img map --preallocation=full $img"
	"img create"
	"img create $SCRATCH/u.img"
	"img create --shrink $SCRATCH/u.img 1M"
	"img create --preallocation $SCRATCH/u.img 1M"
	"img resize"
	"img resize $img"
	"img resize --force $img 2M"
	"io"
	"io $img"
	"io -c flush"
	"io $img $img -c flush"
	"io --frobnicate $img -c flush"
	"io $img -c"
	"img"
	"frobnicate"
)
for u in "${usage[@]}"; do
	# shellcheck disable=SC2086
	expect_rc 2 "." "$MORTAR" $u
	grep -q -- "--help\|Usage" <<<"$ERR" || fail "'mortar $u' does not point to --help: $ERR"
done
[[ ! -e $SCRATCH/u.img ]] || fail "a usage error created an image"
expect_eq "size after the usage errors" "$(stat -c %s "$img")" $((1 << 20))
finish
