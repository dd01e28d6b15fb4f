#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# mortar img convert on images a guest could have written (qemu-img made,
# each naming a host file): without -f, a probed qcow2 with a backing
# file, a qcow2 with an external data file, a VMDK whose extent is a host
# file, and a raw disk whose first sector holds such a qcow2 header are
# all refused with one line that names the file and says what to do, and
# no byte of the host file reaches an output.  With -f the user's word
# holds: -f raw copies the raw disk as it is, -f qcow2 reads the backing
# file.  A probed qcow2 without references still converts, also from a
# relative path with a colon in it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.bash"
requires qemu-img qemu-io qemu-nbd

cd "$SCRATCH"
# The host file the images point at: a recognisable 1 MiB.
secret=$SCRATCH/host-secret
qemu-img create -q -f raw "$secret" 1M
qemu-io -f raw -c "write -P 0x5e 0 1M" "$secret" >/dev/null

# no_secret FILE: FILE does not hold the secret's bytes (0x5e runs).
no_secret() {
	[[ ! -e $1 ]] && return 0
	! od -An -tx1 -v "$1" | tr -s ' \n' ' ' | grep -q '5e 5e 5e 5e 5e 5e 5e 5e' ||
		fail "$1 holds the host file's data"
}

# refused SRC KIND: converting SRC without -f fails in one line that names
# KIND and the host file and points at -f; no output appears.
refused() {
	local src=$1 kind=$2
	expect_error_line "$kind \($secret\).*-f raw.*-f " "$MORTAR" img convert -q "$src" out.raw
	[[ ! -e out.raw ]] || fail "$src: a refused convert left out.raw"
}

qemu-img create -q -f qcow2 -F raw -b "$secret" -u backing.qcow2 1M
refused backing.qcow2 "backing file"

qemu-img create -q -f raw datafile.raw 1M
qemu-img create -q -f qcow2 -o data_file="$SCRATCH/datafile.raw",data_file_raw=on datafile.qcow2 1M
# Then point it at the secret: creating it there would overwrite it,
# amend only rewrites the header.
qemu-img amend -q -f qcow2 -o data_file="$secret" datafile.qcow2
qemu-img info --output=json datafile.qcow2 | grep -q "\"data-file\": \"$secret\"" ||
	fail "the data-file image does not name the secret: $(qemu-img info datafile.qcow2)"
refused datafile.qcow2 "external data file"

cat >extent.vmdk <<VMDK
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicFlat"

RW 2048 FLAT "$secret" 0

ddb.virtualHWVersion = "4"
VMDK
refused extent.vmdk "extent"

# A raw disk whose guest wrote a qcow2 header (with a backing file) into
# its first sector: probing calls it qcow2.
qemu-img create -q -f raw guest.raw 4M
qemu-io -f raw -c "write -P 0x11 1M 1M" guest.raw >/dev/null
dd if=backing.qcow2 of=guest.raw bs=64K count=1 conv=notrunc status=none
refused guest.raw "backing file"

# -f raw: the disk as it is, byte for byte, no host file.
"$MORTAR" img convert -q -f raw guest.raw out.raw || fail "-f raw was refused"
cmp guest.raw out.raw || fail "-f raw did not copy the disk as it is"
rm out.raw
echo "ok: -f raw copies the raw disk with the qcow2 header as data"

# -f qcow2: the user vouches for the image, its backing file is read.
"$MORTAR" img convert -q -f qcow2 backing.qcow2 out.raw || fail "-f qcow2 was refused"
qemu-io -f raw -c "read -P 0x5e 0 1M" out.raw >/dev/null ||
	fail "-f qcow2 did not read the backing file"
rm out.raw
echo "ok: -f qcow2 follows the backing file the user accepted"

# Nothing of the secret anywhere else.
for f in *; do
	[[ $f == host-secret || $f == datafile.raw ]] || no_secret "$f"
done

# A plain probed qcow2 still converts, from a relative path with a colon
# (QEMU would read "a:b.qcow2" as protocol "a").
qemu-img create -q -f qcow2 ./a:b.qcow2 2M
qemu-io -f qcow2 -c "write -P 0x42 64K 64K" ./a:b.qcow2 >/dev/null
OUT=$("$MORTAR" img convert --output=json a:b.qcow2 plain.raw | tail -1)
expect_eq "probed format" "$(json_get "$OUT" source-format)" qcow2
qemu-img compare -q -f qcow2 -F raw ./a:b.qcow2 plain.raw || fail "a:b.qcow2 converted differently"
echo PASS
