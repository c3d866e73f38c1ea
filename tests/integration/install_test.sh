#!/usr/bin/env bash
# `./run install`'s installer into a staging root: binaries, man pages that
# render, a bash completion generated from the verb table that completes
# verbs, group verbs, options and the live bridges and ports, and the unit.
source "$(dirname "$0")/lib.sh" "$@"

export DESTDIR=$T/root PREFIX=/usr
bash "$SRC/dist/install.sh" "$BIN" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "install failed"; }
R=$DESTDIR$PREFIX
for f in bin/kvnetd bin/kvnetctl bin/kvnet share/man/man8/kvnetd.8.gz share/man/man1/kvnetctl.1.gz \
  share/man/man1/kvnet.1.gz share/bash-completion/completions/kvnetctl; do
  [ -s "$R/$f" ] || fail "not installed: $PREFIX/$f"
done
"$R/bin/kvnetctl" --version | grep -q "kvnetctl 0.1.0" || fail "installed kvnetctl does not run"
# The man pages are roff with the program's options and a SEE ALSO.
zcat "$R/share/man/man1/kvnetctl.1.gz" | grep -q '^\.TH KVNETCTL "1"' || fail "kvnetctl.1 has no .TH header"
zcat "$R/share/man/man1/kvnetctl.1.gz" | grep -q 'add\\-port' || fail "kvnetctl.1 lacks the verbs"
zcat "$R/share/man/man8/kvnetd.8.gz" | grep -q '\\-\\-socket' || fail "kvnetd.8 lacks its options"
zcat "$R/share/man/man8/kvnetd.8.gz" | grep -q 'SEE ALSO' || fail "kvnetd.8 lacks SEE ALSO"
command -v groff >/dev/null || fail "groff is not installed (./run installs groff-base)"
zcat "$R/share/man/man1/kvnet.1.gz" | groff -man -Tutf8 2>"$T/groff.err" >/dev/null
[ -s "$T/groff.err" ] && { cat "$T/groff.err"; fail "kvnet.1 does not render cleanly"; }
if [ -f "$SRC/dist/kvnetd.service" ]; then
  grep -q "^ExecStart=$PREFIX/bin/kvnetd" "$DESTDIR/etc/systemd/system/kvnetd.service" ||
    fail "the unit does not start the installed kvnetd"
fi

# Completion, against a live kvnetd (the bridges and ports are its own).
kvd_start
kctl add-br ${P}br >/dev/null
kctl add-port ${P}br ${P}i1 type=internal >/dev/null
complete_words() {  # the words typed so far (the last one is completed)
  PATH="$R/bin:$PATH" KVNET_SOCKET="$KVNET_SOCKET" bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _kvnetctl; printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$R/share/bash-completion/completions/kvnetctl" "$@"
}
has() {  # description, expected word, words...
  local d=$1 w=$2
  shift 2
  complete_words "$@" >"$T/c"
  grep -qx -- "$w" "$T/c" || { echo "got:"; cat "$T/c"; fail "completion of '$*' ($d) lacks '$w'"; }
}
has "verbs" add-port kvnetctl add-
has "verbs" add-br kvnetctl add-
has "help" help kvnetctl he
has "group verbs" start kvnetctl vm st
has "group verbs after options" rule-add kvnetctl --format json sg rule-
has "verb options" --may-exist kvnetctl add-port ${P}br x --may
has "global options" --timeout kvnetctl --ti
has "live bridges" ${P}br kvnetctl list-ports ${P}
has "live ports" ${P}i1 kvnetctl del-port ${P}
has "set's table" port kvnetctl set p
has "get's record" ${P}i1 kvnetctl get port ${P}i
has "--format values" json kvnetctl --format j
expect_error "completion for another shell" 2 "only bash" kctl completion zsh
log "PASS"
