#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar serve as nbdinfo (libnbd) sees it: --list shows every export with
# its name and the description given by -D (and none without -D); the
# default export is the first one under its canonical name; --map matches
# the image's layout (and mortar img map of the file); the can_*/is_* flags
# of a read-only server (-r) differ from a writable one exactly where they
# must; --size and the block sizes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires nbdinfo jq qemu-io

K=1024 M=$((1 << 20))

a=$SCRATCH/alpha.img b=$SCRATCH/beta.img c=$SCRATCH/gamma.img
"$MORTAR" img create "$a" 64M >/dev/null
"$MORTAR" img create "$b" 8M >/dev/null
"$MORTAR" img create "$c" 1M >/dev/null
qemu-io -f raw -c "write -P 0x11 0 64k" -c "write -P 0x22 4M 1M" -c "write -P 0x33 $((40 * M)) 128k" \
	-c "write -P 0 $((50 * M)) 256k" "$a" >/dev/null

# serve ARGS... -- CMD: mortar serve ARGS --run CMD; the command's output
# in $OUT, stderr in $ERR; CMD must succeed.
serve() {
	local args=() rc=0
	while [[ $1 != -- ]]; do args+=("$1"); shift; done
	shift
	OUT=$("$MORTAR" serve "${args[@]}" --run "$*" 2>"$SCRATCH/err") || rc=$?
	ERR=$(cat "$SCRATCH/err")
	((rc == 0)) || fail "mortar serve ${args[*]} --run '$*' exited $rc: $ERR"
}

# --- --list: names and descriptions ------------------------------------------------
desc="Mortar's test exports: ünïcode & spaces"
serve -D "$desc" "$a" second="$b" "$c" -- 'nbdinfo --list --json "$uri"'
expect_eq "export names listed" "$(jq -r '[.exports[]."export-name"] | join(",")' <<<"$OUT")" \
	"alpha.img,second,gamma.img"
expect_eq "descriptions listed" "$(jq -r '[.exports[].description] | unique | join(",")' <<<"$OUT")" "$desc"
expect_eq "descriptions count" "$(jq -r '[.exports[] | select(.description == $d)] | length' \
	--arg d "$desc" <<<"$OUT")" 3
expect_eq "sizes listed" "$(jq -r '[.exports[]."export-size"] | join(",")' <<<"$OUT")" \
	"$((64 * M)),$((8 * M)),$M"
expect_eq "protocol" "$(jq -r '.protocol' <<<"$OUT")" newstyle-fixed
expect_eq "structured replies" "$(jq -r '.structured' <<<"$OUT")" true
# the human-readable listing too
serve -D "$desc" "$a" second="$b" "$c" -- 'nbdinfo --list "$uri"'
for n in alpha.img second gamma.img; do
	grep -q "^export=\"$n\":" <<<"$OUT" || fail "nbdinfo --list lacks export $n: $OUT"
done
expect_eq "description lines" "$(grep -c "description: $desc" <<<"$OUT")" 3
echo "ok: nbdinfo --list (text) shows the three exports and their description"
# without -D, no description at all
serve "$a" second="$b" -- 'nbdinfo --list --json "$uri"'
expect_eq "names without -D" "$(jq -r '[.exports[]."export-name"] | join(",")' <<<"$OUT")" "alpha.img,second"
expect_eq "no description without -D" "$(jq -r '[.exports[] | has("description")] | any' <<<"$OUT")" false

# --- the default export and named ones -----------------------------------------------
serve -D "$desc" "$a" second="$b" -- 'nbdinfo --json "$uri"; nbdinfo --json "nbd+unix:///second?socket=$unixsocket"'
def=$(jq -s '.[0]' <<<"$OUT") sec=$(jq -s '.[1]' <<<"$OUT")
expect_eq "default export's canonical name" "$(jq -r '.exports[0]."export-name"' <<<"$def")" alpha.img
expect_eq "default export's size" "$(jq -r '.exports[0]."export-size"' <<<"$def")" $((64 * M))
expect_eq "default export's description" "$(jq -r '.exports[0].description' <<<"$def")" "$desc"
expect_eq "export 'second' name" "$(jq -r '.exports[0]."export-name"' <<<"$sec")" second
expect_eq "export 'second' size" "$(jq -r '.exports[0]."export-size"' <<<"$sec")" $((8 * M))
expect_eq "block_size_maximum" "$(jq -r '.exports[0].block_size_maximum' <<<"$def")" $((32 * M))
expect_eq "block_size_minimum" "$(jq -r '.exports[0].block_size_minimum' <<<"$def")" 1
expect_eq "base:allocation offered" "$(jq -r '.exports[0].contexts | index("base:allocation") != null' <<<"$def")" true
serve "$a" second="$b" -- 'nbdinfo --size "$uri"; nbdinfo --size "nbd+unix:///second?socket=$unixsocket"'
expect_eq "nbdinfo --size" "$(tr '\n' ' ' <<<"$OUT")" "$((64 * M)) $((8 * M)) "
rc=0
"$MORTAR" serve "$a" --run 'nbdinfo --size "nbd+unix:///nosuch?socket=$unixsocket"' >/dev/null 2>&1 || rc=$?
((rc != 0)) || fail "nbdinfo of an unknown export succeeded"
echo "ok: nbdinfo of an unknown export fails ($rc)"

# --- --map ---------------------------------------------------------------------------
norm='reduce .[] as $e ([]; if length > 0 and .[-1][2] == $e.t then .[-1][1] += $e.length
	else . + [[$e.offset, $e.length, $e.t]] end)'
serve "$a" -- 'nbdinfo --map --json "$uri"'
got=$(jq -c "map({offset, length, t: .type}) | $norm" <<<"$OUT")
want="[[0,$((64 * K)),0],[$((64 * K)),$((4 * M - 64 * K)),3],[$((4 * M)),$M,0],[$((5 * M)),$((35 * M)),3],[$((40 * M)),$((128 * K)),0],[$((40 * M + 128 * K)),$((10 * M - 128 * K)),3],[$((50 * M)),$((256 * K)),0],[$((50 * M + 256 * K)),$((14 * M - 256 * K)),3]]"
expect_eq "nbdinfo --map of alpha (type 0 data, 3 hole+zero)" "$got" "$want"
# mortar img map of the file says the same
mine=$("$MORTAR" img map --output=json "$a" | jq -c 'map({offset: .start, length,
	t: ((if .data then 0 else 1 end) + (if .zero then 2 else 0 end))}) | '"$norm")
expect_eq "mortar img map of the file" "$mine" "$want"
# the text form and --totals
serve "$a" -- 'nbdinfo --map --totals "$uri"'
expect_eq "nbdinfo --map --totals" "$(awk '{print $1, $3}' <<<"$OUT" | tr '\n' ';')" \
	"$((64 * K + M + 128 * K + 256 * K)) 0;$((64 * M - 64 * K - M - 128 * K - 256 * K)) 3;"
# after writes through NBD the map follows
serve "$a" -- 'qemu-io -f raw -c "write -P 0x44 10M 64k" -c "discard 4M 1M" "$uri" >/dev/null &&
	nbdinfo --map --json "$uri"'
got=$(jq -c "map({offset, length, t: .type}) | $norm" <<<"$OUT")
want="[[0,$((64 * K)),0],[$((64 * K)),$((10 * M - 64 * K)),3],[$((10 * M)),$((64 * K)),0],[$((10 * M + 64 * K)),$((30 * M - 64 * K)),3],[$((40 * M)),$((128 * K)),0],[$((40 * M + 128 * K)),$((10 * M - 128 * K)),3],[$((50 * M)),$((256 * K)),0],[$((50 * M + 256 * K)),$((14 * M - 256 * K)),3]]"
expect_eq "nbdinfo --map after a write and a discard" "$got" "$want"

# --- flags: writable vs read-only (-r) -------------------------------------------------
flags='.exports[0] | [.is_read_only, .can_trim, .can_zero, .can_fast_zero, .can_flush, .can_fua,
	.can_cache, .can_df, .can_multi_conn] | map(tostring) | join(",")'
serve "$a" -- 'nbdinfo --json "$uri"'
expect_eq "writable: ro,trim,zero,fast_zero,flush,fua,cache,df,multi_conn" \
	"$(jq -r "$flags" <<<"$OUT")" "false,true,true,true,true,true,true,true,true"
serve -r "$a" -- 'nbdinfo --json "$uri"'
ro=$(jq -r "$flags" <<<"$OUT")
# read-only: no trim, zero or fast zero (write commands), still cache/df/multi-conn
[[ $ro == true,false,false,false,* ]] || fail "read-only export flags: $ro"
[[ $ro == *,true,true,true ]] || fail "read-only export lost cache/df/multi-conn: $ro"
echo "ok: read-only flags: $ro"
# nbdinfo --is / --can: exit 0 for true, 2 for false (nbdinfo(1))
is_can() { # WANT ARGS...: nbdinfo ARGS on a server started by the caller's $srvargs
	local want=$1 rc=0
	shift
	"$MORTAR" serve "${srvargs[@]}" --run "nbdinfo $* \"\$uri\"" >/dev/null 2>&1 || rc=$?
	expect_eq "nbdinfo $* on serve ${srvargs[*]##*/} (exit status)" "$rc" "$want"
}
srvargs=(-r "$a")
is_can 0 --is read-only
is_can 2 --can trim
is_can 2 --can zero
is_can 0 --can cache
is_can 0 --can multi-conn
srvargs=("$a")
is_can 2 --is read-only
is_can 0 --can trim
is_can 0 --can zero
is_can 0 --can fast-zero
is_can 0 --can flush
is_can 0 --can fua
# every export of a -r server is read-only
serve -r "$a" second="$b" -- 'nbdinfo --list --json "$uri"'
expect_eq "-r: read-only exports in --list" "$(jq -r '[.exports[].is_read_only] | map(tostring) | join(",")' <<<"$OUT")" "true,true"
expect_eq "no -r: read-only exports in --list" "$(
	serve "$a" second="$b" -- 'nbdinfo --list --json "$uri"'
	jq -r '[.exports[].is_read_only] | map(tostring) | join(",")' <<<"$OUT")" "false,false"
# and -r really refuses writes, the image is untouched
before=$(md5sum <"$a")
rc=0
"$MORTAR" serve -r "$a" --run 'qemu-io -f raw -c "write -P 0x55 0 64k" "$uri"' >/dev/null 2>&1 || rc=$?
((rc != 0)) || fail "qemu-io write to a -r export succeeded"
expect_eq "image after a refused write" "$(md5sum <"$a")" "$before"
echo PASS
