#!/usr/bin/env bash
# The image store (kvnetctl image ...): import of raw and qcow2 files (always
# kept as qcow2, checked with qemu-img), progress while a large one is copied,
# list/show in human and JSON form, refusals named (a backing file, a file
# under /etc, a name taken, a bad name, a missing file, not an image), a
# failed import leaving nothing behind, del, and the store read again by a
# restarted kvnetd (a part left by a killed import is removed).
source "$(dirname "$0")/lib.sh" "$@"
command -v qemu-img >/dev/null || fail "qemu-img is not installed (./run installs qemu-utils)"

kvd_start
IMG=$T/kvnet.db
STORE=$(dirname "$IMG")/images

# A raw image of 64 MiB with data in it, and a qcow2 overlay of it.
dd if=/dev/urandom of="$T/base.raw" bs=1M count=64 status=none
qemu-img create -q -f qcow2 "$T/small.qcow2" 32M
qemu-img create -q -f qcow2 -b "$T/small.qcow2" -F qcow2 "$T/overlay.qcow2"

kctl image import base "$T/base.raw" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err"; fail "image import of a raw file"; }
grep -q "^image base: ready" "$T/out" || { cat "$T/out"; fail "import's answer"; }
grep -q "importing base: " "$T/err" || { cat "$T/err"; fail "no progress while importing"; }
[ "$(qemu-img info --output=json "$STORE/base.qcow2" | field "d['format']")" = qcow2 ] || fail "the store's copy is not qcow2"
qemu-img compare -q "$T/base.raw" "$STORE/base.qcow2" || fail "the store's copy differs from the file imported"
kctl --format json image show base >"$T/show"
[ "$(field "d['virtual_size']" <"$T/show")" = 67108864 ] || { cat "$T/show"; fail "virtual size"; }
[ "$(field "d['source_format']" <"$T/show")" = raw ] || fail "source format"
kctl image import small "$T/small.qcow2" --no-wait >/dev/null || fail "import --no-wait"
wait_for 20 "small imported" bash -c "KVNET_SOCKET=$KVNET_SOCKET $BIN/kvnetctl image show small | grep -q ': ready'"
kctl image list >"$T/list"
grep -q "^base .* ready .*64.0 MiB" "$T/list" && grep -q "^small .* ready .*32.0 MiB" "$T/list" || { cat "$T/list"; fail "image list"; }
log "raw and qcow2 imported as qcow2, with progress; show and list"

expect_error "a backing file" 1 "image 'ov': '$T/overlay.qcow2': it has a backing file ($T/small.qcow2)" \
  kctl image import ov "$T/overlay.qcow2"
expect_error "a file under /etc" 1 "image 'pw': disk '/etc/passwd' is under /etc" kctl image import pw /etc/passwd
expect_error "a name taken" 1 "image 'base': it exists (image del first)" kctl image import base "$T/base.raw"
expect_error "a bad name" 1 "image name 'a/b': only letters, digits" kctl image import a/b "$T/base.raw"
expect_error "a missing file" 1 "image 'gone': disk '$T/nothing' does not exist or cannot be read" \
  kctl image import gone "$T/nothing"
expect_error "an empty file" 1 "image 'empty': '$T/empty': it is empty" bash -c ": >$T/empty; KVNET_SOCKET=$KVNET_SOCKET $BIN/kvnetctl image import empty $T/empty"
expect_error "a missing image" 1 "image 'nope' does not exist" kctl image show nope
expect_error "usage" 2 "" kctl image import onlyname
[ -z "$(ls "$STORE" | grep -v -e '^base\.' -e '^small\.')" ] || { ls "$STORE"; fail "a refused import left files"; }
log "refusals named; nothing left behind"

# A kvnetd killed mid-import leaves a part (and an import log): the next
# start removes them and keeps the images that were whole.
kvd_kill9
head -c 4096 /dev/urandom >"$STORE/big.qcow2.part"
: >"$STORE/big.import.log"
kvd_start
ls "$STORE" | grep -q -e part -e import.log && { ls "$STORE"; fail "a part stayed after a restart"; }
kctl image list | grep -q "^base .* ready" || fail "base lost at the restart"
expect_error "a half import is no image" 1 "image 'big' does not exist" kctl image show big
kctl image del base >/dev/null || fail "image del"
[ ! -e "$STORE/base.qcow2" ] && [ ! -e "$STORE/base.json" ] || { ls "$STORE"; fail "del left files"; }
expect_error "del twice" 1 "image 'base' does not exist" kctl image del base
log "what an interrupted import left removed at the restart; del"

# An --image-dir that cannot be used: kvnetd runs without a store and says why.
kvd_stop
: >"$T/not-a-dir"
"$BIN/kvnetd" --foreground --db "$T/kvnet.db" --socket "$KVNET_SOCKET" --image-dir "$T/not-a-dir" >>"$T/kvnetd.log" 2>&1 &
KVD_PID=$!
disown $KVD_PID
wait_for 10 "kvnetd without an image store answers" kctl list-br
expect_error "no image store" 1 "this kvnetd keeps no images (its --image-dir could not be used: see its log)" kctl image list
grep -q "image store '$T/not-a-dir': .*: no image store" "$T/kvnetd.log" || { tail -5 "$T/kvnetd.log"; fail "the log does not say why"; }
log "an unusable --image-dir: kvnetd runs, the image verbs say why"
log "PASS"
