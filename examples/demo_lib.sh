#!/usr/bin/env bash
# What a live part of the demo leaves running, recorded as it is made, so
# that it can be removed whatever happened: the part's own teardown, an
# interrupted run, or a kept one (--keep). One file per part under
# /run/kvnet-demo/, one thing a line:
#   kvnetd PID START SOCKET KVNETCTL   a kvnetd (START: its start time, so
#                                      that a later process with the same pid
#                                      is left alone) and the CLI to talk to it
#   qemu DIR                           QEMU pidfiles DIR/*/qemu.pid
#   proc PID START                     another process the part started (etcd)
#   netns NAME                         a network namespace
# Sourced by examples/demo_*.sh; also a command:
#   bash examples/demo_lib.sh list            what kept demos left running
#   bash examples/demo_lib.sh clean [PART]    remove it (every part by default)
DEMO_STATE=${KVNET_DEMO_STATE:-/run/kvnet-demo}

demo_started() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# demo_record PART WHAT ARGS...: kvnetd PID SOCKET KVNETCTL | proc PID | qemu DIR | netns NAME...
demo_record() {
  local part=$1 what=$2
  shift 2
  mkdir -p "$DEMO_STATE"
  case $what in
    kvnetd) echo "kvnetd $1 $(demo_started "$1") $2 $3" >>"$DEMO_STATE/$part" ;;
    proc) echo "proc $1 $(demo_started "$1")" >>"$DEMO_STATE/$part" ;;
    *) for x in "$@"; do echo "$what $x" >>"$DEMO_STATE/$part"; done ;;
  esac
}

# demo_clean PART: removes what PART's record names (its VMs, containers and
# bridges through its kvnetd, then the kvnetd, QEMUs left without it, the
# namespaces), then the record.
demo_clean() {
  local f=$DEMO_STATE/$1 what a b c d
  [ -f "$f" ] || return 0
  while read -r what a b c d; do
    [ "$what" = kvnetd ] || continue
    [ -n "$b" ] && [ "$(demo_started "$a")" = "$b" ] || continue
    local vms
    vms=$(KVNET_SOCKET=$c "$d" --format json vm list 2>/dev/null |
      python3 -c 'import json,sys; print(" ".join(v["name"] for v in json.load(sys.stdin)))' 2>/dev/null || true)
    for v in $vms; do KVNET_SOCKET=$c "$d" vm kill "$v" >/dev/null 2>&1 || true; done
    printf 'bridges: []\ncontainers: []\nvms: []\n' >"$f.empty.yaml"
    KVNET_SOCKET=$c "$d" apply "$f.empty.yaml" >/dev/null 2>&1 || true
    rm -f "$f.empty.yaml"
    kill "$a" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$a" 2>/dev/null || break; sleep 0.05; done
  done <"$f"
  while read -r what a b _; do
    [ "$what" = proc ] && [ -n "$b" ] && [ "$(demo_started "$a")" = "$b" ] || continue
    kill "$a" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$a" 2>/dev/null || break; sleep 0.05; done
  done <"$f"
  while read -r what a _; do
    [ "$what" = qemu ] || continue
    for p in "$a"/*/qemu.pid; do
      [ -f "$p" ] || continue
      local pid
      pid=$(cat "$p")
      if grep -qa qemu "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    done
  done <"$f"
  while read -r what a _; do
    if [ "$what" = netns ]; then ip netns del "$a" 2>/dev/null || true; fi
  done <"$f"
  rm -f "$f"
  return 0
}

# demo_check_free PART NS...: fails when a namespace the part needs exists
# but is none of a recorded demo's (someone else's: not ours to remove).
demo_check_free() {
  local part=$1 ns
  shift
  for ns in "$@"; do
    if [ -e "/run/netns/$ns" ]; then
      echo "demo $part: network namespace '$ns' exists and is not a kept demo's: remove it with 'ip netns del $ns'" >&2
      return 1
    fi
  done
}

demo_list() {
  local f
  for f in "$DEMO_STATE"/*; do
    [ -f "$f" ] || continue
    echo "$(basename "$f"): $(awk '$1 == "kvnetd" {k = k " kvnetd " $2 " (socket " $4 ")"} $1 == "netns" {n = n " " $2}
      END {print (k ? k ";" : "") " namespaces:" n}' "$f")"
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    list) demo_list ;;
    clean)
      if [ -n "${2:-}" ]; then
        demo_clean "$2"
      else
        for f in "$DEMO_STATE"/*; do
          if [ -f "$f" ]; then demo_clean "$(basename "$f")"; fi
        done
      fi
      ;;
    *) echo "usage: demo_lib.sh list | clean [PART]" >&2; exit 2 ;;
  esac
fi
